"""Scene narration: one interface, one module per provider."""

from __future__ import annotations

from typing import Any

from pipeline.config import Settings
from pipeline.constants import VoiceProviderId
from pipeline.request import VOICE_PROVIDERS
from pipeline.voice.base import Speech, VoiceProvider
from pipeline.voice.espeak import EspeakVoice
from pipeline.voice.polly import PollyVoice
from pipeline.voice.timing import estimate_word_timings

__all__ = [
    "VOICE_PROVIDERS",
    "EspeakVoice",
    "PollyVoice",
    "Speech",
    "VoiceProvider",
    "estimate_word_timings",
    "open_voice_provider",
]


def open_voice_provider(settings: Settings, name: str | None = None, *, polly_client: Any = None) -> VoiceProvider:
    """The voice provider ``name`` (default: the configured one); Polly uses the given boto3 client."""
    chosen = name or settings.providers.voice_provider
    if chosen == VoiceProviderId.ESPEAK:
        return EspeakVoice(binary=settings.espeak_bin)
    if chosen == VoiceProviderId.POLLY:
        if polly_client is None:
            raise ValueError("the polly voice provider needs a boto3 Polly client")
        return PollyVoice(
            client=polly_client,
            engine=settings.providers.polly_engine,
            cache_file=settings.cache_dir / "polly-voices.json",
            ffmpeg_bin=settings.ffmpeg_bin,
        )
    raise ValueError(f"unknown voice provider {chosen!r}")
