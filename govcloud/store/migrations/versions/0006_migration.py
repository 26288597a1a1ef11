"""migration: legacy hosts, surveys, waves, step runs, events, sign-offs, endpoints (issue 6)

Revision ID: 0006_migration
Revises: 0005_health
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_migration"
down_revision: str | Sequence[str] | None = "0005_health"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("host_survey",
    sa.Column("host", sa.String(length=63), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reachable", sa.Boolean(), nullable=False),
    sa.Column("data_json", sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint("host", name=op.f("pk_host_survey"))
    )
    op.create_table("legacy_host",
    sa.Column("name", sa.String(length=63), nullable=False),
    sa.Column("department", sa.String(length=64), nullable=False),
    sa.Column("system", sa.String(length=255), nullable=False),
    sa.Column("spec_json", sa.Text(), nullable=False),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("name", name=op.f("pk_legacy_host"))
    )
    with op.batch_alter_table("legacy_host", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legacy_host_department"), ["department"])

    op.create_table("migration_event",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("wave", sa.String(length=96), nullable=False),
    sa.Column("host", sa.String(length=63), nullable=True),
    sa.Column("step", sa.String(length=32), nullable=False),
    sa.Column("ident", sa.String(length=96), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("event", sa.String(length=64), nullable=False),
    sa.Column("task", sa.String(length=255), nullable=True),
    sa.Column("message", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_event"))
    )
    with op.batch_alter_table("migration_event", schema=None) as batch_op:
        batch_op.create_index("ix_migration_event_wave_id", ["wave", "id"])

    op.create_table("migration_signoff",
    sa.Column("department", sa.String(length=64), nullable=False),
    sa.Column("by", sa.String(length=64), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("department", name=op.f("pk_migration_signoff"))
    )
    op.create_table("migration_wave",
    sa.Column("id", sa.String(length=96), nullable=False),
    sa.Column("department", sa.String(length=64), nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.Column("rehearsal", sa.Boolean(), nullable=False),
    sa.Column("dr_level", sa.Integer(), nullable=False),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(length=32), nullable=False),
    sa.Column("override_by", sa.String(length=64), nullable=True),
    sa.Column("override_reason", sa.Text(), nullable=True),
    sa.Column("run_id", sa.String(length=64), nullable=True),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("rolled_back_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_migration_wave"))
    )
    with op.batch_alter_table("migration_wave", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_migration_wave_department"), ["department"])

    op.create_table("step_run",
    sa.Column("wave", sa.String(length=96), nullable=False),
    sa.Column("host", sa.String(length=63), nullable=False),
    sa.Column("step", sa.String(length=32), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("seconds", sa.Float(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("ident", sa.String(length=96), nullable=True),
    sa.PrimaryKeyConstraint("wave", "host", "step", name=op.f("pk_step_run"))
    )
    op.create_table("system_endpoint",
    sa.Column("host", sa.String(length=63), nullable=False),
    sa.Column("department", sa.String(length=64), nullable=False),
    sa.Column("system", sa.String(length=255), nullable=False),
    sa.Column("side", sa.String(length=16), nullable=False),
    sa.Column("address", sa.String(length=255), nullable=False),
    sa.Column("port", sa.Integer(), nullable=False),
    sa.Column("switched_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("host", name=op.f("pk_system_endpoint"))
    )
    with op.batch_alter_table("system_endpoint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_system_endpoint_department"), ["department"])

    op.create_table("wave_host",
    sa.Column("wave", sa.String(length=96), nullable=False),
    sa.Column("host", sa.String(length=63), nullable=False),
    sa.Column("target_json", sa.Text(), nullable=True),
    sa.Column("target_server", sa.String(length=64), nullable=True),
    sa.Column("live", sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint("wave", "host", name=op.f("pk_wave_host"))
    )
    with op.batch_alter_table("wave_host", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wave_host_host"), ["host"])



def downgrade() -> None:
    with op.batch_alter_table("wave_host", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wave_host_host"))

    op.drop_table("wave_host")
    with op.batch_alter_table("system_endpoint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_system_endpoint_department"))

    op.drop_table("system_endpoint")
    op.drop_table("step_run")
    with op.batch_alter_table("migration_wave", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_migration_wave_department"))

    op.drop_table("migration_wave")
    op.drop_table("migration_signoff")
    with op.batch_alter_table("migration_event", schema=None) as batch_op:
        batch_op.drop_index("ix_migration_event_wave_id")

    op.drop_table("migration_event")
    with op.batch_alter_table("legacy_host", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legacy_host_department"))

    op.drop_table("legacy_host")
    op.drop_table("host_survey")
