"""The voice provider interface."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pipeline.models import WordTiming


@dataclass(frozen=True)
class Speech:
    """One synthesised narration: its length, its words' timings and what it cost."""

    duration_s: float
    words: tuple[WordTiming, ...]
    timings_estimated: bool
    units: float
    unit_kind: str
    model: str = ""  # what actually spoke (Polly: the engine), when it is not the provider's default


class VoiceProvider(Protocol):
    name: str
    model: str
    extension: str

    def voices(self) -> frozenset[str]:
        """Every voice name this provider accepts (compared case-insensitively)."""
        ...

    def voice_for(self, language: str) -> str | None:
        """A voice that speaks ``language`` (``de``, ``pt-BR``), or None when the provider has none."""
        ...

    def synthesize(self, *, text: str, voice: str, dest: Path) -> Speech:
        """Write the narration of ``text`` to ``dest``."""
        ...
