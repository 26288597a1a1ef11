"""the server listing's index (issue 23): ``ix_server_department_site_id`` on ``server``
(department, site, id), so that ``GET /servers`` of one department, on a site or on all,
reads its page in order and stops (a page of 100 reads ~100 rows instead of the
department's every server on the site, sorted, or the site's every server by primary key)

Revision ID: 0030_servers_listing_index
Revises: 0029_dr_protection
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0030_servers_listing_index"
down_revision: str | Sequence[str] | None = "0029_dr_protection"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_server_department_site_id", "server", ["department", "site", "id"])


def downgrade() -> None:
    op.drop_index("ix_server_department_site_id", table_name="server")
