"""The one fail-or-retry rule: a core error's ``retryable`` decides, and a provider's Retry-After sets the delay.

Tasks raise the core's errors as they are; this policy (every task's ``retry_policy``) turns them into Airflow's
decisions: fail now (no retry shown), retry after the provider's delay, or Airflow's own exponential backoff.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import RetryPolicy
from airflow.sdk.definitions.retry_policy import RetryDecision

from pipeline.errors import PipelineError, ProviderError


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
