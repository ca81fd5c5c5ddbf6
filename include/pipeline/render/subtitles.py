"""Subtitle cues from word timings, written as SRT (file and soft track) and ASS (burned in, styled).

User text only ever reaches FFmpeg inside these files, never inside filter arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.models import WordTiming

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


def cues_for_scene(
    words: Sequence[WordTiming], *, offset_s: float, scene_end_s: float, max_line_chars: int = MAX_LINE_CHARS
) -> list[Cue]:
    """Group a scene's words into cues of at most two lines, breaking after sentences where possible; a cue spoken
    in less than ``JOIN_BELOW_S`` (a lone "Yes." after a long sentence) joins a neighbour it fits with."""
    groups: list[list[WordTiming]] = []
    group: list[WordTiming] = []
    for word in words:
        if group and _too_long([*group, word], max_line_chars):
            groups.append(group)
            group = []
        group.append(word)
        if word.word.endswith(_SENTENCE_END) and len(" ".join(w.word for w in group)) > max_line_chars // 2:
            groups.append(group)
            group = []
    if group:
        groups.append(group)
    cues = [_cue(joined, offset_s, max_line_chars) for joined in _joined(groups, max_line_chars)]
    return _no_overlap(cues, scene_end_s)


def _joined(groups: list[list[WordTiming]], max_line_chars: int) -> list[list[WordTiming]]:
    """No group spoken in less than ``JOIN_BELOW_S`` while a neighbour can help: merged into the previous group,
    else the next, when the two fit in two lines; else it takes the previous group's last words (which stays the
    longer). A lone group shorter than that stays (shown at least ``MIN_CUE_S``)."""
    groups = [list(g) for g in groups]
    index = 0
    while index < len(groups):
        group = groups[index]
        if len(groups) > 1 and _spoken(group) < JOIN_BELOW_S:
            if index > 0 and not _too_long(groups[index - 1] + group, max_line_chars):
                groups[index - 1] += groups.pop(index)
                continue
            if index + 1 < len(groups) and not _too_long(group + groups[index + 1], max_line_chars):
                groups[index] += groups.pop(index + 1)
                continue
            before = groups[index - 1] if index > 0 else []
            while len(before) > 1 and _spoken(group) < JOIN_BELOW_S and _spoken(before[:-1]) >= _spoken(group):
                if _too_long([before[-1], *group], max_line_chars):
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


def wrap_lines(words: Sequence[str], max_line_chars: int = MAX_LINE_CHARS) -> tuple[str, ...]:
    """Balance words over one line, or two of similar length."""
    text = " ".join(words)
    if len(text) <= max_line_chars or len(words) < 2:
        return (text,)
    best = min(
        range(1, len(words)),
        key=lambda i: abs(len(" ".join(words[:i])) - len(" ".join(words[i:]))),
    )
    return (" ".join(words[:best]), " ".join(words[best:]))


def _too_long(group: Sequence[WordTiming], max_line_chars: int) -> bool:
    lines = wrap_lines([w.word for w in group], max_line_chars)
    return len(lines) > MAX_LINES or any(len(line) > max_line_chars for line in lines)


def _cue(group: Sequence[WordTiming], offset_s: float, max_line_chars: int) -> Cue:
    return Cue(
        start_s=offset_s + group[0].start_s,
        end_s=offset_s + max(group[-1].end_s, group[0].start_s + MIN_CUE_S),
        lines=wrap_lines([w.word for w in group], max_line_chars),
    )


def _no_overlap(cues: list[Cue], scene_end_s: float) -> list[Cue]:
    fixed = []
    for i, cue in enumerate(cues):
        limit = cues[i + 1].start_s if i + 1 < len(cues) else scene_end_s
        fixed.append(Cue(cue.start_s, max(cue.start_s + 0.05, min(cue.end_s, limit)), cue.lines))
    return fixed


def _timestamp(seconds: float) -> str:
    hours, minutes, secs, millis = _clock(seconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


@dataclass(frozen=True)
class SubtitleStyle:
    """Readable burned-in subtitles for a frame size: bigger and higher up on vertical video."""

    font_size: int
    margin_h: int
    margin_v: int
    outline: int

    @classmethod
    def for_frame(cls, width: int, height: int) -> SubtitleStyle:
        if height > width:  # 9:16: large, centred in the lower middle, clear of the platform's buttons
            return cls(
                font_size=round(width * 0.068),
                margin_h=round(width * 0.08),
                margin_v=round(height * 0.28),
                outline=max(3, round(width / 270)),
            )
        return cls(
            font_size=round(height * 0.052),
            margin_h=round(width * 0.06),
            margin_v=round(height * 0.07),
            outline=max(2, round(height / 300)),
        )

    def max_line_chars(self, width: int) -> int:
        """Characters that fit between the margins (DejaVu Sans Bold averages ~0.6 em a character)."""
        return max(12, min(MAX_LINE_CHARS, int((width - 2 * self.margin_h) / (self.font_size * 0.6))))


def to_ass(cues: Iterable[Cue], *, width: int, height: int, style: SubtitleStyle) -> str:
    header = (
        "[Script Info]\nScriptType: v4.00+\nWrapStyle: 1\nScaledBorderAndShadow: yes\n"
        f"PlayResX: {width}\nPlayResY: {height}\n\n"
        "[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
        "Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
        "Alignment, MarginL, MarginR, MarginV, Encoding\n"
        f"Style: Default,DejaVu Sans,{style.font_size},&H00FFFFFF,&H00FFFFFF,&H00000000,&H96000000,-1,0,0,0,"
        f"100,100,0,0,1,{style.outline},{max(1, style.outline // 2)},2,{style.margin_h},{style.margin_h},"
        f"{style.margin_v},1\n\n"
        "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
    )
    events = [
        f"Dialogue: 0,{_ass_time(cue.start_s)},{_ass_time(cue.end_s)},Default,,0,0,0,,"
        + "\\N".join(ass_escape(line) for line in cue.lines)
        for cue in cues
    ]
    return header + "\n".join(events) + "\n"


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
