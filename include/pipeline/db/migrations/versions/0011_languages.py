"""Languages: a project has one version per language, each with its own narrations, render attempts and renders.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0010"
S = "video"


def upgrade() -> None:
    op.add_column("audio_assets", sa.Column("language", sa.Text, nullable=False, server_default=""), schema=S)
    op.drop_constraint("audio_assets_scene_id_key", "audio_assets", schema=S)
    op.create_unique_constraint("audio_assets_one_per_language", "audio_assets", ["scene_id", "language"], schema=S)
    op.add_column("rendered_videos", sa.Column("language", sa.Text, nullable=False, server_default=""), schema=S)
    op.drop_constraint("rendered_videos_one_per_run", "rendered_videos", schema=S)
    op.create_unique_constraint(
        "rendered_videos_one_per_run", "rendered_videos", ["project_id", "dag_run_id", "language"], schema=S
    )
    op.add_column("projects", sa.Column("render_attempts", JSONB, nullable=False, server_default="{}"), schema=S)
    # the attempts claimed before: the script's own language
    op.execute(
        "UPDATE video.projects SET render_attempts = jsonb_build_object('', render_attempt)"
        " WHERE render_attempt IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_column("projects", "render_attempts", schema=S)
    op.execute("DELETE FROM video.rendered_videos WHERE language <> ''")
    op.drop_constraint("rendered_videos_one_per_run", "rendered_videos", schema=S)
    op.create_unique_constraint(
        "rendered_videos_one_per_run", "rendered_videos", ["project_id", "dag_run_id"], schema=S
    )
    op.drop_column("rendered_videos", "language", schema=S)
    op.execute("DELETE FROM video.audio_assets WHERE language <> ''")
    op.drop_constraint("audio_assets_one_per_language", "audio_assets", schema=S)
    op.create_unique_constraint("audio_assets_scene_id_key", "audio_assets", ["scene_id"], schema=S)
    op.drop_column("audio_assets", "language", schema=S)
