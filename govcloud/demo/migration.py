"""The demo's migration: legacy hosts and cloud servers that are real sshd sandboxes, so
``govcloud migrate run`` runs the real playbooks on real files.

``start_migration_demo`` starts two legacy hosts of gd-tax (a web and a database host that talk
to each other, with data and a "service"), fills the simulator's sandbox pool so that the
servers the provisioning service creates for them are sandboxes too, then imports the hosts,
trusts their keys (pinned fingerprints), surveys them, plans the waves and records the
department's sign-off. What is left for the user is the run, printed as the next commands.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from govcloud.client import ApiClient
from govcloud.demo.sandbox import Sandbox, make_key, service_vars, write_files

DEPARTMENT = "gd-tax"
HOSTS = {"tax-web1": "/srv/etax/uploads", "tax-db1": "/var/lib/etax"}
# sandboxes behind the cloud's new servers: 2 hosts x 3 sites (DR level 6) = 6, and as many
# again — a rollback deletes the servers it made, so running the wave again makes new ones
POOL = 12


def migrate_settings(state_dir: Path) -> dict[str, Any]:
    """The settings the demo's control plane needs for migration (its own key and state)."""
    key = state_dir / "migrate" / "keys" / "id_ed25519"
    if not key.exists():
        make_key(key, "govcloud-demo")
    return {"migrate_dir": state_dir / "migrate", "ssh_key": key,
            "migrate_python": sys.executable, "ssh_timeout_s": 10.0}


def start_migration_demo(state_dir: Path, api: ApiClient, sim_url: str,
                         say: Callable[[str], None]) -> Callable[[], None]:
    """Start the sandboxes and prepare gd-tax's waves; returns the function that stops them."""
    key = state_dir / "migrate" / "keys" / "id_ed25519.pub"
    boxes: list[Sandbox] = []

    def stop() -> None:
        for box in boxes:
            box.stop()

    try:
        hosts: dict[str, Any] = {}
        for name, path in HOSTS.items():
            box = Sandbox(name, state_dir / "sandboxes" / name, key).start()
            boxes.append(box)
            if not any((box.root / path.lstrip("/")).glob("*")):
                write_files(box.root, path, {f"part{i}.bin": os.urandom(64 * 1024)
                                             for i in range(4)}
                            | {"README.txt": f"{name}: data to migrate\n".encode()})
            (box.root / "run").mkdir(exist_ok=True)
            (box.root / "run" / f"{name}.running").touch()
            hosts[name] = {"ansible_host": box.address, "ansible_port": box.port,
                           "ansible_user": box.endpoint()["user"],
                           "govcloud_root": str(box.root), "govcloud_system": "etax",
                           "govcloud_data_paths": [path], **service_vars(name)}
        pool = [Sandbox(f"cloud-vm{i}", state_dir / "sandboxes" / f"cloud-vm{i}", key).start()
                for i in range(POOL)]
        boxes.extend(pool)
        httpx.post(f"{sim_url}/_sim/sandboxes", timeout=30,
                   json={"sandboxes": [b.endpoint() for b in pool]}).raise_for_status()
        inventory = state_dir / "inventory" / f"{DEPARTMENT}.yaml"
        inventory.parent.mkdir(parents=True, exist_ok=True)
        inventory.write_text(yaml.safe_dump({"all": {
            "vars": {"govcloud_department": DEPARTMENT}, "hosts": hosts}}, sort_keys=False))
        api.import_hosts(inventory.read_text(), name=str(inventory))
        for name, box in zip(HOSTS, boxes, strict=False):
            api.trust_host(name, fingerprint=box.fingerprint)
        api.survey(DEPARTMENT)
        # the demo's first window opens now, so the wave may run at once
        opened = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        waves = api.plan_waves(DEPARTMENT, first_window=opened).waves
        api.signoff(DEPARTMENT, note="demo")
        wave = waves[0].wave
        say(f"migration demo: {len(HOSTS)} legacy hosts of {DEPARTMENT} (sshd sandboxes, "
            f"inventory {inventory}), surveyed and planned; the cloud's new servers are "
            f"sandboxes too. Next:\n  govcloud migrate show {wave}\n"
            f"  govcloud migrate override {wave} --reason 'demo'   # the gate: flavors/quotas\n"
            f"  govcloud migrate run {wave} --follow\n  govcloud migrate rollback {wave} "
            "--follow")
        return stop
    except BaseException:
        stop()
        raise
