"""Which render attempt of its owning run a project's video comes from: a late writer of an older attempt (a
killed worker's orphan) cannot publish over or beside a newer one.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("projects", sa.Column("render_attempt", sa.Integer), schema="video")
    op.add_column(
        "rendered_videos", sa.Column("attempt", sa.Integer, nullable=False, server_default="1"), schema="video"
    )


def downgrade() -> None:
    op.drop_column("rendered_videos", "attempt", schema="video")
    op.drop_column("projects", "render_attempt", schema="video")
