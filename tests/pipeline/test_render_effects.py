"""Every effect of the render, checked in the output of the entry point with real ffmpeg/ffprobe."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from pipeline.config import Settings
from pipeline.models import RenderSpec
from pipeline.render.probe import probe_output
from pipeline.render.subtitles import WORD_JOINER
from pipeline.render.timeline import Timeline, plan_timeline
from pipeline.storage import open_storage
from tests.stubs import make_clip

HOSTILE = "Quotes \"x\" 'y', colon: a;b, back\\slash \\N {\\b1} 100% [out] (ok) é 🎉 שלום."
ALL_EFFECTS = {
    "ken_burns": True,
    "crossfade_s": 0.5,
    "scene_padding_s": 0.3,
    "burn_subtitles": True,
    "soft_subtitles": True,
}


def _spec(path: Path) -> RenderSpec:
    return RenderSpec.model_validate_json(path.read_text())


def _frame(video: Path, index: int, dest: Path) -> Image.Image:
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(video),
            "-vf",
            f"select=eq(n\\,{index})",
            "-vsync",
            "0",
            "-frames:v",
            "1",
            str(dest),
        ],
        check=True,
    )
    return Image.open(dest).convert("RGB")


def _diff(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def _music(settings: Settings, frequency: int = 220, seconds: float = 3.0) -> str:
    path = settings.data_dir / f"music-{frequency}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=f={frequency}:d={seconds}", "-ac", "2", str(path)],
        check=True,
    )
    open_storage(settings).put_file(f"music/{path.name}", path)
    return f"music/{path.name}"


def _loudness(video: Path, *, dualmono: bool = False) -> tuple[float, float]:
    """Integrated loudness and true peak (a mono track measured as played on two speakers if ``dualmono``)."""
    measure = f"ebur128=peak=true:dualmono={str(dualmono).lower()}"
    report = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(video), "-af", measure, "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    summary = report[report.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))  # type: ignore[union-attr]
    peak = float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary).group(1))  # type: ignore[union-attr]
    return integrated, peak


def _band_rms_db(video: Path, start: float, end: float, frequency: int) -> float:
    """RMS level of a narrow band around ``frequency`` between two instants of the video's audio."""
    report = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostats",
            "-i",
            str(video),
            "-vn",
            "-af",
            f"atrim={start}:{end},bandpass=f={frequency}:width_type=h:w=15,astats=measure_perchannel=none",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    return float(re.search(r"RMS level dB:\s+(-?[\d.]+|-inf)", report).group(1))  # type: ignore[union-attr]


def test_all_effects_with_hostile_text(settings: Settings, make_render_spec: Any, run_render: Any) -> None:
    spec_path = make_render_spec(
        ["The harbour wakes up slowly.", HOSTILE, "The boats come home."],
        music_key=_music(settings),
        **ALL_EFFECTS,
    )
    completed = run_render(spec_path)
    assert completed.returncode == 0, completed.stderr
    spec = _spec(spec_path)
    storage = open_storage(settings)
    video = storage.local_path(spec.output_key)
    facts = probe_output(video)
    assert (facts.video_codec, facts.audio_codec, facts.subtitle_streams) == ("h264", "aac", 1)
    timeline = plan_timeline(spec)
    assert facts.duration_s == pytest.approx(timeline.duration_s, abs=0.05)
    assert timeline.duration_s == pytest.approx(spec.narration_s + 3 * 0.3, abs=3 / 30)

    soft_track = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(video), "-map", "0:s", "-f", "srt", "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.replace(WORD_JOINER, "")
    srt = storage.read_bytes(spec.subtitles_key).decode().replace(WORD_JOINER, "")
    for text in (srt, soft_track):
        joined = " ".join(line for line in text.splitlines() if line and not line[0].isdigit())
        assert HOSTILE in joined

    integrated, peak = _loudness(video)
    assert -17.0 <= integrated <= -15.0
    assert peak <= -1.0  # -1.5 dBTP target; AAC adds a little

    assert spec.thumbnail_key
    with Image.open(storage.local_path(spec.thumbnail_key)) as thumbnail:
        assert (thumbnail.format, thumbnail.size) == ("JPEG", (1280, 720))


def _above_band(image: Image.Image) -> Image.Image:
    """The part of a thumbnail that the title band does not cover (its top half)."""
    return image.convert("RGB").crop((0, 0, image.width, image.height // 2))


def test_thumbnail_is_the_first_scene_as_the_video_frames_it_with_the_title(
    settings: Settings, make_render_spec: Any, run_render: Any
) -> None:
    still_look = {"ken_burns": False, "crossfade_s": 0, "burn_subtitles": False}
    spec_path = make_render_spec(["The harbour wakes up slowly.", "The boats come home."], 1280, 720, **still_look)
    # landscape cards in a portrait video: both the picture and the thumbnail take the card's middle
    spec = _spec(spec_path).model_copy(update={"width": 1080, "height": 1920})
    spec_path.write_text(spec.model_dump_json())
    assert run_render(spec_path).returncode == 0
    storage = open_storage(settings)
    frame = _frame(storage.local_path(spec.output_key), 10, settings.data_dir / "t0.png")
    with Image.open(storage.local_path(spec.thumbnail_key)) as thumbnail:
        assert (thumbnail.format, thumbnail.size) == ("JPEG", (1080, 1920))
        assert _diff(_above_band(thumbnail), _above_band(frame)) < 2  # the same picture, framed the same way
        band = thumbnail.convert("RGB").crop((0, 1920 - 60, 1080, 1920))
        assert ImageStat.Stat(band).mean[0] < ImageStat.Stat(_above_band(frame)).mean[0]  # the dark title band
        last = plan_timeline(spec).total_frames - 5
        second = _frame(storage.local_path(spec.output_key), last, settings.data_dir / "t1.png")
        assert _diff(_above_band(thumbnail), _above_band(second)) > 2  # not just any scene's picture


def test_ken_burns_moves_each_still_and_is_deterministic(
    settings: Settings, make_render_spec: Any, run_render: Any
) -> None:
    texts = ["The harbour wakes up slowly in the morning light."]
    first, second = make_render_spec(texts, ken_burns=True), make_render_spec(texts, ken_burns=True)
    assert run_render(first).returncode == 0 and run_render(second).returncode == 0
    storage = open_storage(settings)
    video_a = storage.local_path(_spec(first).output_key)
    video_b = storage.local_path(_spec(second).output_key)
    frames = plan_timeline(_spec(first)).total_frames
    start = _frame(video_a, 2, settings.data_dir / "a0.png")
    end = _frame(video_a, frames - 3, settings.data_dir / "a1.png")
    assert _diff(start, end) > 3  # the picture moved
    again = _frame(video_b, frames - 3, settings.data_dir / "b1.png")
    assert _diff(end, again) < 1  # same still, same move


def test_crossfade_blends_at_the_boundary_and_shows_clean_pictures_around_it(
    settings: Settings, make_render_spec: Any, run_render: Any
) -> None:
    spec_path = make_render_spec(["The harbour wakes up.", "The market gets loud."], crossfade_s=0.4)
    assert run_render(spec_path).returncode == 0
    spec = _spec(spec_path)
    storage = open_storage(settings)
    video = storage.local_path(spec.output_key)
    timeline = plan_timeline(spec)
    boundary, half = timeline.scene_start(1), timeline.half_fade
    assert half == 6
    stills = [Image.open(storage.local_path(s.media_key)).convert("RGB") for s in spec.scenes]
    before = _frame(video, boundary - half - 3, settings.data_dir / "before.png")
    middle = _frame(video, boundary, settings.data_dir / "middle.png")
    after = _frame(video, boundary + half + 3, settings.data_dir / "after.png")
    assert _diff(before, stills[0]) < 4 and _diff(after, stills[1]) < 4
    assert _diff(middle, Image.blend(stills[0], stills[1], 0.5)) < 6
    assert _diff(middle, stills[0]) > 10 and _diff(middle, stills[1]) > 10


def test_hard_cuts_change_the_picture_on_the_scene_s_first_frame(
    settings: Settings, make_render_spec: Any, run_render: Any
) -> None:
    """Every cut on its frame: the frame before a scene's first shows the previous still. (Until 2026-11 the
    stills' timestamps went through the image demuxer's 25 fps time base and a cut could come a frame late.)"""
    texts = ["The harbour wakes up.", "Boats slip out.", "Gulls argue over the catch.", "Nets are mended."]
    spec_path = make_render_spec(texts)
    assert run_render(spec_path).returncode == 0
    spec = _spec(spec_path)
    storage = open_storage(settings)
    video = storage.local_path(spec.output_key)
    timeline = plan_timeline(spec)
    stills = [Image.open(storage.local_path(s.media_key)).convert("RGB") for s in spec.scenes]
    for scene in range(1, len(texts)):
        first = timeline.scene_start(scene)
        last_before = _frame(video, first - 1, settings.data_dir / f"cut{scene}a.png")
        first_after = _frame(video, first, settings.data_dir / f"cut{scene}b.png")
        assert _diff(last_before, stills[scene - 1]) < 4 < _diff(last_before, stills[scene]), (scene, first)
        assert _diff(first_after, stills[scene]) < 4 < _diff(first_after, stills[scene - 1]), (scene, first)


def test_the_preparation_pass_writes_one_raw_frame_a_scene_at_its_start_with_the_soundtrack_and_subtitles(
    settings: Settings, make_render_spec: Any, tmp_path: Path
) -> None:
    """The encode's only input: a raw frame per still (fitted to the frame, stamped with the frame its scene
    starts at in the main stream), the measured soundtrack as PCM, and the subtitles when they are soft."""
    from pipeline.render.audio import parse_ebur128
    from pipeline.render.ffmpeg import PREPARED, build_prepare_command

    spec = _spec(make_render_spec(["One two three.", "Four five.", "Six."], width=640, height=360, **ALL_EFFECTS))
    timeline = plan_timeline(spec)
    storage = open_storage(settings)
    (tmp_path / "subtitles.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nOne two three.\n\n", encoding="utf-8")
    command = build_prepare_command(
        spec,
        timeline,
        media=[storage.local_path(s.media_key) for s in spec.scenes],
        narrations=[storage.local_path(s.audio_key) for s in spec.scenes],
        music=None,
        scratch=tmp_path,
        ffmpeg_bin="ffmpeg",
        soft_subtitles=True,
    )
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert parse_ebur128(done.stderr).integrated > -70  # measured while written
    probe = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_streams", "-show_packets", "-of", "json", str(tmp_path / PREPARED)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    kinds = {s["codec_type"]: s for s in probe["streams"]}
    video, audio = kinds["video"], kinds["audio"]
    assert (video["codec_name"], video["width"], video["height"], video["pix_fmt"]) == ("rawvideo", 640, 360, "yuv420p")
    assert (audio["codec_name"], audio["sample_rate"], audio["channels"]) == ("pcm_s16le", "48000", 1)
    assert kinds["subtitle"]["codec_name"] == "subrip"
    times = [float(p["pts_time"]) for p in probe["packets"] if p["stream_index"] == video["index"]]
    starts = [entry.start for entry in timeline.main_entries()]
    # one frame a scene (the last listed twice, see prepared_stills), each at its first frame's time (1 ms ticks)
    assert [round(t * 30) for t in times[: len(starts)]] == starts and len(times) == len(starts) + 1


def test_padding_adds_silence_after_each_narration(settings: Settings, make_render_spec: Any, run_render: Any) -> None:
    spec_path = make_render_spec(["First scene.", "Second scene."], scene_padding_s=1.0)
    assert run_render(spec_path).returncode == 0
    spec = _spec(spec_path)
    timeline = plan_timeline(spec)
    video = open_storage(settings).local_path(spec.output_key)
    assert probe_output(video).duration_s == pytest.approx(spec.narration_s + 2.0, abs=2 / 30 + 0.05)
    end_of_first = timeline.seconds(timeline.scene_frames[0])
    assert _band_rms_db(video, end_of_first - 0.6, end_of_first - 0.1, 1000) < -60


def _audio_stream(video: Path) -> dict[str, Any]:
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a", "-show_streams", "-of", "json", str(video)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (stream,) = json.loads(probe)["streams"]
    return dict(stream)


def test_narration_alone_is_one_mono_track_at_the_loudness_of_its_stereo_copy(
    settings: Settings, make_render_spec: Any, run_render: Any
) -> None:
    spec_path = make_render_spec(["The harbour wakes up slowly.", "The boats come home at noon."])
    assert run_render(spec_path).returncode == 0
    video = open_storage(settings).local_path(_spec(spec_path).output_key)
    audio = _audio_stream(video)
    assert (audio["codec_name"], audio["channels"], audio["sample_rate"]) == ("aac", 1, "48000")
    assert 80_000 <= int(audio["bit_rate"]) <= 120_000  # 96 kb/s asked for (160 for stereo)
    integrated, peak = _loudness(video, dualmono=True)  # what two speakers play
    assert -17.0 <= integrated <= -15.0
    assert peak <= -1.0
    stereo_copy = settings.data_dir / "stereo-copy.wav"
    # players send a mono track to both speakers at full level (ffmpeg's own -ac 2 would lower it by 3 dB)
    both_speakers = ["-af", "pan=stereo|c0=c0|c1=c0"]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(video), "-vn", *both_speakers, str(stereo_copy)], check=True
    )
    assert _loudness(stereo_copy)[0] == pytest.approx(integrated, abs=0.2)

    with_music = make_render_spec(["The harbour wakes up slowly."], music_key=_music(settings))
    assert run_render(with_music).returncode == 0
    audio = _audio_stream(open_storage(settings).local_path(_spec(with_music).output_key))
    assert (audio["channels"], audio["channel_layout"]) == (2, "stereo")


def test_music_is_ducked_under_the_voice_and_fills_the_pauses(
    settings: Settings, make_render_spec: Any, run_render: Any
) -> None:
    spec_path = make_render_spec(
        ["The harbour wakes up slowly and the first boats leave."],
        scene_padding_s=3.0,
        music_key=_music(settings, frequency=60, seconds=1.3),  # shorter than the video: it loops
        music_volume=0.5,
    )
    assert run_render(spec_path).returncode == 0
    spec = _spec(spec_path)
    video = open_storage(settings).local_path(spec.output_key)
    speech = spec.scenes[0].audio_duration_s
    under_voice = _band_rms_db(video, 0.6, speech - 0.3, 60)
    in_pause = _band_rms_db(video, speech + 0.7, speech + 1.5, 60)  # released, before the fade-out
    assert in_pause > -40  # music plays through the pause (and after the loop point)
    assert in_pause - under_voice > 4  # and is pushed down while the narrator speaks


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1920, 1080), (1080, 1920), (720, 1280), (1080, 1080)])
def test_every_format_with_effects(
    settings: Settings, make_render_spec: Any, run_render: Any, width: int, height: int
) -> None:
    spec_path = make_render_spec(["One.", "Two."], width=width, height=height, **ALL_EFFECTS)
    completed = run_render(spec_path)
    assert completed.returncode == 0, completed.stderr
    facts = probe_output(open_storage(settings).local_path(_spec(spec_path).output_key))
    assert (facts.width, facts.height, facts.subtitle_streams) == (width, height, 1)


def _render_with_clip(
    settings: Settings, make_render_spec: Any, run_render: Any, *, texts: list[str], scenes: list[int], seconds: float
) -> tuple[RenderSpec, Timeline, Path]:
    """Store a moving test clip of ``seconds`` as ``media/clip.mp4``, show it in ``scenes``, render with crossfades
    and Ken Burns; returns the spec, its timeline and the video, whose length is checked against the timeline."""
    clip = make_clip(settings.data_dir / "clip.mp4", 640, 360, seconds)
    open_storage(settings).put_file("media/clip.mp4", clip)
    spec_path = make_render_spec(texts, media=dict.fromkeys(scenes, "media/clip.mp4"), crossfade_s=0.4, ken_burns=True)
    completed = run_render(spec_path)
    assert completed.returncode == 0, completed.stderr
    spec = _spec(spec_path)
    timeline = plan_timeline(spec)
    video = open_storage(settings).local_path(spec.output_key)
    assert probe_output(video).duration_s == pytest.approx(timeline.duration_s, abs=0.05)
    return spec, timeline, video


@pytest.mark.parametrize("clip_seconds", [0.5, 6.0])
def test_video_clip_scene_is_looped_or_trimmed_to_its_scene(
    settings: Settings, make_render_spec: Any, run_render: Any, clip_seconds: float
) -> None:
    texts = ["A moving clip fills this first scene.", "Then a still."]
    spec, timeline, video = _render_with_clip(
        settings, make_render_spec, run_render, texts=texts, scenes=[0], seconds=clip_seconds
    )
    early = _frame(video, 5, settings.data_dir / "c0.png")
    late = _frame(video, timeline.scene_frames[0] - timeline.half_fade - 5, settings.data_dir / "c1.png")
    black = Image.new("RGB", early.size)
    assert _diff(early, black) > 20 and _diff(late, black) > 20  # the clip, not the blank placeholder
    assert _diff(early, late) > 3  # and it moves
    with Image.open(open_storage(settings).local_path(spec.thumbnail_key)) as thumbnail:  # a frame of the clip
        assert _diff(_above_band(thumbnail), black.crop((0, 0, black.width, black.height // 2))) > 20


def test_one_clip_used_by_two_scenes_renders_in_both(
    settings: Settings, make_render_spec: Any, run_render: Any
) -> None:
    """The same stored clip in scenes 1 and 3 (and the same card twice): each use gets its own input."""
    texts = ["The clip, the first time.", "A card between.", "The clip, once more.", "A card between."]
    _, timeline, video = _render_with_clip(
        settings, make_render_spec, run_render, texts=texts, scenes=[0, 2], seconds=2
    )
    starts = [sum(timeline.scene_frames[:i]) for i in range(4)]
    first = _frame(video, starts[0] + 3, settings.data_dir / "use1.png")
    again = _frame(video, starts[2] + timeline.half_fade + 3, settings.data_dir / "use2.png")
    card = _frame(video, starts[1] + timeline.half_fade + 3, settings.data_dir / "card.png")
    assert _diff(first, card) > 10 and _diff(again, card) > 10  # both uses show the clip, not the card


CLIP_FRAMES = 40


def _level(frame: int) -> int:
    """The grey level of frame ``frame`` of the numbered clip (it loops every CLIP_FRAMES frames)."""
    return 30 + 4 * (frame % CLIP_FRAMES)


def _corner_levels(video: Path) -> list[float]:
    """Every frame's mean luma in its top-left corner (clear of captions and card text), as encoded (Y plane)."""
    crop = "crop=iw/8:ih/8:0:0,scale=8:8,format=yuv420p,extractplanes=y"
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(video),
            "-vf",
            crop,
            "-an",
            "-sn",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return [sum(raw[i : i + 64]) / 64 for i in range(0, len(raw), 64)]


@pytest.mark.parametrize("crossfade_s", [0.0, 0.4])
def test_clips_are_placed_frame_exactly_and_only_in_their_scenes(
    settings: Settings, make_render_spec: Any, run_render: Any, crossfade_s: float
) -> None:
    """A clip whose every frame has its own grey level, in scenes 1 and 3 of five: each frame of those scenes on
    screen shows the clip's frame that far into the scene (looped), fades aside; no other scene shows it."""
    clip = settings.data_dir / "numbered.mp4"
    clip.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            *["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"nullsrc=s=320x180:r=30:d={CLIP_FRAMES / 30}"],
            *["-vf", "geq=lum='30+4*N':cb=128:cr=128", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-crf", "1"],
            str(clip),
        ],
        check=True,
    )
    open_storage(settings).put_file("media/numbered.mp4", clip)
    texts = ["A card first.", "The numbered clip, long enough to loop.", "A card.", "The clip again.", "The end."]
    spec_path = make_render_spec(
        texts, media=dict.fromkeys([1, 3], "media/numbered.mp4"), crossfade_s=crossfade_s, ken_burns=False
    )
    completed = run_render(spec_path)
    assert completed.returncode == 0, completed.stderr
    spec = _spec(spec_path)
    timeline = plan_timeline(spec)
    levels = _corner_levels(open_storage(settings).local_path(spec.output_key))
    assert len(levels) == timeline.total_frames
    fading = {frame for first, last in timeline.fades() for frame in range(first, last)}
    checked = 0
    for scene in range(len(texts)):
        first, last = timeline.on_screen(scene)
        shown = [frame for frame in range(first, last) if frame not in fading]
        if scene in {1, 3}:
            for frame in shown:
                assert levels[frame] == pytest.approx(_level(frame - first), abs=2.5), (scene, frame)
            checked += len(shown)
        else:  # a card held still: one level throughout (the clip, leaking in, changes it every frame)
            assert max(levels[frame] for frame in shown) - min(levels[frame] for frame in shown) < 2, scene
    assert checked > 2 * CLIP_FRAMES  # both scenes are longer than the clip: looped


def test_timeline_makes_every_frame_once_and_both_pictures_in_each_fade(make_render_spec: Any) -> None:
    spec = _spec(make_render_spec(["One two three.", "Four.", "Five six.", "Seven."], crossfade_s=0.5))
    timeline = plan_timeline(spec)
    main, windows = timeline.main_entries(), timeline.window_entries()
    # the main stream covers the timeline once, without gaps or overlaps, each scene in order
    assert [e.scene for e in main] == [0, 1, 2, 3]
    assert main[0].start == 0 and all(a.start + a.frames == b.start for a, b in itertools.pairwise(main))
    assert main[-1].start + main[-1].frames == timeline.total_frames
    # the second stream holds only the fades' frames: 3 fades of 2 * half_fade frames
    assert [(e.scene, e.frames) for e in windows] == [(i, 2 * timeline.half_fade) for i in (1, 2, 3)]
    assert sum(e.frames for e in main + windows) == timeline.total_frames + 3 * 2 * timeline.half_fade
    for (first, last), incoming in zip(timeline.fades(), windows, strict=True):
        outgoing = [e for e in main if e.start <= first and last <= e.start + e.frames]
        assert [e.scene for e in outgoing] == [incoming.scene - 1]  # both pictures exist for the whole fade
        assert timeline.scene_start(incoming.scene) - first == last - timeline.scene_start(incoming.scene)
        assert timeline.on_screen(incoming.scene)[0] == first  # the move starts with the first faded frame
    assert json.loads(spec.model_dump_json())["look"]["crossfade_s"] == 0.5


def test_hard_cuts_have_one_stream_and_no_fades(make_render_spec: Any) -> None:
    timeline = plan_timeline(_spec(make_render_spec(["One two three.", "Four."], crossfade_s=0)))
    assert timeline.window_entries() == [] and timeline.fades() == []
    assert [(e.start, e.frames) for e in timeline.main_entries()] == [
        (0, timeline.scene_frames[0]),
        (timeline.scene_frames[0], timeline.scene_frames[1]),
    ]


@pytest.mark.parametrize("crossfade_s", [0, 0.5])
def test_effect_graph_makes_each_frame_once_and_overlays_in_the_fades_only(
    settings: Settings, make_render_spec: Any, crossfade_s: float, tmp_path: Path
) -> None:
    """The command's filter graph: one decoded input for the stills, one zoompan for the main stream whose
    durations add up to the video, one for the fades whose durations add up to the fades, and an overlay switched
    on in the fades only (no blend, which computes every frame)."""
    from pipeline.render.audio import Loudness
    from pipeline.render.ffmpeg import build_command

    spec = _spec(make_render_spec(["One two three.", "Four five.", "Six."], ken_burns=True, crossfade_s=crossfade_s))
    timeline = plan_timeline(spec)
    storage = open_storage(settings)
    command = build_command(
        spec,
        timeline,
        media=[storage.local_path(s.media_key) for s in spec.scenes],
        scratch=tmp_path,
        ffmpeg_bin="ffmpeg",
        loudness=Loudness(integrated=-20, threshold=-30, lra=3),
        burn_subtitles=False,
        soft_subtitles=False,
    )
    graph = command[command.index("-filter_complex") + 1]
    assert command.count("-i") == 1 and "blend" not in graph  # the prepared file only
    durations = [
        sum(int(d) for d in re.findall(r"(\d+)\*eq\(in", z.split(":")[0])) for z in graph.split("zoompan=d=")[1:]
    ]
    fades = timeline.fades()
    assert durations == (
        [timeline.total_frames, len(fades) * timeline.fade_frames] if fades else [timeline.total_frames]
    )
    if fades:
        enabled = re.findall(r"between\(t\\,([\d.]+)\\,([\d.]+)\)", graph.split("overlay=")[1])
        assert [(round(float(a) * 30 + 0.5), round(float(b) * 30 + 0.5)) for a, b in enabled] == [
            (first + 1, last)
            for first, last in fades  # a fade's first frame is transparent: from its second
        ]
    else:
        assert "overlay" not in graph
