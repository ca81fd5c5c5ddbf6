"""Turn the core's errors into Airflow's decisions: fail now, or let Airflow retry (visible in the UI)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow.sdk import RetryPolicy
from airflow.sdk.definitions.retry_policy import RetryDecision
from airflow.sdk.exceptions import AirflowFailException

from pipeline.errors import PipelineError, ProviderError


@contextmanager
def airflow_errors() -> Iterator[None]:
    """Non-retryable pipeline errors fail the task at once; retryable ones propagate to Airflow's retries."""
    try:
        yield
    except PipelineError as exc:
        if exc.retryable:
            raise
        raise AirflowFailException(exc.message) from None


class ProviderRetryPolicy(RetryPolicy):
    """Retry after what the provider asked for (``Retry-After``, at least 1 s, at most ``max_delay_s``).

    Errors that say nothing about waiting keep the task's exponential backoff.
    """

    def __init__(self, *, max_delay_s: float) -> None:
        self.max_delay_s = max_delay_s

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int, context: Any = None) -> RetryDecision:
        if isinstance(exception, PipelineError) and not exception.retryable:
            return RetryDecision.fail(f"not retryable: {exception.message}")
        if isinstance(exception, ProviderError) and exception.retry_after is not None:
            delay = min(max(exception.retry_after, 1.0), self.max_delay_s)
            return RetryDecision.retry(
                dt.timedelta(seconds=delay), reason=f"{exception.provider} asked to retry after {delay:.0f} s"
            )
        return RetryDecision.default()
