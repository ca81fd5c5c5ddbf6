"""Scene images: one interface, one module per provider."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.constants import ImageProviderId
from pipeline.credentials import ApiKey
from pipeline.images.base import ImageProvider, ImageUsage
from pipeline.images.procedural import ProceduralImages
from pipeline.images.stability import StabilityImages
from pipeline.models import CardLook
from pipeline.request import IMAGE_PROVIDERS

__all__ = [
    "IMAGE_PROVIDERS",
    "ImageProvider",
    "ImageUsage",
    "ProceduralImages",
    "StabilityImages",
    "open_image_provider",
]


def open_image_provider(
    settings: Settings,
    name: str | None = None,
    *,
    stability: ApiKey | None = None,
    card: CardLook | None = None,
) -> ImageProvider:
    """The image provider ``name`` (default: the configured one); title cards as ``card`` says."""
    chosen = name or settings.providers.image_provider
    if chosen == ImageProviderId.PROCEDURAL:
        return ProceduralImages(card)
    if chosen == ImageProviderId.STABILITY:
        if stability is None:
            raise ValueError("the stability image provider needs an API key")
        return StabilityImages(
            api_key=stability.key,
            base_url=stability.base_url,
            model=settings.providers.stability_model,
            negative_prompt=settings.providers.stability_negative_prompt,
            style_preset=settings.providers.stability_style_preset,
            timeout_s=settings.providers.provider_timeout_s,
        )
    raise ValueError(f"unknown image provider {chosen!r}")
