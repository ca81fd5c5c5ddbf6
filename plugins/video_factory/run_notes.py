"""Listener: a video run's note says what it is about, and why it failed, in one line each. Airflow renders notes
as Markdown: the title and the reason are escaped (``pipeline.markdown.literal``), so they show as written.

Runs in the scheduler when a run starts and when it fails (Airflow calls listeners there), so no task needs
credentials for Airflow's API: the note is written with the run itself.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.listeners import hookimpl

from pipeline.constants import DagId
from pipeline.markdown import literal
from pipeline.notify import one_line
from video_factory.runs import request_key

log = logging.getLogger(__name__)
MAX_NOTE_CHARS = 1000


def note_of(text: str) -> str:
    """A note that shows ``text`` on one line, as written: cut to fit Airflow's column, then escaped (escaping at
    most doubles it; the column holds ``MAX_NOTE_CHARS``)."""
    return literal(one_line(text, MAX_NOTE_CHARS // 2))


@hookimpl
def on_dag_run_running(dag_run: Any, msg: str) -> None:
    """A run without a note gets the video's title."""
    if dag_run.dag_id != DagId.VIDEO or dag_run.note:
        return
    title = (dag_run.conf or {}).get("title")
    if isinstance(title, str) and title.strip():
        dag_run.note = note_of(title)


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    """A failed run's note: the title, the failed task and the stored one-line reason (a batch: its summary)."""
    if dag_run.dag_id == DagId.BATCH:
        _note_batch(dag_run)
        return
    if dag_run.dag_id != DagId.VIDEO:
        return
    from video_factory.connections import video_repository

    conf = dag_run.conf or {}
    try:
        summary = video_repository().project_summary(request_key(conf, dag_run.run_id))
    except Exception:  # the note is a courtesy: never let it break the scheduler's loop
        log.exception("could not read the project of run %s for its note", dag_run.run_id)
        return
    if summary is None or not summary.error:
        return
    title = summary.title or conf.get("title") or dag_run.run_id
    dag_run.note = note_of(f"{title} — failed at {summary.failed_task or 'a task'}: {summary.error}")


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    """A run that ended early because another run makes (or made) its request's video says so; a batch's note is
    its summary."""
    if dag_run.dag_id == DagId.BATCH:
        _note_batch(dag_run)
        return
    if dag_run.dag_id != DagId.VIDEO:
        return
    from video_factory.connections import video_repository
    from video_factory.task import not_made_again

    key = request_key(dag_run.conf or {}, dag_run.run_id)
    try:
        summary = video_repository().project_summary(key)
    except Exception:  # the note is a courtesy: never let it break the scheduler's loop
        log.exception("could not read the project of run %s for its note", dag_run.run_id)
        return
    if summary is None or summary.dag_run_id in (None, dag_run.run_id):
        return
    note = note_of(not_made_again(key, summary.dag_run_id, summary.status))
    try:
        dag_run.note = note
    except Exception:  # e.g. dag.test()'s run is not bound to a session: the note is a courtesy
        log.info("could not set the note of run %s: %s", dag_run.run_id, note)


def _note_batch(dag_run: Any) -> None:
    import datetime as dt

    from pipeline.config import load_settings
    from video_factory.batch import summarize

    try:
        summary = summarize(
            dag_run.run_id,
            started=dag_run.start_date,
            ended=dag_run.end_date or dt.datetime.now(dt.UTC),
            settings=load_settings(),
        )
    except Exception:  # the note is a courtesy: never let it break the scheduler's loop
        log.exception("could not sum up batch %s for its note", dag_run.run_id)
        return
    try:
        dag_run.note = note_of(summary.line())
    except Exception:  # e.g. dag.test()'s run is not bound to a session
        log.info("could not set the note of batch %s: %s", dag_run.run_id, summary.line())
