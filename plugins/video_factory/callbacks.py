"""Task-level callbacks: keep the project's status in the database in step with Airflow."""

from __future__ import annotations

from typing import Any

from video_factory.runs import request_key, task_label


def record_task_failure(context: Any) -> None:
    """``on_failure_callback`` of every task: store the final error on the project (runs once, after retries)."""
    from video_factory.connections import video_repository

    ti = context["ti"]
    exception = context.get("exception")
    error = str(exception) if exception is not None else "the task failed without an exception (see its log)"
    key = request_key(context.get("params") or {}, context["run_id"])
    video_repository().mark_failed(
        key, task_id=task_label(ti), error=error or type(exception).__name__, dag_run_id=context["run_id"]
    )
