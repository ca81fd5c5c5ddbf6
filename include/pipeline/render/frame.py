"""Where text may be drawn on a scene's picture: outside what Ken Burns crops and above the burned subtitles.

Ken Burns shows as little as 1/KEN_BURNS_MAX_ZOOM of a still, anchored at any edge, so a point at height ``y`` of
the card can appear as low as ``y * KEN_BURNS_MAX_ZOOM`` in the frame. Card text therefore ends that much above
the band the subtitles may use.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.render.subtitles import MAX_LINES, SubtitleStyle

KEN_BURNS_MAX_ZOOM = 1.2  # the deepest zoom of any move (render/video.py MOVES)
SAFE_MARGIN = 1 - 1 / KEN_BURNS_MAX_ZOOM + 0.004  # 0.171 of each side: never cropped by the deepest zoom
LINE_HEIGHT_EM = 1.25  # a subtitle line's height in libass, with DejaVu Sans (ascent + descent + leading)


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int
    bottom: int


def subtitle_band(width: int, height: int) -> tuple[int, int]:
    """(top, bottom) rows that burned subtitles of at most two lines may cover in a frame of this size."""
    style = SubtitleStyle.for_frame(width, height)
    bottom = height - style.margin_v + style.outline + max(1, style.outline // 2)  # outline and shadow below
    top = height - style.margin_v - round(MAX_LINES * style.font_size * LINE_HEIGHT_EM) - style.outline
    return max(0, top), min(height, bottom)


def card_text_box(width: int, height: int) -> Box:
    """The part of a card its text may use: inside the Ken Burns-safe margins and, at any zoom, above the
    subtitles."""
    band_top, _ = subtitle_band(width, height)
    left, top = round(width * SAFE_MARGIN), round(height * SAFE_MARGIN)
    bottom = min(height - top, int(band_top / KEN_BURNS_MAX_ZOOM) - max(4, height // 100))
    return Box(left=left, top=top, right=width - left, bottom=bottom)
