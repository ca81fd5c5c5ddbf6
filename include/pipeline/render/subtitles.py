"""Subtitle cues from word timings, written as SRT."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.models import WordTiming

MAX_LINE_CHARS = 42
MAX_LINES = 2
MIN_CUE_S = 0.6
_SENTENCE_END = (".", "!", "?", "…", "。", "！", "？")


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    lines: tuple[str, ...]


def cues_for_scene(words: Sequence[WordTiming], *, offset_s: float, scene_end_s: float) -> list[Cue]:
    """Group a scene's words into cues of at most two lines, breaking after sentences where possible."""
    cues: list[Cue] = []
    group: list[WordTiming] = []
    for word in words:
        if group and _too_long([*group, word]):
            cues.append(_cue(group, offset_s))
            group = []
        group.append(word)
        if word.word.endswith(_SENTENCE_END) and len(" ".join(w.word for w in group)) > MAX_LINE_CHARS // 2:
            cues.append(_cue(group, offset_s))
            group = []
    if group:
        cues.append(_cue(group, offset_s))
    return _no_overlap(cues, scene_end_s)


def to_srt(cues: Iterable[Cue]) -> str:
    blocks = [
        f"{number}\n{_timestamp(cue.start_s)} --> {_timestamp(cue.end_s)}\n" + "\n".join(cue.lines)
        for number, cue in enumerate(cues, start=1)
    ]
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def wrap_lines(words: Sequence[str]) -> tuple[str, ...]:
    """Balance words over as few lines of at most ``MAX_LINE_CHARS`` as possible."""
    text = " ".join(words)
    if len(text) <= MAX_LINE_CHARS or len(words) < 2:
        return (text,)
    best = min(
        range(1, len(words)),
        key=lambda i: abs(len(" ".join(words[:i])) - len(" ".join(words[i:]))),
    )
    return (" ".join(words[:best]), " ".join(words[best:]))


def _too_long(group: Sequence[WordTiming]) -> bool:
    lines = wrap_lines([w.word for w in group])
    return len(lines) > MAX_LINES or any(len(line) > MAX_LINE_CHARS for line in lines)


def _cue(group: Sequence[WordTiming], offset_s: float) -> Cue:
    return Cue(
        start_s=offset_s + group[0].start_s,
        end_s=offset_s + max(group[-1].end_s, group[0].start_s + MIN_CUE_S),
        lines=wrap_lines([w.word for w in group]),
    )


def _no_overlap(cues: list[Cue], scene_end_s: float) -> list[Cue]:
    fixed = []
    for i, cue in enumerate(cues):
        limit = cues[i + 1].start_s if i + 1 < len(cues) else scene_end_s
        fixed.append(Cue(cue.start_s, max(cue.start_s + 0.05, min(cue.end_s, limit)), cue.lines))
    return fixed


def _timestamp(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"
