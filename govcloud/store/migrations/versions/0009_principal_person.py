"""principal person and approval: every principal names the person behind it, privileged
principals wait for a second person's approval, and a request records its requester's person

Existing principals get their own name as their person and count as approved when they were
created; existing requests get their requester's name as the requester's person (the same
thing, since that was each principal's person).

Revision ID: 0009_principal_person
Revises: 0008_flavors
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_principal_person"
down_revision: str | Sequence[str] | None = "0008_flavors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("principal") as batch:
        batch.add_column(sa.Column("person", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("issued_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("issued_by_person", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("approved_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE principal SET person = name, approved_at = created_at")
    with op.batch_alter_table("principal") as batch:
        batch.alter_column("person", existing_type=sa.String(length=128), nullable=False)

    with op.batch_alter_table("provision_request") as batch:
        batch.add_column(sa.Column("requester_person", sa.String(length=128), nullable=True))
    op.execute("UPDATE provision_request SET requester_person = requester")
    with op.batch_alter_table("provision_request") as batch:
        batch.alter_column("requester_person", existing_type=sa.String(length=128),
                           nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("provision_request") as batch:
        batch.drop_column("requester_person")
    with op.batch_alter_table("principal") as batch:
        batch.drop_column("approved_at")
        batch.drop_column("approved_by")
        batch.drop_column("issued_by_person")
        batch.drop_column("issued_by")
        batch.drop_column("person")
