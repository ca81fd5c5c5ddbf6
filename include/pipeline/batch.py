"""The nightly batch's work on the request table: claim due rows, mark them rejected or queued, and sum up.

Every function is one transaction. ``claim`` takes rows with ``FOR UPDATE SKIP LOCKED``, so two batches running
at once never share a row; a batch that asks again (its ``claim`` task retried) gets back the rows it holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select, update

from pipeline.db.schema import projects, rendered_videos, requests
from pipeline.request import run_id_for

MAX_MAPPED = 1024  # Airflow's [core] max_map_length: a longer list for a mapped task fails it
FINISHED = ("completed", "failed", "rejected", "cancelled")


@dataclass(frozen=True)
class Claimed:
    """One claimed row, as the batch's tasks pass it on (``as_dict`` for XCom)."""

    id: int
    request_key: str
    title: str
    priority: int
    payload: dict[str, Any]
    submitted_by: str | None
    notify_emails: list[str]
    scheduled_for: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def of(cls, row: Any) -> Claimed:
        when = row.scheduled_for.isoformat() if row.scheduled_for else None
        return cls(
            id=int(row.id), request_key=row.request_key, title=row.title, priority=int(row.priority),
            payload=dict(row.payload or {}), submitted_by=row.submitted_by, notify_emails=list(row.notify_emails),
            scheduled_for=when,
        )  # fmt: skip


_CLAIMED_COLUMNS = (
    requests.c.id,
    requests.c.request_key,
    requests.c.title,
    requests.c.priority,
    requests.c.payload,
    requests.c.submitted_by,
    requests.c.notify_emails,
    requests.c.scheduled_for,
)


def claim(engine: Engine, *, batch_run_id: str, due_by: datetime, limit: int) -> list[Claimed]:
    """The rows this batch holds: those it claimed before (a retried ``claim``), else up to ``limit`` due
    ``pending`` rows (``scheduled_for`` empty or not after ``due_by``), highest priority first, then oldest."""
    if not 1 <= limit <= MAX_MAPPED:
        raise ValueError(f"a batch claims 1 to {MAX_MAPPED} requests (got {limit}): set VIDEO_BATCH_SIZE")
    with engine.begin() as conn:
        held = conn.execute(
            select(*_CLAIMED_COLUMNS)
            .where(requests.c.batch_run_id == batch_run_id, requests.c.status == "claimed")
            .order_by(requests.c.priority.desc(), requests.c.created_at, requests.c.id)
        ).all()
        if held:
            return [Claimed.of(row) for row in held]
        picked = (
            select(requests.c.id)
            .where(
                requests.c.status == "pending",
                or_(requests.c.scheduled_for.is_(None), requests.c.scheduled_for <= due_by),
            )
            .order_by(requests.c.priority.desc(), requests.c.created_at, requests.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("picked")
        )
        rows = conn.execute(
            update(requests)
            .where(requests.c.id == picked.c.id)
            .values(status="claimed", batch_run_id=batch_run_id, claimed_at=func.now(), updated_at=func.now())
            .returning(*_CLAIMED_COLUMNS, requests.c.created_at)
        ).all()
    ordered = sorted(rows, key=lambda row: (-row.priority, row.created_at, row.id))
    return [Claimed.of(row) for row in ordered]


def release_stale(engine: Engine, *, older_than: timedelta, run_is_active: Callable[[str], bool]) -> list[str]:
    """Claims older than ``older_than`` whose batch run is no longer active go back to ``pending``; returns the
    request keys released."""
    with engine.begin() as conn:
        stale = conn.execute(
            select(requests.c.id, requests.c.request_key, requests.c.batch_run_id)
            .where(requests.c.status == "claimed", requests.c.claimed_at < func.now() - older_than)
            .with_for_update(skip_locked=True)
        ).all()
        gone = [row for row in stale if not (row.batch_run_id and run_is_active(row.batch_run_id))]
        if gone:
            conn.execute(
                update(requests)
                .where(requests.c.id.in_([row.id for row in gone]))
                .values(status="pending", batch_run_id=None, claimed_at=None, updated_at=func.now())
            )
    return [row.request_key for row in gone]


def trigger_run_id(request_key: str, night: str) -> str:
    """The run a batch triggers for a request on a night: the same on a second batch run of that night (so it is
    skipped), a new one when the request comes back on another night."""
    return f"{run_id_for(request_key)}__{night}"


def mark_checked(
    engine: Engine, *, batch_run_id: str, rejected: dict[int, list[dict[str, str]]], queued: dict[int, str]
) -> None:
    """Rejected rows get their reasons; valid rows become ``queued`` with the run that will make them. Only rows
    this batch still holds change (a repeat changes nothing)."""
    with engine.begin() as conn:
        for row_id, reasons in rejected.items():
            conn.execute(
                update(requests)
                .where(requests.c.id == row_id, requests.c.batch_run_id == batch_run_id, requests.c.status == "claimed")
                .values(status="rejected", reject_reasons=reasons, updated_at=func.now())
            )
        for row_id, run_id in queued.items():
            conn.execute(
                update(requests)
                .where(requests.c.id == row_id, requests.c.batch_run_id == batch_run_id, requests.c.status == "claimed")
                .values(status="queued", dag_run_id=run_id, reject_reasons=[], updated_at=func.now())
            )


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
        cls, batch_run_id: str, rows: Sequence[dict[str, Any]], *, wall_s: float, cost_usd: float,
        validation_key: str | None,
    ) -> BatchSummary:  # fmt: skip
        return cls(
            batch_run_id=batch_run_id,
            counts=dict(Counter(row["status"] for row in rows)),
            rejected=[
                {"request_key": row["request_key"], "title": row["title"], "reasons": row["reject_reasons"]}
                for row in rows
                if row["status"] == "rejected"
            ],
            failed=[
                {"request_key": row["request_key"], "title": row["title"], "error": row["error"] or "see its run"}
                for row in rows
                if row["status"] == "failed"
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
