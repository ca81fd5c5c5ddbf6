"""Scene images: one interface, one module per provider."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.images.base import ImageProvider, ImageUsage
from pipeline.images.procedural import ProceduralImages

__all__ = ["ImageProvider", "ImageUsage", "ProceduralImages", "open_image_provider"]


def open_image_provider(settings: Settings, name: str | None = None) -> ImageProvider:
    """The image provider ``name`` (default: the configured one)."""
    chosen = name or settings.image_provider
    if chosen == "procedural":
        return ProceduralImages()
    raise ValueError(f"unknown image provider {chosen!r}")
