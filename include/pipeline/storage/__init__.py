"""Where assets and videos live: one small interface, chosen by configuration."""

from __future__ import annotations

from pipeline.config import Settings
from pipeline.storage.base import Storage, content_hash, content_key
from pipeline.storage.local import LocalStorage

__all__ = ["LocalStorage", "Storage", "content_hash", "content_key", "open_storage"]


def open_storage(settings: Settings) -> Storage:
    """The storage backend the settings name."""
    if settings.storage_backend == "local":
        return LocalStorage(settings.storage_root)
    raise ValueError(f"unknown storage backend {settings.storage_backend!r}")  # pragma: no cover
