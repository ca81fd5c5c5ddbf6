"""Writes to the request table (the queue): new rows, the nightly batch's claims and marks, and the Videos page's
requeue and delete. Each function is one transaction.

``claim`` takes rows with ``FOR UPDATE SKIP LOCKED``, so two batches running at once never share a row; a batch that
asks again (its ``claim`` task retried) gets back the rows it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, case, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as upsert

from pipeline.constants import ProjectStatus, RequestStatus
from pipeline.db.schema import audio_assets, audit_log, media_assets, projects, rendered_videos, requests, scenes
from pipeline.render.spec import webvtt_key

MAX_MAPPED = 1024  # Airflow's [core] max_map_length: a longer list for a mapped task fails it


def insert_pending(engine: Engine, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Insert the rows as ``pending``, all or none: returns the request keys already in the table (and then inserts
    nothing), else []."""
    if not rows:
        return []
    with engine.connect() as conn, conn.begin() as transaction:
        statement = upsert(requests).values([{**row, "status": RequestStatus.PENDING} for row in rows])
        statement = statement.on_conflict_do_nothing(index_elements=[requests.c.request_key])
        inserted = set(conn.execute(statement.returning(requests.c.request_key)).scalars())
        taken = [row["request_key"] for row in rows if row["request_key"] not in inserted]
        if taken:
            transaction.rollback()
    return taken


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
            id=int(row.id),
            request_key=row.request_key,
            title=row.title,
            priority=int(row.priority),
            payload=dict(row.payload or {}),
            submitted_by=row.submitted_by,
            notify_emails=list(row.notify_emails),
            scheduled_for=when,
        )


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
            .where(requests.c.batch_run_id == batch_run_id, requests.c.status == RequestStatus.CLAIMED)
            .order_by(requests.c.priority.desc(), requests.c.created_at, requests.c.id)
        ).all()
        if held:
            return [Claimed.of(row) for row in held]
        picked = (
            select(requests.c.id)
            .where(
                requests.c.status == RequestStatus.PENDING,
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
            .values(
                status=RequestStatus.CLAIMED, batch_run_id=batch_run_id, claimed_at=func.now(), updated_at=func.now()
            )
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
            .where(requests.c.status == RequestStatus.CLAIMED, requests.c.claimed_at < func.now() - older_than)
            .with_for_update(skip_locked=True)
        ).all()
        gone = [row for row in stale if not (row.batch_run_id and run_is_active(row.batch_run_id))]
        if gone:
            conn.execute(
                update(requests)
                .where(requests.c.id.in_([row.id for row in gone]))
                .values(status=RequestStatus.PENDING, batch_run_id=None, claimed_at=None, updated_at=func.now())
            )
    return [row.request_key for row in gone]


def mark_checked(
    engine: Engine, *, batch_run_id: str, rejected: dict[int, list[dict[str, str]]], queued: dict[int, str]
) -> None:
    """Rejected rows get their reasons; valid rows become ``queued`` with the run that will make them. Only rows
    this batch still holds change (a repeat changes nothing)."""
    with engine.begin() as conn:
        for row_id, reasons in rejected.items():
            conn.execute(
                update(requests)
                .where(
                    requests.c.id == row_id,
                    requests.c.batch_run_id == batch_run_id,
                    requests.c.status == RequestStatus.CLAIMED,
                )
                .values(status=RequestStatus.REJECTED, reject_reasons=reasons, updated_at=func.now())
            )
        for row_id, run_id in queued.items():
            conn.execute(
                update(requests)
                .where(
                    requests.c.id == row_id,
                    requests.c.batch_run_id == batch_run_id,
                    requests.c.status == RequestStatus.CLAIMED,
                )
                .values(status=RequestStatus.QUEUED, dag_run_id=run_id, reject_reasons=[], updated_at=func.now())
            )


def stored_keys(conn: Any, project_id: int) -> set[str]:
    """Every storage key a project's rows point at."""
    keys: set[str] = set()
    for table in (media_assets, audio_assets):
        query = select(table.c.storage_key).join(scenes, scenes.c.id == table.c.scene_id)
        keys |= set(conn.execute(query.where(scenes.c.project_id == project_id)).scalars())
    renders = conn.execute(
        select(rendered_videos.c.video_key, rendered_videos.c.subtitles_key, rendered_videos.c.thumbnail_key).where(
            rendered_videos.c.project_id == project_id
        )
    )
    for video, subtitles, thumbnail in renders:
        keys |= {key for key in (video, subtitles, thumbnail) if key}
        if subtitles:
            keys.add(webvtt_key(subtitles))  # written beside the SRT, in no column of its own
    return keys


def delete_request(engine: Engine, request_key: str, *, actor: str) -> dict[str, Any] | None:
    """Delete a project and its request in one transaction, with an audit line; returns the title, the files only
    it used (``files_removed``: the caller deletes them once this has committed) and those other projects share,
    or None when there is no such project. The provider-call ledger stays (its project becomes null).
    """
    with engine.begin() as conn:
        row = (
            conn.execute(
                select(projects.c.id, projects.c.title, requests.c.id.label("request_id"))
                .join(requests)
                .where(requests.c.request_key == request_key)
                .with_for_update(of=requests)
            )
            .mappings()
            .one_or_none()
        )
        if row is None:
            return None
        mine = stored_keys(conn, row["id"])
        shared: set[str] = set()
        if mine:
            for table in (media_assets, audio_assets):
                shared |= set(
                    conn.execute(
                        select(table.c.storage_key)
                        .join(scenes, scenes.c.id == table.c.scene_id)
                        .where(and_(scenes.c.project_id != row["id"], table.c.storage_key.in_(sorted(mine))))
                    ).scalars()
                )
        removed = sorted(mine - shared)
        conn.execute(requests.delete().where(requests.c.id == row["request_id"]))  # cascades to the project's rows
        conn.execute(
            insert(audit_log).values(
                actor=actor,
                action="delete",
                request_key=request_key,
                detail={"title": row["title"], "files_removed": len(removed), "files_kept_shared": len(shared)},
            )
        )
    return {"request_key": request_key, "title": row["title"], "files_removed": removed, "files_kept": sorted(shared)}


def requeue(engine: Engine, request_key: str, *, actor: str) -> bool:
    """Send a request back to the nightly batch (``pending``, due at the next batch; a finished video is re-rendered);
    False when there is no such request or a run of it is under way."""
    completed = select(projects.c.id).where(
        projects.c.request_id == requests.c.id, projects.c.status == ProjectStatus.COMPLETED
    )
    with engine.begin() as conn:
        updated = conn.execute(
            requests.update()
            .where(
                requests.c.request_key == request_key,
                requests.c.status.not_in((RequestStatus.CLAIMED, RequestStatus.QUEUED, RequestStatus.RUNNING)),
            )
            .values(
                status=RequestStatus.PENDING,
                scheduled_for=None,
                batch_run_id=None,
                claimed_at=None,
                reject_reasons=[],
                # a finished video is made again only when asked to: the batch's run then re-renders it
                payload=case(
                    (completed.exists(), requests.c.payload.concat({"rerender": True})), else_=requests.c.payload
                ),
                updated_at=func.now(),
            )
            .returning(requests.c.id)
        ).first()
        if updated is None:
            return False
        conn.execute(insert(audit_log).values(actor=actor, action="requeue", request_key=request_key, detail={}))
    return True
