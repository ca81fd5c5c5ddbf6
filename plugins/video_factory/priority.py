"""Videos of higher priority first: Airflow's task-instance mutation hook adds the request's ``priority`` (0-100)
to the weight of every task instance of a video run, so when workers and pools are busy the scheduler takes the
more urgent videos' tasks first.

Airflow calls the hook (from ``airflow_local_settings``) with the run, whose conf holds the request, whenever it
creates a task instance (a new run, a mapped expansion) or reconciles one, inside the scheduler's transaction: it
must not query or commit, only change the instance.
"""

from __future__ import annotations

from typing import Any

from pipeline.constants import DagId

PRIORITY_STEP = 100  # above any run's own spread of weights (its downstream sums): a higher priority goes first


def task_instance_mutation_hook(task_instance: Any, dag_run: Any = None) -> None:
    """Weight = Airflow's own weight (kept below ``PRIORITY_STEP``) + ``PRIORITY_STEP`` x the request's priority;
    the same on every call, so a retried or reconciled instance is not raised twice."""
    if dag_run is None or task_instance.dag_id != DagId.VIDEO:
        return
    own = (task_instance.priority_weight or 1) % PRIORITY_STEP
    task_instance.priority_weight = own + PRIORITY_STEP * request_priority(dag_run.conf)


def request_priority(conf: dict[str, Any] | None) -> int:
    value = (conf or {}).get("priority", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100 else 0
