"""Narration with espeak-ng: the offline voice provider (word timings are estimated)."""

from __future__ import annotations

import re
from functools import cached_property, partial
from pathlib import Path

from pipeline.atomic import atomic_path
from pipeline.commands import run_program
from pipeline.constants import VoiceProviderId
from pipeline.errors import InvalidRequest, ProviderError
from pipeline.voice.base import Speech
from pipeline.voice.timing import estimate_word_timings, wav_speech_span

_ALTERNATIVE = re.compile(r"\((\S+) \d+\)")


class EspeakVoice:
    """Runs ``espeak-ng`` once per scene; text goes through stdin, never through the command line."""

    name = VoiceProviderId.ESPEAK.value
    model = "espeak-ng"
    extension = "wav"

    def __init__(self, *, binary: str = "espeak-ng", words_per_minute: int = 165, timeout_s: float = 120) -> None:
        self.binary = binary
        self.words_per_minute = words_per_minute
        self.timeout_s = timeout_s

    @cached_property
    def _voice_table(self) -> frozenset[str]:
        listing = run_program(
            [self.binary, "--voices"], error=partial(ProviderError, provider=self.name), timeout_s=30
        ).stdout
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

    def voice_for(self, language: str) -> str | None:
        """The language's own voice (``de``; ``fr`` is ``fr-fr``), else the first of its regional voices."""
        code = language.lower()
        base = code.split("-")[0]
        for name in (code, f"{base}-{base}", "en-us" if base == "en" else "", base):
            if name and name in self._voice_table:
                return name
        regional = sorted(name for name in self._voice_table if name.startswith(f"{base}-"))
        return regional[0] if regional else None

    def synthesize(self, *, text: str, voice: str, dest: Path) -> Speech:
        if voice.lower() not in self.voices():
            raise InvalidRequest(f"espeak-ng has no voice {voice!r} (try en-us, en-gb, de, fr, es)")
        with atomic_path(dest) as tmp:
            run_program(
                [self.binary, "-v", voice, "-s", str(self.words_per_minute), "--stdin", "-w", str(tmp)],
                error=partial(ProviderError, provider=self.name),
                timeout_s=self.timeout_s,
                input=text,
            )
            duration, start, end = wav_speech_span(tmp)
        return Speech(
            duration_s=duration,
            words=estimate_word_timings(text, speech_start_s=start, speech_end_s=end),
            timings_estimated=True,
            units=len(text),
            unit_kind="characters",
        )
