"""Which destinations a finished version goes to: its request's channel's."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, select

from pipeline.channels import BrandKit
from pipeline.db.schema import channels, projects, requests


def publication_targets(engine: Engine, versions: Iterable[tuple[int, str]]) -> list[dict[str, Any]]:
    """(project, language) versions as one entry per destination of their channel; none without a channel or
    destinations (the video stays in storage, as before)."""
    wanted = list(dict.fromkeys(versions))
    if not wanted:
        return []
    with engine.connect() as conn:
        rows = conn.execute(
            select(projects.c.id, channels.c.kit, requests.c.notify_emails)
            .join(requests, requests.c.id == projects.c.request_id)
            .join(channels, channels.c.name == requests.c.payload["channel"].astext)
            .where(projects.c.id.in_({project for project, _ in wanted}))
        ).all()
    kits = {project: BrandKit.model_validate(kit) for project, kit, _ in rows}
    recipients = {project: list(emails or []) for project, _, emails in rows}
    return [
        {
            "project_id": project,
            "language": language,
            "destination": destination.name,
            "kind": destination.kind,
            "url": destination.url,
            "connection": destination.connection,
            "notify_emails": recipients[project],
        }
        for project, language in wanted
        if project in kits
        for destination in kits[project].destinations or ()
    ]
