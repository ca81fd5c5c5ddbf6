"""YouTube uploads: the uploaded file's checksum beside its session, and the quota units each channel spends a day.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
S = "video"


def upgrade() -> None:
    op.add_column("publications", sa.Column("upload_sha256", sa.Text), schema=S)
    op.create_table(
        "quota_uses",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("quota_day", sa.Date, nullable=False),
        sa.Column("publication_key", sa.Text, nullable=False),
        sa.Column("units", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("account", "quota_day", "publication_key", name="quota_uses_once_a_day"),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("quota_uses", schema=S)
    op.drop_column("publications", "upload_sha256", schema=S)
