"""metering: hourly usage rollups, the hours each site was read in, price sheets (issue 20)

Revision ID: 0015_metering
Revises: 0014_drills
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_metering"
down_revision: str | Sequence[str] | None = "0014_drills"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("usage_hour",
    sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
    sa.Column("site", sa.String(length=63), nullable=False),
    sa.Column("department", sa.String(length=64), nullable=False),
    sa.Column("flavor", sa.String(length=255), nullable=False),
    sa.Column("kind", sa.String(length=16), nullable=False),
    sa.Column("resource", sa.String(length=16), nullable=False),
    sa.Column("quantity", sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint("hour", "site", "department", "flavor", "kind", "resource",
                            name=op.f("pk_usage_hour"))
    )
    with op.batch_alter_table("usage_hour", schema=None) as batch_op:
        batch_op.create_index("ix_usage_hour_department_hour", ["department", "hour"])

    op.create_table("usage_site_hour",
    sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
    sa.Column("site", sa.String(length=63), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("hour", "site", name=op.f("pk_usage_site_hour"))
    )

    op.create_table("price_sheet",
    sa.Column("version", sa.String(length=64), nullable=False),
    sa.Column("effective_from", sa.Date(), nullable=False),
    sa.Column("effective_until", sa.Date(), nullable=True),
    sa.Column("currency", sa.String(length=3), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("document", sa.Text(), nullable=False),
    sa.Column("digest", sa.String(length=71), nullable=False),
    sa.Column("proposed_by", sa.String(length=64), nullable=False),
    sa.Column("proposed_by_person", sa.String(length=128), nullable=False),
    sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("approved_by", sa.String(length=64), nullable=True),
    sa.Column("approved_by_person", sa.String(length=128), nullable=True),
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("version", name=op.f("pk_price_sheet"))
    )


def downgrade() -> None:
    op.drop_table("price_sheet")
    op.drop_table("usage_site_hour")
    with op.batch_alter_table("usage_hour", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_hour_department_hour")
    op.drop_table("usage_hour")
