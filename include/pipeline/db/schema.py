"""The project's tables (schema ``video``), as the repository queries them.

Changes go through a new Alembic migration in ``migrations/versions``; this module mirrors the latest one.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from pipeline.constants import ProjectStatus, RequestStatus

SCHEMA = "video"
STATUSES = tuple(s.value for s in ProjectStatus)  # of a project
# of a request in the queue: pending -> claimed (by a batch) -> queued (its run triggered) -> running -> completed,
# failed, rejected (by the batch's checks) or cancelled
REQUEST_STATUSES = tuple(s.value for s in RequestStatus)
OUTCOMES = ("ok", "cached", "error_retryable", "error_final")

metadata = MetaData(schema=SCHEMA)


def _created() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


requests = Table(
    "requests",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("request_key", Text, nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("script", Text, nullable=False, server_default=""),
    Column("topic", Text, nullable=False, server_default=""),
    Column("voice", Text, nullable=False),
    Column("aspect", Text, nullable=False),
    Column("resolution", Integer, nullable=False),
    Column("notify_emails", JSONB, nullable=False, server_default="[]"),
    Column("status", Text, nullable=False, server_default=RequestStatus.PENDING.value),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("payload", JSONB, nullable=False, server_default="{}"),  # the flat conf, as the model accepted it
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("scheduled_for", DateTime(timezone=True)),  # null: the next batch
    Column("batch_run_id", Text),
    Column("dag_run_id", Text),
    Column("reject_reasons", JSONB, nullable=False, server_default="[]"),  # [{"field": ..., "message": ...}]
    Column("submitted_by", Text),
    Column("claimed_at", DateTime(timezone=True)),
    CheckConstraint(f"status IN {REQUEST_STATUSES}", name="requests_status_valid"),
    CheckConstraint("priority BETWEEN 0 AND 100", name="requests_priority_range"),
)

projects = Table(
    "projects",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("request_id", BigInteger, ForeignKey("requests.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("error", Text),
    Column("failed_task", Text),
    Column("dag_run_id", Text),  # the run that makes (or made) the video: the only one that writes its results
    Column("render_attempts", JSONB, nullable=False, server_default="{}"),  # per version: language -> attempt
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("completed_at", DateTime(timezone=True)),
    CheckConstraint(f"status IN {STATUSES}", name="projects_status_valid"),
)

scripts = Table(
    "scripts",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("project_id", BigInteger, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("source", Text, nullable=False),
    Column("body", Text, nullable=False),
    _created(),
)

scenes = Table(
    "scenes",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("project_id", BigInteger, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("scene_index", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("keywords", JSONB, nullable=False),
    Column("visual_prompt", Text, nullable=False),
    _created(),
    UniqueConstraint("project_id", "scene_index", name="scenes_one_per_index"),
    CheckConstraint("scene_index >= 0", name="scenes_index_positive"),
)

media_assets = Table(
    "media_assets",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("scene_id", BigInteger, ForeignKey("scenes.id", ondelete="CASCADE"), nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("storage_key", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    _created(),
    Column("credit", Text),  # who made it and where it came from (stock: "Video by NAME on Pexels: URL")
    Column("licence", Text),
    UniqueConstraint("scene_id", "content_hash", name="media_assets_one_per_hash"),
)

audio_assets = Table(
    "audio_assets",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("scene_id", BigInteger, ForeignKey("scenes.id", ondelete="CASCADE"), nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("storage_key", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("voice", Text, nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("word_timings", JSONB, nullable=False),
    Column("timings_estimated", Boolean, nullable=False),
    _created(),
    Column("language", Text, nullable=False, server_default=""),  # the version's ("": the script's own)
    UniqueConstraint("scene_id", "language", name="audio_assets_one_per_language"),
)

rendered_videos = Table(
    "rendered_videos",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("project_id", BigInteger, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("dag_run_id", Text, nullable=False),
    Column("video_key", Text, nullable=False),
    Column("subtitles_key", Text, nullable=False),
    Column("thumbnail_key", Text),
    Column("video_url", Text, nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("published", Boolean, nullable=False, server_default="false"),
    Column("attempt", Integer, nullable=False, server_default="1"),
    _created(),
    Column("published_at", DateTime(timezone=True)),
    Column("language", Text, nullable=False, server_default=""),  # the version's ("": the script's own)
    UniqueConstraint("project_id", "dag_run_id", "language", name="rendered_videos_one_per_run"),
)

provider_calls = Table(
    "provider_calls",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("project_id", BigInteger, ForeignKey("projects.id", ondelete="SET NULL")),
    Column("scene_index", Integer),
    Column("dag_run_id", Text),
    Column("provider", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("operation", Text, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("units", Float, nullable=False),
    Column("unit_kind", Text, nullable=False),
    Column("cached", Boolean, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("outcome", Text, nullable=False),
    _created(),
    CheckConstraint(f"outcome IN {OUTCOMES}", name="provider_calls_outcome_valid"),
    CheckConstraint("cached = (outcome = 'cached')", name="provider_calls_cached_outcome"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("request_key", Text, nullable=False),
    Column("dag_run_id", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    _created(),
    UniqueConstraint("fingerprint", name="notifications_once"),
    CheckConstraint("outcome IN ('success', 'failure')", name="notifications_outcome_valid"),
)

audit_log = Table(  # who did what to a video from the Videos page (deleted it, sent it back to the batch)
    "audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("request_key", Text, nullable=False),
    Column("detail", JSONB, nullable=False, server_default="{}"),
)

music_tracks = Table(  # the music library: tracks a request may name (storage key music/<name>), with their licence
    "music_tracks",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("storage_key", Text, nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("licence", Text, nullable=False, server_default=""),
    Column("added_by", Text, nullable=False),
    _created(),
    Column("mood", Text),  # a request or channel may pick the track by it
)

library_items = Table(  # the team's media library: tagged images and clips scenes are matched to
    "library_items",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("storage_key", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("tags", JSONB, nullable=False),
    Column("licence", Text, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("duration_s", Float),
    Column("size_bytes", BigInteger, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("added_by", Text, nullable=False),
    _created(),
    CheckConstraint("kind IN ('image', 'video')", name="library_items_kind_valid"),
)

channels = Table(  # brand kits a request names (pipeline.channels.BrandKit as JSON)
    "channels",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("kit", JSONB, nullable=False),
    Column("updated_by", Text, nullable=False),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

PUBLICATION_STATUSES = ("pending", "uploading", "scheduled", "live", "failed")

publications = Table(  # one video version sent to one destination of its channel (pipeline.publish)
    "publications",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("project_id", BigInteger, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("language", Text, nullable=False, server_default=""),
    Column("destination", Text, nullable=False),  # its name in the channel's kit
    Column("kind", Text, nullable=False),  # webhook, youtube
    Column("status", Text, nullable=False, server_default="pending"),
    Column("idempotency_key", Text, nullable=False, unique=True),
    Column("external_id", Text),  # what the destination calls it (a YouTube video id, the CMS's id)
    Column("session_uri", Text),  # a resumable upload's session, stored before any byte is sent
    Column("sent_bytes", BigInteger, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("upload_sha256", Text),  # the file the stored session uploads (a changed file starts a new session)
    UniqueConstraint("project_id", "language", "destination", name="publications_one_per_destination"),
    CheckConstraint(f"status IN {PUBLICATION_STATUSES}", name="publications_status_valid"),
)

quota_uses = Table(  # API units a channel's publications reserved per quota day (YouTube's: midnight Pacific)
    "quota_uses",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("account", Text, nullable=False),  # the channel
    Column("quota_day", Date, nullable=False),
    Column("publication_key", Text, nullable=False),  # a publication's idempotency key; "" for a day found full
    Column("units", Integer, nullable=False),
    _created(),
    UniqueConstraint("account", "quota_day", "publication_key", name="quota_uses_once_a_day"),
)
