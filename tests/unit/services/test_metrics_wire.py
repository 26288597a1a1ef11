"""The metrics snapshot the worker process sends the API process (govcloud/services/
metrics_wire.py, govcloud/workers/process.py): it comes back as it was built, through JSON;
a family the exporter does not know or labels that do not fit it are refused; and a plane fed
by another process serves what it is given without building, builds only when nothing came
or what came is stale, and renders each snapshot before it is served."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from sqlalchemy import Connection, Engine

from govcloud.services.metrics import FED_STALE, HeldSnapshots, Snapshot
from govcloud.services.metrics_wire import FED, snapshot_from_json, snapshot_json


def _snapshot(built_at: float | None = None) -> Snapshot:
    snap = Snapshot(built_at=time.time() if built_at is None else built_at, build_s=0.25)
    snap.add("govcloud_site_info", ("PROD", "production"), 1)
    snap.add("govcloud_site_vcpu_capacity", ("PROD",), 4096)
    snap.last_success = {"PROD": 1_700_000_000.5, "DR-LOCAL": None}
    snap.dr_points = [(("gd-psd", "web", "5"), 1_700_000_000.0), (("gd-psd", "db", "5"), None)]
    return snap


def test_a_snapshot_comes_back_as_it_was_built() -> None:
    snap = _snapshot()
    back = snapshot_from_json(json.loads(json.dumps(snapshot_json(snap))))
    assert back.families == snap.families
    assert (back.built_at, back.build_s) == (snap.built_at, snap.build_s)
    assert back.last_success == snap.last_success
    assert back.dr_points == snap.dr_points
    assert back.fingerprint == FED


@pytest.mark.parametrize("broken", [
    {"families": {"govcloud_no_such_family": [[["x"], 1]]}},
    {"families": {"govcloud_site_info": [[["PROD"], 1]]}},  # one label of two
    {"families": {"govcloud_site_info": [[["PROD", 7], 1]]}},  # a label that is no text
    {"families": {"govcloud_site_info": [[["PROD", "production"], "1"]]}},
    {"built_at": "yesterday"},
    {"built_at": float("nan")},
])
def test_what_does_not_fit_the_exporter_is_refused(broken: dict[str, Any]) -> None:
    data = {**snapshot_json(_snapshot()), **broken}
    with pytest.raises(ValueError):
        snapshot_from_json(data)


class _Builder:
    """Counts its builds; the store never changes."""

    def __init__(self) -> None:
        self.builds = 0
        self.engine: Engine | None = None

    def fingerprint(self, conn: Connection) -> tuple[Any, ...]:
        raise AssertionError("a fed plane does not look at the store")

    def build(self) -> Snapshot:
        self.builds += 1
        return _snapshot()


def test_a_fed_plane_serves_what_it_is_given_and_builds_only_without_it() -> None:
    builder = _Builder()
    held: HeldSnapshots[Snapshot] = HeldSnapshots(builder, max_age_s=60.0)  # type: ignore[arg-type]
    held.expect_feed(0.05)
    first = held.current()  # nothing came within the wait: built here
    assert builder.builds == 1
    seen: list[tuple[Snapshot, bool]] = []  # each, and whether it was served already
    held.on_held(lambda snap: seen.append((snap, held.current() is snap)))
    sent = _snapshot()
    held.hold(sent)
    assert seen == [(sent, False)]  # the exporter renders it before it is served
    assert held.current() is sent and held.current() is not first
    assert builder.builds == 1  # served without a build, without looking at the store
    stale = _snapshot(built_at=time.time() - FED_STALE * 60.0 - 1)
    held.hold(stale)
    assert held.current() is stale  # served, and rebuilt in the background
    deadline = time.monotonic() + 10
    while builder.builds < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert builder.builds == 2


def test_the_first_read_waits_for_the_fed_snapshot() -> None:
    builder = _Builder()
    held: HeldSnapshots[Snapshot] = HeldSnapshots(builder)  # type: ignore[arg-type]
    held.expect_feed(10.0)
    sent = _snapshot()
    threading.Timer(0.1, held.hold, args=(sent,)).start()
    assert held.current() is sent
    assert builder.builds == 0
