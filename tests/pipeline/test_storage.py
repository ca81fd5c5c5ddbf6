from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import MissingAsset
from pipeline.storage import LocalStorage, content_hash, content_key


def test_content_hash_is_stable_and_sensitive_to_every_input() -> None:
    base = {"provider": "espeak", "text": "Hello.", "voice": "en-us"}
    assert content_hash(**base) == content_hash(**dict(reversed(base.items())))
    assert content_hash(**base) != content_hash(**{**base, "voice": "en-gb"})
    assert content_hash(**base) != content_hash(**{**base, "text": "Hello!"})
    assert content_key("media", "ab" + "0" * 62, "png") == f"media/ab/ab{'0' * 62}.png"


def test_put_and_read_round_trip(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put_bytes("a/b/c.txt", b"hello")
    source = tmp_path / "src.bin"
    source.write_bytes(b"\x00\x01" * 1000)
    storage.put_file("x/y.bin", source)
    assert storage.exists("a/b/c.txt") and storage.read_bytes("a/b/c.txt") == b"hello"
    assert storage.local_path("x/y.bin").read_bytes() == source.read_bytes()
    assert storage.url("a/b/c.txt") == (tmp_path / "a/b/c.txt").resolve().as_uri()


def test_writes_leave_no_temporary_files_even_when_they_fail(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    storage.put_bytes("k/v.bin", b"1")
    with pytest.raises(FileNotFoundError):
        storage.put_file("k/w.bin", tmp_path / "does-not-exist")
    assert sorted(p.name for p in (tmp_path / "store" / "k").iterdir()) == ["v.bin"]
    assert not storage.exists("k/w.bin")


def test_overwrite_replaces_whole_file(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put_bytes("f", b"a" * 10_000)
    storage.put_bytes("f", b"b")
    assert storage.read_bytes("f") == b"b"


@pytest.mark.parametrize("key", ["../escape", "/abs/path", "a/../../b", ""])
def test_keys_cannot_escape_the_root(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="relative path"):
        LocalStorage(tmp_path).put_bytes(key, b"x")


def test_missing_key_is_a_missing_asset(tmp_path: Path) -> None:
    with pytest.raises(MissingAsset, match=r"nope\.png"):
        LocalStorage(tmp_path).local_path("media/nope.png")
