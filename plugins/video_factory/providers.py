"""The request's providers, opened with the credentials their connections hold (only the chosen ones)."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.constants import ImageProviderId, ScriptSource, VoiceProviderId
from pipeline.images import ImageProvider, open_image_provider
from pipeline.images.pexels import PexelsStock
from pipeline.models import CardLook
from pipeline.scriptgen import ScriptProvider, open_script_provider
from pipeline.storage import Storage
from pipeline.voice import VoiceProvider, open_voice_provider
from video_factory.conn_ids import GEMINI_CONN_ID, PEXELS_CONN_ID, STABILITY_CONN_ID
from video_factory.connections import api_key, aws_client


def image_provider(
    settings: Settings,
    name: str | None = None,
    *,
    card: CardLook | None = None,
) -> ImageProvider:
    chosen = name or settings.providers.image_provider
    key = api_key(STABILITY_CONN_ID) if chosen == ImageProviderId.STABILITY else None
    return open_image_provider(settings, chosen, stability=key, card=card)


def voice_provider(settings: Settings, name: str | None = None) -> VoiceProvider:
    chosen = name or settings.providers.voice_provider
    client = (
        aws_client("polly", read_timeout_s=settings.providers.provider_timeout_s)
        if chosen == VoiceProviderId.POLLY
        else None
    )
    return open_voice_provider(settings, chosen, polly_client=client)


def script_provider(settings: Settings) -> ScriptProvider:
    key = api_key(GEMINI_CONN_ID) if settings.providers.script_provider == ScriptSource.GEMINI else None
    return open_script_provider(settings, gemini=key)


def stock_source(settings: Settings, storage: Storage) -> PexelsStock:
    """Pexels, with the ``pexels_default`` connection's API key (and base URL, for a stand-in)."""
    key = api_key(PEXELS_CONN_ID)
    return PexelsStock(
        api_key=key.key,
        base_url=key.base_url,
        storage=storage,
        per_page=settings.providers.pexels_per_page,
        timeout_s=settings.providers.provider_timeout_s,
    )
