"""drills: a DR drill's plan, approval, run claim, steps and evidence (issue 19)

Revision ID: 0014_drills
Revises: 0013_point_artifacts
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_drills"
down_revision: str | Sequence[str] | None = "0013_point_artifacts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("dr_drill_plan",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("department", sa.String(length=64), nullable=False),
    sa.Column("system", sa.String(length=128), nullable=True),
    sa.Column("site", sa.String(length=63), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("requester", sa.String(length=64), nullable=False),
    sa.Column("requester_person", sa.String(length=128), nullable=False),
    sa.Column("approver", sa.String(length=64), nullable=True),
    sa.Column("runner", sa.String(length=64), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("cleaned_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("run_id", sa.String(length=64), nullable=True),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("state_json", sa.Text(), nullable=True),
    sa.Column("evidence", sa.Text(), nullable=True),
    sa.Column("evidence_digest", sa.String(length=71), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_dr_drill_plan"))
    )
    with op.batch_alter_table("dr_drill_plan", schema=None) as batch_op:
        batch_op.create_index("ix_dr_drill_plan_department", ["department"])

    op.create_table("dr_drill_step",
    sa.Column("drill_id", sa.Integer(), nullable=False),
    sa.Column("step", sa.String(length=32), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("output", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("drill_id", "step", name=op.f("pk_dr_drill_step"))
    )


def downgrade() -> None:
    op.drop_table("dr_drill_step")
    with op.batch_alter_table("dr_drill_plan", schema=None) as batch_op:
        batch_op.drop_index("ix_dr_drill_plan_department")
    op.drop_table("dr_drill_plan")
