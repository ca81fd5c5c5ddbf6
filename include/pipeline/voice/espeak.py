"""Narration with espeak-ng: the offline voice provider (word timings are estimated)."""

from __future__ import annotations

import re
import subprocess
from functools import cached_property
from pathlib import Path

from pipeline.errors import InvalidRequest, ProviderError
from pipeline.voice.base import Speech
from pipeline.voice.timing import estimate_word_timings, wav_speech_span

_ALTERNATIVE = re.compile(r"\((\S+) \d+\)")


class EspeakVoice:
    """Runs ``espeak-ng`` once per scene; text goes through stdin, never through the command line."""

    name = "espeak"
    model = "espeak-ng"
    extension = "wav"

    def __init__(self, *, binary: str = "espeak-ng", words_per_minute: int = 165, timeout_s: float = 120) -> None:
        self.binary = binary
        self.words_per_minute = words_per_minute
        self.timeout_s = timeout_s

    @cached_property
    def _voice_table(self) -> frozenset[str]:
        try:
            listing = subprocess.run(
                [self.binary, "--voices"], capture_output=True, text=True, check=True, timeout=30
            ).stdout
        except FileNotFoundError:
            raise ProviderError(
                f"{self.binary} is not installed (apt-get install espeak-ng)",
                provider=self.name,
                retryable=False,
            ) from None
        names: set[str] = set()
        for line in listing.splitlines()[1:]:
            columns = line.split()
            if len(columns) >= 5:
                # language code, voice name, voice file and the "(en 2)" alternatives all select a voice
                names.update({columns[1].lower(), columns[3].lower(), columns[4].lower()})
                names.update(alt.lower() for alt in _ALTERNATIVE.findall(line))
        return frozenset(names)

    def voices(self) -> frozenset[str]:
        return self._voice_table

    def synthesize(self, *, text: str, voice: str, dest: Path) -> Speech:
        if voice.lower() not in self.voices():
            raise InvalidRequest(f"espeak-ng has no voice {voice!r} (try en-us, en-gb, de, fr, es)")
        tmp = dest.with_name(dest.name + ".part.wav")
        try:
            completed = subprocess.run(
                [self.binary, "-v", voice, "-s", str(self.words_per_minute), "--stdin", "-w", str(tmp)],
                input=text,
                capture_output=True,
                check=False,
                text=True,
                timeout=self.timeout_s,
            )
        except subprocess.TimeoutExpired:
            raise ProviderError("timed out", provider=self.name, retryable=True) from None
        if completed.returncode != 0 or not tmp.is_file():
            tmp.unlink(missing_ok=True)
            raise ProviderError(
                f"exit {completed.returncode}: {completed.stderr.strip()[:500]}",
                provider=self.name,
                retryable=False,
            )
        duration, start, end = wav_speech_span(tmp)
        tmp.replace(dest)
        return Speech(
            duration_s=duration,
            words=estimate_word_timings(text, speech_start_s=start, speech_end_s=end),
            timings_estimated=True,
            units=len(text),
            unit_kind="characters",
        )
