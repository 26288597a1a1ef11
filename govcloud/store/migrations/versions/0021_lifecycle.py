"""lifecycle: scale, resize and retire requests, final snapshots, state-since times (issue 21)

A request's ``kind`` (provision, scale, resize, retire), the change it runs under, its phase
and when the worker may next take it up (``not_before``: a retirement's grace period and
snapshot retention), and what the request will do (``plan_json``). ``lifecycle_snapshot``
holds a retirement's final snapshots until they expire. ``server.status_since`` and
``volume.detached_since`` say since when a server has had its status and a volume has been
detached (the reclaim report).

Revision ID: 0021_lifecycle
Revises: 0020_notifications
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_lifecycle"
down_revision: str | Sequence[str] | None = "0020_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("provision_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=16), nullable=False,
                                      server_default="provision"))
        batch_op.add_column(sa.Column("change_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("phase", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("not_before", _TS, nullable=True))
        batch_op.add_column(sa.Column("plan_json", sa.Text(), nullable=True))
    op.create_index("ix_provision_request_system", "provision_request",
                    ["department", "system"])
    with op.batch_alter_table("server", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_since", _TS, nullable=True))
    with op.batch_alter_table("volume", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detached_since", _TS, nullable=True))
    op.create_table(
        "lifecycle_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=63), nullable=False),
        sa.Column("server_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("artifact_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("deleted_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_snapshot")),
    )
    op.create_index("ix_lifecycle_snapshot_request", "lifecycle_snapshot", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_lifecycle_snapshot_request", table_name="lifecycle_snapshot")
    op.drop_table("lifecycle_snapshot")
    with op.batch_alter_table("volume", schema=None) as batch_op:
        batch_op.drop_column("detached_since")
    with op.batch_alter_table("server", schema=None) as batch_op:
        batch_op.drop_column("status_since")
    op.drop_index("ix_provision_request_system", table_name="provision_request")
    with op.batch_alter_table("provision_request", schema=None) as batch_op:
        batch_op.drop_column("plan_json")
        batch_op.drop_column("not_before")
        batch_op.drop_column("phase")
        batch_op.drop_column("change_id")
        batch_op.drop_column("kind")
