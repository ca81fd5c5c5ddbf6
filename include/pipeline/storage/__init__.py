"""Where assets and videos live: one small interface, chosen by configuration."""

from __future__ import annotations

from typing import Any

from pipeline.config import Settings
from pipeline.storage.base import Storage, content_hash, content_key
from pipeline.storage.local import LocalStorage

# S3Storage lives in pipeline.storage.s3, imported only when S3 is configured: boto3 takes 0.2 s of CPU to import,
# in every render process too
__all__ = ["LocalStorage", "Storage", "content_hash", "content_key", "open_storage"]


def open_storage(settings: Settings, *, s3_client: Any = None) -> Storage:
    """The storage backend the settings name; S3 uses ``s3_client``, else boto3's default credential chain."""
    if settings.storage.storage_backend == "local":
        return LocalStorage(settings.storage_root)
    if not settings.storage.s3_bucket:
        raise ValueError("VIDEO_STORAGE_BACKEND=s3 needs VIDEO_S3_BUCKET")
    from pipeline.storage.s3 import S3Storage

    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3", endpoint_url=settings.storage.s3_endpoint_url or None)
    return S3Storage(
        client=s3_client,
        bucket=settings.storage.s3_bucket,
        prefix=settings.storage.s3_prefix,
        cache_dir=settings.cache_dir,
        server_side_encryption=settings.storage.s3_server_side_encryption or None,
        presign_s=settings.storage.s3_presign_s,
    )
