"""Which destinations a finished version goes to: its request's channel's.

When the production DAG publishes a version, ``queue_publications`` writes a pending row for each destination in
the same transaction (an outbox): a version whose asset event no publishing run took (Airflow 3.3 can fold two
quick events into one run and leave the later one for the next event, apache/airflow#54659) is found by
``unsent_versions`` at the publishing DAG's next periodic run. Nothing published is left unsent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects.postgresql import insert

from pipeline.channels import BrandKit, WebhookDestination
from pipeline.db.schema import channels, projects, publications, requests
from pipeline.publish.store import idempotency_key


def _channels_of(conn: Connection, project_ids: set[int]) -> list[Any]:
    return list(
        conn.execute(
            select(projects.c.id, channels.c.name, channels.c.kit, requests.c.notify_emails)
            .join(requests, requests.c.id == projects.c.request_id)
            .join(channels, channels.c.name == requests.c.payload["channel"].astext)
            .where(projects.c.id.in_(project_ids))
        ).all()
    )


def publication_targets(engine: Engine, versions: Iterable[tuple[int, str]]) -> list[dict[str, Any]]:
    """(project, language) versions as one entry per destination of their channel; none without a channel or
    destinations (the video stays in storage, as before)."""
    wanted = list(dict.fromkeys(versions))
    if not wanted:
        return []
    with engine.connect() as conn:
        rows = _channels_of(conn, {project for project, _ in wanted})
    kits = {project: BrandKit.model_validate(kit) for project, _, kit, _ in rows}
    names = {project: name for project, name, _, _ in rows}
    recipients = {project: list(emails or []) for project, _, _, emails in rows}
    return [
        {
            "project_id": project,
            "language": language,
            "channel": names[project],
            "destination": destination.name,
            "kind": destination.kind,
            "url": destination.url if isinstance(destination, WebhookDestination) else None,
            "connection": destination.connection,
            "settings": destination.model_dump(mode="json"),
            "notify_emails": recipients[project],
        }
        for project, language in wanted
        if project in kits
        for destination in kits[project].destinations or ()
    ]


def queue_publications(conn: Connection, project_id: int, language: str) -> int:
    """A pending row for each destination of the version's channel (inside the caller's transaction); rows that
    exist stay as they are. Returns how many destinations the channel has."""
    rows = _channels_of(conn, {project_id})
    destinations = [d for _, _, kit, _ in rows for d in BrandKit.model_validate(kit).destinations or ()]
    for destination in destinations:
        conn.execute(
            insert(publications)
            .values(
                project_id=project_id,
                language=language,
                destination=destination.name,
                kind=destination.kind,
                idempotency_key=idempotency_key(project_id, language, destination.name),
            )
            .on_conflict_do_nothing()
        )
    return len(destinations)


def unsent_versions(engine: Engine, *, grace: dt.timedelta = dt.timedelta(minutes=2)) -> list[tuple[int, str]]:
    """Versions with a destination no send has tried yet, queued longer than ``grace`` ago (the run their own
    asset event starts has had its chance)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(publications.c.project_id, publications.c.language)
            .where(
                publications.c.attempts == 0,
                publications.c.status == "pending",
                publications.c.created_at < func.now() - grace,
            )
            .distinct()
            .order_by(publications.c.project_id, publications.c.language)
        ).all()
    return [(int(project), str(language)) for project, language in rows]
