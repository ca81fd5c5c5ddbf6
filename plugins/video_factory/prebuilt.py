"""The DAGs built once in each process that forks task processes, and taken from there by the task processes.

Airflow's task runner parses the task's DAG file before it runs the task: building the video DAG (its Params from
the request model, the settings, a dozen operators) costs a tenth of a second or more of CPU, per task instance. A
process that forks task processes (the scheduler, whose LocalExecutor workers fork them, or a Celery worker) calls
``warm`` once, before its first fork; from then on a DAG file's ``dag_of`` returns the DAG built there, as long as
the file is unchanged (its modification time and size). Everywhere else (the DAG processor, ``dag.test()``, the
tests) ``dag_of`` builds the DAG every time, as Airflow would.

Like the modules imported once beside it (``airflow_local_settings``), what is built there is what the process
started with: a change to the project's modules reaches the tasks when the scheduler or worker restarts (a DAG
file's own change is seen at once).
"""

from __future__ import annotations

import logging
import os
import runpy
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_BUILT: dict[str, tuple[tuple[int, int], Any]] = {}  # realpath -> (its stamp when built, the DAG)
_KEEPING: set[str] = set()  # "here" once warm() has run in this process (and in what it forks)


def _stamp(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size


def dag_of(path: str, build: Callable[[], Any]) -> Any:
    """The DAG of the DAG file at ``path`` (its ``__file__``): the one built before this process was forked, while
    the file is unchanged; otherwise ``build()``."""
    if not _KEEPING:
        return build()
    found = kept(path)
    if found is not None:
        return found
    where = os.path.realpath(path)
    stamp = _stamp(where)  # before building: an edit made meanwhile is built again next time
    built = build()
    _BUILT[where] = (stamp, built)
    return built


def warm(dag_files: Iterable[Path]) -> None:
    """Build each DAG file's DAG here, once, so that the task processes forked from here take it as it is."""
    _KEEPING.add("here")
    for path in dag_files:
        try:
            runpy.run_path(str(path), run_name=path.stem)  # the DAG file's loggers are named as it is
        except Exception:  # the task process then builds it (and reports what is wrong) as without this
            log.warning("could not build %s ahead of its tasks", path, exc_info=True)
            _BUILT.pop(os.path.realpath(path), None)


def kept(path: str) -> Any:
    """The DAG kept here for the DAG file at ``path`` while the file is unchanged, else None."""
    where = os.path.realpath(path)
    entry = _BUILT.get(where)
    return entry[1] if entry is not None and entry[0] == _stamp(where) else None
