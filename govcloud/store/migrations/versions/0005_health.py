"""health: region API probes (issue 7)

Reserved in the revision chain so that the capabilities built in parallel keep one linear
history; it is filled by the issue that adds these tables (a no-op until then).

Revision ID: 0005_health
Revises: 0004_provisioning
Create Date: 2026-11-28
"""

from collections.abc import Sequence

revision: str = "0005_health"
down_revision: str | Sequence[str] | None = "0004_provisioning"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
