"""S3 storage with the real boto3 client against moto's server on loopback."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from pipeline.config import Settings
from pipeline.errors import MissingAsset
from pipeline.storage import open_storage
from pipeline.storage.s3 import S3Storage


def _storage(s3_bucket: tuple[Any, str], tmp_path: Path, **options: Any) -> S3Storage:
    client, bucket = s3_bucket
    return S3Storage(client=client, bucket=bucket, cache_dir=tmp_path / "cache", prefix="factory", **options)


def _in_s3(settings: Settings, **storage: str) -> Settings:
    """``settings`` with S3 storage configured by ``storage`` (the storage section's fields)."""
    section = settings.storage.model_copy(update={"storage_backend": "s3", **storage})
    return settings.model_copy(update={"storage": section})


def _keys(s3_bucket: tuple[Any, str]) -> list[str]:
    client, bucket = s3_bucket
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_round_trip_under_the_prefix(s3_bucket: tuple[Any, str], tmp_path: Path) -> None:
    storage = _storage(s3_bucket, tmp_path)
    assert not storage.exists("media/ab/abc.png")
    storage.put_bytes("media/ab/abc.png", b"png bytes")
    assert storage.exists("media/ab/abc.png")
    assert storage.read_bytes("media/ab/abc.png") == b"png bytes"
    assert _keys(s3_bucket) == ["factory/media/ab/abc.png"]


def test_large_file_goes_up_in_parts_and_leaves_no_temporary_object(s3_bucket: tuple[Any, str], tmp_path: Path) -> None:
    storage = _storage(s3_bucket, tmp_path)
    big = tmp_path / "video.mp4"
    big.write_bytes(os.urandom(9 * 1024 * 1024))  # above the 8 MiB multipart threshold
    storage.put_file("videos/req/run.mp4", big)
    assert _keys(s3_bucket) == ["factory/videos/req/run.mp4"]
    client, bucket = s3_bucket
    head = client.head_object(Bucket=bucket, Key="factory/videos/req/run.mp4")
    assert head["ContentLength"] == big.stat().st_size
    assert "-" in head["ETag"]  # a multipart ETag: "<md5>-<parts>"
    assert storage.local_path("videos/req/run.mp4").read_bytes() == big.read_bytes()


def test_local_path_downloads_once_into_the_cache(s3_bucket: tuple[Any, str], tmp_path: Path) -> None:
    storage = _storage(s3_bucket, tmp_path)
    storage.put_bytes("audio/de/def.wav", b"RIFF....")
    first = storage.local_path("audio/de/def.wav")
    assert first.read_bytes() == b"RIFF...." and first.is_relative_to(tmp_path / "cache")
    client, bucket = s3_bucket
    client.delete_object(Bucket=bucket, Key="factory/audio/de/def.wav")
    assert storage.local_path("audio/de/def.wav") == first  # served from the cache, no second download
    with pytest.raises(MissingAsset, match="nope"):
        storage.local_path("audio/no/nope.wav")
    with pytest.raises(MissingAsset, match="nope"):
        storage.read_bytes("audio/no/nope.wav")


def test_server_side_encryption_is_requested(s3_bucket: tuple[Any, str], tmp_path: Path) -> None:
    storage = _storage(s3_bucket, tmp_path, server_side_encryption="AES256")
    source = tmp_path / "a.bin"
    source.write_bytes(b"x" * 100)
    storage.put_file("k/file.bin", source)
    storage.put_bytes("k/bytes.bin", b"y")
    client, bucket = s3_bucket
    for key in ("factory/k/file.bin", "factory/k/bytes.bin"):
        assert client.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "AES256"


def test_presigned_url_downloads_the_object(s3_bucket: tuple[Any, str], tmp_path: Path) -> None:
    storage = _storage(s3_bucket, tmp_path, presign_s=600)
    storage.put_bytes("videos/r/v.mp4", b"mp4 data")
    link = storage.url("videos/r/v.mp4")
    assert "Expires=" in link and "Signature=" in link
    assert httpx.get(link, timeout=10).content == b"mp4 data"


def test_settings_open_s3_storage(s3_bucket: tuple[Any, str], moto_server: str, settings: Settings) -> None:
    _, bucket = s3_bucket
    configured = _in_s3(settings, s3_bucket=bucket, s3_endpoint_url=moto_server, s3_prefix="p")
    storage = open_storage(configured)
    storage.put_bytes("x/y.txt", b"hello")
    assert isinstance(storage, S3Storage) and _keys(s3_bucket) == ["p/x/y.txt"]
    with pytest.raises(ValueError, match="VIDEO_S3_BUCKET"):
        open_storage(_in_s3(settings, s3_bucket=""))


def test_render_entry_point_reads_and_publishes_through_s3(
    s3_bucket: tuple[Any, str], moto_server: str, settings: Settings, run_render: Any
) -> None:
    """What a render pod does: spec, assets and outputs all in the bucket; configuration only by environment."""
    from pipeline.models import RenderResult
    from pipeline.render.probe import probe_output
    from pipeline.request import LookAndSound
    from tools.render_samples import sample_render_spec

    _, bucket = s3_bucket
    configured = _in_s3(settings, s3_bucket=bucket, s3_endpoint_url=moto_server)
    storage = open_storage(configured)
    spec = sample_render_spec(
        ["Stored in a bucket.", "Rendered from it."],
        storage=storage,
        work_dir=settings.work_dir,
        width=1280,
        height=720,
        look=LookAndSound(crossfade_s=0.4, burn_subtitles=True, soft_subtitles=True),
        run_id="pod-run",
    )
    storage.put_bytes("renders/pod-run/spec.json", spec.model_dump_json().encode())
    pod_data = settings.data_dir.parent / "pod"  # the pod's own, empty disk
    env = {
        **os.environ,
        "VIDEO_DATA_DIR": str(pod_data),
        "VIDEO_STORAGE_BACKEND": "s3",
        "VIDEO_S3_BUCKET": bucket,
        "VIDEO_S3_ENDPOINT_URL": moto_server,
    }
    completed = run_render("renders/pod-run/spec.json", env=env)
    assert completed.returncode == 0, completed.stderr
    result = RenderResult.model_validate_json(completed.stdout)
    assert result.video_url == f"s3://{bucket}/{spec.output_key}"  # stored and sent on: no credential in it
    assert {spec.output_key, spec.subtitles_key, spec.thumbnail_key} <= set(_keys(s3_bucket))
    downloaded = settings.data_dir / "check.mp4"
    link = storage.url(spec.output_key)  # what the Videos page makes when someone opens the video
    expires = int(parse_qs(urlsplit(link).query)["Expires"][0])
    assert 0 < expires - time.time() <= 3600 + 5  # an hour at most
    downloaded.write_bytes(httpx.get(link, timeout=30).content)
    facts = probe_output(downloaded)
    assert (facts.video_codec, facts.audio_codec, facts.subtitle_streams) == ("h264", "aac", 1)


def test_an_unreachable_endpoint_is_a_retryable_s3_error_for_every_call(tmp_path: Path, aws_credentials: None) -> None:
    """One AWS classification for S3, Polly and SES: a connection failure is worth a retry, whatever the call."""
    import socket

    import boto3

    from pipeline.aws import no_retry_config
    from pipeline.errors import ProviderError

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1", config=no_retry_config()
    )
    storage = S3Storage(client=client, bucket="gone", cache_dir=tmp_path / "cache")
    source = tmp_path / "clip.bin"
    source.write_bytes(b"data")
    for call in (
        lambda: storage.exists("a/b.png"),
        lambda: storage.put_bytes("a/b.png", b"x"),
        lambda: storage.put_file("a/c.bin", source),
        lambda: storage.read_bytes("a/b.png"),
    ):
        with pytest.raises(ProviderError) as caught:
            call()
        assert caught.value.provider == "s3" and caught.value.retryable, caught.value.message
