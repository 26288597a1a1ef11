"""protection: recovery points, the latest good one per copy server, drill summaries (issue 19)

Revision ID: 0012_protection
Revises: 0011_server_ssh
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_protection"
down_revision: str | Sequence[str] | None = "0011_server_ssh"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("recovery_point",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("department", sa.String(length=64), nullable=False),
    sa.Column("system", sa.String(length=128), nullable=False),
    sa.Column("site", sa.String(length=63), nullable=False),
    sa.Column("server_id", sa.String(length=64), nullable=False),
    sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(length=32), nullable=False),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("manifest_digest", sa.String(length=71), nullable=True),
    sa.Column("status", sa.String(length=16), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_point"))
    )
    with op.batch_alter_table("recovery_point", schema=None) as batch_op:
        batch_op.create_index("ix_recovery_point_site_server_taken",
                              ["site", "server_id", "taken_at"])
        batch_op.create_index("ix_recovery_point_department_system", ["department", "system"])

    op.create_table("recovery_point_latest",
    sa.Column("site", sa.String(length=63), nullable=False),
    sa.Column("server_id", sa.String(length=64), nullable=False),
    sa.Column("department", sa.String(length=64), nullable=False),
    sa.Column("system", sa.String(length=128), nullable=False),
    sa.Column("point_id", sa.Integer(), nullable=False),
    sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("site", "server_id", name=op.f("pk_recovery_point_latest"))
    )
    with op.batch_alter_table("recovery_point_latest", schema=None) as batch_op:
        batch_op.create_index("ix_recovery_point_latest_department_system",
                              ["department", "system"])

    op.create_table("dr_drill",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("department", sa.String(length=64), nullable=False),
    sa.Column("system", sa.String(length=128), nullable=False),
    sa.Column("site", sa.String(length=63), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("result", sa.String(length=16), nullable=False),
    sa.Column("rto_s", sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_dr_drill"))
    )
    with op.batch_alter_table("dr_drill", schema=None) as batch_op:
        batch_op.create_index("ix_dr_drill_department_system_at", ["department", "system", "at"])


def downgrade() -> None:
    with op.batch_alter_table("dr_drill", schema=None) as batch_op:
        batch_op.drop_index("ix_dr_drill_department_system_at")
    op.drop_table("dr_drill")
    with op.batch_alter_table("recovery_point_latest", schema=None) as batch_op:
        batch_op.drop_index("ix_recovery_point_latest_department_system")
    op.drop_table("recovery_point_latest")
    with op.batch_alter_table("recovery_point", schema=None) as batch_op:
        batch_op.drop_index("ix_recovery_point_department_system")
        batch_op.drop_index("ix_recovery_point_site_server_taken")
    op.drop_table("recovery_point")
