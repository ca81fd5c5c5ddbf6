"""Render attempts live in ``projects.render_attempts`` (per language) only: the older single column goes.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
S = "video"


def upgrade() -> None:
    op.drop_column("projects", "render_attempt", schema=S)


def downgrade() -> None:
    op.add_column("projects", sa.Column("render_attempt", sa.Integer), schema=S)
    op.execute("UPDATE video.projects SET render_attempt = (render_attempts->>'')::integer")
