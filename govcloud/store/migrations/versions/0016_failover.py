"""failover: DR failovers, their steps and each system's roles (issue 19)

Revision ID: 0016_failover
Revises: 0015_metering
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_failover"
down_revision: str | Sequence[str] | None = "0015_metering"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("dr_failover",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("department", sa.String(length=64), nullable=False),
    sa.Column("system", sa.String(length=128), nullable=False),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("source", sa.String(length=63), nullable=False),
    sa.Column("target", sa.String(length=63), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("requester", sa.String(length=64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("run_id", sa.String(length=64), nullable=True),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("state_json", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_dr_failover"))
    )
    with op.batch_alter_table("dr_failover", schema=None) as batch_op:
        batch_op.create_index("ix_dr_failover_system", ["department", "system"])

    op.create_table("dr_failover_step",
    sa.Column("failover_id", sa.Integer(), nullable=False),
    sa.Column("step", sa.String(length=32), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("output", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("failover_id", "step", name=op.f("pk_dr_failover_step"))
    )

    op.create_table("dr_system_role",
    sa.Column("department", sa.String(length=64), nullable=False),
    sa.Column("system", sa.String(length=128), nullable=False),
    sa.Column("primary_site", sa.String(length=63), nullable=False),
    sa.Column("copy_site", sa.String(length=63), nullable=True),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("failover_id", sa.Integer(), nullable=True),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("department", "system", name=op.f("pk_dr_system_role"))
    )


def downgrade() -> None:
    op.drop_table("dr_system_role")
    op.drop_table("dr_failover_step")
    with op.batch_alter_table("dr_failover", schema=None) as batch_op:
        batch_op.drop_index("ix_dr_failover_system")
    op.drop_table("dr_failover")
