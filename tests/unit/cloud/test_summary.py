"""A site's overview read through a fake openstacksdk connection: which compute services count,
how every server's status is paged, and what Placement's figures become. (Against the
simulator: tests/integration/test_cloud_sim.py.)"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace as NS
from typing import Any

import pytest

from govcloud.cloud.summary import (
    _compute_services,
    placement_resources,
    server_statuses,
    site_summary,
)
from govcloud.domain.capacity import ResourceFigure


@dataclass
class Page:
    doc: dict[str, Any]
    status_code: int = 200

    def json(self) -> dict[str, Any]:
        return self.doc


class Compute:
    """``/servers/detail`` over ``servers`` in pages of ``limit``, a next link while more."""

    def __init__(self, servers: list[dict[str, Any]], *, services: tuple[Any, ...] = (),
                 hypervisors: int = 0, next_on_last: bool = False) -> None:
        self.servers, self._services, self._hypervisors = servers, list(services), hypervisors
        self.next_on_last = next_on_last
        self.requests: list[dict[str, Any]] = []

    def get(self, path: str, params: dict[str, Any]) -> Page:
        assert path == "/servers/detail"
        self.requests.append(dict(params))
        ids = [s["id"] for s in self.servers]
        start = ids.index(params["marker"]) + 1 if "marker" in params else 0
        page = self.servers[start:start + int(params["limit"])]
        more = start + len(page) < len(self.servers) or self.next_on_last
        return Page({"servers": page,
                     "servers_links": [{"rel": "next", "href": "..."}] if more else []})

    def services(self) -> list[Any]:
        return self._services

    def hypervisors(self) -> list[Any]:
        return [NS()] * self._hypervisors


class Placement:
    def __init__(self, providers: dict[str, tuple[list[Any], dict[str, int] | None]]) -> None:
        self.providers = providers

    def resource_providers(self) -> list[Any]:
        return [NS(name=name) for name in self.providers]

    def resource_provider_inventories(self, provider: Any) -> list[Any]:
        return self.providers[provider.name][0]

    def fetch_resource_provider_usages(self, provider: Any) -> Any:
        return NS(usages=self.providers[provider.name][1])


def servers(n: int, status: str | None = "ACTIVE") -> list[dict[str, Any]]:
    return [{"id": f"s{i:03d}", "status": status} for i in range(n)]


def svc(binary: str, state: str) -> Any:
    return NS(binary=binary, state=state)


def test_only_nova_compute_services_count_and_anything_not_up_is_down() -> None:
    assert _compute_services([
        svc("nova-compute", "up"), svc("nova-compute", "up"), svc("nova-compute", "down"),
        svc("nova-compute", "unknown"), svc("nova-scheduler", "down"),
        svc("nova-conductor", "up")]) == (2, 2)
    assert _compute_services([]) == (0, 0)


def test_every_server_of_every_project_is_paged_by_marker() -> None:
    compute = Compute(servers(7))
    statuses = list(server_statuses(NS(compute=compute), page=3))
    assert statuses == ["ACTIVE"] * 7
    assert [r.get("marker") for r in compute.requests] == [None, "s002", "s005"]
    assert all(r["all_tenants"] == "1" and r["limit"] == 3 for r in compute.requests)


def test_paging_stops_at_an_empty_page_even_if_a_next_link_says_more() -> None:
    compute = Compute(servers(4), next_on_last=True)
    assert len(list(server_statuses(NS(compute=compute), page=2))) == 4
    assert len(compute.requests) == 3  # the third page is empty: stop


def test_a_page_that_is_exactly_the_last_one_ends_without_another_request() -> None:
    compute = Compute(servers(4))
    list(server_statuses(NS(compute=compute), page=4))
    assert len(compute.requests) == 1


def inventory(rc: str, total: int | None, reserved: int | None = 0,
              ratio: float | None = 1.0) -> Any:
    return NS(resource_class=rc, total=total, reserved=reserved, allocation_ratio=ratio)


@pytest.mark.parametrize("workers", [1, 8])
def test_placement_inventories_with_missing_figures_read_as_the_defaults(workers: int) -> None:
    conn = NS(placement=Placement({
        "cn1": ([inventory("VCPU", 16, None, None), inventory("MEMORY_MB", None)],
                {"VCPU": 3}),
        "cn2": ([inventory("VCPU", 8, 2, 4.0)], None)}))
    got = {p.name: p for p in placement_resources(conn, workers=workers)}
    assert set(got) == {"cn1", "cn2"}
    cn1 = got["cn1"].inventories
    assert (cn1["VCPU"].total, cn1["VCPU"].reserved, cn1["VCPU"].allocation_ratio) == (16, 0, 1.0)
    assert cn1["MEMORY_MB"].total == 0
    assert got["cn1"].usages == {"VCPU": 3}
    assert got["cn2"].usages == {}  # a provider with no usages at all
    assert got["cn2"].inventories["VCPU"].allocation_ratio == 4.0


def test_a_site_summary_puts_the_figures_together() -> None:
    compute = Compute(servers(3) + servers(2, "error")[::-1] + [{"id": "x", "status": None}],
                      services=[svc("nova-compute", "up"), svc("nova-compute", "down")],
                      hypervisors=2)
    compute.servers = [{**s, "id": f"{i}"} for i, s in enumerate(compute.servers)]
    placement = Placement({"cn1": ([inventory("VCPU", 10), inventory("DISK_GB", 100)],
                                   {"VCPU": 4}),
                           "cn2": ([inventory("VCPU", 10, 2, 2.0)], {"VCPU": 1})})
    summary = site_summary(NS(compute=compute, placement=placement), site="PROD", workers=1)
    assert summary.site == "PROD" and summary.hypervisors == 2
    assert (summary.compute_services_up, summary.compute_services_down) == (1, 1)
    assert summary.servers_by_status == {"ACTIVE": 3, "ERROR": 2, "UNKNOWN": 1}
    assert summary.vcpu == ResourceFigure(capacity=10 + 16, used=5)
    assert summary.disk_gb == ResourceFigure(capacity=100, used=0)
    assert summary.ram_mb == ResourceFigure()  # no inventory of it anywhere
