"""Publishing: a finished video version sent to each destination of its channel, exactly once.

``store`` keeps one row per (video, language, destination) with its status; ``webhook`` sends a signed JSON POST
to a team's own CMS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.errors import ProviderError
from pipeline.publish.store import Publication, open_publication, sending, set_status
from pipeline.publish.webhook import VideoMetadata, deliver

if TYPE_CHECKING:
    import httpx
    from sqlalchemy import Engine


def publish_webhook(
    engine: Engine,
    *,
    project_id: int,
    language: str,
    destination: str,
    url: str,
    secret: bytes,
    video: VideoMetadata,
    client: httpx.Client | None = None,
) -> Publication:
    """Send ``video`` to the webhook ``destination`` once: a publication already live sends nothing; every try
    carries the same idempotency key; the row says pending (to be retried), live, or failed with the reason."""
    publication = open_publication(
        engine, project_id=project_id, language=language, destination=destination, kind="webhook"
    )
    if publication.done:
        return publication
    key = publication.idempotency_key
    with sending(engine, key) as mine:
        if not mine:
            return publication  # another task is sending it
        set_status(engine, key, "uploading")
        try:
            theirs = deliver(url, secret, video, idempotency_key=key, client=client)
        except ProviderError as exc:
            set_status(engine, key, "pending" if exc.retryable else "failed", error=exc.message)
            raise
        return set_status(engine, key, "live", external_id=theirs)
