"""capacity samples count the compute hosts in service and those whose service was up: the
scorecard's compute availability per site (issue 20)

Revision ID: 0026_compute_availability
Revises: 0025_retention
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_compute_availability"
down_revision: str | Sequence[str] | None = "0025_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # older samples have neither (NULL): the scorecard leaves them out
    with op.batch_alter_table("capacity_sample", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hosts_in_service", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("hosts_up", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("capacity_sample", schema=None) as batch_op:
        batch_op.drop_column("hosts_up")
        batch_op.drop_column("hosts_in_service")
