"""Emails sent, one row each: the same outcome of a run (e.g. a cleared task failing again alike) mails once.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("request_key", sa.Text, nullable=False),
        sa.Column("dag_run_id", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("fingerprint", name="notifications_once"),
        sa.CheckConstraint("outcome IN ('success', 'failure')", name="notifications_outcome_valid"),
        schema="video",
    )


def downgrade() -> None:
    op.drop_table("notifications", schema="video")
