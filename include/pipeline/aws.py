"""Classify botocore failures the way every provider error is classified: retryable or not."""

from __future__ import annotations

from typing import Any

from pipeline.errors import ProviderError, retry_after_s, retryable_status

_RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceFailureException",
        "InternalFailure",
        "InternalServerError",
        "SlowDown",
        "RequestTimeout",
    }
)


def aws_error(provider: str, exc: Exception) -> ProviderError:
    """The provider error for a botocore exception: throttling, 5xx, timeouts, connections retryable."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    inner = exc.__cause__ or exc.__context__
    if type(exc).__module__.startswith("boto3") and isinstance(inner, Exception):
        exc = inner  # boto3's transfer manager wraps the botocore error (S3UploadFailedError and the like)
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        return ProviderError(f"timed out: {exc}", provider=provider, retryable=True)
    if isinstance(exc, (EndpointConnectionError, ConnectionClosedError)):
        return ProviderError(f"connection failed: {exc}", provider=provider, retryable=True)
    if isinstance(exc, ClientError):
        error: dict[str, Any] = exc.response.get("Error", {})
        meta: dict[str, Any] = exc.response.get("ResponseMetadata", {})
        status = int(meta.get("HTTPStatusCode") or 0)
        code = str(error.get("Code", ""))
        retryable = code in _RETRYABLE_CODES or retryable_status(status)
        headers = meta.get("HTTPHeaders") or {}
        return ProviderError(
            f"{code or 'error'} (HTTP {status or '?'}): {error.get('Message', '') or exc}",
            provider=provider,
            retryable=retryable,
            retry_after=retry_after_s(headers.get("retry-after")) if retryable else None,
        )
    return ProviderError(f"{type(exc).__name__}: {exc}", provider=provider, retryable=False)


def no_retry_config(*, connect_timeout_s: float = 10, read_timeout_s: float = 60) -> Any:
    """A botocore Config with one attempt per call: retries are Airflow's."""
    from botocore.config import Config

    return Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
    )
