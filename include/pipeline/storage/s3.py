"""Storage in an S3 bucket: the same content-addressed keys as local storage."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from pipeline.atomic import atomic_path
from pipeline.aws import aws_error
from pipeline.errors import MissingAsset

MULTIPART_THRESHOLD = 8 * 1024 * 1024
_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Storage:
    """Objects under ``s3://bucket/prefix/``, uploaded straight to their key (multipart when large): S3 shows an
    object only once its PUT or its multipart upload is complete, so readers never see a partial object.

    :param client: a boto3 S3 client (the DAG layer builds it from the ``aws_default`` connection).
    :param cache_dir: where ``local_path`` downloads objects for ffmpeg to read.
    :param server_side_encryption: e.g. ``"AES256"`` or ``"aws:kms"``; None for the bucket's default.
    """

    def __init__(
        self,
        *,
        client: Any,
        bucket: str,
        cache_dir: Path,
        prefix: str = "",
        server_side_encryption: str | None = None,
        presign_s: int = 3600,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.cache_dir = cache_dir
        self.extra = {"ServerSideEncryption": server_side_encryption} if server_side_encryption else {}
        self.presign_s = presign_s
        self.transfer = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD)

    def _key(self, key: str) -> str:
        relative = PurePosixPath(key)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ValueError(f"storage key must be a relative path without '..': {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if _missing(exc):
                return False
            raise aws_error("s3", exc) from exc
        return True

    def put_file(self, key: str, source: Path) -> None:
        try:
            self.client.upload_file(
                str(source), self.bucket, self._key(key), ExtraArgs=self.extra or None, Config=self.transfer
            )
        except Exception as exc:
            raise aws_error("s3", exc) from exc

    def put_bytes(self, key: str, data: bytes) -> None:
        # a single PUT is atomic in S3: the object appears whole or not at all
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **self.extra)
        except Exception as exc:
            raise aws_error("s3", exc) from exc

    def read_bytes(self, key: str) -> bytes:
        try:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read())
        except Exception as exc:
            if _missing(exc):
                raise MissingAsset(f"asset {key!r} is not in s3://{self.bucket}/{self.prefix}") from None
            raise aws_error("s3", exc) from exc

    def delete(self, key: str) -> None:
        try:  # S3's DELETE of a missing key succeeds
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            raise aws_error("s3", exc) from exc
        cached = self.cache_dir.joinpath(*PurePosixPath(self._key(key)).parts)
        cached.unlink(missing_ok=True)

    def local_path(self, key: str) -> Path:
        """Download once into the cache (content-addressed keys never change), atomically."""
        path = self.cache_dir.joinpath(*PurePosixPath(self._key(key)).parts)
        if path.is_file():
            return path
        if not self.exists(key):
            raise MissingAsset(f"asset {key!r} is not in s3://{self.bucket}/{self.prefix}")
        try:
            with atomic_path(path) as tmp:
                self.client.download_file(self.bucket, self._key(key), str(tmp), Config=self.transfer)
        except MissingAsset:
            raise
        except Exception as exc:
            raise aws_error("s3", exc) from exc
        return path

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def url(self, key: str) -> str:
        """A presigned link, valid for ``presign_s`` seconds (at most an hour): made when someone opens the file."""
        return str(
            self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=self.presign_s
            )
        )


def _missing(exc: Exception) -> bool:
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in _MISSING
