"""Media sources: the team's media library (tagged images and clips, ``videoctl library add``, the Videos page),
and the credit and licence of each scene's media (stock footage names its author and page).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
S = "video"


def upgrade() -> None:
    op.add_column("media_assets", sa.Column("credit", sa.Text), schema=S)
    op.add_column("media_assets", sa.Column("licence", sa.Text), schema=S)
    op.create_table(
        "library_items",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("storage_key", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("tags", JSONB, nullable=False),
        sa.Column("licence", sa.Text, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("duration_s", sa.Float),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("content_hash", sa.Text, nullable=False),
        sa.Column("added_by", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("kind IN ('image', 'video')", name="library_items_kind_valid"),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("library_items", schema=S)
    op.drop_column("media_assets", "licence", schema=S)
    op.drop_column("media_assets", "credit", schema=S)
