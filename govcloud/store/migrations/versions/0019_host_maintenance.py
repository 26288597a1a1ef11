"""host maintenance: drains of compute hosts as jobs, and hosts in maintenance (issue 21)

Revision ID: 0019_host_maintenance
Revises: 0018_changes
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_host_maintenance"
down_revision: str | Sequence[str] | None = "0018_changes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("host_drain",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("site", sa.String(length=63), nullable=False),
    sa.Column("host", sa.String(length=255), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("requester", sa.String(length=64), nullable=False),
    sa.Column("change_id", sa.String(length=64), nullable=True),
    sa.Column("departments", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("run_id", sa.String(length=64), nullable=True),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_host_drain"))
    )
    with op.batch_alter_table("host_drain", schema=None) as batch_op:
        batch_op.create_index("ix_host_drain_site_host", ["site", "host"])

    op.create_table("host_drain_server",
    sa.Column("drain_id", sa.Integer(), nullable=False),
    sa.Column("server_id", sa.String(length=64), nullable=False),
    sa.Column("ordinal", sa.Integer(), nullable=False),
    sa.Column("name", sa.String(length=255), nullable=False),
    sa.Column("project_id", sa.String(length=64), nullable=False),
    sa.Column("department", sa.String(length=64), nullable=True),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("kind", sa.String(length=8), nullable=False),
    sa.Column("target", sa.String(length=255), nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("drain_id", "server_id", name=op.f("pk_host_drain_server"))
    )

    op.create_table("host_drain_event",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("drain_id", sa.Integer(), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(length=32), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_host_drain_event"))
    )
    with op.batch_alter_table("host_drain_event", schema=None) as batch_op:
        batch_op.create_index("ix_host_drain_event_drain", ["drain_id", "id"])

    op.create_table("host_maintenance",
    sa.Column("site", sa.String(length=63), nullable=False),
    sa.Column("host", sa.String(length=255), nullable=False),
    sa.Column("hypervisor", sa.String(length=255), nullable=True),
    sa.Column("drain_id", sa.Integer(), nullable=True),
    sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    sa.Column("marked_by", sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint("site", "host", name=op.f("pk_host_maintenance"))
    )


def downgrade() -> None:
    op.drop_table("host_maintenance")
    with op.batch_alter_table("host_drain_event", schema=None) as batch_op:
        batch_op.drop_index("ix_host_drain_event_drain")
    op.drop_table("host_drain_event")
    op.drop_table("host_drain_server")
    with op.batch_alter_table("host_drain", schema=None) as batch_op:
        batch_op.drop_index("ix_host_drain_site_host")
    op.drop_table("host_drain")
