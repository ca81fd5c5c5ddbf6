"""Callbacks that keep the project's status in the database in step with Airflow (the emails only read it)."""

from __future__ import annotations

from typing import Any

from video_factory.runs import request_key, run_params, task_label


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


def record_run_failure(context: Any) -> None:
    """The DAG's ``on_failure_callback``, before its email: a run that failed without a task's failure callback
    having stored why (a killed task, a cancel) gets its project marked ``failed``, naming the task."""
    from pipeline.constants import ProjectStatus
    from video_factory.connections import video_repository

    params = run_params(context)
    if params is None:
        return  # every task was skipped: the run made no project of its own
    run_id = context["run_id"]
    key = request_key(params, run_id)
    repository = video_repository()
    summary = repository.project_summary(key)
    if summary is None or summary.dag_run_id != run_id or summary.status == ProjectStatus.FAILED:
        return
    ti = context.get("ti")
    task = task_label(ti) if ti is not None else "unknown"
    error = summary.error or f"{task} failed: open its log (link below) for the reason"
    repository.mark_failed(key, task_id=task, error=error, dag_run_id=run_id)
