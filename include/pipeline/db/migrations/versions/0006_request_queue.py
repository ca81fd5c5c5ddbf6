"""The request table becomes the queue content ops fill: the whole request (validated by the model) as JSONB,
what ops sort and filter on as columns, and a status from ``pending`` to ``completed``/``failed``/``rejected``/
``cancelled``. Existing rows keep their data: ``processing`` becomes ``running`` and their payload is built from
their columns.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
S = "video"
NEW = "status IN ('pending', 'claimed', 'queued', 'running', 'completed', 'failed', 'rejected', 'cancelled')"
OLD = "status IN ('pending', 'processing', 'completed', 'failed')"


def upgrade() -> None:
    for column in (
        sa.Column("payload", JSONB, nullable=False, server_default="{}"),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("scheduled_for", sa.DateTime(timezone=True)),
        sa.Column("batch_run_id", sa.Text),
        sa.Column("dag_run_id", sa.Text),
        sa.Column("reject_reasons", JSONB, nullable=False, server_default="[]"),
        sa.Column("submitted_by", sa.Text),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
    ):
        op.add_column("requests", column, schema=S)
    op.drop_constraint("requests_status_valid", "requests", schema=S)
    op.execute(f"UPDATE {S}.requests SET status = 'running' WHERE status = 'processing'")
    op.execute(
        f"""UPDATE {S}.requests SET payload = jsonb_strip_nulls(jsonb_build_object(
            'request_id', request_key, 'title', title, 'script', NULLIF(script, ''), 'topic', NULLIF(topic, ''),
            'voice', voice, 'aspect', aspect, 'resolution', resolution,
            'notify_emails', CASE WHEN notify_emails = '[]'::jsonb THEN NULL ELSE notify_emails END))"""
    )
    op.create_check_constraint("requests_status_valid", "requests", NEW, schema=S)
    op.create_check_constraint("requests_priority_range", "requests", "priority BETWEEN 0 AND 100", schema=S)
    op.drop_index("requests_pending", table_name="requests", schema=S)
    op.create_index(
        "requests_due",
        "requests",
        [sa.text("priority DESC"), "created_at"],
        schema=S,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("requests_by_batch", "requests", ["batch_run_id"], schema=S)


def downgrade() -> None:
    op.drop_index("requests_by_batch", table_name="requests", schema=S)
    op.drop_index("requests_due", table_name="requests", schema=S)
    op.create_index(
        "requests_pending", "requests", ["created_at"], schema=S, postgresql_where=sa.text("status = 'pending'")
    )
    op.drop_constraint("requests_priority_range", "requests", schema=S)
    op.drop_constraint("requests_status_valid", "requests", schema=S)
    op.execute(f"UPDATE {S}.requests SET status = 'processing' WHERE status IN ('claimed', 'queued', 'running')")
    op.execute(f"UPDATE {S}.requests SET status = 'failed' WHERE status IN ('rejected', 'cancelled')")
    op.create_check_constraint("requests_status_valid", "requests", OLD, schema=S)
    for name in (
        "claimed_at",
        "submitted_by",
        "reject_reasons",
        "dag_run_id",
        "batch_run_id",
        "scheduled_for",
        "priority",
        "payload",
    ):
        op.drop_column("requests", name, schema=S)
