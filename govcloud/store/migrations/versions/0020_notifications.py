"""notifications: the outbox of messages to the departments' contacts and webhooks (issue 21)

Revision ID: 0020_notifications
Revises: 0019_host_maintenance
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_notifications"
down_revision: str | Sequence[str] | None = "0019_host_maintenance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table("notification",
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("event", sa.String(length=32), nullable=False),
    sa.Column("ref", sa.String(length=200), nullable=False),
    sa.Column("department", sa.String(length=64), nullable=False),
    sa.Column("channel", sa.String(length=16), nullable=False),
    sa.Column("recipient", sa.String(length=2048), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_notification"))
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index("ix_notification_due", ["state", "next_attempt_at"])
        batch_op.create_index("ix_notification_department", ["department"])


def downgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index("ix_notification_department")
        batch_op.drop_index("ix_notification_due")
    op.drop_table("notification")
