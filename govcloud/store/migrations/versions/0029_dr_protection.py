"""systems adopted from inventory for DR protection (issue 19): ``dr_adopted_system``; the
last replication check of each synchronous (DR level 6) copy server: ``dr_replication_check``

Revision ID: 0029_dr_protection
Revises: 0027_alert_history
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_dr_protection"
down_revision: str | Sequence[str] | None = "0027_alert_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dr_adopted_system",
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=128), nullable=False),
        sa.Column("dr_level", sa.Integer(), nullable=False),
        sa.Column("members_json", sa.Text(), nullable=False),
        sa.Column("adopted_by", sa.String(length=64), nullable=False),
        sa.Column("adopted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("department", "system"),
    )
    op.create_table(
        "dr_replication_check",
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=128), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("site", "server_id"),
    )
    op.create_index("ix_dr_replication_check_department", "dr_replication_check",
                    ["department"])


def downgrade() -> None:
    op.drop_index("ix_dr_replication_check_department", table_name="dr_replication_check")
    op.drop_table("dr_replication_check")
    op.drop_table("dr_adopted_system")
