"""Initial schema: requests, projects, scripts, scenes, assets, rendered videos, provider-calls ledger.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
S = "video"
STATUS_CHECK = "status IN ('pending', 'processing', 'completed', 'failed')"


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger, primary_key=True)


def _created() -> sa.Column:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _fk(
    name: str, target: str, *, nullable: bool = False, ondelete: str = "CASCADE", unique: bool = False
) -> sa.Column:
    return sa.Column(
        name,
        sa.BigInteger,
        sa.ForeignKey(f"{S}.{target}.id", ondelete=ondelete),
        nullable=nullable,
        unique=unique,
    )


def upgrade() -> None:
    op.create_table(
        "requests",
        _id(),
        sa.Column("request_key", sa.Text, nullable=False, unique=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("script", sa.Text, nullable=False, server_default=""),
        sa.Column("topic", sa.Text, nullable=False, server_default=""),
        sa.Column("voice", sa.Text, nullable=False),
        sa.Column("aspect", sa.Text, nullable=False),
        sa.Column("resolution", sa.Integer, nullable=False),
        sa.Column("notify_emails", JSONB, nullable=False, server_default="[]"),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        _created(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint(STATUS_CHECK, name="requests_status_valid"),
        schema=S,
    )
    op.create_index("requests_pending", "requests", ["created_at"], schema=S, postgresql_where="status = 'pending'")
    op.create_table(
        "projects",
        _id(),
        _fk("request_id", "requests", unique=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("failed_task", sa.Text),
        sa.Column("dag_run_id", sa.Text),
        _created(),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(STATUS_CHECK, name="projects_status_valid"),
        schema=S,
    )
    op.create_table(
        "scripts",
        _id(),
        _fk("project_id", "projects", unique=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        _created(),
        schema=S,
    )
    op.create_table(
        "scenes",
        _id(),
        _fk("project_id", "projects"),
        sa.Column("scene_index", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("keywords", JSONB, nullable=False),
        sa.Column("visual_prompt", sa.Text, nullable=False),
        _created(),
        sa.UniqueConstraint("project_id", "scene_index", name="scenes_one_per_index"),
        sa.CheckConstraint("scene_index >= 0", name="scenes_index_positive"),
        schema=S,
    )
    op.create_table(
        "media_assets",
        _id(),
        _fk("scene_id", "scenes"),
        sa.Column("content_hash", sa.Text, nullable=False),
        sa.Column("storage_key", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        _created(),
        sa.UniqueConstraint("scene_id", "content_hash", name="media_assets_one_per_hash"),
        schema=S,
    )
    op.create_table(
        "audio_assets",
        _id(),
        _fk("scene_id", "scenes", unique=True),
        sa.Column("content_hash", sa.Text, nullable=False),
        sa.Column("storage_key", sa.Text, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("voice", sa.Text, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("word_timings", JSONB, nullable=False),
        sa.Column("timings_estimated", sa.Boolean, nullable=False),
        _created(),
        schema=S,
    )
    op.create_table(
        "rendered_videos",
        _id(),
        _fk("project_id", "projects"),
        sa.Column("dag_run_id", sa.Text, nullable=False),
        sa.Column("video_key", sa.Text, nullable=False),
        sa.Column("subtitles_key", sa.Text, nullable=False),
        sa.Column("video_url", sa.Text, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("published", sa.Boolean, nullable=False, server_default=sa.false()),
        _created(),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("project_id", "dag_run_id", name="rendered_videos_one_per_run"),
        schema=S,
    )
    op.create_table(
        "provider_calls",
        _id(),
        _fk("project_id", "projects", nullable=True, ondelete="SET NULL"),
        sa.Column("scene_index", sa.Integer),
        sa.Column("dag_run_id", sa.Text),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("operation", sa.Text, nullable=False),
        sa.Column("content_hash", sa.Text, nullable=False),
        sa.Column("units", sa.Float, nullable=False),
        sa.Column("unit_kind", sa.Text, nullable=False),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        _created(),
        schema=S,
    )
    op.create_index("provider_calls_by_hash", "provider_calls", ["content_hash"], schema=S)
    op.create_index("provider_calls_by_project", "provider_calls", ["project_id"], schema=S)


def downgrade() -> None:
    for table in (
        "provider_calls",
        "rendered_videos",
        "audio_assets",
        "media_assets",
        "scenes",
        "scripts",
        "projects",
        "requests",
    ):
        op.drop_table(table, schema=S)
