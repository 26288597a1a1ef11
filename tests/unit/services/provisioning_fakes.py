"""A fake of the cloud adapter provisioning calls (``govcloud.cloud.provision``) and the
fixtures and helpers of the provisioning execution unit tests (test_provisioning_execution.py,
test_provisioning_shelve.py): a real database, openstacksdk never reached."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select

from govcloud.cloud import provision as adapter
from govcloud.cloud.provision import GroupState, Refs, ServerState
from govcloud.domain.inventory import QuotaFigure, QuotaInfo, ServerInfo
from govcloud.errors import GovCloudError, PermanentError, TemporaryError
from govcloud.services.provisioning_approval import approve
from govcloud.services.provisioning_common import ProvisioningContext
from govcloud.services.provisioning_execution import Provisioner, WorkerSettings, group_name
from govcloud.services.provisioning_requests import show, submit
from govcloud.store import inventory as inv
from tests.unit.services.provisioning_setup import (
    ADMIN,
    OPERATOR,
    context,
    one_server,
    seed,
)

GROUP = group_name("gd-psd", "app")
Fault = Callable[[], GovCloudError | None]


@dataclass
class Server:
    id: str
    site: str
    name: str
    key: str
    status: str = "BUILD"


@dataclass
class FakeCloud:
    """govcloud.cloud.provision over servers and server groups held in memory. ``faults``
    maps a call (``create:<name>``, ``active:<name>``, ``project:<site>``, ``read:<site>``) to
    the errors its next calls raise, in order (None: that call succeeds). ``lose_answer``:
    the named server's creation goes through, but its answer is lost (a timeout)."""

    servers: dict[str, Server] = field(default_factory=dict)
    groups: dict[str, tuple[str, str, str, set[str]]] = field(default_factory=dict)
    faults: dict[str, list[GovCloudError | None]] = field(default_factory=dict)
    lose_answer: set[str] = field(default_factory=set)
    error_status: set[str] = field(default_factory=set)  # servers that go to ERROR
    calls: list[str] = field(default_factory=list)
    unplaced: dict[str, int] = field(default_factory=dict)  # created, not yet placed, by site
    most_unplaced: int = 0  # the most group members being scheduled at once in one site
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _fault(self, what: str) -> None:
        with self._lock:
            self.calls.append(what)
            queue = self.faults.get(what)
            exc = queue.pop(0) if queue else None
        if exc is not None:
            raise exc

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{len(self.servers) + len(self.groups) + 1}"

    # the adapter's functions, as provisioning_execution calls them
    def project(self, conn: Any, site: str, project_id: str, *,
                request_timeout_s: float | None = None) -> str:
        self._fault(f"project:{site}")
        return f"{site}/{project_id}"

    def ensure_group(self, pconn: Any, site: str, name: str, policy: str) -> str:
        for gid, (g_site, g_name, _, _) in self.groups.items():
            if (g_site, g_name) == (site, name):
                return gid
        gid = self._new_id("group")
        self.groups[gid] = (site, name, policy, set())
        return gid

    def resolve(self, conn: Any, site: str, *, flavor: str, image: str,
                network: str) -> Refs:
        return Refs(f"id-{flavor}", f"id-{image}", f"id-{network}")

    def find_by_key(self, pconn: Any, site: str, key: str) -> ServerState | None:
        with self._lock:
            found = [s for s in self.servers.values() if s.site == site and s.key == key]
        return ServerState(found[0].id, found[0].status) if found else None

    def create_server(self, pconn: Any, site: str, *, name: str, refs: Refs, key: str,
                      request_id: int, ordinal: int, group_id: str | None,
                      volumes: Sequence[int] = (), system: str = "",
                      department: str = "") -> str:
        self._fault(f"create:{name}")
        with self._lock:
            sid = self._new_id("srv")
            self.servers[sid] = Server(sid, site, name, key)
            if group_id is not None:
                self.groups[group_id][3].add(sid)
                self.unplaced[site] = self.unplaced.get(site, 0) + 1
                self.most_unplaced = max(self.most_unplaced, self.unplaced[site])
        if name in self.lose_answer:
            self.lose_answer.discard(name)
            raise TemporaryError(f"site {site}: creating {name}: timed out")
        return sid

    def wait_active(self, pconn: Any, site: str, server_id: str, *, timeout_s: float,
                    interval_s: float = 0.5) -> ServerState:
        server = self.servers[server_id]
        self._fault(f"active:{server.name}")
        if server.name in self.error_status:
            server.status = "ERROR"
            raise PermanentError(f"site {site}: server {server_id} went to ERROR: "
                                 "No valid host was found")
        server.status = "ACTIVE"
        return ServerState(server_id, "ACTIVE")

    def wait_placed(self, pconn: Any, site: str, server_id: str, *, timeout_s: float,
                    interval_s: float = 0.5) -> None:
        time.sleep(0.02)  # the scheduler at work: others would start meanwhile
        with self._lock:
            self.calls.append(f"placed:{self.servers[server_id].name}")
            self.unplaced[site] -= 1

    def delete_server(self, pconn: Any, site: str, server_id: str) -> None:
        self.calls.append(f"delete:{server_id}")
        with self._lock:
            self.servers.pop(server_id, None)
            for _, _, _, members in self.groups.values():
                members.discard(server_id)

    def list_groups(self, pconn: Any, site: str, name: str) -> list[GroupState]:
        return [GroupState(gid, frozenset(members))
                for gid, (g_site, g_name, _, members) in self.groups.items()
                if (g_site, g_name) == (site, name)]

    def delete_group(self, pconn: Any, site: str, group_id: str) -> None:
        self.calls.append(f"delete-group:{group_id}")
        del self.groups[group_id]

    def read_servers(self, conn: Any, site: str, ids: Sequence[str]) -> list[ServerInfo]:
        self._fault(f"read:{site}")
        at = datetime(2026, 12, 1, tzinfo=UTC)
        return [ServerInfo(id=sid, name=self.servers[sid].name, project_id="p-psd",
                           status=self.servers[sid].status, flavor_name="gc.c4m8", vcpus=4,
                           ram_mb=8192, disk_gb=40, created=at, updated=at,
                           addresses={"prod-net": ("10.1.0.9",)})
                for sid in ids]

    def read_compute_quotas(self, conn: Any, site: str, project_id: str) -> list[QuotaInfo]:
        return [QuotaInfo(project_id, {"cores": QuotaFigure(-1, 8)})]


class FakeProjects:
    def __init__(self, fake: FakeCloud) -> None:
        self.get = fake.project


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> FakeCloud:
    fake = FakeCloud()
    for name in ("ensure_group", "resolve", "find_by_key", "create_server", "wait_placed",
                 "wait_active", "delete_server", "list_groups", "delete_group", "read_servers",
                 "read_compute_quotas"):
        monkeypatch.setattr(adapter, name, getattr(fake, name))
    monkeypatch.setattr(adapter, "ProjectConnections", lambda: FakeProjects(fake))
    return fake


@pytest.fixture
def ctx(db: Engine) -> Iterator[ProvisioningContext]:
    seed(db)
    yield context(db)


def provisioner(ctx: ProvisioningContext, refreshed: list[Sequence[str]] | None = None,
                **settings: Any) -> Provisioner:
    values: dict[str, Any] = {"retries": 2, "backoff_s": 0.0, "concurrency": 4, **settings}
    return Provisioner(ctx, connections=lambda: {"PROD": object()},
                       settings=WorkerSettings(**values),
                       refresh=None if refreshed is None else refreshed.append,
                       stop=threading.Event())


def approved(ctx: ProvisioningContext, count: int = 2, system: str = "app") -> int:
    rid = submit(ctx, OPERATOR, one_server(system, count))["id"]
    approve(ctx, ADMIN, rid)
    assert isinstance(rid, int)
    return rid


def events(ctx: ProvisioningContext, rid: int, kind: str) -> list[str]:
    return [e["message"] for e in show(ctx, ADMIN, rid)["events"] if e["kind"] == kind]


def inventory_servers(engine: Engine) -> list[str]:
    srv = inv.table("server")
    with engine.connect() as conn:
        return sorted(r.id for r in conn.execute(
            select(srv.c.id).where(srv.c.deleted_at.is_(None))))
