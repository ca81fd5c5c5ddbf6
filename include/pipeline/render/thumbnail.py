"""The thumbnail: the first scene's picture, framed as the video frames it, with the title on it."""

from __future__ import annotations

import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

from pipeline.atomic import atomic_path
from pipeline.commands import run_program
from pipeline.errors import RenderError
from pipeline.fonts import load_font


def thumbnail_from_still(still: Path, *, size: tuple[int, int], title: str, dest: Path) -> None:
    """The still scaled to cover ``size`` and cropped at the centre (as the render's picture does), titled.

    No decode of the finished video: a second ffmpeg would cost more than the whole thumbnail (0.25 s at 720p), and
    the still is what the scene shows, without the subtitles or a point of its Ken Burns move.
    """
    with Image.open(still) as image:
        framed = ImageOps.fit(image.convert("RGB"), size, method=Image.Resampling.BICUBIC)
    _titled(framed, title, dest)


def thumbnail_from_video(video: Path, *, at_s: float, title: str, dest: Path, ffmpeg_bin: str = "ffmpeg") -> None:
    """Decode the frame at ``at_s`` (for a first scene that is a clip) and title it."""
    frame = dest.with_name("thumbnail-frame.png")
    run_program(
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
        error=lambda message, retryable: RenderError(f"no thumbnail frame: {message}", retryable=retryable),
        timeout_s=120,
    )
    with Image.open(frame) as image:
        image.load()
        _titled(image, title, dest)
    frame.unlink(missing_ok=True)


def _titled(picture: Image.Image, title: str, dest: Path) -> None:
    """Write ``picture`` as a JPEG with the title on a dark band at the bottom."""
    card = picture.convert("RGBA")
    width, height = card.size
    size = max(18, min(width, height) // 12)
    font = load_font(size)
    lines = textwrap.wrap(" ".join(title.split()), width=max(12, int(width / (size * 0.6))))[:3]
    band_height = font.block_height(len(lines), 0) + size
    band = Image.new("RGBA", card.size, (0, 0, 0, 0))
    ImageDraw.Draw(band).rectangle((0, height - band_height, width, height), fill=(0, 0, 0, 160))
    card = Image.alpha_composite(card, band)
    font.draw_lines(
        ImageDraw.Draw(card), (width // 2, height - band_height + size // 2), lines, spacing=0, fill=(255, 255, 255)
    )
    with atomic_path(dest) as tmp:
        card.convert("RGB").save(tmp, format="JPEG", quality=88)
