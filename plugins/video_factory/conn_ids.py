"""The Airflow connections the video factory reads (a module of names only: cheap to import at DAG parse)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.constants import ConnId, ImageProviderId, MediaSourceId, ScriptSource, VoiceProviderId

if TYPE_CHECKING:
    from pipeline.config import Settings

VIDEO_DB_CONN_ID = ConnId.VIDEO_DB.value
AWS_CONN_ID = ConnId.AWS.value
GEMINI_CONN_ID = ConnId.GEMINI.value
STABILITY_CONN_ID = ConnId.STABILITY.value
PEXELS_CONN_ID = ConnId.PEXELS.value
SMTP_CONN_ID = ConnId.SMTP.value


def required_connections(settings: Settings) -> set[str]:
    """The connections a deployment with these settings must define (a missing one fails the first task that
    reads it): the project's database, and each configured provider's."""
    needed = {VIDEO_DB_CONN_ID}
    providers = settings.providers
    if providers.script_provider == ScriptSource.GEMINI:
        needed.add(GEMINI_CONN_ID)
    if providers.image_provider == ImageProviderId.STABILITY:
        needed.add(STABILITY_CONN_ID)
    if MediaSourceId.PEXELS in providers.default_media_sources:
        needed.add(PEXELS_CONN_ID)
    if (
        providers.voice_provider == VoiceProviderId.POLLY
        or settings.storage.storage_backend == "s3"
        or settings.email.email_backend == "ses"
    ):
        needed.add(AWS_CONN_ID)
    if settings.email.email_backend == "smtp":
        needed.add(SMTP_CONN_ID)
    if settings.kubernetes.render_backend == "kubernetes":
        needed.add(settings.kubernetes.k8s_conn_id)
    return needed
