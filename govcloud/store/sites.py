"""The site repository: sites as domain objects, stored in the ``site`` table."""

from __future__ import annotations

from collections.abc import Iterator

from sqlmodel import Session, select

from govcloud.domain.sites import Site, SiteRole
from govcloud.errors import NotFound
from govcloud.store.tables import SiteRow


def _to_site(row: SiteRow) -> Site:
    return Site(name=row.name, cloud=row.cloud, region=row.region, role=SiteRole(row.role))


class SiteRepository:
    """Sites in the store. The caller owns the session and its transaction."""

    def __init__(self, *, session: Session) -> None:
        self.session = session

    def upsert(self, site: Site) -> Site:
        """Insert the site, or update its cloud, region and role if it exists."""
        row = self.session.get(SiteRow, site.name)
        if row is None:
            row = SiteRow(name=site.name, cloud=site.cloud, region=site.region,
                          role=site.role.value)
            self.session.add(row)
        else:
            row.cloud, row.region, row.role = site.cloud, site.region, site.role.value
        self.session.flush()
        return _to_site(row)

    def find_site(self, name: str) -> Site | None:
        row = self.session.get(SiteRow, name)
        return _to_site(row) if row is not None else None

    def get_site(self, name: str) -> Site:
        site = self.find_site(name)
        if site is None:
            raise NotFound(f"no site named {name!r} in the store",
                           hint="`govcloud sites list` shows the configured sites")
        return site

    def list_sites(self) -> Iterator[Site]:
        for row in self.session.exec(select(SiteRow).order_by(SiteRow.name)):
            yield _to_site(row)
