"""Several ``govcloud serve`` replicas as real processes (``tests/served.py``) on one database,
in front of one simulator, sharing the audit key as replicas must; and what a test reads of
them: ``GET /status/replicas``, the requests, the servers the cloud holds per idempotency
key."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from govcloud.cli import main
from govcloud.sim.server import RunningSimulator, start
from tests.integration.control.conftest import small_catalogue
from tests.served import ServedPlane, tagged_servers

# test lease timing: a dead holder's workers run elsewhere within TTL + RENEW seconds
TTL_S, RENEW_S = 6.0, 2.0
NETWORKS = {"PROD": "prod-net", "DR-LOCAL": "dr-local-net", "DR-REMOTE": "dr-remote-net"}


class Replicas:
    """``count`` replicas of ``database_url`` (not started) before a small simulator."""

    def __init__(self, root: Path, database_url: str, *, count: int = 2,
                 env: Mapping[str, str] | None = None, build_delay: float = 0.3) -> None:
        self.root = root
        clouds_yaml = root / "clouds.yaml"
        self.sim: RunningSimulator = start(scale="small", seed=42, clouds_yaml=clouds_yaml,
                                           build_delay=build_delay)
        catalogue = small_catalogue(root / "tenants")
        shared = {"GOVCLOUD_AUDIT_KEY_FILE": str(root / "audit.key"),
                  "GOVCLOUD_LEASE_TTL_S": str(TTL_S), "GOVCLOUD_LEASE_RENEW_S": str(RENEW_S),
                  "GOVCLOUD_PROVISION_CONCURRENCY": "4", **(env or {})}
        self.clouds_yaml = clouds_yaml
        self.members = [ServedPlane(root / f"replica-{i}", database_url=database_url,
                                    catalogue=catalogue, clouds_yaml=clouds_yaml, env=shared)
                        for i in range(count)]
        self.admin = ""

    def bootstrap(self) -> str:
        self.admin = self.members[0].bootstrap()
        return self.admin

    def serve_all(self) -> None:
        """Start every replica at once, then wait for each to answer."""
        for member in self.members:
            member.launch()
        for member in self.members:
            member.wait_healthy()

    def close(self) -> None:
        for member in self.members:
            member.stop()
        self.sim.stop()

    def get(self, member: ServedPlane, path: str, token: str | None = None,
            **params: Any) -> Any:
        r = httpx.get(f"{member.url}/api/v1{path}", params=params, timeout=60,
                      headers={"Authorization": f"Bearer {token or self.admin}"})
        assert r.status_code == 200, r.text
        return r.json()

    def status(self, member: ServedPlane) -> dict[str, Any]:
        answer: dict[str, Any] = self.get(member, "/status/replicas")
        return answer

    def holders(self, member: ServedPlane) -> dict[str, str | None]:
        return {w["name"]: w["holder"] for w in self.status(member)["workers"]}

    def wait_for_requests(self, member: ServedPlane, ids: list[int], *,
                          timeout: float = 120.0) -> dict[int, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            shown = {rid: self.get(member, f"/requests/{rid}") for rid in ids}
            if all(s["state"] in ("done", "failed") for s in shown.values()):
                return shown
            assert time.monotonic() < deadline, {r: s["state"] for r, s in shown.items()}
            time.sleep(0.3)

    def tagged(self, rid: int) -> dict[str, list[str]]:
        """Idempotency key → ids of the servers carrying it, in every region."""
        return tagged_servers(self.clouds_yaml, rid)


def request_spec(system: str, *, count: int = 1, dr_level: int | None = None,
                 department: str = "gd-psd") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "department": department, "system": system, "justification": "high availability test",
        "servers": [{"name_prefix": "app", "flavor": "gc.c2m4", "count": count,
                     "image": "cirros-0.6.2-x86_64-disk", "network": NETWORKS}]}
    if dr_level is not None:
        spec["dr_level"] = dr_level
    return spec


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
            env: Mapping[str, str], *argv: str) -> tuple[int, str, str]:
    """``govcloud ARGV`` in this process (the CLI's own code, without a new interpreter's
    start-up) with ``env`` set: its exit code, stdout and stderr."""
    capsys.readouterr()  # what the test printed before is not the command's
    with monkeypatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err
