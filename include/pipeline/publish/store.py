"""The publications table: one row per video version and destination, created once, its status moved forward."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from pipeline.db.schema import publications, quota_uses

Status = Literal["pending", "uploading", "scheduled", "live", "failed"]
DONE: frozenset[str] = frozenset({"scheduled", "live"})  # nothing more to send


@dataclass(frozen=True)
class Publication:
    id: int
    project_id: int
    language: str
    destination: str
    kind: str
    status: str
    idempotency_key: str
    external_id: str | None
    attempts: int
    error: str | None
    session_uri: str | None = None
    sent_bytes: int = 0
    upload_sha256: str | None = None

    @property
    def done(self) -> bool:
        return self.status in DONE


def idempotency_key(project_id: int, language: str, destination: str) -> str:
    """The same for every try of one video version to one destination, different for any other."""
    return hashlib.sha256(f"{project_id}\0{language}\0{destination}".encode()).hexdigest()[:32]


def open_publication(engine: Engine, *, project_id: int, language: str, destination: str, kind: str) -> Publication:
    """The publication of this version to ``destination``, created pending the first time; each call to one not
    yet done counts a try."""
    key = idempotency_key(project_id, language, destination)
    with engine.begin() as conn:
        conn.execute(
            insert(publications)
            .values(project_id=project_id, language=language, destination=destination, kind=kind, idempotency_key=key)
            .on_conflict_do_nothing(constraint="publications_one_per_destination")
        )
        conn.execute(
            update(publications)
            .where(publications.c.idempotency_key == key, publications.c.status.notin_(tuple(DONE)))
            .values(attempts=publications.c.attempts + 1, updated_at=func.now())
        )
        row = conn.execute(select(publications).where(publications.c.idempotency_key == key)).mappings().one()
    return _publication(row)


def set_status(
    engine: Engine, key: str, status: Status, *, external_id: str | None = None, error: str | None = None
) -> Publication:
    """Move a publication to ``status`` (a finished one stays finished: a late try cannot undo it)."""
    values: dict[str, object] = {"status": status, "error": error, "updated_at": func.now()}
    if external_id is not None:
        values["external_id"] = external_id
    with engine.begin() as conn:
        conn.execute(
            update(publications)
            .where(publications.c.idempotency_key == key, publications.c.status.notin_(tuple(DONE)))
            .values(**values)
        )
        row = conn.execute(select(publications).where(publications.c.idempotency_key == key)).mappings().one()
    return _publication(row)


@contextmanager
def sending(engine: Engine, key: str) -> Iterator[bool]:
    """Whether this task may send publication ``key`` now: False while another task is sending it (a periodic
    run and an event's run may both name a version). The claim is a PostgreSQL advisory lock held until the end
    of the block, released if the process dies."""
    with engine.connect() as conn:
        mine = bool(conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": f"publish:{key}"}).scalar())
        try:
            yield mine
        finally:
            if mine:
                conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": f"publish:{key}"})
            conn.rollback()


def record_session(engine: Engine, key: str, session_uri: str, sha256: str) -> None:
    """A resumable upload's new session (and the checksum of the file it uploads), before its first byte."""
    with engine.begin() as conn:
        conn.execute(
            update(publications)
            .where(publications.c.idempotency_key == key)
            .values(session_uri=session_uri, upload_sha256=sha256, sent_bytes=0, updated_at=func.now())
        )


def record_progress(engine: Engine, key: str, sent_bytes: int, *, external_id: str | None = None) -> None:
    """The bytes the destination has confirmed (and, once complete, its id for the video)."""
    values: dict[str, object] = {"sent_bytes": sent_bytes, "updated_at": func.now()}
    if external_id is not None:
        values["external_id"] = external_id
    with engine.begin() as conn:
        conn.execute(update(publications).where(publications.c.idempotency_key == key).values(**values))


def reserve_quota(engine: Engine, *, account: str, day: dt.date, key: str, units: int, limit: int) -> bool:
    """Reserve ``units`` of ``account``'s quota ``day`` for publication ``key``; False when they no longer fit.
    A publication reserves once a day (a retry the same day reuses its reservation)."""
    with engine.begin() as conn:
        _lock_day(conn, account, day)
        mine = conn.execute(
            select(quota_uses.c.id).where(
                quota_uses.c.account == account, quota_uses.c.quota_day == day, quota_uses.c.publication_key == key
            )
        ).first()
        if mine is not None:
            return True
        if _used(conn, account, day) + units > limit:
            return False
        conn.execute(insert(quota_uses).values(account=account, quota_day=day, publication_key=key, units=units))
    return True


def fill_quota(engine: Engine, *, account: str, day: dt.date, key: str, limit: int) -> None:
    """The destination said the day's quota is spent: count ``account``'s day as full (this publication's units
    given back, so it reserves again on the next day)."""
    with engine.begin() as conn:
        _lock_day(conn, account, day)
        conn.execute(
            quota_uses.delete().where(
                quota_uses.c.account == account, quota_uses.c.quota_day == day, quota_uses.c.publication_key == key
            )
        )
        used = _used(conn, account, day)
        if used < limit:
            conn.execute(
                insert(quota_uses)
                .values(account=account, quota_day=day, publication_key="", units=limit - used)
                .on_conflict_do_update(
                    constraint="quota_uses_once_a_day", set_={"units": quota_uses.c.units + (limit - used)}
                )
            )


def quota_used(engine: Engine, *, account: str, day: dt.date) -> int:
    with engine.connect() as conn:
        return _used(conn, account, day)


def _lock_day(conn: Connection, account: str, day: dt.date) -> None:
    """One writer of ``account``'s quota day at a time (until the transaction ends)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:lock))"), {"lock": f"quota:{account}:{day}"})


def _used(conn: Connection, account: str, day: dt.date) -> int:
    return int(
        conn.execute(
            select(func.coalesce(func.sum(quota_uses.c.units), 0)).where(
                quota_uses.c.account == account, quota_uses.c.quota_day == day
            )
        ).scalar_one()
    )


def publications_of(engine: Engine, project_id: int) -> list[Publication]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(publications)
            .where(publications.c.project_id == project_id)
            .order_by(publications.c.language, publications.c.destination)
        ).mappings()
        return [_publication(row) for row in rows]


def _publication(row: object) -> Publication:
    return Publication(**{name: row[name] for name in Publication.__dataclass_fields__})  # type: ignore[index]
