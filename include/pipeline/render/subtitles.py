"""Subtitle cues from word timings, written as SRT (file and soft track) and ASS (burned in, styled).

User text only ever reaches FFmpeg inside these files, never inside filter arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.models import CaptionLook, WordTiming

MAX_LINE_CHARS = 42
MAX_LINES = 2
MIN_CUE_S = 0.6  # shown at least this long
JOIN_BELOW_S = 1.0  # a cue spoken in less joins a neighbour
_SENTENCE_END = (".", "!", "?", "…", "。", "！", "？")


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    lines: tuple[str, ...]
    words: tuple[WordTiming, ...] = ()  # on the video's clock: what the word-by-word highlight follows


def cues_for_scene(
    words: Sequence[WordTiming],
    *,
    offset_s: float,
    scene_end_s: float,
    max_line_chars: int = MAX_LINE_CHARS,
    max_words: int = 0,
) -> list[Cue]:
    """Group a scene's words into cues of at most two lines (of at most ``max_words`` words each, 0: any),
    breaking after sentences where possible; a cue spoken in less than ``JOIN_BELOW_S`` (a lone "Yes." after a
    long sentence) joins a neighbour it fits with."""
    limits = Limits(max_line_chars, max_words)
    groups: list[list[WordTiming]] = []
    group: list[WordTiming] = []
    for word in words:
        if group and _too_long([*group, word], limits):
            groups.append(group)
            group = []
        group.append(word)
        if word.word.endswith(_SENTENCE_END) and len(" ".join(w.word for w in group)) > max_line_chars // 2:
            groups.append(group)
            group = []
    if group:
        groups.append(group)
    cues = [_cue(joined, offset_s, limits) for joined in _joined(groups, limits)]
    return _no_overlap(cues, scene_end_s)


def _joined(groups: list[list[WordTiming]], limits: Limits) -> list[list[WordTiming]]:
    """No group spoken in less than ``JOIN_BELOW_S`` while a neighbour can help: merged into the previous group,
    else the next, when the two fit in two lines; else it takes the previous group's last words (which stays the
    longer). A lone group shorter than that stays (shown at least ``MIN_CUE_S``)."""
    groups = [list(g) for g in groups]
    index = 0
    while index < len(groups):
        group = groups[index]
        if len(groups) > 1 and _spoken(group) < JOIN_BELOW_S:
            if index > 0 and not _too_long(groups[index - 1] + group, limits):
                groups[index - 1] += groups.pop(index)
                continue
            if index + 1 < len(groups) and not _too_long(group + groups[index + 1], limits):
                groups[index] += groups.pop(index + 1)
                continue
            before = groups[index - 1] if index > 0 else []
            while len(before) > 1 and _spoken(group) < JOIN_BELOW_S and _spoken(before[:-1]) >= _spoken(group):
                if _too_long([before[-1], *group], limits):
                    break
                group.insert(0, before.pop())
        index += 1
    return groups


def _spoken(group: Sequence[WordTiming]) -> float:
    return group[-1].end_s - group[0].start_s


def to_srt(cues: Iterable[Cue]) -> str:
    blocks = [
        f"{number}\n{_timestamp(cue.start_s)} --> {_timestamp(cue.end_s)}\n" + "\n".join(map(srt_escape, cue.lines))
        for number, cue in enumerate(cues, start=1)
    ]
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def to_vtt(cues: Iterable[Cue]) -> str:
    """WebVTT (what a browser's ``<track>`` reads): the same cues as the SRT, "&", "<" and ">" as entities."""
    blocks = [
        f"{_timestamp(cue.start_s).replace(',', '.')} --> {_timestamp(cue.end_s).replace(',', '.')}\n"
        + "\n".join(vtt_escape(line) for line in cue.lines)
        for cue in cues
    ]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + ("\n" if blocks else "")


def vtt_escape(text: str) -> str:
    """Cue text is markup in WebVTT (``<b>``, ``&amp;``): these three as entities keep it text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Limits:
    """What a caption line may hold: characters, and words (0: any number)."""

    chars: int = MAX_LINE_CHARS
    words: int = 0


def wrap_lines(words: Sequence[str], max_line_chars: int = MAX_LINE_CHARS, max_words: int = 0) -> tuple[str, ...]:
    """Balance words over one line, or two of similar length (each of at most ``max_words`` words, when it can)."""
    text = " ".join(words)
    if (len(text) <= max_line_chars and (not max_words or len(words) <= max_words)) or len(words) < 2:
        return (text,)
    splits = list(range(1, len(words)))
    if max_words:
        splits = [i for i in splits if i <= max_words and len(words) - i <= max_words] or splits
    best = min(splits, key=lambda i: abs(len(" ".join(words[:i])) - len(" ".join(words[i:]))))
    return (" ".join(words[:best]), " ".join(words[best:]))


def _too_long(group: Sequence[WordTiming], limits: Limits) -> bool:
    lines = wrap_lines([w.word for w in group], limits.chars, limits.words)
    return (
        len(lines) > MAX_LINES
        or any(len(line) > limits.chars for line in lines)
        or (limits.words > 0 and any(len(line.split(" ")) > limits.words for line in lines))
    )


def _cue(group: Sequence[WordTiming], offset_s: float, limits: Limits) -> Cue:
    return Cue(
        start_s=offset_s + group[0].start_s,
        end_s=offset_s + max(group[-1].end_s, group[0].start_s + MIN_CUE_S),
        lines=wrap_lines([w.word for w in group], limits.chars, limits.words),
        words=tuple(
            WordTiming(word=w.word, start_s=offset_s + w.start_s, end_s=offset_s + max(w.end_s, w.start_s))
            for w in group
        ),
    )


def _no_overlap(cues: list[Cue], scene_end_s: float) -> list[Cue]:
    fixed = []
    for i, cue in enumerate(cues):
        limit = cues[i + 1].start_s if i + 1 < len(cues) else scene_end_s
        fixed.append(Cue(cue.start_s, max(cue.start_s + 0.05, min(cue.end_s, limit)), cue.lines, cue.words))
    return fixed


def _timestamp(seconds: float) -> str:
    hours, minutes, secs, millis = _clock(seconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


WHITE, YELLOW, BLACK = "&H00FFFFFF", "&H0000D7FF", "&H00000000"  # ASS colours: &HAABBGGRR (alpha 00 = opaque)
BAND_ALPHA = 0x5A  # the boxed preset's band: about 65 % opaque
FONT = "DejaVu Sans"
ALIGN_BOTTOM, ALIGN_MIDDLE, ALIGN_TOP = 2, 5, 8  # ASS numpad alignments, centred


def ass_colour(hex_colour: str, alpha: int = 0) -> str:
    """ "#RRGGBB" as ASS's &HAABBGGRR."""
    red, green, blue = hex_colour[1:3], hex_colour[3:5], hex_colour[5:7]
    return f"&H{alpha:02X}{blue}{green}{red}".upper()


@dataclass(frozen=True)
class SubtitleStyle:
    """Burned-in subtitles of one caption preset, sized and placed for a frame: inside the platforms' safe zone
    (on vertical video the lower quarter and the right edge hold buttons and the description, the top the
    platform's tabs).

    ``classic``: white, outlined, at the bottom. ``boxed``: white on a translucent dark band. ``shorts``: large,
    bold, in the lower middle, a few words at a time, each word yellow while it is spoken (word timings). A
    channel's ``CaptionLook`` changes font, colours, size, outline, position and words per line.
    """

    font_size: int
    margin_h: int
    margin_v: int
    outline: int
    preset: str = "classic"
    max_lines: int = MAX_LINES
    font: str = FONT
    colour: str = WHITE
    highlight: str = YELLOW
    outline_colour: str = BLACK
    alignment: int = ALIGN_BOTTOM
    words_per_line: int = 0

    @classmethod
    def for_frame(
        cls, width: int, height: int, preset: str = "classic", look: CaptionLook | None = None
    ) -> SubtitleStyle:
        look = look or CaptionLook()
        scale = (look.size or 100) / 100
        vertical = height > width
        if preset == "shorts":
            size = round((width * 0.095 if vertical else height * 0.085) * scale)
            margin_h, margin_v = round(width * (0.1 if vertical else 0.15)), round(height * (0.36 if vertical else 0.2))
            outline = max(4, round(size / 11))
        elif vertical:  # 9:16: large, centred in the lower middle, clear of the platform's buttons
            size, margin_h, margin_v = round(width * 0.068 * scale), round(width * 0.08), round(height * 0.28)
            outline = max(3, round(size / 18))
        else:
            size, margin_h, margin_v = round(height * 0.052 * scale), round(width * 0.06), round(height * 0.07)
            outline = max(2, round(size / 16))
        if preset == "boxed":  # the band's padding is the "outline" of ASS's opaque-box border style
            outline = max(4, round(size * 0.3))
        if look.outline is not None:
            outline = round(outline * look.outline)
        alignment = ALIGN_BOTTOM
        if look.position == "middle":  # ASS centres the text vertically; the margin is not used
            alignment = ALIGN_MIDDLE
        elif look.position == "top":  # below the platform's tabs on vertical video
            alignment, margin_v = ALIGN_TOP, round(height * (0.12 if vertical else 0.06))
        return cls(
            font_size=size,
            margin_h=margin_h,
            margin_v=margin_v,
            outline=outline,
            preset=preset,
            font=look.font or FONT,
            colour=ass_colour(look.colour) if look.colour else WHITE,
            highlight=ass_colour(look.highlight) if look.highlight else YELLOW,
            outline_colour=ass_colour(look.outline_colour) if look.outline_colour else BLACK,
            alignment=alignment,
            words_per_line=look.words_per_line or 0,
        )

    def max_line_chars(self, width: int) -> int:
        """Characters that fit between the margins (DejaVu Sans Bold averages ~0.6 em a character); the shorts
        preset shows a few words at a time."""
        fit = int((width - 2 * self.margin_h) / (self.font_size * 0.6))
        return max(8, min(18, fit)) if self.preset == "shorts" else max(12, min(MAX_LINE_CHARS, fit))

    def ass_style(self) -> str:
        """The ``Style:`` line (Format as in ``to_ass``'s header)."""
        shadow = max(1, self.outline // 2)
        if self.preset == "boxed":  # BorderStyle 3: the outline colour fills a box behind the text
            band = f"&H{BAND_ALPHA:02X}{self.outline_colour[4:]}"
            colours, border, outline, shadow = f"{self.colour},{self.colour},{band},{band}", 3, self.outline, 0
        else:
            colours, border, outline = f"{self.colour},{self.colour},{self.outline_colour},&H96000000", 1, self.outline
        return (
            f"Style: Default,{self.font},{self.font_size},{colours},-1,0,0,0,100,100,0,0,{border},{outline},"
            f"{shadow},{self.alignment},{self.margin_h},{self.margin_h},{self.margin_v},1"
        )


def to_ass(cues: Iterable[Cue], *, width: int, height: int, style: SubtitleStyle) -> str:
    header = (
        "[Script Info]\nScriptType: v4.00+\nWrapStyle: 1\nScaledBorderAndShadow: yes\n"
        f"PlayResX: {width}\nPlayResY: {height}\n\n"
        "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
        "Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
        "Alignment, MarginL, MarginR, MarginV, Encoding\n"
        f"{style.ass_style()}\n\n"
        "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
    )
    events = []
    for cue in cues:
        for start, end, text in _states(cue, style):
            events.append(f"Dialogue: 0,{_ass_time(start)},{_ass_time(end)},Default,,0,0,0,,{text}")
    return header + "\n".join(events) + "\n"


def _states(cue: Cue, style: SubtitleStyle) -> list[tuple[float, float, str]]:
    """The cue's events: one for the whole cue, or with the highlight (shorts) one per word, from the word's start
    to the next word's start, that word in the highlight colour (the same words and lines in every state, so
    nothing moves)."""
    highlight = style.preset == "shorts"
    plain = "\\N".join(ass_escape(line) for line in cue.lines)
    line_words = [line.split(" ") for line in cue.lines]
    if not highlight or not cue.words or sum(map(len, line_words)) != len(cue.words):
        return [(cue.start_s, cue.end_s, plain)]
    states = []
    for index, word in enumerate(cue.words):
        start = cue.start_s if index == 0 else max(cue.start_s, word.start_s)
        end = cue.words[index + 1].start_s if index + 1 < len(cue.words) else cue.end_s
        end = min(max(end, start + 0.01), cue.end_s)
        if end <= start:
            continue
        lines, position = [], 0
        for words in line_words:
            shown = []
            for text in words:
                escaped = ass_escape(text)
                shown.append(
                    f"{{\\c{style.highlight}&}}{escaped}{{\\c{style.colour}&}}" if position == index else escaped
                )
                position += 1
            lines.append(" ".join(shown))
        states.append((start, end, "\\N".join(lines)))
    return states or [(cue.start_s, cue.end_s, plain)]


WORD_JOINER = "\u2060"  # invisible; splits character pairs that a subtitle renderer would read as markup


def ass_escape(text: str) -> str:
    """Plain text for an ASS event: no override block, line break or hard space can be formed from it."""
    text = " ".join(text.split())  # no raw newlines: one event stays one event
    # "\\N", "\\n" and "\\h" are markup: a joiner after every backslash keeps it a backslash; then libass's
    # own escapes turn braces into literal braces.
    return text.replace("\\", "\\" + WORD_JOINER).replace("{", "\\{").replace("}", "\\}")


def srt_escape(text: str) -> str:
    """SRT has no escapes, but players read "{\\...}" as tags and "\\N" as a line break: joiners keep them text."""
    return text.replace("\\", "\\" + WORD_JOINER).replace("{", "{" + WORD_JOINER)


def _ass_time(seconds: float) -> str:
    hours, minutes, secs, centis = _clock(seconds, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{centis:02d}"


def _clock(seconds: float, ticks_per_second: int) -> tuple[int, int, int, int]:
    """(hours, minutes, seconds, ticks) of a non-negative time, rounded to whole ticks."""
    ticks = max(0, round(seconds * ticks_per_second))
    hours, rest = divmod(ticks, 3600 * ticks_per_second)
    minutes, rest = divmod(rest, 60 * ticks_per_second)
    secs, ticks = divmod(rest, ticks_per_second)
    return hours, minutes, secs, ticks
