from __future__ import annotations

import threading

from govcloud.demo.table import overview_rows, render_table
from govcloud.domain.capacity import ResourceFigure
from govcloud.domain.sites import Site, default_sites
from govcloud.domain.summary import SiteSummary
from govcloud.errors import TemporaryError
from govcloud.services.overview import SiteOverview, read_sites


def summary(site: str, servers: dict[str, int] | None = None) -> SiteSummary:
    return SiteSummary(site=site, hypervisors=300, compute_services_up=297,
                       compute_services_down=3, vcpu=ResourceFigure(480_000, 123_456),
                       ram_mb=ResourceFigure(200 * 1024 * 1024, 50 * 1024 * 1024),
                       disk_gb=ResourceFigure(1_500_000, 300_000),
                       servers_by_status=servers or {"ACTIVE": 17_000, "ERROR": 12, "SHUTOFF": 40})


def test_sites_are_read_in_parallel_and_returned_in_order() -> None:
    sites = default_sites()
    barrier = threading.Barrier(len(sites), timeout=5)  # breaks unless all run at once

    def read(site: Site) -> SiteSummary:
        barrier.wait()
        return summary(site.name)

    result = read_sites(sites, read=read)
    assert [o.site.name for o in result] == ["PROD", "DR-LOCAL", "DR-REMOTE"]
    assert all(o.summary is not None and o.error is None for o in result)


def test_a_failing_site_is_reported_and_the_others_still_read() -> None:
    def read(site: Site) -> SiteSummary:
        if site.name == "DR-LOCAL":
            raise TemporaryError("site DR-LOCAL: cannot connect", hint="check the auth_url")
        if site.name == "DR-REMOTE":
            raise KeyError("bug")
        return summary(site.name)

    by_name = {o.site.name: o for o in read_sites(default_sites(), read=read)}
    assert by_name["PROD"].summary is not None
    assert isinstance(by_name["DR-LOCAL"].error, TemporaryError)
    assert by_name["DR-LOCAL"].summary is None
    remote = by_name["DR-REMOTE"].error
    assert remote is not None and "unexpected KeyError" in remote.message
    data = by_name["DR-LOCAL"].to_dict()
    assert data["error"] == {"type": "TemporaryError", "message": "site DR-LOCAL: cannot connect",
                             "hint": "check the auth_url"}


def test_timing_uses_the_injected_clock() -> None:
    ticks = iter([10.0, 12.5])
    [result] = read_sites(default_sites()[:1], read=lambda s: summary(s.name),
                          clock=lambda: next(ticks))
    assert result.seconds == 2.5


def test_overview_to_dict_merges_the_summary() -> None:
    site = default_sites()[0]
    data = SiteOverview(site=site, summary=summary("PROD"), error=None, seconds=0.5).to_dict()
    assert data["site"] == "PROD" and data["role"] == "production"
    assert data["hypervisors"] == 300
    assert data["servers"]["by_status"]["ERROR"] == 12
    assert "error" not in data


def test_table_has_a_row_per_site_with_the_figures() -> None:
    sites = default_sites()
    overview = [SiteOverview(sites[0], summary("PROD"), None, 1.0),
                SiteOverview(sites[1], None, TemporaryError("unreachable"), 1.0)]
    text = render_table(overview_rows(overview))
    header, prod, local = text.splitlines()
    assert header.split()[:3] == ["SITE", "ROLE", "HYPERVISORS"]
    # the same words and units as `govcloud capacity` (issue 17): Placement's usage is ALLOC,
    # RAM is in GiB, disk in GB
    assert "VCPU ALLOC/CAP" in header and "RAM GIB ALLOC/CAP" in header
    assert "DISK GB ALLOC/CAP" in header and "USED" not in header
    assert prod.split()[:4] == ["PROD", "production", "300", "3"]
    assert "123,456 / 480,000" in prod
    assert "51,200 / 204,800" in prod  # GiB of RAM
    assert "300,000 / 1,500,000" in prod  # GB of disk
    assert prod.endswith("17,000/12/40")
    assert local.split()[:2] == ["DR-LOCAL", "same-city-dr"]
    assert local.endswith("error: unreachable")
    # the columns line up
    assert prod.index("production") == header.index("ROLE")


def test_render_table_aligns_chinese_names_by_display_width() -> None:
    from govcloud.demo.table import display_width, render_table

    rows = [("gd-psd", "广东省公安厅", "6"), ("guangzhou", "广州市", "5"), ("x", "ASCII name", "1")]
    lines = render_table(rows, columns=("CODE", "NAME", "DR")).splitlines()
    # The DR column starts at the same terminal column on every line.
    starts = {display_width(line[: line.rindex(" ") + 1]) for line in lines}
    assert len(starts) == 1, lines
    assert display_width("广东省公安厅") == 12
    assert display_width("e\u0301") == 1  # a combining accent takes no column
