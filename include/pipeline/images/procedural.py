"""Procedural title cards drawn with Pillow: the offline image provider.

Each scene gets its own palette and shapes (seeded by the prompt), the video title and the scene's keywords.
"""

from __future__ import annotations

import colorsys
import hashlib
import random
import textwrap
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

from pipeline.fonts import load_font
from pipeline.images.base import ImageUsage

SAFE_MARGIN = 0.17  # of each dimension: 1 - 1/1.2 (the deepest Ken Burns zoom) = 0.167


class ProceduralImages:
    """Title cards at the output resolution; free, deterministic and instant."""

    name = "procedural"
    model = "titlecard-v2"  # v2: text inside the Ken Burns-safe area
    extension = "png"
    unit_kind = "images"

    def cache_inputs(
        self, *, prompt: str, title: str, keywords: tuple[str, ...], scene_number: int, width: int, height: int
    ) -> dict[str, object]:
        # the card shows the title, the keywords and the scene number
        return {"prompt": prompt, "title": title, "keywords": list(keywords), "scene_number": scene_number,
                "width": width, "height": height}  # fmt: skip

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
        image = card_background(title=title, prompt=prompt, width=width, height=height)
        draw = ImageDraw.Draw(image)
        short = min(width, height)
        # Ken Burns shows as little as 1/1.2 of the frame, anchored at any edge: keep text inside that.
        left, top = round(width * SAFE_MARGIN), round(height * SAFE_MARGIN)

        title_font = load_font(max(18, short // 22))
        draw.text((left, top), _fit_line(draw, title, title_font, width - 2 * left), font=title_font,
                  fill=(255, 255, 255, 230))  # fmt: skip

        heading = " · ".join(word.capitalize() for word in keywords) or prompt[:60]
        heading_font = load_font(max(24, short // 11))
        wrapped = textwrap.fill(heading, width=max(8, int((width - 2 * left) / (short // 11) * 1.6)))
        box = draw.multiline_textbbox((0, 0), wrapped, font=heading_font, spacing=short // 40, align="center")
        x = (width - (box[2] - box[0])) / 2
        y = (height - (box[3] - box[1])) / 2
        draw.multiline_text(
            (x, y),
            wrapped,
            font=heading_font,
            fill=(255, 255, 255),
            spacing=short // 40,
            align="center",
            stroke_width=max(2, short // 300),
            stroke_fill=(0, 0, 0),
        )

        badge_font = load_font(max(16, short // 18))
        draw.text(
            (width - left, height - top),
            f"{scene_number}",
            font=badge_font,
            fill=(255, 255, 255, 200),
            anchor="rb",
        )
        tmp = dest.with_name(dest.name + ".part.png")
        image.convert("RGB").save(tmp, format="PNG", optimize=False)
        tmp.replace(dest)
        return ImageUsage(units=1, unit_kind="images")


def card_background(*, title: str, prompt: str, width: int, height: int) -> Image.Image:
    """The card without its text: a gradient and soft shapes, seeded by the title and the prompt."""
    seed = int.from_bytes(hashlib.sha256(f"{title}\0{prompt}".encode()).digest()[:8], "big")
    return _background(width, height, random.Random(seed))


def _fit_line(draw: ImageDraw.ImageDraw, text: str, font: Any, max_width: int) -> str:
    """``text`` shortened with an ellipsis until it fits ``max_width`` pixels."""
    if draw.textlength(text, font=font) <= max_width:
        return text
    while text and draw.textlength(text + "…", font=font) > max_width:
        text = text[:-1]
    return text.rstrip() + "…"


def _background(width: int, height: int, rng: random.Random) -> Image.Image:
    hue = rng.random()
    top = _rgb(hue, 0.55, 0.35)
    bottom = _rgb((hue + 0.12 + rng.random() * 0.2) % 1, 0.65, 0.12)
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
