"""volumes: block-storage volumes per site (quota usage for volumes and gigabytes goes into
the existing quota_usage table)

Revision ID: 0007_volumes
Revises: 0006_migration
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_volumes"
down_revision: str | Sequence[str] | None = "0006_migration"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "volume",
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=True),
        sa.Column("size_gb", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("volume_type", sa.String(length=255), nullable=True),
        sa.Column("bootable", sa.Boolean(), nullable=False),
        sa.Column("attached_to", sa.String(length=1024), nullable=False),
        sa.PrimaryKeyConstraint("site", "id"),
    )
    op.create_index("ix_volume_site_department", "volume", ["site", "department"])


def downgrade() -> None:
    op.drop_index("ix_volume_site_department", table_name="volume")
    op.drop_table("volume")
