"""Storage in a local folder: the embedded default."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

from pipeline.atomic import atomic_path, write_atomic
from pipeline.errors import MissingAsset


class LocalStorage:
    """Content lives under ``root``; writes go to a temporary file in the same folder, then ``os.replace``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        relative = PurePosixPath(key)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ValueError(f"storage key must be a relative path without '..': {key!r}")
        return self.root.joinpath(*relative.parts)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def put_file(self, key: str, source: Path) -> None:
        with atomic_path(self._path(key)) as tmp:
            shutil.copyfile(source, tmp)

    def put_bytes(self, key: str, data: bytes) -> None:
        write_atomic(self._path(key), data)

    def read_bytes(self, key: str) -> bytes:
        return self.local_path(key).read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def local_path(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise MissingAsset(f"asset {key!r} is not in storage ({self.root})")
        return path

    def url(self, key: str) -> str:
        return self._path(key).as_uri()

    def location(self, key: str) -> str:
        return self._path(key).as_uri()
