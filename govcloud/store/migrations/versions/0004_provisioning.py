"""provisioning: requests, reservations, their servers and events (issue 5)

Revision ID: 0004_provisioning
Revises: 0003_inventory
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_provisioning"
down_revision: str | Sequence[str] | None = "0003_inventory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "provision_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("dr_level", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requester", sa.String(length=64), nullable=False),
        sa.Column("approver", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("placement_json", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provision_request")),
    )
    op.create_index("ix_provision_request_state", "provision_request", ["state"])
    op.create_index("ix_provision_request_department", "provision_request", ["department"])
    op.create_table(
        "reservation_ledger",
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("vcpu", sa.Integer(), nullable=False),
        sa.Column("ram_mb", sa.Integer(), nullable=False),
        sa.Column("disk_gb", sa.Integer(), nullable=False),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site", "department", name=op.f("pk_reservation_ledger")),
    )
    op.create_table(
        "reservation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("vcpu", sa.Integer(), nullable=False),
        sa.Column("ram_mb", sa.Integer(), nullable=False),
        sa.Column("disk_gb", sa.Integer(), nullable=False),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("released_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservation")),
    )
    op.create_index("ix_reservation_request", "reservation", ["request_id"])
    op.create_table(
        "provision_server",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("request_id", "site", "ordinal",
                                name=op.f("pk_provision_server")),
    )
    op.create_table(
        "provision_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provision_event")),
    )
    op.create_index("ix_provision_event_request", "provision_event", ["request_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_provision_event_request", table_name="provision_event")
    op.drop_table("provision_event")
    op.drop_table("provision_server")
    op.drop_index("ix_reservation_request", table_name="reservation")
    op.drop_table("reservation")
    op.drop_table("reservation_ledger")
    op.drop_index("ix_provision_request_department", table_name="provision_request")
    op.drop_index("ix_provision_request_state", table_name="provision_request")
    op.drop_table("provision_request")
