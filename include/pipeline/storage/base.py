"""The storage interface and content-addressed keys."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Protocol, runtime_checkable

# Bump to invalidate every cached asset when the way assets are made changes incompatibly.
CACHE_VERSION = 1


def content_hash(**inputs: object) -> str:
    """A stable SHA-256 of everything that determines an asset (provider, model, prompt or text, voice, size)."""
    canonical = json.dumps({"v": CACHE_VERSION, **inputs}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read a megabyte at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def content_key(kind: str, digest: str, extension: str) -> str:
    """``media/ab/abcdef....png``: fan out by the first byte so no folder grows huge."""
    return f"{kind}/{digest[:2]}/{digest}.{extension.lstrip('.')}"


@runtime_checkable
class Storage(Protocol):
    """Keys are ``/``-separated relative paths. Every write is atomic: readers see all of a file or nothing."""

    def exists(self, key: str) -> bool: ...

    def put_file(self, key: str, source: Path) -> None: ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def read_bytes(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None:
        """Remove the object; nothing happens when it is not there."""
        ...

    def local_path(self, key: str) -> Path:
        """A readable local file with the key's content (raises ``MissingAsset`` when absent)."""
        ...

    def url(self, key: str) -> str:
        """A link a person can open now (S3: presigned, short-lived; made on demand, never stored or mailed)."""
        ...

    def location(self, key: str) -> str:
        """Where the object is, to store and to show (``s3://bucket/key``, ``file:///...``): no credential in it."""
        ...
