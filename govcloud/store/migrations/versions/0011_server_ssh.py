"""server ssh endpoint: where SSH reaches a server (``address`` or ``address:port``), so the
dynamic inventory can give playbooks an ``ansible_host`` for provisioned systems

Filled by the next sync (and by provisioning's targeted refresh); NULL until then.

Revision ID: 0011_server_ssh
Revises: 0010_audit_mac
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_server_ssh"
down_revision: str | Sequence[str] | None = "0010_audit_mac"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("server") as batch:
        batch.add_column(sa.Column("ssh_endpoint", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("server") as batch:
        batch.drop_column("ssh_endpoint")
