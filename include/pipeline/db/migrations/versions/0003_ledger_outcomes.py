"""The ledger's outcomes are a closed set, cache hits say so, and reports by run or period are indexed.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
OUTCOMES = ("ok", "cached", "error_retryable", "error_final")


def upgrade() -> None:
    op.execute("UPDATE video.provider_calls SET outcome = 'cached' WHERE cached AND outcome = 'ok'")
    op.create_check_constraint(
        "provider_calls_outcome_valid", "provider_calls", f"outcome IN {OUTCOMES}", schema="video"
    )
    op.create_check_constraint(
        "provider_calls_cached_outcome", "provider_calls", "cached = (outcome = 'cached')", schema="video"
    )
    op.create_index("provider_calls_by_run", "provider_calls", ["dag_run_id"], schema="video")
    op.create_index("provider_calls_by_time", "provider_calls", ["created_at"], schema="video")


def downgrade() -> None:
    op.drop_index("provider_calls_by_time", "provider_calls", schema="video")
    op.drop_index("provider_calls_by_run", "provider_calls", schema="video")
    op.drop_constraint("provider_calls_cached_outcome", "provider_calls", schema="video")
    op.drop_constraint("provider_calls_outcome_valid", "provider_calls", schema="video")
    op.execute("UPDATE video.provider_calls SET outcome = 'ok' WHERE outcome = 'cached'")
