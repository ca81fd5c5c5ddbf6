"""The publications table: one row per video version and destination, created once, its status moved forward."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert

from pipeline.db.schema import publications

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

    @property
    def done(self) -> bool:
        return self.status in DONE


def idempotency_key(project_id: int, language: str, destination: str) -> str:
    """The same for every try of one video version to one destination, different for any other."""
    return hashlib.sha256(f"{project_id}\0{language}\0{destination}".encode()).hexdigest()[:32]


def open_publication(engine: Engine, *, project_id: int, language: str, destination: str, kind: str) -> Publication:
    """The publication of this version to ``destination``, created pending the first time; each call counts a try."""
    key = idempotency_key(project_id, language, destination)
    with engine.begin() as conn:
        conn.execute(
            insert(publications)
            .values(project_id=project_id, language=language, destination=destination, kind=kind, idempotency_key=key)
            .on_conflict_do_nothing(constraint="publications_one_per_destination")
        )
        row = (
            conn.execute(
                update(publications)
                .where(publications.c.idempotency_key == key)
                .values(attempts=publications.c.attempts + 1, updated_at=func.now())
                .returning(*publications.c)
            )
            .mappings()
            .one()
        )
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
