"""The nightly batch's reading of the request table: its rows, the run it triggers for each, and its summary.

Its writes (claim, release, mark) are ``pipeline.db.queue``'s.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, select

from pipeline.constants import RequestStatus
from pipeline.db.schema import projects, rendered_videos, requests
from pipeline.request import run_id_for

FINISHED = (RequestStatus.COMPLETED, RequestStatus.FAILED, RequestStatus.REJECTED, RequestStatus.CANCELLED)


def trigger_run_id(request_key: str, night: str) -> str:
    """The run a batch triggers for a request on a night: the same on a second batch run of that night (so it is
    skipped), a new one when the request comes back on another night."""
    return f"{run_id_for(request_key)}__{night}"


def start_order(count: int, *, now: dt.datetime) -> list[dt.datetime]:
    """``run_after`` of each triggered run, in the claim's order (priority, then age): Airflow starts the queued runs
    of a DAG by ``run_after``, so with more videos than may run at once the first claimed starts first. All in the
    past (a run is not started before its ``run_after``), a millisecond apart."""
    first = now - dt.timedelta(milliseconds=count + 1000)
    return [first + dt.timedelta(milliseconds=rank) for rank in range(count)]


def batch_rows(engine: Engine, batch_run_id: str) -> list[dict[str, Any]]:
    """Every row a batch claimed, with its project's outcome and published video (one query)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                requests.c.id,
                requests.c.request_key,
                requests.c.title,
                requests.c.status,
                requests.c.dag_run_id,
                requests.c.reject_reasons,
                requests.c.submitted_by,
                requests.c.notify_emails,
                projects.c.error,
                projects.c.failed_task,
                rendered_videos.c.video_url,
                rendered_videos.c.duration_s,
            )
            .select_from(
                requests.outerjoin(projects, projects.c.request_id == requests.c.id).outerjoin(
                    rendered_videos,
                    and_(rendered_videos.c.project_id == projects.c.id, rendered_videos.c.published.is_(True)),
                )
            )
            .where(requests.c.batch_run_id == batch_run_id)
            .order_by(requests.c.priority.desc(), requests.c.created_at, requests.c.id)
        ).mappings()
        return [dict(row) for row in rows]


def unfinished(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in rows if row["status"] not in FINISHED]


@dataclass(frozen=True)
class BatchSummary:
    """What a night's batch did, for the log, the run's note, the asset event and the ops email."""

    batch_run_id: str
    counts: dict[str, int]
    rejected: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    video_minutes: float
    wall_s: float
    cost_usd: float
    validation_key: str | None

    @classmethod
    def of(
        cls,
        batch_run_id: str,
        rows: Sequence[dict[str, Any]],
        *,
        wall_s: float,
        cost_usd: float,
        validation_key: str | None,
    ) -> BatchSummary:
        return cls(
            batch_run_id=batch_run_id,
            counts=dict(Counter(row["status"] for row in rows)),
            rejected=[
                {"request_key": row["request_key"], "title": row["title"], "reasons": row["reject_reasons"]}
                for row in rows
                if row["status"] == RequestStatus.REJECTED
            ],
            failed=[
                {"request_key": row["request_key"], "title": row["title"], "error": row["error"] or "see its run"}
                for row in rows
                if row["status"] == RequestStatus.FAILED
            ],
            video_minutes=round(sum(row["duration_s"] or 0 for row in rows) / 60, 2),
            wall_s=round(wall_s, 1),
            cost_usd=round(cost_usd, 4),
            validation_key=validation_key,
        )

    def line(self) -> str:
        """One line: ``Batch: 15 completed, 5 rejected; 12.5 min of video in 31 min; $0.0000.``"""
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items(), key=lambda kv: -kv[1]))
        return (
            f"Batch: {counts or 'nothing due'}; {self.video_minutes:g} min of video in {self.wall_s / 60:.0f} min; "
            f"provider cost ${self.cost_usd:.4f}."
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def reasons_text(reasons: Sequence[dict[str, str]]) -> str:
    return "; ".join(f"{reason['field']}: {reason['message']}" for reason in reasons)
