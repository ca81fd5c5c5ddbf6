"""Publications: each video version sent to each destination of its channel, with its status.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
S = "video"


def upgrade() -> None:
    op.create_table(
        "publications",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("project_id", sa.BigInteger, sa.ForeignKey(f"{S}.projects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("language", sa.Text, nullable=False, server_default=""),
        sa.Column("destination", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("idempotency_key", sa.Text, nullable=False, unique=True),
        sa.Column("external_id", sa.Text),
        sa.Column("session_uri", sa.Text),
        sa.Column("sent_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("project_id", "language", "destination", name="publications_one_per_destination"),
        sa.CheckConstraint(
            "status IN ('pending', 'uploading', 'scheduled', 'live', 'failed')", name="publications_status_valid"
        ),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("publications", schema=S)
