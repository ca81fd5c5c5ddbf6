"""The Airflow connections the video factory reads (a module of names only: cheap to import at DAG parse)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.config import Settings

VIDEO_DB_CONN_ID = "video_db"
AWS_CONN_ID = "aws_default"
GEMINI_CONN_ID = "gemini_default"
STABILITY_CONN_ID = "stability_default"
SMTP_CONN_ID = "smtp_default"


def required_connections(settings: Settings) -> set[str]:
    """The connections a deployment with these settings must define (a missing one fails the first task that
    reads it): the project's database, and each configured provider's."""
    needed = {VIDEO_DB_CONN_ID}
    providers = settings.providers
    if providers.script_provider == "gemini":
        needed.add(GEMINI_CONN_ID)
    if providers.image_provider == "stability":
        needed.add(STABILITY_CONN_ID)
    if (
        providers.voice_provider == "polly"
        or settings.storage.storage_backend == "s3"
        or settings.email.email_backend == "ses"
    ):
        needed.add(AWS_CONN_ID)
    if settings.email.email_backend == "smtp":
        needed.add(SMTP_CONN_ID)
    if settings.kubernetes.render_backend == "kubernetes":
        needed.add(settings.kubernetes.k8s_conn_id)
    return needed
