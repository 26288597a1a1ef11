"""retention: the servers' change counter (changes-since listings) and the indexes the
compaction deletes old events by (issue 23)

Revision ID: 0025_retention
Revises: 0024_installation
Create Date: 2026-12-20
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_retention"
down_revision: str | Sequence[str] | None = "0024_installation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVENTS = (("provision_event", "ix_provision_event_at"),
          ("migration_event", "ix_migration_event_at"),
          ("host_drain_event", "ix_host_drain_event_at"))


def upgrade() -> None:
    counter = op.create_table(
        "server_change",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("horizon", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_server_change")))
    # the servers already stored have no stamp: the first transaction that stamps gives them one
    op.bulk_insert(counter, [{"id": 1, "epoch": secrets.token_hex(8), "seq": 0, "horizon": 0}])
    with op.batch_alter_table("server", schema=None) as batch_op:
        batch_op.add_column(sa.Column("change_seq", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_server_change_seq"), ["change_seq"], unique=False)
    for table, index in EVENTS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(index, ["at"], unique=False)


def downgrade() -> None:
    for table, index in EVENTS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(index)
    with op.batch_alter_table("server", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_server_change_seq"))
        batch_op.drop_column("change_seq")
    op.drop_table("server_change")
