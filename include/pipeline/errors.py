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


class RenderError(PipelineError):
    """FFmpeg could not produce the video from the given spec and assets."""


class MissingAsset(RenderError):
    """An asset named by the render spec is not in storage."""


class OutputCheckFailed(PipelineError):
    """The rendered file does not have the streams, size or duration it must have."""
