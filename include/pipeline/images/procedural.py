"""Procedural title cards drawn with Pillow: the offline image provider.

Each scene gets its own palette and shapes (seeded by the prompt), the video title and the scene's keywords.
"""

from __future__ import annotations

import colorsys
import hashlib
import random
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageColor, ImageDraw, ImageFilter

from pipeline.atomic import atomic_path
from pipeline.constants import ImageProviderId
from pipeline.fonts import FontStack, load_font
from pipeline.images.base import ImageUsage
from pipeline.models import CardLook
from pipeline.render.frame import card_text_box


class ProceduralImages:
    """Title cards at the output resolution; free, deterministic and instant."""

    name = ImageProviderId.PROCEDURAL.value
    model = "titlecard-v3"  # v3: text clear of the subtitles' band at any Ken Burns zoom
    extension = "png"
    unit_kind = "images"

    def __init__(self, look: CardLook | None = None) -> None:
        self.look = look or CardLook()  # a channel's colours (None: seeded per scene) and font, the captions' band

    def cache_inputs(
        self, *, prompt: str, title: str, keywords: tuple[str, ...], scene_number: int, width: int, height: int
    ) -> dict[str, object]:
        # the card shows the title, the keywords and the scene number
        inputs: dict[str, object] = {
            "prompt": prompt,
            "title": title,
            "keywords": list(keywords),
            "scene_number": scene_number,
            "width": width,
            "height": height,
        }
        # each only when set: the cards made before channels keep their hashes
        if self.look.palette:
            inputs["palette"] = list(self.look.palette)
        if self.look.caption_band:
            inputs["caption_band"] = list(self.look.caption_band)
        if self.look.font:
            inputs["font"] = self.look.font
        return inputs

    def generate(
        self,
        *,
        prompt: str,
        title: str,
        keywords: tuple[str, ...],
        scene_number: int,
        width: int,
        height: int,
        dest: Path,
    ) -> ImageUsage:
        palette = self.look.palette
        image = card_background(title=title, prompt=prompt, width=width, height=height, palette=palette)
        heading = [word.capitalize() for word in keywords] or prompt[:60].split()
        draw_card_text(
            image,
            title=title,
            heading=heading,
            joiner=" · " if keywords else " ",
            scene_number=scene_number,
            text_colour=rgb(palette[1]) if palette else (255, 255, 255),
            caption_band=self.look.caption_band,
            font_family=self.look.font,
        )
        with atomic_path(dest) as tmp:
            image.convert("RGB").save(tmp, format="PNG", optimize=False)
        return ImageUsage(units=1, unit_kind="images")


def draw_card_text(
    image: Image.Image,
    *,
    title: str,
    heading: Sequence[str],
    joiner: str,
    scene_number: int,
    text_colour: tuple[int, int, int] = (255, 255, 255),
    caption_band: tuple[int, int] | None = None,
    font_family: str | None = None,
) -> None:
    """The title and the scene number on the top line, the heading centred below them, all inside the card's text
    box (clear of Ken Burns' crop and of the burned subtitles, see ``pipeline.render.frame``). Any script is drawn:
    the fonts fall back per character (``pipeline.fonts``)."""
    width, height = image.size
    box = card_text_box(width, height, caption_band)
    draw = ImageDraw.Draw(image)
    short = min(width, height)
    badge_font = load_font(max(16, short // 18), font_family)
    title_font = load_font(max(18, short // 22), font_family)
    badge = str(scene_number)
    badge_font.draw(draw, (box.right, box.top), badge, fill=(*text_colour, 200), align="right")
    badge_width = round(badge_font.length(badge)) + short // 30
    title_line = _fit_line(title, title_font, box.right - box.left - badge_width)
    title_font.draw(draw, (box.left, box.top), title_line, fill=(*text_colour, 230))
    top = box.top + max(title_font.line_height, badge_font.line_height) * 5 // 4
    size = max(24, short // 11)
    while True:  # the largest heading that fits the box (wrapped to its width)
        font = load_font(size, font_family)
        spacing = size // 4
        lines = _wrap(heading, joiner, font, box.right - box.left)
        block = font.block_height(len(lines), spacing)
        if block <= box.bottom - top or size <= 14:
            break
        size = size * 9 // 10
    y = top + (box.bottom - top - block) / 2
    font.draw_lines(
        draw,
        (width / 2, y),
        lines,
        spacing=spacing,
        fill=text_colour,
        stroke_width=max(2, short // 300),
        stroke_fill=(0, 0, 0),
    )


def _wrap(words: Sequence[str], joiner: str, font: FontStack, max_width: int) -> list[str]:
    """``words`` joined in lines no wider than ``max_width`` pixels (a longer word is cut with an ellipsis)."""
    lines: list[str] = []
    for word in words:
        candidate = f"{lines[-1]}{joiner}{word}" if lines else word
        if lines and font.length(candidate) <= max_width:
            lines[-1] = candidate
        else:
            lines.append(_fit_line(word, font, max_width))
    return lines


def card_background(
    *, title: str, prompt: str, width: int, height: int, palette: tuple[str, str] | None = None
) -> Image.Image:
    """The card without its text: a gradient and soft shapes, seeded by the title and the prompt (in the hue of
    the channel's background colour when it has one)."""
    seed = int.from_bytes(hashlib.sha256(f"{title}\0{prompt}".encode()).digest()[:8], "big")
    return _background(width, height, random.Random(seed), base=rgb(palette[0]) if palette else None)


def rgb(colour: str) -> tuple[int, int, int]:
    """A "#RRGGBB" colour as Pillow draws it."""
    red, green, blue, *_ = ImageColor.getrgb(colour)
    return red, green, blue


def _fit_line(text: str, font: FontStack, max_width: int) -> str:
    """``text`` shortened with an ellipsis until it fits ``max_width`` pixels."""
    if font.length(text) <= max_width:
        return text
    while text and font.length(text + "…") > max_width:
        text = text[:-1]
    return text.rstrip() + "…"


def _background(width: int, height: int, rng: random.Random, base: tuple[int, int, int] | None = None) -> Image.Image:
    hue = rng.random()
    top = _rgb(hue, 0.55, 0.35)
    bottom = _rgb((hue + 0.12 + rng.random() * 0.2) % 1, 0.65, 0.12)
    if base is not None:  # the channel's colour, darkening downwards; shapes in its hue
        hue = colorsys.rgb_to_hsv(*(c / 255 for c in base))[0]
        top, bottom = base, (round(base[0] * 0.45), round(base[1] * 0.45), round(base[2] * 0.45))
    column = Image.new("RGB", (1, height))
    for y in range(height):
        t = y / max(1, height - 1)
        column.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    image = column.resize((width, height))
    shapes = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(shapes)
    short = min(width, height)
    for _ in range(7):
        radius = rng.randint(short // 10, short // 3)
        cx, cy = rng.randint(0, width), rng.randint(0, height)
        colour = (*_rgb((hue + rng.uniform(-0.15, 0.3)) % 1, 0.6, 0.6), rng.randint(40, 110))
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    shapes = shapes.filter(ImageFilter.GaussianBlur(short // 60))
    return Image.alpha_composite(image.convert("RGBA"), shapes)


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return round(r * 255), round(g * 255), round(b * 255)
