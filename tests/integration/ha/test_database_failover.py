"""The database fails over under load: two ``govcloud serve`` replicas on a PostgreSQL primary
with a synchronous streaming standby (both the test's own, ``synchronous_standby_names``),
approvals pouring in through both replicas; the primary is stopped at once, as in a crash
(``pg_ctl stop -m immediate``), and the standby promoted in the middle. The replicas find the
new primary by themselves (the multi-host URL with ``target_session_attrs=read-write``), and:

- every approval either was answered OK — and is there after the switch (synchronous
  replication: nothing committed is lost) — or failed with a temporary error (503,
  ``DatabaseUnavailable``; the CLI exits 75 once its retries are spent);
- nothing is half-applied: the reservation ledger equals the sum of the active reservations,
  every approved request holds its reservation and one ``request.approve`` audit entry, and
  the audit chain verifies;
- the CLI, retrying, rides over the switch; approving again what failed completes the batch,
  and every request is provisioned."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from govcloud.client import ApiClient
from govcloud.errors import ConflictError, DatabaseUnavailable
from govcloud.services import provisioning as svc
from govcloud.store.engine import make_engine
from tests.integration.ha.cluster import Cluster
from tests.integration.ha.replicas import Replicas, request_spec, run_cli
from tests.served import TIMEOUT

pytestmark = [pytest.mark.slow, pytest.mark.ha]
DEPARTMENTS = ("gd-edu", "gd-agri", "shantou")  # DR level 3-4: a primary and a cold copy
REQUESTS = 18  # 6 systems per department: each takes one of its 10 server groups
APPROVERS = 4


@pytest.fixture
def replicas(tmp_path: Path, replicated: Cluster) -> Iterator[Replicas]:
    made = Replicas(tmp_path, replicated.url, count=2, build_delay=0.1)
    try:
        made.bootstrap()
        yield made
    finally:
        made.close()


class Approvals:
    """``APPROVERS`` threads approving the requests released so far, each through its own
    client of one replica that never retries (every answer is seen as it came)."""

    def __init__(self, replicas: Replicas, ids: list[int]) -> None:
        self.ids = ids
        self.released = 0
        self.taken = 0
        self.outcomes: dict[int, str] = {}
        self.lock = threading.Condition()
        self.done = False
        self.threads = [threading.Thread(target=self._run, args=(replicas, i), daemon=True)
                        for i in range(APPROVERS)]
        for t in self.threads:
            t.start()

    def release(self, upto: int) -> None:
        with self.lock:
            self.released = upto
            self.lock.notify_all()

    def _next(self) -> int | None:
        with self.lock:
            while self.taken >= self.released and not self.done:
                self.lock.wait(0.1)
            if self.taken >= self.released:
                return None
            self.taken += 1
            return self.ids[self.taken - 1]

    def _run(self, replicas: Replicas, index: int) -> None:
        member = replicas.members[index % len(replicas.members)]
        with ApiClient(member.url, replicas.admin, retries=0, timeout=60) as api:
            while (rid := self._next()) is not None:
                try:
                    api.decide_request(rid, "approve")
                    outcome = "ok"
                except DatabaseUnavailable:
                    outcome = "temporary"
                except Exception as exc:  # noqa: BLE001 - every other outcome fails the test
                    outcome = f"{type(exc).__name__}: {exc}"
                with self.lock:
                    self.outcomes[rid] = outcome
                    self.lock.notify_all()

    def wait(self, count: int, what: str) -> None:
        """Until ``count`` approvals have an outcome."""
        with self.lock:
            assert self.lock.wait_for(lambda: len(self.outcomes) >= count, TIMEOUT), what

    def stop(self) -> None:
        with self.lock:
            self.done = True
            self.lock.notify_all()
        for t in self.threads:
            t.join(TIMEOUT)

    def of(self, ids: list[int]) -> list[str]:
        with self.lock:
            return [self.outcomes[rid] for rid in ids]


def test_approvals_across_a_database_failover(
        replicas: Replicas, replicated: Cluster, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    replicas.serve_all()
    first = replicas.members[0]
    admin = replicas.admin
    operator = first.principal(admin, "ops-wu", "operator")
    assert first.api(admin, "POST", "/sync", {"full": True})["ok"]
    ids = [first.api(operator, "POST", "/requests",
                     request_spec(f"db{i}", department=DEPARTMENTS[i % 3]))["id"]
           for i in range(REQUESTS)]
    database = replicas.status(first)["database"]  # what status says of the pair
    assert (database["role"], database["server"]) == (
        "primary", f"127.0.0.1:{replicated.primary.port}")
    assert [(s["name"], s["sync_state"]) for s in database["standbys"]] == [("standby1",
                                                                             "sync")]
    assert isinstance(database["standbys"][0]["lag_bytes"], int)
    before, after = ids[:REQUESTS // 2], ids[REQUESTS // 2:]
    approvals = Approvals(replicas, ids)
    try:
        approvals.release(len(before))  # approvals under way when the primary stops
        approvals.wait(APPROVERS, "the first approvals")
        replicated.primary.stop("immediate")  # lost, as a crash: no goodbye to anyone
        approvals.wait(len(before), "the approvals of the outage")
        env = {"GOVCLOUD_SERVER": first.url, "GOVCLOUD_TOKEN": admin,
               "GOVCLOUD_RETRIES": "0"}  # the CLI during the outage: no retry, exit 75
        down = run_cli(monkeypatch, capsys, env, "request", "show", str(ids[-1]))
        assert replicated.standby is not None
        replicated.standby.promote()
        approvals.release(len(ids))  # and after the switch, through both replicas again
        approvals.wait(len(ids), "the approvals after the switch")
    finally:
        approvals.stop()
    assert down[0] == 75, down
    assert down[2].startswith(("error: cannot reach the database postgresql+psycopg://",
                               "error: lost the connection to the database postgresql+")), down
    outcomes = dict(zip(ids, approvals.of(ids), strict=True))
    assert set(outcomes.values()) <= {"ok", "temporary"}, outcomes
    assert "temporary" in approvals.of(before), "no approval met the outage"
    assert "ok" in approvals.of(after), "no approval succeeded after the switch"

    assert replicated.standby is not None
    database = replicas.status(replicas.members[1])["database"]  # the promoted standby
    assert (database["role"], database["server"], database["standbys"]) == (
        "primary", f"127.0.0.1:{replicated.standby.port}", [])
    states = {rid: replicas.get(first, f"/requests/{rid}")["state"] for rid in ids}
    lost = [rid for rid in ids if outcomes[rid] == "ok" and states[rid] == "submitted"]
    assert lost == [], f"approvals answered OK but gone after the switch: {lost}"
    _check_books(replicas, replicated, states)

    env["GOVCLOUD_RETRIES"] = "3"  # approve again what failed: the CLI, retrying
    for rid in [r for r in ids if outcomes[r] == "temporary"]:
        code, _, err = run_cli(monkeypatch, capsys, env, "request", "approve", str(rid))
        # approved already: its commit got through although its answer did not
        assert code in (0, ConflictError.exit_code), err
    shown = replicas.wait_for_requests(replicas.members[1], ids)
    assert Counter(s["state"] for s in shown.values()) == {"done": REQUESTS}
    _check_books(replicas, replicated, {rid: s["state"] for rid, s in shown.items()})
    temporary = sum(1 for o in outcomes.values() if o == "temporary")
    in_doubt = sum(1 for rid, o in outcomes.items() if o == "temporary"
                   and states[rid] != "submitted")
    print(f"approvals: {REQUESTS - temporary} ok, {temporary} temporary errors "
          f"({in_doubt} of them committed), 0 lost")


def _check_books(replicas: Replicas, cluster: Cluster, states: dict[int, str]) -> None:
    """On the new primary: the ledger equals the active reservations, each request that got
    past approval has exactly one approval audit entry, the audit chain verifies."""
    assert cluster.standby is not None
    engine = make_engine(f"postgresql://postgres@127.0.0.1:{cluster.standby.port}/"
                         f"{cluster.database}")
    try:
        check = svc.ledger_check(engine)
    finally:
        engine.dispose()
    assert check["matches"], check
    member = replicas.members[0]
    entries = replicas.get(member, "/audit", action="request.approve", limit=500)["entries"]
    approved = Counter(e["after"]["request"] for e in entries)
    past = {rid for rid, s in states.items() if s != "submitted"}
    assert set(approved) == past and set(approved.values()) == {1}, (approved, states)
    verified = replicas.get(member, "/audit/verify")
    assert verified["ok"], verified
