"""installation: this control plane's installation id, in every idempotency key (issue 23)

The id is made here, once per database: every control-plane server sharing the database is the
same installation. Requests already in the database keep the keys they were made with
(``legacy_through``: the newest of them), so their servers are still adopted on a retry.

Revision ID: 0024_installation
Revises: 0022_leases
Create Date: 2026-12-10
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0024_installation"
down_revision: str | Sequence[str] | None = "0022_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "installation",
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("installation_id", sa.String(length=32), nullable=False),
        sa.Column("legacy_through", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_installation")),
        sa.UniqueConstraint("installation_id", name=op.f("uq_installation_installation_id")))
    newest = op.get_bind().execute(sa.text(
        "SELECT COALESCE(MAX(id), 0) FROM provision_request")).scalar_one()
    op.bulk_insert(table, [{"slot": 1, "installation_id": secrets.token_hex(6),
                            "legacy_through": int(newest),
                            "created_at": datetime.now(UTC)}])


def downgrade() -> None:
    op.drop_table("installation")
