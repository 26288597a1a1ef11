"""flavors: each site's Nova flavors (public and private), from full syncs

Revision ID: 0008_flavors
Revises: 0007_volumes
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_flavors"
down_revision: str | Sequence[str] | None = "0007_volumes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flavor",
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("vcpus", sa.Integer(), nullable=False),
        sa.Column("ram_mb", sa.Integer(), nullable=False),
        sa.Column("disk_gb", sa.Integer(), nullable=False),
        sa.Column("ephemeral_gb", sa.Integer(), nullable=False),
        sa.Column("swap_mb", sa.Integer(), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("site", "id"),
    )
    op.create_index("ix_flavor_name", "flavor", ["name"])


def downgrade() -> None:
    op.drop_index("ix_flavor_name", table_name="flavor")
    op.drop_table("flavor")
