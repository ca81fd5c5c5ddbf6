"""What the viewer sees: caption presets (a frame check each, the word highlight following the voice) and footage
of another shape fitted by crop or blurred pad; real ffmpeg, frames read back."""

from __future__ import annotations

import itertools
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageFilter, ImageStat

from pipeline.config import Settings
from pipeline.models import CaptionLook, RenderSpec, WordTiming
from pipeline.render.subtitles import WHITE, YELLOW, Cue, SubtitleStyle, to_ass
from pipeline.render.timeline import plan_timeline
from pipeline.storage import open_storage
from tests.stubs import make_clip

GREY = (90, 90, 90)


def _spec(path: Path) -> RenderSpec:
    return RenderSpec.model_validate_json(path.read_text())


def _frame(video: Path, seconds: float, dest: Path) -> Image.Image:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-ss", f"{seconds:.3f}", "-i", str(video), "-frames:v", "1", str(dest)],
        check=True,
    )
    return Image.open(dest).convert("RGB")


def _grey_picture(settings: Settings, width: int, height: int) -> str:
    path = settings.data_dir / f"grey-{width}x{height}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), GREY).save(path)
    key = f"media/grey-{width}x{height}.png"
    open_storage(settings).put_file(key, path)
    return key


def _pixels(image: Image.Image, box: tuple[int, int, int, int], test: Any) -> int:
    return sum(1 for pixel in image.crop(box).getdata() if test(pixel))


def _white(p: tuple[int, int, int]) -> bool:
    return min(p) > 220


def _yellow(p: tuple[int, int, int]) -> bool:
    return p[0] > 200 and p[1] > 160 and p[2] < 90


def _dark(p: tuple[int, int, int]) -> bool:
    return max(p) < 55


def _render(settings: Settings, make_render_spec: Any, run_render: Any, texts: list[str], **options: Any) -> Path:
    spec_path = make_render_spec(texts, **options)
    completed = run_render(spec_path)
    assert completed.returncode == 0, completed.stderr
    return spec_path


def _captioned(
    settings: Settings, make_render_spec: Any, run_render: Any, size: tuple[int, int], spoken: int, **options: Any
) -> tuple[RenderSpec, Image.Image]:
    """One scene's sentence with burned captions on a flat grey picture: the spec and the frame shown while word
    ``spoken`` is spoken."""
    width, height = size
    texts = ["Gulls follow the boats past the old lighthouse every morning."]
    media = {0: _grey_picture(settings, width, height)}
    spec_path = _render(
        settings,
        make_render_spec,
        run_render,
        texts,
        width=width,
        height=height,
        media=media,
        burn_subtitles=True,
        **options,
    )
    spec = _spec(spec_path)
    word = spec.scenes[0].words[spoken]
    video = open_storage(settings).local_path(spec.output_key)
    return spec, _frame(video, (word.start_s + word.end_s) / 2, settings.data_dir / f"{spec.output_key[-12:]}.png")


@pytest.mark.parametrize("preset", ["classic", "boxed", "shorts"])
def test_each_caption_preset_draws_its_captions_where_it_says(
    settings: Settings, make_render_spec: Any, run_render: Any, preset: str
) -> None:
    """On a flat grey picture: classic draws white text in the bottom band and nothing dark around it but the
    outline; boxed lays a dark band behind the text; shorts draws large text in the lower middle, the spoken word
    yellow, and clear of the platform's bottom quarter."""
    width, height = 720, 1280
    _, frame = _captioned(settings, make_render_spec, run_render, (width, height), spoken=2, captions=preset)
    style = SubtitleStyle.for_frame(width, height, preset)
    bottom = height - style.margin_v
    text_band = (0, bottom - 3 * style.font_size, width, bottom + style.outline)
    assert _pixels(frame, text_band, _white) > 200, "no caption text where the preset puts it"
    assert _pixels(frame, (0, 0, width, height // 3), _white) == 0  # nothing in the top third
    below = (0, round(height * 0.8), width, height)  # the platform's buttons and description
    assert _pixels(frame, below, lambda p: not _close(p, GREY)) == 0
    dark = _pixels(frame, text_band, _dark)
    if preset == "boxed":
        assert dark > 30_000  # the band behind the text (the classic outline makes ~10,000)
        assert _pixels(frame, text_band, _yellow) == 0
    elif preset == "classic":
        assert dark < 20_000  # outlines only
        assert _pixels(frame, text_band, _yellow) == 0
    else:
        assert style.margin_v > height * 0.25 and style.font_size > SubtitleStyle.for_frame(width, height).font_size
        assert _pixels(frame, text_band, _yellow) > 100  # the word being spoken


def test_a_channels_caption_look_changes_font_colours_size_place_and_words_per_line(
    settings: Settings, make_render_spec: Any, run_render: Any
) -> None:
    """Shorts captions in a channel's look: magenta text with the spoken word cyan, 130 % large, at the top (below
    the platform's tabs), three words a line in DejaVu Serif; nothing of it at the bottom, nothing white."""
    width, height = 720, 1280
    look = CaptionLook(
        font="DejaVu Serif", colour="#FF00FF", highlight="#00FFFF", size=130, position="top", words_per_line=3
    )
    spec, frame = _captioned(
        settings, make_render_spec, run_render, (width, height), spoken=1, captions="shorts", caption_look=look
    )
    style = SubtitleStyle.for_frame(width, height, "shorts", look)
    assert style.font_size == pytest.approx(SubtitleStyle.for_frame(width, height, "shorts").font_size * 1.3, abs=1)
    assert style.margin_v == round(height * 0.12) and style.alignment == 8
    top_band = (0, style.margin_v - style.outline, width, style.margin_v + 3 * style.font_size)
    magenta = _pixels(frame, top_band, lambda p: p[0] > 190 and p[1] < 80 and p[2] > 190)
    cyan = _pixels(frame, top_band, lambda p: p[0] < 80 and p[1] > 190 and p[2] > 190)
    assert magenta > 200 and cyan > 100  # the words, and the one being spoken
    assert _pixels(frame, (0, 0, width, style.margin_v - style.outline - 4), lambda p: not _close(p, GREY)) == 0
    assert _pixels(frame, (0, height // 2, width, height), lambda p: not _close(p, GREY)) == 0
    assert _pixels(frame, (0, 0, width, height), _white) == 0
    srt = open_storage(settings).local_path(spec.subtitles_key).read_text(encoding="utf-8")
    lines = [line for line in srt.splitlines() if line and not line[0].isdigit()]
    assert lines and all(len(line.split(" ")) <= 3 for line in lines)  # the SRT beside it follows the same cues
    assert ",DejaVu Serif," in style.ass_style()


def _close(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    return all(abs(x - y) <= 6 for x, y in zip(a, b, strict=True))


def test_the_highlight_moves_word_by_word_with_the_voice(settings: Settings) -> None:
    """The shorts preset's events: one per word, back to back from the cue's start to its end, each with exactly
    one word in yellow (the one spoken), the same lines in all."""
    words = tuple(
        WordTiming(word=w, start_s=1 + 0.4 * i, end_s=1 + 0.4 * i + 0.3)
        for i, w in enumerate(["Bright", "{gulls}", "at", "dawn"])
    )
    cue = Cue(start_s=1.0, end_s=2.8, lines=("Bright {gulls}", "at dawn"), words=words)
    ass = to_ass([cue], width=720, height=1280, style=SubtitleStyle.for_frame(720, 1280, "shorts"))
    events = [line for line in ass.splitlines() if line.startswith("Dialogue:")]
    assert len(events) == 4
    times = [tuple(event.split(",")[1:3]) for event in events]
    assert times[0][0] == "0:00:01.00" and times[-1][1] == "0:00:02.80"
    assert all(a[1] == b[0] for a, b in itertools.pairwise(times))  # back to back: no gap, no overlap
    spoken = re.compile(r"\{\\c" + re.escape(YELLOW) + r"&\}(.*?)\{\\c" + re.escape(WHITE) + r"&\}")
    for index, event in enumerate(events):
        text = event.split(",", 9)[9]
        assert spoken.findall(text) == [["Bright", "\\{gulls\\}", "at", "dawn"][index]]  # user braces stay text
        assert spoken.sub(lambda m: m[1], text) == "Bright \\{gulls\\}\\Nat dawn"  # the same lines in all


def _clip(settings: Settings, width: int, height: int) -> str:
    path = make_clip(settings.data_dir / f"clip-{width}x{height}.mp4", width, height)
    key = f"media/clip-{width}x{height}.mp4"
    open_storage(settings).put_file(key, path)
    return key


@pytest.mark.parametrize("fit", ["crop", "blur"])
def test_landscape_footage_in_a_vertical_video_is_cropped_or_shown_whole_on_a_blur(
    settings: Settings, make_render_spec: Any, run_render: Any, fit: str
) -> None:
    width, height = 360, 640
    key = _clip(settings, 640, 360)
    spec_path = _render(
        settings,
        make_render_spec,
        run_render,
        ["A landscape clip in a vertical frame."],
        width=width,
        height=height,
        media={0: key},
        clip_fit=fit,
    )
    spec = _spec(spec_path)
    video = open_storage(settings).local_path(spec.output_key)
    frame = _frame(video, 1.0, settings.data_dir / f"fit-{fit}.png")
    assert frame.size == (width, height)
    # the whole clip, scaled to the frame's width, is 360x202 in the middle; above it, the blurred copy
    top = frame.crop((0, 0, width, 200))
    middle = frame.crop((0, 250, width, 390))
    sharpness = lambda image: ImageStat.Stat(image.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0]  # noqa: E731
    black = lambda image: ImageStat.Stat(image.convert("L")).mean[0] < 8  # noqa: E731
    assert not black(top) and not black(middle)
    if fit == "blur":
        assert sharpness(top) < 3 < sharpness(middle)  # soft background, sharp clip
        # testsrc2's whole width is there: its left and right edge columns differ from the blur above
    else:
        assert sharpness(top) > 3  # the clip itself fills the frame: sharp everywhere
    assert plan_timeline(spec).total_frames > 0


@pytest.mark.parametrize("fit", ["crop", "blur"])
def test_one_clip_in_two_scenes_of_the_same_length_renders_in_both(
    settings: Settings, make_render_spec: Any, run_render: Any, fit: str
) -> None:
    """The same clip for two scenes with the same words (so the same length and the same trim): each use is
    its own chain in the graph (ffmpeg-python merges identical nodes), and both show the clip."""
    key = _clip(settings, 320, 180)
    texts = ["A card first.", "The same words here.", "A card between.", "The same words here.", "A card last."]
    spec_path = _render(
        settings,
        make_render_spec,
        run_render,
        texts,
        width=640,
        height=360,
        media={1: key, 3: key},
        clip_fit=fit,
        crossfade_s=0.4,
        ken_burns=True,
    )
    spec = _spec(spec_path)
    timeline = plan_timeline(spec)
    assert timeline.scene_frames[1] == timeline.scene_frames[3]
    video = open_storage(settings).local_path(spec.output_key)
    fourth = timeline.seconds(timeline.scene_start(3) + timeline.scene_frames[3] // 2)
    frame = _frame(video, fourth, settings.data_dir / f"same-{fit}.png")
    card = _frame(
        video,
        timeline.seconds(timeline.scene_start(2) + timeline.scene_frames[2] // 2),
        settings.data_dir / f"card-{fit}.png",
    )
    assert ImageStat.Stat(frame.convert("L")).stddev[0] > 20  # testsrc2's bars and ramps, not a dark blank
    assert frame.getpixel((320, 180)) != card.getpixel((320, 180))
