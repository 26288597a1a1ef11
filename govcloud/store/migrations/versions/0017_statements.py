"""statements: closed months and their frozen statements (issue 20)

Revision ID: 0017_statements
Revises: 0016_failover
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_statements"
down_revision: str | Sequence[str] | None = "0016_failover"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("month_close",
    sa.Column("month", sa.String(length=7), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("closed_by", sa.String(length=64), nullable=False),
    sa.Column("closed_by_person", sa.String(length=128), nullable=False),
    sa.Column("digest", sa.String(length=71), nullable=False),
    sa.Column("departments", sa.Integer(), nullable=False),
    sa.Column("total", sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint("month", name=op.f("pk_month_close"))
    )
    op.create_table("closed_statement",
    sa.Column("month", sa.String(length=7), nullable=False),
    sa.Column("department", sa.String(length=64), nullable=False),
    sa.Column("document", sa.Text(), nullable=False),
    sa.Column("digest", sa.String(length=71), nullable=False),
    sa.PrimaryKeyConstraint("month", "department", name=op.f("pk_closed_statement"))
    )


def downgrade() -> None:
    op.drop_table("closed_statement")
    op.drop_table("month_close")
