"""The thumbnail: a representative frame of the finished video with the title on it."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw

from pipeline.errors import RenderError
from pipeline.fonts import load_font


def make_thumbnail(video: Path, *, at_s: float, title: str, dest: Path, ffmpeg_bin: str = "ffmpeg") -> None:
    """Decode one frame at ``at_s`` and write it as a JPEG with the title on a dark band."""
    frame = dest.with_name("thumbnail-frame.png")
    completed = subprocess.run(
        [
            ffmpeg_bin,
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-ss",
            f"{at_s:.3f}",
            "-i",
            str(video),
            "-frames:v",
            "1",
            str(frame),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if completed.returncode != 0 or not frame.is_file():
        raise RenderError(f"could not take the thumbnail frame: {completed.stderr.strip()[-500:]}")
    with Image.open(frame) as image:
        card = image.convert("RGBA")
    width, height = card.size
    size = max(18, min(width, height) // 12)
    font = load_font(size)
    lines = textwrap.wrap(" ".join(title.split()), width=max(12, int(width / (size * 0.6))))[:3]
    band_height = size * (len(lines) + 1)
    band = Image.new("RGBA", card.size, (0, 0, 0, 0))
    ImageDraw.Draw(band).rectangle((0, height - band_height, width, height), fill=(0, 0, 0, 160))
    card = Image.alpha_composite(card, band)
    draw = ImageDraw.Draw(card)
    y = height - band_height + size // 2
    for line in lines:
        draw.text((width // 2, y), line, font=font, fill=(255, 255, 255), anchor="ma")
        y += size
    tmp = dest.with_name(dest.name + ".part")
    card.convert("RGB").save(tmp, format="JPEG", quality=88)
    tmp.replace(dest)
    frame.unlink(missing_ok=True)
