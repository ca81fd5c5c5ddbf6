"""Word timings for engines that do not report them: spread the speech span over the words."""

from __future__ import annotations

import array
import re
import wave
from pathlib import Path

from pipeline.models import WordTiming

_WORD = re.compile(r"\S+")
# Relative pause after a word, by its trailing punctuation (in letter-equivalents).
_PAUSES = {",": 3.0, ";": 4.0, ":": 4.0, ".": 6.0, "!": 6.0, "?": 6.0, "…": 6.0, "—": 3.0}


def estimate_word_timings(text: str, *, speech_start_s: float, speech_end_s: float) -> tuple[WordTiming, ...]:
    """Each word gets a share of ``[speech_start_s, speech_end_s]`` by its length plus the pause after it."""
    words = _WORD.findall(text)
    if not words or speech_end_s <= speech_start_s:
        return ()
    spoken = [max(1.0, sum(ch.isalnum() for ch in word)) for word in words]
    pauses = [_PAUSES.get(word.rstrip("\"”’')]")[-1:] or "", 0.0) for word in words]
    pauses[-1] = 0.0
    total = sum(spoken) + sum(pauses)
    scale = (speech_end_s - speech_start_s) / total
    timings = []
    cursor = speech_start_s
    for word, length, pause in zip(words, spoken, pauses, strict=True):
        end = cursor + length * scale
        timings.append(WordTiming(word=word, start_s=round(cursor, 3), end_s=round(end, 3)))
        cursor = end + pause * scale
    return tuple(timings)


def wav_speech_span(path: Path, *, threshold: float = 0.02) -> tuple[float, float, float]:
    """(duration, first sound, last sound) in seconds of a 16-bit PCM WAV file."""
    with wave.open(str(path), "rb") as wav:
        rate, channels, width, frames = (
            wav.getframerate(),
            wav.getnchannels(),
            wav.getsampwidth(),
            wav.getnframes(),
        )
        raw = wav.readframes(frames)
    duration = frames / rate
    if width != 2 or frames == 0:
        return duration, 0.0, duration
    samples = array.array("h", raw)
    limit = int(threshold * 32767)
    loud = [i for i in range(0, len(samples), channels * 64) if abs(samples[i]) > limit]
    if not loud:
        return duration, 0.0, duration
    return duration, loud[0] / channels / rate, min(duration, (loud[-1] / channels + 64) / rate)
