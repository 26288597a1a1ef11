"""point artifacts: where a recovery point's data is held, and its checksum manifest (issue 19)

Revision ID: 0013_point_artifacts
Revises: 0012_protection
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_point_artifacts"
down_revision: str | Sequence[str] | None = "0012_protection"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recovery_point", schema=None) as batch_op:
        batch_op.add_column(sa.Column("artifacts", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("manifest", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recovery_point", schema=None) as batch_op:
        batch_op.drop_column("manifest")
        batch_op.drop_column("artifacts")
