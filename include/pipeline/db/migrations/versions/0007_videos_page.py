"""The Videos page: indexes for its list (newest first, by status), for finding which other project shares a
content-addressed file, and the audit log of what people did to videos (deleted, sent back to the batch); and the
script review: a project may wait in `review` and end `rejected`.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
S = "video"
NEW = "status IN ('pending', 'processing', 'review', 'completed', 'failed', 'rejected')"
OLD = "status IN ('pending', 'processing', 'completed', 'failed')"


def upgrade() -> None:
    op.drop_constraint("projects_status_valid", "projects", schema=S)
    op.create_check_constraint("projects_status_valid", "projects", NEW, schema=S)
    op.create_index("projects_newest", "projects", [sa.text("created_at DESC"), sa.text("id DESC")], schema=S)
    op.create_index("projects_by_status", "projects", ["status", sa.text("created_at DESC")], schema=S)
    op.create_index("media_assets_by_key", "media_assets", ["storage_key"], schema=S)
    op.create_index("audio_assets_by_key", "audio_assets", ["storage_key"], schema=S)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("request_key", sa.Text, nullable=False),
        sa.Column("detail", JSONB, nullable=False, server_default="{}"),
        schema=S,
    )
    op.create_index("audit_log_by_request", "audit_log", ["request_key"], schema=S)


def downgrade() -> None:
    op.execute(f"UPDATE {S}.projects SET status = 'failed' WHERE status IN ('review', 'rejected')")
    op.drop_constraint("projects_status_valid", "projects", schema=S)
    op.create_check_constraint("projects_status_valid", "projects", OLD, schema=S)
    op.drop_index("audit_log_by_request", table_name="audit_log", schema=S)
    op.drop_table("audit_log", schema=S)
    for name, table in (
        ("audio_assets_by_key", "audio_assets"),
        ("media_assets_by_key", "media_assets"),
        ("projects_by_status", "projects"),
        ("projects_newest", "projects"),
    ):
        op.drop_index(name, table_name=table, schema=S)
