"""Airflow's cluster policies for the video factory (Airflow imports this module by name from its path), and the
task modules imported once where task processes are forked from.

Every task instance runs in a process forked from a long-lived one: a LocalExecutor worker (forked from the
scheduler) or a Celery worker's pool process. What that parent has imported, the task process inherits; what it has
not, every task process imports again (pydantic models and their schemas, SQLAlchemy's tables, the providers'
hooks, NLTK, the project's modules): seconds of CPU per task instance under a batch's load. So the scheduler and a
Celery worker import here, once, what the factory's tasks import, and before their first fork they build the DAGs
(``video_factory.prebuilt``) and load the plugins' listeners, which every task process would otherwise build and
load again (docs/benchmarks.md, "Orchestration CPU"). Every Airflow process that imports this module also
registers the trigger form's JSON Schema dialect (``video_factory.param_dialect``).
"""

import logging
import os
import sys

import video_factory.param_dialect  # noqa: F401  (registers the Params' JSON Schema dialect in every process)
from video_factory.priority import task_instance_mutation_hook

__all__ = ["task_instance_mutation_hook"]

FORKING_COMMANDS = ({"scheduler"}, {"celery", "worker"})  # airflow scheduler; airflow celery worker
# the DAG processor forks a process per DAG file parse, which imports what the DAG file imports: imported here
# once too (it builds every DAG from its file each time: nothing is kept for it)
PARSING_COMMANDS = ({"dag-processor"},)
log = logging.getLogger(__name__)
_WARMED: set[int] = set()  # the pid that warmed (its forks inherit what it built)


def _runs(argv: list[str], commands: tuple[set[str], ...]) -> bool:
    words = set(argv[1:3])
    return any(command <= words for command in commands)


def _import_task_modules() -> None:
    import importlib

    for name in (
        "airflow.providers.postgres.hooks.postgres",
        "airflow.providers.smtp.hooks.smtp",
        "airflow.providers.standard.operators.python",
        "airflow.sdk.definitions.asset.metadata",
        # what each executor worker (forked from the scheduler) imported on its first task instance: the supervisor
        # that forks and watches the task process
        "airflow.sdk.execution_time.coordinator",
        "airflow.sdk.execution_time.schema",
        "airflow.sdk.execution_time.supervisor",
        "airflow.sdk.execution_time.task_runner",
        "jinja2.ext",  # Airflow's template environment loads its extensions by name, in every task process
        "nltk",
        "nltk.tokenize.punkt",
        "pipeline.assets",
        "pipeline.brand",
        "pipeline.db.repository",
        "pipeline.models",
        "pipeline.production",
        "pipeline.publish.metadata",
        "pipeline.publish.targets",
        "pipeline.render.runner",
        "pipeline.scriptgen",
        "pipeline.segment",
        "pipeline.translate",
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


def _warm_before_fork() -> None:
    """Once per process, before its first fork (Airflow is configured by then): the DAGs built and the plugins'
    listeners loaded, as every task process would build and load them (both are kept per process)."""
    if _WARMED:
        return
    _WARMED.add(os.getpid())
    try:
        from pathlib import Path

        from airflow.configuration import conf
        from airflow.sdk.api.client import API_SSL_CA_FILE_PATH, API_SSL_CERT_PATH, Client
        from airflow.sdk.listener import get_listener_manager

        from video_factory.prebuilt import warm

        warm(sorted(Path(conf.get("core", "dags_folder")).glob("*.py")))
        get_listener_manager()  # loads the plugins (our run-notes listener) once: cached in the process
        # the Execution API client's TLS context (the system's CA certificates read and parsed) is cached per
        # process: made here, not again in each of the executor's worker processes
        Client._get_ssl_context_cached(API_SSL_CA_FILE_PATH, API_SSL_CERT_PATH)
        # what was just built joins what Airflow froze before forking its workers: a forked process's garbage
        # collector then never walks it (walking writes to every object: each page copied into the child)
        import gc

        gc.freeze()
    except Exception:  # never stop the scheduler or worker: its task processes build and load it themselves
        log.warning("could not build the DAGs ahead of their tasks", exc_info=True)


if _runs(sys.argv, FORKING_COMMANDS):
    _import_task_modules()
    os.register_at_fork(before=_warm_before_fork)
elif _runs(sys.argv, PARSING_COMMANDS):
    _import_task_modules()
