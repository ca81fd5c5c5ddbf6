"""Title cards and burned subtitles never collide, in every format, at any Ken Burns zoom."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from PIL import Image, ImageChops

from pipeline.config import Settings
from pipeline.images.procedural import ProceduralImages, card_background
from pipeline.models import CaptionLook, CardLook, RenderSpec
from pipeline.render.frame import KEN_BURNS_MAX_ZOOM, card_text_box, subtitle_band
from pipeline.render.subtitles import SubtitleStyle
from pipeline.render.video import MOVES
from pipeline.request import FRAME_SIZES
from pipeline.storage import open_storage

NARRATION = "The harbour wakes before the sun, and the boats slip out past the old stone wall."


def _rows(mask: Image.Image) -> tuple[int, int]:
    """First and last row with a changed pixel."""
    box = mask.getbbox()
    assert box is not None, "nothing was drawn"
    return box[1], box[3] - 1


def _changed(a: Image.Image, b: Image.Image) -> Image.Image:
    return ImageChops.difference(a.convert("L"), b.convert("L")).point(lambda v: 255 if v > 60 else 0)


def test_no_move_zooms_deeper_than_the_layout_allows() -> None:
    assert max(max(move[0], move[1]) for move in MOVES) == KEN_BURNS_MAX_ZOOM


@pytest.mark.parametrize("size", sorted(set(FRAME_SIZES.values())), ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_cards_text_stays_above_the_burned_subtitles(
    size: tuple[int, int], settings: Settings, make_render_spec: Any, run_render: Any
) -> None:
    width, height = size
    spec_path = make_render_spec([NARRATION], width=width, height=height, burn_subtitles=True)
    assert run_render(spec_path).returncode == 0
    spec = RenderSpec.model_validate_json(spec_path.read_text())
    storage = open_storage(settings)
    card = Image.open(storage.local_path(spec.scenes[0].media_key)).convert("RGB")
    video = storage.local_path(spec.output_key)
    still = settings.data_dir / "frame.png"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-ss", "1.0", "-i", str(video), "-frames:v", "1", str(still)], check=True
    )
    frame = Image.open(still).convert("RGB")
    background = card_background(title=spec.title, prompt=NARRATION, width=width, height=height).convert("RGB")

    text_top, text_bottom = _rows(_changed(card, background))  # the card's own text
    subtitles_top, subtitles_bottom = _rows(_changed(frame, card))  # what the burned subtitles added
    band_top, band_bottom = subtitle_band(width, height)
    assert band_top <= subtitles_top and subtitles_bottom <= band_bottom, json.dumps([subtitles_top, subtitles_bottom])
    # Ken Burns shows the card at up to 1.2x, anchored anywhere: the text's lowest row can move down that far
    assert text_bottom * KEN_BURNS_MAX_ZOOM < subtitles_top
    assert text_bottom <= card_text_box(width, height).bottom
    assert text_top >= 0.16 * height  # and inside what the deepest zoom never crops


LOOKS = {
    "shorts": ("shorts", None),
    "boxed": ("boxed", None),
    "top": ("classic", CaptionLook(position="top", size=150)),
    "middle": ("shorts", CaptionLook(position="middle")),
}


@pytest.mark.parametrize("size", [(720, 1280), (1280, 720)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("look", sorted(LOOKS))
def test_a_card_keeps_its_text_clear_of_the_videos_own_captions(
    size: tuple[int, int], look: str, settings: Settings, make_render_spec: Any, run_render: Any
) -> None:
    """The captions of each preset and place stay inside the band computed for them (a render, the frame against
    its card), and a card made for that band keeps its text out of it at any Ken Burns zoom, anchored anywhere."""
    width, height = size
    preset, caption_look = LOOKS[look]
    style = SubtitleStyle.for_frame(width, height, preset, caption_look)
    band_top, band_bottom = subtitle_band(width, height, style)
    spec_path = make_render_spec(
        [NARRATION], width=width, height=height, burn_subtitles=True, captions=preset, caption_look=caption_look
    )
    assert run_render(spec_path).returncode == 0
    spec = RenderSpec.model_validate_json(spec_path.read_text())
    storage = open_storage(settings)
    card = Image.open(storage.local_path(spec.scenes[0].media_key)).convert("RGB")
    still = settings.data_dir / f"frame-{look}.png"
    video = storage.local_path(spec.output_key)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-ss", "1.0", "-i", str(video), "-frames:v", "1", str(still)], check=True
    )
    subtitles_top, subtitles_bottom = _rows(_changed(Image.open(still).convert("RGB"), card))
    assert band_top <= subtitles_top and subtitles_bottom <= band_bottom, [subtitles_top, subtitles_bottom]

    dest = settings.data_dir / f"card-{look}.png"
    ProceduralImages(CardLook(caption_band=(band_top, band_bottom))).generate(
        prompt=NARRATION,
        title="Harbour",
        keywords=("harbour", "boats"),
        scene_number=1,
        width=width,
        height=height,
        dest=dest,
    )
    background = card_background(title="Harbour", prompt=NARRATION, width=width, height=height)
    text_top, text_bottom = _rows(_changed(Image.open(dest).convert("RGB"), background))
    zoom = KEN_BURNS_MAX_ZOOM
    above = text_bottom * zoom < band_top  # anchored at the top, row y shows at y * zoom
    below = height - (height - text_top) * zoom > band_bottom  # anchored at the bottom
    assert above or below, [text_top, text_bottom, band_top, band_bottom]
    if above:  # and, anchored at the bottom, the text moves up, away from the band
        assert height - (height - text_bottom) * zoom < band_top
    else:
        assert text_top * zoom > band_bottom
