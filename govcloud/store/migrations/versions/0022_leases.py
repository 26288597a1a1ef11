"""leases: the serve replicas and their background workers' leases (issue 22)

Revision ID: 0022_leases
Revises: 0021_lifecycle
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_leases"
down_revision: str | Sequence[str] | None = "0021_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("replica",
    sa.Column("id", sa.String(length=80), nullable=False),
    sa.Column("host", sa.String(length=255), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("url", sa.String(length=255), nullable=True),
    sa.Column("version", sa.String(length=32), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_replica"))
    )
    op.create_index(op.f("ix_replica_last_seen"), "replica", ["last_seen"], unique=False)
    op.create_table("worker_lease",
    sa.Column("worker", sa.String(length=64), nullable=False),
    sa.Column("holder", sa.String(length=80), nullable=False),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("takeovers", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("worker", name=op.f("pk_worker_lease"))
    )


def downgrade() -> None:
    op.drop_table("worker_lease")
    op.drop_index(op.f("ix_replica_last_seen"), table_name="replica")
    op.drop_table("replica")
