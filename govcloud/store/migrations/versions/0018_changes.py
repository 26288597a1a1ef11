"""changes: change requests, their departments, approvals and links, and the change
calendar's versions (issue 21)

Revision ID: 0018_changes
Revises: 0017_statements
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_changes"
down_revision: str | Sequence[str] | None = "0017_statements"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "change_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("sites_json", sa.Text(), nullable=False),
        sa.Column("window_start", _TS, nullable=False),
        sa.Column("window_end", _TS, nullable=False),
        sa.Column("rollback_plan", sa.Text(), nullable=False),
        sa.Column("requester", sa.String(length=64), nullable=False),
        sa.Column("requester_person", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("approvals_needed", sa.Integer(), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=True),
        sa.Column("in_freeze", sa.Boolean(), nullable=False),
        sa.Column("review_by", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("approved_at", _TS, nullable=True),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_request")),
    )
    op.create_index("ix_change_request_state", "change_request", ["state"])
    op.create_index("ix_change_request_window_start", "change_request", ["window_start"])
    op.create_table(
        "change_department",
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("change_id", "department", name=op.f("pk_change_department")),
    )
    op.create_index("ix_change_department_department", "change_department", ["department"])
    op.create_table(
        "change_approval",
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("person_key", sa.String(length=128), nullable=False),
        sa.Column("person", sa.String(length=128), nullable=False),
        sa.Column("approver", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("change_id", "person_key", name=op.f("pk_change_approval")),
    )
    op.create_table(
        "change_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_link")),
    )
    op.create_index("ix_change_link_change", "change_link", ["change_id", "id"])
    op.create_table(
        "change_calendar",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=71), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.Column("proposed_by_person", sa.String(length=128), nullable=False),
        sa.Column("proposed_at", _TS, nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_by_person", sa.String(length=128), nullable=True),
        sa.Column("approved_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_change_calendar")),
    )


def downgrade() -> None:
    op.drop_table("change_calendar")
    op.drop_index("ix_change_link_change", table_name="change_link")
    op.drop_table("change_link")
    op.drop_table("change_approval")
    op.drop_index("ix_change_department_department", table_name="change_department")
    op.drop_table("change_department")
    op.drop_index("ix_change_request_window_start", table_name="change_request")
    op.drop_index("ix_change_request_state", table_name="change_request")
    op.drop_table("change_request")
