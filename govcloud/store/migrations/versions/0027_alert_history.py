"""alert history: the episodes of Prometheus' alerts that Alertmanager (or Prometheus) posts
to govcloud, for the operator scorecard (issue 20)

Revision ID: 0027_alert_history
Revises: 0026_compute_availability
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027_alert_history"
down_revision: str | Sequence[str] | None = "0026_compute_availability"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_episode",
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alertname", sa.String(length=1024), nullable=False),
        sa.Column("department", sa.String(length=1024), nullable=False),
        sa.Column("site", sa.String(length=1024), nullable=False),
        sa.Column("severity", sa.String(length=1024), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", "started_at", name=op.f("pk_alert_episode")))
    with op.batch_alter_table("alert_episode", schema=None) as batch_op:
        batch_op.create_index("ix_alert_episode_started_at", ["started_at"], unique=False)
        batch_op.create_index("ix_alert_episode_ended_at", ["ended_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alert_episode", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_episode_ended_at")
        batch_op.drop_index("ix_alert_episode_started_at")
    op.drop_table("alert_episode")
