"""The core's errors: a small hierarchy raised once, at the depth that knows what went wrong.

The DAG layer translates them: ``InvalidRequest`` and non-retryable ``ProviderError``/``RenderError`` fail the
task at once; retryable ones are left to Airflow's retries, where operators can see them.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retryable is not None:
            self.retryable = retryable


class NotOwner(PipelineError):
    """A run, or a render attempt, would write results of a project it no longer makes: retrying cannot help."""


class InvalidRequest(PipelineError):
    """The request itself is wrong (missing script, unknown voice, ...): retrying cannot help."""


class ProviderError(PipelineError):
    """A provider (image, voice, script, storage) failed; ``retryable`` says whether a retry may help.

    :param provider: short provider name, e.g. ``"espeak"``.
    :param retry_after: seconds the provider asked us to wait, when it said so.
    """

    def __init__(self, message: str, *, provider: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(f"{provider}: {message}", retryable=retryable)
        self.provider = provider
        self.retry_after = retry_after


class NoMedia(ProviderError):
    """A provider has no picture for this scene (no stock result, a filtered prompt): the next source is tried."""

    def __init__(self, message: str, *, provider: str) -> None:
        super().__init__(message, provider=provider, retryable=False)


class RenderError(PipelineError):
    """FFmpeg could not produce the video from the given spec and assets."""


class MissingAsset(RenderError):
    """An asset named by the render spec is not in storage."""


class OutputCheckFailed(PipelineError):
    """The rendered file does not have the streams, size or duration it must have."""


# HTTP statuses a later try may get past: timeouts, conflicts, rate limits and the server's own errors.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def retry_after_s(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    import datetime as dt

    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def retryable_status(status: int) -> bool:
    """408/409/425/429 and every 5xx may pass on a later try; every other 4xx will not."""
    return status in RETRYABLE_STATUSES or status >= 500


def http_status_error(provider: str, status: int, message: str, *, retry_after: str | None = None) -> ProviderError:
    """The provider error for an HTTP error answer: 408/429/5xx retryable, every other 4xx not."""
    retryable = retryable_status(status)
    return ProviderError(
        f"HTTP {status}: {message.strip()[:1000] or 'no message'}",
        provider=provider,
        retryable=retryable,
        retry_after=retry_after_s(retry_after) if retryable else None,
    )
