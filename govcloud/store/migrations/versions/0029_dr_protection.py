"""systems adopted from inventory for DR protection (issue 19): ``dr_adopted_system``

Revision ID: 0029_dr_protection
Revises: 0026_compute_availability
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_dr_protection"
down_revision: str | Sequence[str] | None = "0026_compute_availability"
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


def downgrade() -> None:
    op.drop_table("dr_adopted_system")
