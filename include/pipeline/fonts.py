"""Text on title cards and thumbnails in any script: a stack of fonts with fallback, shaped by Raqm.

The first font is DejaVu Sans Bold (Latin, Greek, Cyrillic). A character it lacks is drawn with the first font
that has it: the Noto fonts Debian ships (Arabic, Hebrew, Devanagari, Thai, CJK), Symbola for emoji, then any
font fontconfig finds for it (the way libass finds fonts for the burned subtitles). Each run of characters that
share a font is laid out by Raqm (HarfBuzz shaping, FriBiDi for right-to-left text), so Arabic letters join and
Devanagari conjuncts form; in a right-to-left line the runs are placed right to left.
"""

from __future__ import annotations

import subprocess
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTCollection, TTFont
from PIL import ImageDraw, ImageFont, features

PRIMARY = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)
NOTO = "/usr/share/fonts/truetype/noto"
FALLBACKS = (
    f"{NOTO}/NotoSans-Bold.ttf",
    f"{NOTO}/NotoSansArabic-Bold.ttf",
    f"{NOTO}/NotoSansHebrew-Bold.ttf",
    f"{NOTO}/NotoSansDevanagari-Bold.ttf",
    f"{NOTO}/NotoSansThai-Bold.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf",
    "/usr/share/fonts/truetype/ancient-scripts/Symbola.ttf",
)
RTL = {"R", "AL"}


@dataclass(frozen=True)
class FontFile:
    path: str
    index: int = 0


@cache
def _coverage(face: FontFile) -> frozenset[int]:
    """The code points the font has glyphs for (its best cmap)."""
    try:
        if face.path.lower().endswith((".ttc", ".otc")):
            font = TTCollection(face.path, lazy=True).fonts[face.index]
        else:
            font = TTFont(face.path, lazy=True, fontNumber=face.index)
        return frozenset(font.getBestCmap() or {})
    except Exception:  # an unreadable font covers nothing
        return frozenset()


@cache
def _installed_faces() -> tuple[FontFile, ...]:
    return tuple(FontFile(path) for path in (*PRIMARY, *FALLBACKS) if Path(path).is_file())


@cache
def _fontconfig_face(code_point: int) -> FontFile | None:
    """The bold sans font fontconfig picks for ``code_point`` (None without fontconfig or without such a font)."""
    found = _fc_match(f"sans-serif:bold:charset={code_point:x}")
    face = FontFile(found[0], int(found[1] or 0)) if found and found[0] else None
    return face if face is not None and code_point in _coverage(face) else None


def _fc_match(pattern: str) -> list[str] | None:
    """fontconfig's best font for ``pattern``: [file, index, families] (None without fontconfig)."""
    try:
        found = subprocess.run(
            ["fc-match", "--format=%{file}\n%{index}\n%{family}", pattern],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return None
    return found if len(found) >= 3 else None


def face_for(character: str, first: FontFile | None = None) -> FontFile | None:
    """The first font of the stack (``first`` before it) that has ``character`` (None: no installed font has it)."""
    code_point = ord(character)
    for face in ((first,) if first else ()) + _installed_faces():
        if code_point in _coverage(face):
            return face
    return _fontconfig_face(code_point)


def _sticks(character: str) -> bool:
    """Spaces, joiners, marks and variation selectors stay in the run of the character before them."""
    return character.isspace() or unicodedata.category(character) in {"Mn", "Me", "Cf"}


class FontStack:
    """Fonts of one pixel size with fallback, measured and drawn like a Pillow font."""

    def __init__(self, size: int, family: str | None = None) -> None:
        self.size = size
        self.first = family_face(family) if family else None  # a channel's font, before the stack
        faces = ((self.first,) if self.first else ()) + _installed_faces()
        # Pillow's own default font is a FreeType font too when Pillow has FreeType (it always has here)
        self.primary: Any = self._load(faces[0]) if faces else ImageFont.load_default(size=size)
        ascent, descent = self.primary.getmetrics()  # type: ignore[union-attr]
        self.ascent, self.line_height = ascent, ascent + descent

    def _load(self, face: FontFile) -> Any:
        return _truetype(face.path, face.index, self.size)

    def runs(self, text: str) -> list[tuple[str, Any]]:
        """``text`` cut into runs of one font each, in logical order."""
        runs: list[tuple[str, Any]] = []
        current: FontFile | None = None
        for character in text:
            face = current if runs and _sticks(character) else face_for(character, self.first)
            if runs and face == current:
                runs[-1] = (runs[-1][0] + character, runs[-1][1])
            else:
                current = face
                runs.append((character, self._load(face) if face else self.primary))
        return runs

    def length(self, text: str) -> float:
        direction = _direction(text)
        return sum(font.getlength(run, direction=direction) for run, font in self.runs(text))

    def draw(
        self,
        draw: ImageDraw.ImageDraw,
        xy: tuple[float, float],
        text: str,
        *,
        fill: Any,
        align: str = "left",
        stroke_width: int = 0,
        stroke_fill: Any = None,
    ) -> None:
        """One line with its top at ``xy[1]``; ``xy[0]`` is its left, centre or right edge (``align``)."""
        runs, direction = self.runs(text), _direction(text)
        if direction == "rtl":
            runs.reverse()
        widths = [font.getlength(run, direction=direction) for run, font in runs]
        x = xy[0] - {"left": 0, "center": sum(widths) / 2, "right": sum(widths)}[align]
        baseline = xy[1] + self.ascent
        for (run, font), width in zip(runs, widths, strict=True):
            draw.text(
                (x, baseline),
                run,
                font=font,
                fill=fill,
                anchor="ls",
                direction=direction,
                stroke_width=stroke_width,
                stroke_fill=stroke_fill,
            )
            x += width

    def draw_lines(
        self,
        draw: ImageDraw.ImageDraw,
        xy: tuple[float, float],
        lines: Sequence[str],
        *,
        spacing: int,
        fill: Any,
        stroke_width: int = 0,
        stroke_fill: Any = None,
    ) -> None:
        """Lines centred on ``xy[0]``, the first one's top at ``xy[1]``."""
        for number, line in enumerate(lines):
            y = xy[1] + number * (self.line_height + spacing)
            self.draw(
                draw, (xy[0], y), line, fill=fill, align="center", stroke_width=stroke_width, stroke_fill=stroke_fill
            )

    def block_height(self, lines: int, spacing: int) -> int:
        return lines * self.line_height + max(0, lines - 1) * spacing


def right_to_left(text: str) -> bool:
    """Whether the paragraph's first strong character is right-to-left (Unicode's rule P2)."""
    for character in text:
        direction = unicodedata.bidirectional(character)
        if direction in RTL:
            return True
        if direction == "L":
            return False
    return False


def _direction(text: str) -> str | None:
    """The paragraph's base direction for Raqm, so a run's neutral characters (spaces, dashes) are placed as in
    the whole line, not as in the run alone (None without Raqm: Pillow's basic layout takes no direction)."""
    if not features.check("raqm"):
        return None
    return "rtl" if right_to_left(text) else "ltr"


@cache
def _truetype(path: str, index: int, size: int) -> Any:
    return ImageFont.truetype(path, size, index=index, layout_engine=ImageFont.Layout.RAQM)


@cache
def load_font(size: int, family: str | None = None) -> FontStack:
    return FontStack(size, family)


@cache
def family_face(family: str) -> FontFile | None:
    """The bold face of an installed font ``family`` (its regular one when it has no bold); None when fontconfig
    does not have that family (it would answer with another)."""
    found = _fc_match(f"{family}:bold")
    if found is None or family.casefold() not in {name.strip().casefold() for name in found[2].split(",")}:
        return None
    return FontFile(found[0], int(found[1] or 0))


@cache
def font_families() -> frozenset[str]:
    """The font families fontconfig knows here (what libass can draw captions with); empty without fc-list."""
    try:
        listed = subprocess.run(
            ["fc-list", "--format=%{family}\n"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(name.strip() for line in listed.splitlines() for name in line.split(",") if name.strip())


def has_family(family: str) -> bool:
    """Whether ``family`` is installed (case as fontconfig matches it: ignored)."""
    return family.casefold() in {known.casefold() for known in font_families()}
