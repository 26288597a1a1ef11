"""Protection cycles pin the guests' SSH host keys to what the cloud shows (docs/dr.md, "Host
keys"), over real HTTP on the simulator with real sshd sandboxes: a copy that presents another
key than its console log shows (and than the one recorded) fails its cycle before anything is
copied to it — the last good point stays the latest, the cold copy is shelved again and the
copy is listed as failing (what the alert reads); a production guest whose console log shows
another key is refused before anything is recorded; a server whose console log shows no key at
all is refused, unless the operator sets ``dr_trust_on_first_use``, and then each key trusted
on first use is audited."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from govcloud.client import ApiClient
from govcloud.demo.sandbox import Sandbox, make_key, write_files
from govcloud.domain.recovery import PointStatus
from govcloud.errors import GovCloudError
from govcloud.services.protection import failing_copies
from govcloud.settings import load_settings
from govcloud.store.tables import AuditEntryRow
from tests.integration.dr.protect_helpers import (
    data,
    history,
    known_hosts_text,
    latest,
    local_plane,
    provision_system,
    server_status,
)
from tests.integration.migrate.conftest import Plane
from tests.integration.migrate.waves import cli

pytestmark = pytest.mark.slow


def _known(plane_settings: dict[str, Any]) -> str:
    return known_hosts_text(plane_settings)


def _named(box: Sandbox) -> str:
    return f"[{box.address}]:{box.port} "


def _audited(plane: Plane, action: str) -> list[dict[str, Any]]:
    with Session(plane.engine) as session:
        return [json.loads(r.after_json or "{}") for r in session.exec(
            select(AuditEntryRow).where(AuditEntryRow.action == action))]


def test_a_copy_presenting_another_key_fails_its_cycle_and_keeps_the_last_good_point(
        cli_env: Plane, ops: ApiClient, sandboxes: Callable[[str], Sandbox],
        capsys: pytest.CaptureFixture[str], plane_settings: dict[str, Any]) -> None:
    plane = cli_env
    boxes = provision_system(plane, ops, sandboxes, "keys")
    code, out, err = cli(capsys, "dr", "protect", "--system", "keys")
    assert code == 0 and "2 of 2 cycles ok" in out, out + err
    good = latest(plane.engine, "keys")
    copied = data(boxes["DR-REMOTE"])
    recorded = _known(plane_settings)
    for site in ("PROD", "DR-LOCAL", "DR-REMOTE"):  # pinned from the console logs
        assert _named(boxes[site]) in recorded
    # another machine answers at both copies' addresses (a new sshd host key), and the
    # production data moves on
    for site in ("DR-LOCAL", "DR-REMOTE"):
        boxes[site].stop()
        boxes[site].new_host_key()
        boxes[site].start()
    write_files(boxes["PROD"].root, "/srv/app", {"ledger.db": b"N" * 70_000})
    code, out, err = cli(capsys, "dr", "protect", "--system", "keys")
    assert code == 1, out + err
    assert "0 of 2 cycles ok" in out and "is not the one the cloud shows" in out
    assert "the console log of server" in out and "the last good recovery point is kept" in out
    # nothing was copied; the last good points stay the latest; the failures are recorded
    assert data(boxes["DR-REMOTE"]) == copied == data(boxes["DR-LOCAL"])
    assert latest(plane.engine, "keys") == good
    for site, point in good.items():
        newest = history(plane.engine, site, point.server_id)[0]
        assert newest.status is PointStatus.FAILED and not newest.artifacts
        assert newest.error is not None and "presents SHA256:" in newest.error
        assert boxes[site].fingerprint in newest.error
    # the cold copy was shelved again; the copies are failing (the alert); known_hosts kept
    assert server_status(plane, "keys", "DR-REMOTE") == "SHELVED_OFFLOADED"
    failing = [f for f in failing_copies(plane.engine) if f.system == "keys"]
    assert len(failing) == 2 and all("not the one the cloud shows" in (f.error or "")
                                     for f in failing)
    assert _known(plane_settings) == recorded


def test_a_production_guest_whose_console_shows_another_key_is_refused(
        cli_env: Plane, ops: ApiClient, sandboxes: Callable[[str], Sandbox],
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        plane_settings: dict[str, Any]) -> None:
    plane = cli_env
    decoy = make_key(tmp_path / "decoy" / "ssh_host_ed25519_key", "decoy")
    boxes = provision_system(plane, ops, sandboxes, "decoy",
                             host_keys=[decoy.with_suffix(".pub").read_text()])
    code, out, err = cli(capsys, "dr", "protect", "--system", "decoy")
    assert code == 1, out + err
    assert "is not the one the cloud shows" in out and "nothing was recorded" in out
    for site in ("DR-LOCAL", "DR-REMOTE"):
        assert data(boxes[site]) == {}
    assert not latest(plane.engine, "decoy")
    known = _known(plane_settings)
    assert not [b for b in boxes.values() if _named(b) in known]


def test_no_key_shown_is_refused_but_for_the_audited_override(
        cli_env: Plane, ops: ApiClient, sandboxes: Callable[[str], Sandbox],
        capsys: pytest.CaptureFixture[str], plane_settings: dict[str, Any]) -> None:
    plane = cli_env
    boxes = provision_system(plane, ops, sandboxes, "nokeys", host_keys=[])  # no cloud-init
    code, out, err = cli(capsys, "dr", "protect", "--system", "nokeys")
    assert code == 1, out + err
    assert "no expected host key for" in out and "dr_trust_on_first_use" in out
    assert not latest(plane.engine, "nokeys")
    assert not [b for b in boxes.values() if _named(b) in _known(plane_settings)]
    with pytest.raises(GovCloudError, match="must give a reason"):
        load_settings(dr_trust_on_first_use="  \t ")
    reason = "image built without cloud-init; fingerprints checked by phone with the builder"
    protector = local_plane(plane, plane_settings, dr_trust_on_first_use=reason,
                            migrate_host_key_wait_s=0.5).protector
    for copy in protector.copies(system="nokeys"):
        result = protector.cycle(copy)
        assert result.point is not None and result.point.status is PointStatus.OK, result
    assert data(boxes["DR-REMOTE"]) == data(boxes["PROD"]) == data(boxes["DR-LOCAL"])
    trusted = [a for a in _audited(plane, "dr.trust_on_first_use")
               if a["endpoint"] in {_named(b).strip() for b in boxes.values()}]
    assert {a["fingerprint"] for a in trusted} == {b.fingerprint for b in boxes.values()}
    assert all(a["source"] == "trusted on first use" and reason not in json.dumps(a)
               and a["reason"]["length"] == len(reason) for a in trusted)
    # recorded now: the next cycle needs no override, and is not audited again
    code, out, err = cli(capsys, "dr", "protect", "--system", "nokeys")
    assert code == 0 and "2 of 2 cycles ok" in out, out + err
    assert len([a for a in _audited(plane, "dr.trust_on_first_use")
                if a["endpoint"] in {_named(b).strip() for b in boxes.values()}]) == 3
