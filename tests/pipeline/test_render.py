"""The render entry point, run as a process against real ffmpeg and checked with ffprobe."""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from pipeline.config import Settings
from pipeline.models import RenderResult, RenderSpec, WordTiming
from pipeline.render.probe import probe_output
from pipeline.render.spec import webvtt_key
from pipeline.render.subtitles import MAX_LINE_CHARS, Cue, cues_for_scene, to_srt, to_vtt
from pipeline.render.timeline import plan_timeline
from pipeline.storage import open_storage
from tools.stack import PROJECT_ROOT

TEXTS = [
    "Before sunrise, the harbour is still.",
    "The first boats leave at half past five.",
    "By noon the fish market is loud.",
]


def _frame_at(video: Path, seconds: float, dest: Path) -> Image.Image:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-ss", f"{seconds:.3f}", "-i", str(video), "-frames:v", "1", str(dest)],
        check=True,
    )
    return Image.open(dest).convert("RGB")


def test_entry_point_renders_a_checked_mp4_with_srt(settings: Settings, make_render_spec: Any, run_render: Any) -> None:
    spec_path = make_render_spec(TEXTS)
    result_file = settings.data_dir / "result.json"
    completed = run_render(spec_path, "--result", str(result_file))
    assert completed.returncode == 0, completed.stderr
    result = RenderResult.model_validate_json(result_file.read_text())
    assert RenderResult.model_validate_json(completed.stdout) == result

    storage = open_storage(settings)
    video = storage.local_path(result.video_key)
    facts = probe_output(video)
    assert (facts.video_streams, facts.video_codec) == (1, "h264")
    assert (facts.audio_streams, facts.audio_codec) == (1, "aac")
    assert (facts.width, facts.height) == (1280, 720)
    assert facts.faststart

    spec = RenderSpec.model_validate_json(spec_path.read_text())
    assert abs(facts.duration_s - spec.narration_s) < 0.5
    frames = sum(math.ceil(scene.audio_duration_s * 30) for scene in spec.scenes)
    assert plan_timeline(spec).total_frames == frames
    assert facts.duration_s == pytest.approx(frames / 30, abs=0.05)  # frame-exact scenes

    srt = storage.read_bytes(result.subtitles_key).decode()
    assert srt.startswith("1\n00:00:00,")
    assert "Before sunrise, the harbour is still." in srt.replace("\n", " ")
    # the same cues as WebVTT beside it (the Videos page's <track>): same times, "." for the milliseconds
    vtt = storage.read_bytes(webvtt_key(result.subtitles_key)).decode()
    assert vtt.startswith("WEBVTT\n\n00:00:00.")
    srt_times = re.findall(r"(\d\d:\d\d:\d\d),(\d{3}) --> (\d\d:\d\d:\d\d),(\d{3})", srt)
    vtt_times = re.findall(r"(\d\d:\d\d:\d\d)\.(\d{3}) --> (\d\d:\d\d:\d\d)\.(\d{3})", vtt)
    assert srt_times == vtt_times and len(srt_times) >= 3


def test_frames_show_each_scene_image_in_order(settings: Settings, make_render_spec: Any, run_render: Any) -> None:
    spec_path = make_render_spec(TEXTS)
    assert run_render(spec_path).returncode == 0
    spec = json.loads(spec_path.read_text())
    storage = open_storage(settings)
    video = storage.local_path(spec["output_key"])
    start = 0.0
    images = [Image.open(storage.local_path(s["media_key"])).convert("RGB") for s in spec["scenes"]]
    timeline = plan_timeline(RenderSpec.model_validate(spec))
    for i, _scene in enumerate(spec["scenes"]):
        length = timeline.seconds(timeline.scene_frames[i])
        frame = _frame_at(video, start + length / 2, settings.data_dir / f"frame{i}.png")
        distances = [sum(ImageStat.Stat(ImageChops.difference(frame, image)).mean) for image in images]
        assert distances.index(min(distances)) == i, distances
        assert min(distances) < 12  # only compression noise
        start += length


def test_audio_is_the_narration_not_silence(settings: Settings, make_render_spec: Any, run_render: Any) -> None:
    spec_path = make_render_spec(TEXTS)
    assert run_render(spec_path).returncode == 0
    video = open_storage(settings).local_path(json.loads(spec_path.read_text())["output_key"])
    report = subprocess.run(
        ["ffmpeg", "-v", "info", "-i", str(video), "-af", "volumedetect", "-vn", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    mean_volume = float(re.search(r"mean_volume: (-?[\d.]+) dB", report).group(1))  # type: ignore[union-attr]
    assert mean_volume > -40


def test_vertical_format(settings: Settings, make_render_spec: Any, run_render: Any) -> None:
    spec_path = make_render_spec(TEXTS[:1], width=720, height=1280)
    assert run_render(spec_path).returncode == 0
    facts = probe_output(open_storage(settings).local_path(json.loads(spec_path.read_text())["output_key"]))
    assert (facts.width, facts.height) == (720, 1280)


def test_missing_asset_exits_3_and_names_it(settings: Settings, make_render_spec: Any, run_render: Any) -> None:
    spec_path = make_render_spec(TEXTS[:2])
    spec = json.loads(spec_path.read_text())
    open_storage(settings).local_path(spec["scenes"][1]["audio_key"]).unlink()
    completed = run_render(spec_path)
    assert completed.returncode == 3
    assert spec["scenes"][1]["audio_key"] in completed.stderr
    assert not (settings.storage_root / spec["output_key"]).exists()


def test_corrupt_image_fails_the_render_and_publishes_nothing(
    settings: Settings, make_render_spec: Any, run_render: Any
) -> None:
    spec_path = make_render_spec(TEXTS[:2])
    spec = json.loads(spec_path.read_text())
    open_storage(settings).local_path(spec["scenes"][0]["media_key"]).write_bytes(b"not a png at all")
    completed = run_render(spec_path)
    assert completed.returncode == 4
    assert "scene 1:" in completed.stderr and "not a readable image" in completed.stderr
    assert not (settings.storage_root / spec["output_key"]).exists()
    assert not list(settings.work_dir.glob("render-*"))  # scratch space cleaned up


def test_bad_spec_exits_2(run_render: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"project_id": 1, "scenes": []}')
    completed = run_render(bad)
    assert completed.returncode == 2
    assert "bad render spec" in completed.stderr


def test_subtitle_cues_are_short_ordered_and_within_the_scene() -> None:
    words = [WordTiming(word=f"word{i}", start_s=i * 0.3, end_s=i * 0.3 + 0.25) for i in range(40)]
    cues = cues_for_scene(words, offset_s=10.0, scene_end_s=22.5)
    assert len(cues) > 2
    assert all(len(cue.lines) <= 2 and all(len(line) <= MAX_LINE_CHARS for line in cue.lines) for cue in cues)
    assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(cues))
    assert cues[0].start_s == 10.0 and cues[-1].end_s <= 22.5
    assert " ".join(" ".join(cue.lines) for cue in cues).split() == [w.word for w in words]
    srt = to_srt(cues[:1])
    assert srt.startswith("1\n00:00:10,000 --> 00:00:")


@pytest.fixture(scope="session")
def render_venv() -> Path:
    """A venv holding exactly ``requirements-render.txt`` (the render image's packages), kept between test runs
    under ``~/.cache/video-factory`` by a hash of what it was built from: a change to either file builds anew."""
    inputs = [PROJECT_ROOT / "requirements-render.txt", PROJECT_ROOT / "constraints.txt"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in inputs) + sys.version.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "video-factory"
    venv = cache / f"render-venv-{digest}"
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / f"render-venv-{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run building the same venv: wait for it, then use it
        if not (venv / ".complete").is_file():  # built whole, or built again from nothing
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run(
                [
                    str(venv / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                    str(inputs[0]),
                    "-c",
                    str(inputs[1]),
                ],
                check=True,
                capture_output=True,
            )
            (venv / ".complete").touch()
    return venv


@pytest.mark.slow
def test_entry_point_needs_only_the_render_requirements(
    settings: Settings, make_render_spec: Any, run_render: Any, render_venv: Path
) -> None:
    """What the render image installs (requirements-render.txt, no Airflow) is enough to render."""
    venv = render_venv
    spec_path = make_render_spec(TEXTS[:2], ken_burns=True, crossfade_s=0.4, burn_subtitles=True)
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(PROJECT_ROOT / "include"),
        "VIDEO_DATA_DIR": str(settings.data_dir),
    }
    completed = run_render(spec_path, python=str(venv / "bin" / "python"), env=env)
    assert completed.returncode == 0, completed.stderr
    assert RenderResult.model_validate_json(completed.stdout).facts.video_codec == "h264"
    for absent in ("airflow", "sqlalchemy", "psycopg2"):
        probe = subprocess.run(
            [str(venv / "bin" / "python"), "-c", f"import {absent}"], capture_output=True, check=False
        )
        assert probe.returncode != 0, f"{absent} is installed in the render environment"


def test_identical_scenes_share_their_narration_and_render(
    settings: Settings, make_render_spec: Any, run_render: Any
) -> None:
    """Two scenes with the same line use one narration file; the graph reads it once and splits it."""
    from pipeline.models import RenderSpec

    spec_path = make_render_spec(
        ["Same line again.", "Same line again."], ken_burns=True, crossfade_s=0.4, burn_subtitles=True
    )
    spec = RenderSpec.model_validate_json(spec_path.read_text())
    assert spec.scenes[0].audio_key == spec.scenes[1].audio_key
    completed = run_render(spec_path)
    assert completed.returncode == 0, completed.stderr
    facts = probe_output(open_storage(settings).local_path(spec.output_key))
    assert (facts.video_streams, facts.audio_streams) == (1, 1)
    assert abs(facts.duration_s - spec.narration_s) <= 0.5


def test_the_mp4_says_bt709_and_its_colours_decode_as_made(
    settings: Settings, make_render_spec: Any, run_render: Any
) -> None:
    """The frames are converted to YUV with BT.709's matrix and the stream says so (primaries, transfer, matrix,
    limited range): a player decoding by the tags shows the colours the cards were drawn in. A still converted
    with swscale's default BT.601 matrix but tagged BT.709 is off by 20-30 levels in saturated colours."""
    colours = [(220, 30, 40), (30, 180, 60), (40, 60, 210)]
    spec_path = make_render_spec(TEXTS)
    spec = RenderSpec.model_validate_json(spec_path.read_text())
    storage = open_storage(settings)
    for scene, colour in zip(spec.scenes, colours, strict=True):  # each scene one flat, saturated colour
        Image.new("RGB", (1280, 720), colour).save(storage.local_path(scene.media_key), format="PNG")
    assert run_render(spec_path).returncode == 0
    video = storage.local_path(spec.output_key)
    stream = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams", "-of", "json", str(video)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["streams"][0]
    tags = {key: stream.get(key) for key in ("color_space", "color_primaries", "color_transfer", "color_range")}
    assert tags == {"color_space": "bt709", "color_primaries": "bt709", "color_transfer": "bt709", "color_range": "tv"}
    timeline = plan_timeline(spec)
    start = 0.0
    for index, colour in enumerate(colours):
        length = timeline.seconds(timeline.scene_frames[index])
        frame = _frame_at(video, start + length / 2, settings.data_dir / f"colour{index}.png")
        shown = ImageStat.Stat(frame.crop((540, 260, 740, 460))).mean  # the middle of the flat card
        assert all(abs(got - want) <= 6 for got, want in zip(shown, colour, strict=True)), (colour, shown)
        start += length


def test_a_cue_spoken_in_under_a_second_joins_a_neighbour() -> None:
    """A cue spoken in under a second flashed by (at least 0.6 s on screen): it joins the cue before it when both
    fit in two lines, else takes that cue's last words."""

    def cues(spoken: str) -> list[Any]:
        words = [WordTiming(word=w, start_s=i * 0.35, end_s=i * 0.35 + 0.3) for i, w in enumerate(spoken.split())]
        made = cues_for_scene(words, offset_s=0.0, scene_end_s=len(words) * 0.35 + 0.5)
        assert " ".join(" ".join(cue.lines) for cue in made).split() == spoken.split()
        assert all(len(cue.lines) <= 2 and all(len(line) <= MAX_LINE_CHARS for line in cue.lines) for cue in made)
        return made

    # two lines full, then two words: "and sleeps." alone (0.65 s) takes words of the cue before
    full = cues("Every evening the old keeper climbs all of the hundred steps to light the lamp again, and sleeps.")
    assert len(full) == 2 and all(cue.end_s - cue.start_s >= 1.0 for cue in full), full
    # a short sentence after a short one: joined
    joined = cues("The lamp turns. Yes. Ships pass.")
    assert [cue.lines for cue in joined] == [("The lamp turns. Yes. Ships pass.",)]
    assert cues("Yes.")[0].end_s - cues("Yes.")[0].start_s >= 0.6  # alone in its scene: shown 0.6 s at least


def test_webvtt_cue_text_stays_text() -> None:
    vtt = to_vtt([Cue(1.0, 2.5, ("<b>bold</b> & --> arrows", "two"))])
    assert vtt == "WEBVTT\n\n00:00:01.000 --> 00:00:02.500\n&lt;b&gt;bold&lt;/b&gt; &amp; --&gt; arrows\ntwo\n"
