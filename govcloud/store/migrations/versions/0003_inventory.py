"""inventory: site freshness, hypervisors, compute services, servers (with tombstones), quota
usage, capacity history and the department × site → project mapping

Revision ID: 0003_inventory
Revises: 0002_identity_audit
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_inventory"
down_revision: str | Sequence[str] | None = "0002_identity_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("capacity_sample",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("site", sa.String(length=63), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("vcpu_allocated", sa.Integer(), nullable=False),
    sa.Column("vcpu_capacity", sa.Integer(), nullable=False),
    sa.Column("ram_allocated", sa.Integer(), nullable=False),
    sa.Column("ram_capacity", sa.Integer(), nullable=False),
    sa.Column("disk_allocated", sa.Integer(), nullable=False),
    sa.Column("disk_capacity", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_capacity_sample"))
    )
    with op.batch_alter_table("capacity_sample", schema=None) as batch_op:
        batch_op.create_index("ix_capacity_sample_site_at", ["site", "at"])

    op.create_table("compute_service",
    sa.Column("site", sa.String(length=63), nullable=False),
    sa.Column("id", sa.String(length=64), nullable=False),
    sa.Column("binary", sa.String(length=64), nullable=False),
    sa.Column("host", sa.String(length=255), nullable=False),
    sa.Column("zone", sa.String(length=255), nullable=True),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("forced_down", sa.Boolean(), nullable=False),
    sa.Column("disabled_reason", sa.Text(), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("site", "id", name=op.f("pk_compute_service"))
    )
    op.create_table("department_site",
    sa.Column("department", sa.String(length=64), nullable=False),
    sa.Column("site", sa.String(length=63), nullable=False),
    sa.Column("project_id", sa.String(length=64), nullable=False),
    sa.Column("project_name", sa.String(length=255), nullable=False),
    sa.Column("city", sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint("department", "site", name=op.f("pk_department_site"))
    )
    with op.batch_alter_table("department_site", schema=None) as batch_op:
        batch_op.create_index("ix_department_site_site_project", ["site", "project_id"])

    op.create_table("hypervisor",
    sa.Column("site", sa.String(length=63), nullable=False),
    sa.Column("id", sa.String(length=64), nullable=False),
    sa.Column("hostname", sa.String(length=255), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("availability_zone", sa.String(length=255), nullable=True),
    sa.Column("disabled_reason", sa.Text(), nullable=True),
    sa.Column("provider_uuid", sa.String(length=64), nullable=True),
    sa.Column("provider_generation", sa.Integer(), nullable=True),
    sa.Column("running_servers", sa.Integer(), nullable=False),
    sa.Column("vcpu_total", sa.Integer(), nullable=False),
    sa.Column("vcpu_reserved", sa.Integer(), nullable=False),
    sa.Column("vcpu_ratio", sa.Float(), nullable=False),
    sa.Column("vcpu_max_unit", sa.Integer(), nullable=True),
    sa.Column("vcpu_used", sa.Integer(), nullable=False),
    sa.Column("ram_total", sa.Integer(), nullable=False),
    sa.Column("ram_reserved", sa.Integer(), nullable=False),
    sa.Column("ram_ratio", sa.Float(), nullable=False),
    sa.Column("ram_max_unit", sa.Integer(), nullable=True),
    sa.Column("ram_used", sa.Integer(), nullable=False),
    sa.Column("disk_total", sa.Integer(), nullable=False),
    sa.Column("disk_reserved", sa.Integer(), nullable=False),
    sa.Column("disk_ratio", sa.Float(), nullable=False),
    sa.Column("disk_max_unit", sa.Integer(), nullable=True),
    sa.Column("disk_used", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("site", "id", name=op.f("pk_hypervisor"))
    )
    op.create_table("quota_usage",
    sa.Column("site", sa.String(length=63), nullable=False),
    sa.Column("project_id", sa.String(length=64), nullable=False),
    sa.Column("resource", sa.String(length=64), nullable=False),
    sa.Column("department", sa.String(length=64), nullable=True),
    sa.Column("limit", sa.Integer(), nullable=False),
    sa.Column("in_use", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("site", "project_id", "resource", name=op.f("pk_quota_usage"))
    )
    with op.batch_alter_table("quota_usage", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quota_usage_department"), ["department"])

    op.create_table("server",
    sa.Column("site", sa.String(length=63), nullable=False),
    sa.Column("id", sa.String(length=64), nullable=False),
    sa.Column("name", sa.String(length=255), nullable=False),
    sa.Column("project_id", sa.String(length=64), nullable=False),
    sa.Column("department", sa.String(length=64), nullable=True),
    sa.Column("status", sa.String(length=32), nullable=False),
    sa.Column("flavor_name", sa.String(length=255), nullable=True),
    sa.Column("vcpus", sa.Integer(), nullable=False),
    sa.Column("ram_mb", sa.Integer(), nullable=False),
    sa.Column("disk_gb", sa.Integer(), nullable=False),
    sa.Column("ephemeral_gb", sa.Integer(), nullable=False),
    sa.Column("swap_mb", sa.Integer(), nullable=False),
    sa.Column("boot_from_volume", sa.Boolean(), nullable=False),
    sa.Column("host", sa.String(length=255), nullable=True),
    sa.Column("availability_zone", sa.String(length=255), nullable=True),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("site", "id", name=op.f("pk_server"))
    )
    with op.batch_alter_table("server", schema=None) as batch_op:
        batch_op.create_index("ix_server_department_status", ["department", "status"])
        batch_op.create_index("ix_server_site_department_status", ["site", "department", "status"])

    op.create_table("site_sync",
    sa.Column("site", sa.String(length=63), nullable=False),
    sa.Column("last_attempt", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_success", sa.DateTime(timezone=True), nullable=True),
    sa.Column("last_full", sa.DateTime(timezone=True), nullable=True),
    sa.Column("duration_s", sa.Float(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("stale", sa.Boolean(), nullable=False),
    sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
    sa.Column("servers", sa.Integer(), nullable=False),
    sa.Column("hypervisors", sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint("site", name=op.f("pk_site_sync"))
    )


def downgrade() -> None:
    op.drop_table("site_sync")
    with op.batch_alter_table("server", schema=None) as batch_op:
        batch_op.drop_index("ix_server_site_department_status")
        batch_op.drop_index("ix_server_department_status")

    op.drop_table("server")
    with op.batch_alter_table("quota_usage", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quota_usage_department"))

    op.drop_table("quota_usage")
    op.drop_table("hypervisor")
    with op.batch_alter_table("department_site", schema=None) as batch_op:
        batch_op.drop_index("ix_department_site_site_project")

    op.drop_table("department_site")
    op.drop_table("compute_service")
    with op.batch_alter_table("capacity_sample", schema=None) as batch_op:
        batch_op.drop_index("ix_capacity_sample_site_at")

    op.drop_table("capacity_sample")
