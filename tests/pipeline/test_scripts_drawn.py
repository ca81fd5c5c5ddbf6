"""Every script users write is drawn, in the cards (Pillow + Raqm, font fallback) and in the burned subtitles
(libass + fontconfig): each text is compared with the "missing glyph" boxes the same number of characters makes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw

from pipeline.fonts import face_for, load_font, right_to_left
from pipeline.images.procedural import card_background, draw_card_text
from pipeline.render.subtitles import Cue, SubtitleStyle, to_ass

SCRIPTS = {
    "japanese": "日本語の字幕",
    "chinese": "中文字幕测试",
    "korean": "한국어 자막",
    "arabic": "مرحبا بالعالم",
    "hebrew": "שלום עולם",
    "cyrillic": "Привет, мир",
    "greek": "Γειά σου κόσμε",
    "devanagari": "नमस्ते दुनिया",
    "thai": "สวัสดีชาวโลก",
    "emoji": "🚀🎉✨👍",
}
MISSING = "\U0010fffd"  # a noncharacter: no font has it, every font draws its "missing glyph" box for it


def _changed_pixels(a: Image.Image, b: Image.Image) -> int:
    difference = ImageChops.difference(a.convert("L"), b.convert("L")).point(lambda v: 255 if v > 40 else 0)
    return sum(1 for value in difference.getdata() if value)


def _pillow(text: str, size: int = 48) -> Image.Image:
    image = Image.new("L", (size * (len(text) + 2), size * 2), 0)
    load_font(size).draw(ImageDraw.Draw(image), (size // 2, size // 4), text, fill=255)
    return image


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_cards_fonts_have_every_character_and_draw_it(script: str) -> None:
    text = SCRIPTS[script]
    missing = [hex(ord(c)) for c in text if not c.isspace() and face_for(c) is None]
    assert missing == [], f"no installed font has {missing} (make system-deps installs the Noto fonts)"
    for character in set(text) - {" ", ","}:
        glyph, box = _pillow(character), _pillow(MISSING)
        assert glyph.getbbox() is not None, f"{character!r} drew nothing"
        assert _changed_pixels(glyph, box) > 20, f"{character!r} was drawn as the missing-glyph box"


def test_right_to_left_text_is_shaped_and_placed_right_to_left() -> None:
    assert right_to_left("مرحبا world") and right_to_left("שלום") and not right_to_left("hello مرحبا")
    # Arabic letters join: the shaped word is narrower than its letters drawn one by one
    font = load_font(48)
    word = "بالعالم"
    assert font.length(word) < sum(font.length(letter) for letter in word) * 0.9


def test_a_card_in_every_script_draws_its_title_and_keywords() -> None:
    for script, text in SCRIPTS.items():
        background = card_background(title=text, prompt=script, width=1280, height=720)
        card = background.copy()
        draw_card_text(card, title=text, heading=text.split(), joiner=" · ", scene_number=1)
        boxes = background.copy()
        draw_card_text(
            boxes,
            title=MISSING * len(text),
            heading=[MISSING * len(w) for w in text.split()],
            joiner=" · ",
            scene_number=1,
        )
        assert _changed_pixels(card, boxes) > 500, f"the {script} card looks like missing-glyph boxes"


def _burned(text: str, tmp_path: Path) -> tuple[Image.Image, str]:
    """One 1280x720 frame with ``text`` burned in by ffmpeg's libass, and ffmpeg's verbose log."""
    style = SubtitleStyle.for_frame(1280, 720)
    ass = tmp_path / "cue.ass"
    ass.write_text(to_ass([Cue(0, 5, (text,))], width=1280, height=720, style=style), encoding="utf-8")
    frame = tmp_path / "frame.png"
    completed = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "verbose",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=0x203040:s=1280x720:d=1",
            "-vf",
            f"subtitles={ass.name}",
            "-frames:v",
            "1",
            frame.name,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    with Image.open(frame) as image:
        return image.convert("RGB"), completed.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_burned_subtitles_draw_every_script(script: str, tmp_path: Path) -> None:
    text = SCRIPTS[script]
    drawn, log = _burned(text, tmp_path)
    boxes, _ = _burned("".join(c if c.isspace() else MISSING for c in text), tmp_path)
    blank = Image.new("RGB", drawn.size, (0x20, 0x30, 0x40))
    assert _changed_pixels(drawn, blank) > 500, "nothing was burned in"
    assert _changed_pixels(drawn, boxes) > 500, f"the {script} subtitle looks like missing-glyph boxes"
    fallbacks = [line for line in log.splitlines() if "fontselect:" in line]
    assert fallbacks, log[-2000:]  # libass chose fonts through fontconfig
