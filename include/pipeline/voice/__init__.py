"""Scene narration: one interface, one module per provider."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.voice.base import Speech, VoiceProvider
from pipeline.voice.espeak import EspeakVoice
from pipeline.voice.timing import estimate_word_timings

__all__ = ["EspeakVoice", "Speech", "VoiceProvider", "estimate_word_timings", "open_voice_provider"]


def open_voice_provider(settings: Settings, name: str | None = None) -> VoiceProvider:
    """The voice provider ``name`` (default: the configured one)."""
    chosen = name or settings.voice_provider
    if chosen == "espeak":
        return EspeakVoice(binary=settings.espeak_bin)
    raise ValueError(f"unknown voice provider {chosen!r}")
