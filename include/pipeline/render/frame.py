"""Where text may be drawn on a scene's picture: outside what Ken Burns crops and clear of the burned subtitles.

Ken Burns shows as little as 1/KEN_BURNS_MAX_ZOOM of a still, anchored at any edge, so a point at height ``y`` of
the card can appear as low as ``y * KEN_BURNS_MAX_ZOOM`` in the frame. Card text therefore ends that much above
the band the subtitles may use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.render.subtitles import ALIGN_MIDDLE, ALIGN_TOP, MAX_LINES, SubtitleStyle

KEN_BURNS_MAX_ZOOM = 1.2  # the deepest zoom of any move (render/video.py MOVES)
SAFE_MARGIN = 1 - 1 / KEN_BURNS_MAX_ZOOM + 0.004  # 0.171 of each side: never cropped by the deepest zoom
LINE_HEIGHT_EM = 1.25  # a subtitle line's height in libass, with DejaVu Sans (ascent + descent + leading)


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int
    bottom: int


def subtitle_band(width: int, height: int, style: SubtitleStyle | None = None) -> tuple[int, int]:
    """(top, bottom) rows that burned subtitles of at most two lines may cover in a frame of this size, in
    ``style`` (default: the classic preset at the bottom)."""
    style = style or SubtitleStyle.for_frame(width, height)
    lines = round(MAX_LINES * style.font_size * LINE_HEIGHT_EM)
    below = style.outline + max(1, style.outline // 2)  # outline and shadow below
    if style.alignment == ALIGN_TOP:
        top, bottom = style.margin_v - style.outline, style.margin_v + lines + below
    elif style.alignment == ALIGN_MIDDLE:
        top, bottom = (height - lines) // 2 - style.outline, (height + lines) // 2 + below
    else:
        top, bottom = height - style.margin_v - lines - style.outline, height - style.margin_v + below
    return max(0, top), min(height, bottom)


def card_text_box(width: int, height: int, band: tuple[int, int] | None = None) -> Box:
    """The part of a card its text may use: inside the Ken Burns-safe margins and, at any zoom, clear of the
    subtitles' ``band`` (default: the classic preset's): above it, or below it where that leaves more room (a band
    at the top)."""
    band_top, band_bottom = band or subtitle_band(width, height)
    left, top = round(width * SAFE_MARGIN), round(height * SAFE_MARGIN)
    pad = max(4, height // 100)
    # anchored at the top, a zoom moves row y to y * zoom; anchored at the bottom, to height - (height - y) * zoom
    above = (top, min(height - top, int(band_top / KEN_BURNS_MAX_ZOOM) - pad))
    below = (max(top, math.ceil(height - (height - band_bottom) / KEN_BURNS_MAX_ZOOM) + pad), height - top)
    first, last = max((above, below), key=lambda span: span[1] - span[0])
    return Box(left=left, top=first, right=width - left, bottom=last)
