"""The control plane over real HTTP: the simulator (small scale), a fresh database (SQLite,
and PostgreSQL when GOVCLOUD_TEST_DATABASE_URL is set), the API server in a thread on a free
loopback port, and a bootstrapped bureau-admin. One plane per module and database."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from govcloud.api.app import make_app
from govcloud.api.server import ServerThread
from govcloud.client import ApiClient
from govcloud.domain.rbac import Principal, Role
from govcloud.settings import load_settings
from govcloud.sim.server import RunningSimulator, start
from govcloud.store.audit import write_session
from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade_engine
from govcloud.store.principals import PrincipalRepository
from govcloud.store.tables import utcnow
from tests.databases import fresh_database

from .metrics_util import METRICS_TOKEN

TENANTS = Path(__file__).resolve().parents[3] / "tenants"
SMALL = ("gd-psd", "gd-tax", "gd-hrss", "gd-edu", "gd-agri", "gd-data", "guangzhou", "shenzhen",
         "shantou")


@dataclass
class Clock:
    """The server's clock: real time plus an offset a test may move (token expiry)."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset


@dataclass
class Plane:
    url: str
    admin_token: str
    engine: Engine
    sim: RunningSimulator
    clock: Clock
    catalogue: Path
    clients: list[ApiClient] = field(default_factory=list)
    approver_token: str = ""  # a second bureau-admin, another person (approves principals)

    def client(self, token: str | None) -> ApiClient:
        api = ApiClient(self.url, token)
        self.clients.append(api)
        return api

    @property
    def admin(self) -> ApiClient:
        return self.client(self.admin_token)

    @property
    def approver(self) -> ApiClient:
        return self.client(self.approver_token)

    def add_principal(self, name: str, role: str, **scope: str | None) -> str:
        """Add a principal as the admin (person: ``person NAME``) and return its working
        token: a privileged one (bureau-admin, operator, ci) approved by the second admin."""
        answer = self.admin.post("/principals", {"name": name, "role": role,
                                                 "person": f"person {name}", **scope})
        if answer["pending"]:
            self.approver.post(f"/principals/{name}/approve")
        token: str = answer["token"]
        return token

    def principal(self, role: str, *, city: str | None = None,
                  department: str | None = None) -> tuple[str, ApiClient]:
        name = f"{role}-{uuid.uuid4().hex[:8]}"
        token = self.add_principal(name, role, city=city, department=department)
        return name, self.client(token)


def small_catalogue(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(TENANTS / "schema.json", directory / "schema.json")
    for code in SMALL:
        shutil.copy(TENANTS / f"{code}.yaml", directory / f"{code}.yaml")
    return directory


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def plane_database(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="module")
def plane_settings() -> dict[str, Any]:
    """Extra settings for the plane's app (a test module may override this fixture)."""
    return {}


@pytest.fixture(scope="module")
def plane_workers() -> Any:
    """The app's ``workers`` hook (``make_app(workers=...)``); None runs no background worker
    (a test module may override this fixture)."""
    return None


def _workers(request: pytest.FixtureRequest) -> Any:
    """The app's ``workers`` hook from a ``plane_workers`` fixture, when a test module defines
    one (``make_app(workers=...)``); otherwise no background worker runs."""
    try:
        return request.getfixturevalue("plane_workers")
    except pytest.FixtureLookupError:
        return None


@contextmanager
def running_plane(database_url: str, root: Path, settings: dict[str, Any],
                  workers: Any, *, sim: RunningSimulator | None = None) -> Iterator[Plane]:
    """A plane on ``database_url`` with a simulator of its own — or on ``sim``, which is
    left running (two planes sharing one cloud)."""
    own_sim = sim is None
    if sim is None:
        sim = start(scale="small", seed=42, clouds_yaml=root / "clouds.yaml", build_delay=0.2)
    assert sim.clouds_yaml is not None
    clouds_yaml = sim.clouds_yaml
    engine = make_engine(database_url)
    upgrade_engine(engine)
    with write_session(engine) as session:
        repo = PrincipalRepository(session=session)
        admin = repo.bootstrap_admin()
        # a second bureau-admin, another person, approves the privileged principals tests add
        approver = repo.add(Principal("second-admin", Role.BUREAU_ADMIN, person="Second Admin"))
        session.commit()
    clock = Clock()
    app = make_app(engine=engine,
                   settings=load_settings(database_url=database_url, clouds_yaml=clouds_yaml,
                                          **{"dr_protect_worker": False,
                                             "change_control": "off",
                                             "metrics_token": METRICS_TOKEN, **settings}),
                   clock=clock, catalogue_dir=small_catalogue(root / "tenants"), workers=workers)
    server = ServerThread(app).start()
    result = Plane(url=server.url, admin_token=admin.token, engine=engine, sim=sim,
                   clock=clock, catalogue=root / "tenants", approver_token=approver.token)
    try:
        yield result
    finally:
        for api in result.clients:
            api.close()
        server.stop()
        if own_sim:
            sim.stop()
        engine.dispose()


@pytest.fixture(scope="module")
def plane(plane_database: str, tmp_path_factory: pytest.TempPathFactory,
          plane_settings: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Plane]:
    """The module's plane, shared by its tests: a test that needs state nobody else has
    touched (counts from zero, the first apply of the catalogue) takes ``fresh_plane``."""
    with running_plane(plane_database, tmp_path_factory.mktemp("plane"), plane_settings,
                        _workers(request)) as result:
        yield result


@pytest.fixture
def fresh_plane(plane_database: str, tmp_path_factory: pytest.TempPathFactory,
                plane_settings: dict[str, Any], request: pytest.FixtureRequest
                ) -> Iterator[Plane]:
    """A plane of this test's own (a new simulator, database of the module's kind and
    server): what the module's other tests did to ``plane`` cannot show in it."""
    kind = "sqlite" if plane_database.startswith("sqlite") else "postgresql"
    with (fresh_database(kind, tmp_path_factory.mktemp("db")) as url,
          running_plane(url, tmp_path_factory.mktemp("plane"), plane_settings,
                         _workers(request)) as result):
        yield result


@pytest.fixture
def cli_env(plane: Plane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Plane:
    """The CLI talks to ``plane`` as its admin through the environment; contexts go to a
    fresh XDG config dir."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("GOVCLOUD_SERVER", plane.url)
    monkeypatch.setenv("GOVCLOUD_TOKEN", plane.admin_token)
    return plane
