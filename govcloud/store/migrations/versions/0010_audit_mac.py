"""audit mac: every audit entry carries an HMAC of its hash made with the audit key, which
lives outside the database (docs/security.md, "The audit log")

Existing entries keep a NULL mac; the server signs them once, when it first makes its key.

Revision ID: 0010_audit_mac
Revises: 0009_principal_person
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_audit_mac"
down_revision: str | Sequence[str] | None = "0009_principal_person"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_entry") as batch:
        batch.add_column(sa.Column("mac", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_entry") as batch:
        batch.drop_column("mac")
