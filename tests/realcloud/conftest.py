"""The real-cloud suite: govcloud's control plane (API server thread, fresh SQLite database,
bootstrapped bureau-admin) pointed at the real three-region OpenStack of ``cloud.py`` through
the ordinary settings (sites → clouds.yaml cloud + region + role), and driven with the ordinary
CLI. Nothing here is special-cased for the real cloud.

The suite only runs when ``GOVCLOUD_REALCLOUD`` names the state directory of a running cloud
(``make test-realcloud`` sets it); in the normal ``make test`` run these files are not even
collected.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openstack
import pytest

ENV = "GOVCLOUD_REALCLOUD"
if not os.environ.get(ENV):
    collect_ignore_glob = ["test_*.py"]

from govcloud.api.app import make_app  # noqa: E402
from govcloud.api.server import ServerThread  # noqa: E402
from govcloud.client import ApiClient  # noqa: E402
from govcloud.domain.rbac import Principal, Role  # noqa: E402
from govcloud.services.provisioning_execution import group_name  # noqa: E402
from govcloud.settings import load_settings  # noqa: E402
from govcloud.store.audit import write_session  # noqa: E402
from govcloud.store.engine import make_engine  # noqa: E402
from govcloud.store.migrate import upgrade_engine  # noqa: E402
from govcloud.store.principals import PrincipalRepository  # noqa: E402
from govcloud.workers.provision import start_provision_worker  # noqa: E402
from tests.integration.control.metrics_util import METRICS_TOKEN  # noqa: E402

from . import cloud  # noqa: E402

TENANTS = Path(__file__).resolve().parents[2] / "tenants"
DEPARTMENTS = ("gd-psd", "gd-tax", "gd-edu", "gd-data", "guangzhou")
OSC = Path(sys.executable).parent / "openstack"  # the openstack CLI beside this Python
SITES = ("PROD", "DR-LOCAL", "DR-REMOTE")
WAIT = 240  # seconds for a provisioning request to finish


@dataclass
class RealCloud:
    state: Path
    clouds_yaml: Path
    regions: list[cloud.Region]
    _conns: dict[str, Any] = field(default_factory=dict)

    @property
    def sites(self) -> dict[str, dict[str, str]]:
        return {r.name: {"cloud": cloud.CLOUD, "region": r.name, "role": r.role}
                for r in self.regions}

    def region(self, name: str) -> cloud.Region:
        return next(r for r in self.regions if r.name == name)

    def sdk(self, region: str, *, cloud_name: str = cloud.CLOUD) -> Any:
        """A plain openstacksdk connection (admin unless told), for checks and changes made
        "by hand" beside govcloud."""
        key = f"{cloud_name}/{region}"
        if key not in self._conns:
            config = openstack.config.OpenStackConfig(config_files=[str(self.clouds_yaml)])
            self._conns[key] = openstack.connection.Connection(
                config=config.get_one(cloud=cloud_name, region_name=region))
        return self._conns[key]

    def osc(self, region: str, *args: str) -> Any:
        """The ``openstack`` CLI as an operator would run it; JSON output parsed."""
        env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(self.clouds_yaml)}
        proc = subprocess.run([str(OSC), "--os-cloud", cloud.CLOUD, "--os-region-name", region,
                               *args], capture_output=True, text=True, env=env, check=False,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if "json" in args else proc.stdout


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """The suite-wide leftover check (tests/conftest.py) is off here: a test may restart one
    of the real cloud's own services (tests/realcloud/cloud.py ``spawn``), which outlives the
    session on purpose until ``cloud down``."""
    yield


@pytest.fixture(scope="session")
def real() -> RealCloud:
    state = Path(os.environ[ENV])
    clouds_yaml = state / "clouds.yaml"
    assert clouds_yaml.is_file(), f"no clouds.yaml in {state}: run the cloud first"
    return RealCloud(state=state, clouds_yaml=clouds_yaml, regions=cloud.load_topology())


def delete_system(real: RealCloud, department: str, system: str) -> None:
    """A system's servers and server groups in every site, left by an earlier run of the
    suite: the cloud outlives govcloud's database, so a new run's request ids (and idempotency
    tags) start at 1 again, and its anti-affinity group would be found with the old members."""
    group = group_name(department, system)
    for site in SITES:
        conn = real.sdk(site)
        old = list(conn.compute.servers(all_projects=True, name=f"^{system}-"))
        for s in old:
            conn.compute.delete_server(s)
        for s in old:
            conn.compute.wait_for_delete(s, wait=120)
        for g in conn.compute.server_groups(all_projects=True):
            if g.name == group:
                conn.compute.delete_server_group(g, ignore_missing=True)


def department_catalogue(directory: Path) -> Path:
    """The suite's departments' catalogue (``DEPARTMENTS``) in ``directory``."""
    directory.mkdir(parents=True)
    shutil.copy(TENANTS / "schema.json", directory / "schema.json")
    for code in DEPARTMENTS:
        shutil.copy(TENANTS / f"{code}.yaml", directory / f"{code}.yaml")
    return directory


@dataclass
class Plane:
    url: str
    admin_token: str
    engine: Any
    real: RealCloud
    catalogue: Path
    approver_token: str = ""  # a second bureau-admin, another person (approves principals)

    def principal(self, name: str, role: str) -> str:
        """Add a principal as the admin; a privileged one approved by the second admin."""
        with ApiClient(self.url, self.admin_token) as admin:
            answer = admin.post("/principals", {"name": name, "role": role,
                                                "person": f"person {name}"})
        if answer["pending"]:
            with ApiClient(self.url, self.approver_token) as approver:
                approver.post(f"/principals/{name}/approve")
        token: str = answer["token"]
        return token


@pytest.fixture(scope="module")
def plane_settings() -> dict[str, Any]:
    """Settings a test module adds to (or changes of) its plane's; override it in the module."""
    return {}


@pytest.fixture(scope="module")
def plane(real: RealCloud, tmp_path_factory: pytest.TempPathFactory,
          plane_settings: dict[str, Any]) -> Iterator[Plane]:
    root = tmp_path_factory.mktemp("plane")
    database_url = f"sqlite:///{root / 'govcloud.db'}"
    engine = make_engine(database_url)
    upgrade_engine(engine)
    with write_session(engine) as session:
        repo = PrincipalRepository(session=session)
        admin = repo.bootstrap_admin()
        approver = repo.add(Principal("second-admin", Role.BUREAU_ADMIN, person="Second Admin"))
        session.commit()
    catalogue = department_catalogue(root / "tenants")
    settings = load_settings(**{
        "database_url": database_url, "clouds_yaml": real.clouds_yaml, "sites": real.sites,
        "provision_retries": 1, "provision_backoff_s": 0.5, "provision_poll_s": 0.5,
        "provision_active_timeout_s": 120, "provision_runner_dir": root / "runner",
        "change_control": "off",
        "metrics_token": METRICS_TOKEN,  # what metrics_util.scrape sends
        **plane_settings})
    app = make_app(engine=engine, settings=settings, catalogue_dir=catalogue,
                   workers=start_provision_worker)
    server = ServerThread(app).start()
    try:
        yield Plane(url=server.url, admin_token=admin.token, engine=engine, real=real,
                    catalogue=catalogue, approver_token=approver.token)
    finally:
        server.stop()
        engine.dispose()


@pytest.fixture
def cli(plane: Plane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Plane:
    """The CLI talks to ``plane`` as its bureau-admin through the environment."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("GOVCLOUD_SERVER", plane.url)
    monkeypatch.setenv("GOVCLOUD_TOKEN", plane.admin_token)
    return plane


def api(plane: Plane) -> ApiClient:
    return ApiClient(plane.url, plane.admin_token)


def request(system: str, *, count: int = 2, department: str = "gd-data") -> dict[str, Any]:
    """A provisioning request of ``count`` m1.small servers per site on each site's network."""
    return {"department": department, "system": system, "justification": "real-cloud test",
            "servers": [{"name_prefix": "app", "flavor": "m1.small", "image": cloud.IMAGE,
                         "count": count, "network": dict.fromkeys(SITES, cloud.NETWORK)}]}


def wait_final(api: ApiClient, rid: int) -> dict[str, Any]:
    """Request ``rid`` once it is done, failed, rejected or cancelled (``WAIT`` at most)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        r: dict[str, Any] = api.get(f"/requests/{rid}")
        if r["state"] in ("done", "failed", "rejected", "cancelled"):
            return r
        time.sleep(0.5)
    raise AssertionError(f"request {rid} did not finish: {api.get(f'/requests/{rid}')}")
