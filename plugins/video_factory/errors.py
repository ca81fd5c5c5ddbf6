"""Turn the core's errors into Airflow's decisions: fail now, or let Airflow retry (visible in the UI)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk.exceptions import AirflowFailException

from pipeline.errors import PipelineError


@contextmanager
def airflow_errors() -> Iterator[None]:
    """Non-retryable pipeline errors fail the task at once; retryable ones propagate to Airflow's retries."""
    try:
        yield
    except PipelineError as exc:
        if exc.retryable:
            raise
        raise AirflowFailException(exc.message) from exc
