"""Rendered videos keep their thumbnail.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("rendered_videos", sa.Column("thumbnail_key", sa.Text), schema="video")


def downgrade() -> None:
    op.drop_column("rendered_videos", "thumbnail_key", schema="video")
