"""health: region API probes (issue 7) — the newest probe of each site's service

Revision ID: 0005_health
Revises: 0004_provisioning
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_health"
down_revision: str | Sequence[str] | None = "0004_provisioning"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("probe_result",
    sa.Column("site", sa.String(length=63), nullable=False),
    sa.Column("service", sa.String(length=32), nullable=False),
    sa.Column("up", sa.Boolean(), nullable=False),
    sa.Column("latency_s", sa.Float(), nullable=False),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("failures", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("site", "service", name=op.f("pk_probe_result"))
    )
    with op.batch_alter_table("probe_result", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_probe_result_checked_at"), ["checked_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("probe_result", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_probe_result_checked_at"))
    op.drop_table("probe_result")
