"""Airflow's cluster policies for the video factory (Airflow imports this module by name from its path), and the
task modules imported once where task processes are forked from.

Every task instance runs in a process forked from a long-lived one: a LocalExecutor worker (forked from the
scheduler) or a Celery worker's pool process. What that parent has imported, the task process inherits; what it has
not, every task process imports again (pydantic models and their schemas, SQLAlchemy's tables, the providers'
hooks, the project's modules): seconds of CPU per task instance under a batch's load. So the scheduler and a Celery
worker import here, once, what the factory's tasks import (docs/benchmarks.md, "Orchestration CPU").
"""

import sys

from video_factory.priority import task_instance_mutation_hook

__all__ = ["task_instance_mutation_hook"]

FORKING_COMMANDS = ({"scheduler"}, {"celery", "worker"})  # airflow scheduler; airflow celery worker


def _forks_tasks(argv: list[str]) -> bool:
    words = set(argv[1:3])
    return any(command <= words for command in FORKING_COMMANDS)


def _import_task_modules() -> None:
    import importlib

    for name in (
        "airflow.providers.postgres.hooks.postgres",
        "airflow.providers.standard.operators.python",
        "pipeline.assets",
        "pipeline.brand",
        "pipeline.db.repository",
        "pipeline.models",
        "pipeline.production",
        "pipeline.publish.metadata",
        "pipeline.publish.targets",
        "pipeline.render.runner",
        "pipeline.scriptgen",
        "video_factory.callbacks",
        "video_factory.connections",
        "video_factory.errors",
        "video_factory.notifiers",
        "video_factory.params",
        "video_factory.pools",
        "video_factory.providers",
        "video_factory.review",
        "video_factory.task",
    ):
        importlib.import_module(name)
    import airflow.sdk

    for name in ("Asset", "AssetOrTimeSchedule", "BaseHook", "CronTriggerTimetable", "Param", "dag", "task"):
        getattr(airflow.sdk, name)  # airflow.sdk imports each on first use: the DAG files use these


if _forks_tasks(sys.argv):
    _import_task_modules()
