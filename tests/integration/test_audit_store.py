"""The audit log in the store, on SQLite and PostgreSQL: appends, filters, paging, concurrent
writers (threads and processes) and tampering by raw SQL."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import DateTime, Engine, bindparam, text
from sqlmodel import Session

from govcloud.domain.audit import GENESIS, ChainAnchor, Tampering, seal
from govcloud.domain.rbac import Principal, Role
from govcloud.errors import InvalidInput
from govcloud.store.audit import (
    AuditFilter,
    AuditLog,
    AuditRecord,
    append_committed,
    write_session,
)
from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade
from govcloud.store.principals import PrincipalRepository
from tests.databases import T0, Clock


def fill(engine: Engine, n: int) -> None:
    clock = Clock()
    for i in range(1, n + 1):
        append_committed(engine, actor=f"user-{i % 3}", action="tenancy.apply",
                         target=f"department:d{i % 4}", before={"cores": i},
                         after={"cores": i + 1, "名称": "公安厅"}, clock=clock)


def verify(engine: Engine, **kwargs: Any) -> Any:
    with Session(engine) as session:
        return AuditLog(session=session).verify(**kwargs)


# --- appending and reading -------------------------------------------------------------------

def test_append_chains_entries_and_reads_them_back(engine: Engine) -> None:
    clock = Clock()
    with write_session(engine) as session:
        log = AuditLog(session=session, clock=clock)
        assert log.head() == GENESIS
        first = log.append(actor="admin", action="principal.add", target="principal:li.wei",
                           after={"role": "operator", "名": "李伟"})
        second = log.append(actor="admin", action="principal.revoke",
                            target="principal:li.wei", before={"revoked": False},
                            after={"revoked": True})
        session.commit()
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev_hash == first.hash
    with Session(engine) as session:
        log = AuditLog(session=session)
        assert log.list_entries() == [first, second]  # exactly as sealed, time zone included
        assert log.find_entry(1) == first and log.find_entry(3) is None
        assert log.head() == ChainAnchor(2, second.hash)
        assert log.count() == 2
        stored = log.find_entry(1)
        assert stored is not None and stored.at == T0 + timedelta(seconds=1)
        assert stored.at.tzinfo is UTC
        result = log.verify(anchor=ChainAnchor(2, second.hash))
    assert result.ok and result.checked == 2


def test_append_many_chains_as_appends_one_by_one(engine: Engine) -> None:
    """A batch (approvals committed together) chains its entries in order to the head, with
    the same hashes that appending them one after another gives."""
    records = [AuditRecord("admin", "request.approve", f"department:d{i}", {"state": "s"},
                           {"state": "approved", "名": i}) for i in range(5)]
    with write_session(engine) as session:
        log = AuditLog(session=session, clock=Clock())
        log.append(actor="admin", action="principal.add", target="principal:li.wei")
        many = log.append_many(records)
        assert log.append_many([]) == []
        session.commit()
    assert [e.seq for e in many] == [2, 3, 4, 5, 6]
    clock = Clock()
    clock()  # the first entry's second
    one_by_one, prev = [], None
    for r in records:
        e = seal(seq=len(one_by_one) + 2, at=clock(), actor=r.actor, action=r.action,
                 target=r.target, before=r.before, after=r.after,
                 prev_hash=prev.hash if prev else many[0].prev_hash)
        one_by_one.append(e)
        prev = e
    assert many == one_by_one
    with Session(engine) as session:
        log = AuditLog(session=session)
        assert log.list_entries(after_seq=1) == many
        result = log.verify(anchor=ChainAnchor(6, many[-1].hash))
    assert result.ok and result.checked == 6


def test_an_entry_commits_or_rolls_back_with_its_change(engine: Engine) -> None:
    with write_session(engine) as session:
        PrincipalRepository(session=session).add(Principal("li.wei", Role.OPERATOR))
        AuditLog(session=session).append(actor="admin", action="principal.add",
                                         target="principal:li.wei")
        session.rollback()
    with Session(engine) as session:
        assert AuditLog(session=session).count() == 0
        assert PrincipalRepository(session=session).find_principal("li.wei") is None


def test_filters_and_paging(engine: Engine) -> None:
    fill(engine, 24)
    with Session(engine) as session:
        log = AuditLog(session=session)
        assert [e.seq for e in log.list_entries(AuditFilter(actor="user-1"))] == \
            list(range(1, 25, 3))
        assert [e.seq for e in log.list_entries(AuditFilter(target="department:d2"))] == \
            list(range(2, 25, 4))
        both = log.list_entries(AuditFilter(targets={"department:d1", "department:d3"}))
        assert [e.seq for e in both] == list(range(1, 25, 2))
        assert log.list_entries(AuditFilter(action="nope")) == []
        assert log.list_entries(AuditFilter(targets=[])) == []
        window = log.list_entries(AuditFilter(since=T0 + timedelta(seconds=5),
                                              until=T0 + timedelta(seconds=8)))
        assert [e.seq for e in window] == [5, 6, 7]
        # the same window, given in another time zone
        beijing = timezone(timedelta(hours=8))
        window = log.list_entries(AuditFilter(since=(T0 + timedelta(seconds=5)).astimezone(
            beijing), until=(T0 + timedelta(seconds=8)).astimezone(beijing)))
        assert [e.seq for e in window] == [5, 6, 7]
        # page forward and backward
        pages, after = [], 0
        while page := log.list_entries(after_seq=after, limit=10):
            pages.append([e.seq for e in page])
            after = page[-1].seq
        assert pages == [list(range(1, 11)), list(range(11, 21)), list(range(21, 25))]
        newest = log.list_entries(limit=5, newest_first=True)
        assert [e.seq for e in newest] == [24, 23, 22, 21, 20]
        older = log.list_entries(before_seq=20, limit=3, newest_first=True)
        assert [e.seq for e in older] == [19, 18, 17]
        assert [e.seq for e in log.iter_entries(page=7)] == list(range(1, 25))
        for bad in (0, 1001):
            with pytest.raises(InvalidInput, match="limit"):
                log.list_entries(limit=bad)


def test_a_scoped_view_sees_only_its_departments(engine: Engine) -> None:
    for target in ("department:gd-psd", "department:gd-psd@PROD", "department:gd-psdx",
                   "department:gd_psd@PROD", "department:gd-tax@DR-LOCAL", "principal:gd-psd",
                   "catalogue"):
        append_committed(engine, actor="admin", action="tenancy.apply", target=target)
    with Session(engine) as session:
        log = AuditLog(session=session)

        def seen(codes: list[str]) -> list[str]:
            return [e.target for e in log.list_entries(AuditFilter(departments=codes))]

        assert seen(["gd-psd"]) == ["department:gd-psd", "department:gd-psd@PROD"]
        assert seen(["gd-psd", "gd-tax"]) == ["department:gd-psd", "department:gd-psd@PROD",
                                              "department:gd-tax@DR-LOCAL"]
        assert seen(["gd_psd"]) == ["department:gd_psd@PROD"]  # '_' is no wildcard
        assert seen([]) == []


def test_append_outside_a_write_session_is_refused_on_sqlite(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    upgrade(url)
    eng = make_engine(url)
    try:
        with Session(eng) as session, pytest.raises(RuntimeError, match="write_session"):
            AuditLog(session=session).append(actor="a", action="b", target="c")
    finally:
        eng.dispose()


def test_verify_from_a_checkpoint(engine: Engine) -> None:
    fill(engine, 10)
    with Session(engine) as session:
        log = AuditLog(session=session)
        fifth = log.find_entry(5)
        assert fifth is not None
        result = log.verify(after=ChainAnchor(5, fifth.hash))
    assert result.ok and result.checked == 5


# --- concurrent writers ----------------------------------------------------------------------

def assert_one_chain(engine: Engine, total: int, per_actor: dict[str, int]) -> None:
    with Session(engine) as session:
        log = AuditLog(session=session)
        entries = list(log.iter_entries())
        result = log.verify()
    assert result.ok, result.describe()
    assert result.checked == total
    assert [e.seq for e in entries] == list(range(1, total + 1))
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.actor] = counts.get(e.actor, 0) + 1
    assert counts == per_actor


def test_threads_appending_at_once_make_one_chain(engine: Engine) -> None:
    threads, per_thread = 8, 25
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                append_committed(engine, actor=f"thread-{n}", action="test.append",
                                 target=f"item:{i}", after={"i": i})
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert_one_chain(engine, threads * per_thread,
                     {f"thread-{n}": per_thread for n in range(threads)})


_APPENDER = """
import sys
from govcloud.store.audit import append_committed
from govcloud.store.engine import make_engine

url, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = make_engine(url)
print("ready", flush=True)
sys.stdin.readline()  # the starting gun: every process appends at the same moment
for i in range(n):
    append_committed(engine, actor=who, action="test.append", target=f"item:{i}")
engine.dispose()
"""


@pytest.mark.slow
def test_processes_appending_at_once_make_one_chain(engine: Engine, database_url: str) -> None:
    processes, per_process = 4, 25
    procs = [subprocess.Popen([sys.executable, "-c", _APPENDER, database_url, f"proc-{n}",
                               str(per_process)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for n in range(processes)]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.close()
        results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            for stream in (p.stdout, p.stderr):
                if stream:
                    stream.close()
    assert results == [(0, "")] * processes
    assert_one_chain(engine, processes * per_process,
                     {f"proc-{n}": per_process for n in range(processes)})


# --- tampering by raw SQL --------------------------------------------------------------------

COLUMNS = ["at", "actor", "action", "target", "before_json", "after_json", "prev_hash", "hash"]


AT = DateTime(timezone=True)


def row(conn: Any, seq: int) -> dict[str, Any]:
    query = text(f"SELECT {', '.join(COLUMNS)} FROM audit_entry WHERE seq = :seq")
    found = conn.execute(query.columns(at=AT), {"seq": seq}).mappings().one()
    return dict(found)


def expect_broken(engine: Engine, seq: int, kind: Tampering) -> None:
    result = verify(engine)
    assert not result.ok
    assert (result.seq, result.kind) == (seq, kind), result.reason
    assert f"entry {seq}" in result.describe()
    assert result.checked == seq - 1


@pytest.mark.parametrize(("column", "value"), [
    ("actor", "mallory"),
    ("target", "department:gd-tax"),
    ("after_json", '{"cores":999}'),
    ("before_json", None),
    ("after_json", "not json"),
])
def test_an_edited_row_is_found(engine: Engine, column: str, value: str | None) -> None:
    fill(engine, 12)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE audit_entry SET {column} = :v WHERE seq = 5"), {"v": value})
    expect_broken(engine, 5, Tampering.EDITED)


def test_an_edited_time_is_found(engine: Engine) -> None:
    fill(engine, 12)
    with engine.begin() as conn:
        at = row(conn, 7)["at"]
        conn.execute(text("UPDATE audit_entry SET at = :v WHERE seq = 7").bindparams(
            bindparam("v", type_=AT)), {"v": at - timedelta(hours=1)})
    expect_broken(engine, 7, Tampering.EDITED)


def test_a_deleted_row_is_found(engine: Engine) -> None:
    fill(engine, 12)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE seq = 5"))
    expect_broken(engine, 5, Tampering.DELETED)


def test_rows_cut_off_the_end_are_found_against_an_anchor(engine: Engine) -> None:
    fill(engine, 12)
    head = verify(engine).head
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE seq > 10"))
    assert verify(engine).ok  # a chain alone cannot tell it was longer ...
    result = verify(engine, anchor=head)  # ... the head recorded elsewhere can
    assert (result.seq, result.kind) == (11, Tampering.DELETED)


def test_swapped_rows_are_found(engine: Engine) -> None:
    fill(engine, 12)
    with engine.begin() as conn:
        a, b = row(conn, 3), row(conn, 7)
        assign = ", ".join(f"{c} = :{c}" for c in COLUMNS)
        update = text(f"UPDATE audit_entry SET {assign} WHERE seq = :seq").bindparams(
            bindparam("at", type_=AT))
        conn.execute(update, {**b, "seq": 3})
        conn.execute(update, {**a, "seq": 7})
    expect_broken(engine, 3, Tampering.REORDERED)


def test_a_forged_row_at_the_end_is_found(engine: Engine) -> None:
    fill(engine, 12)
    with engine.begin() as conn:
        forged = seal(seq=13, at=T0, actor="mallory", action="principal.add",
                      target="principal:mallory", before=None, after={"role": "bureau-admin"},
                      prev_hash="f" * 64)
        insert(conn, forged)
    expect_broken(engine, 13, Tampering.INSERTED)


def test_a_forged_row_in_the_middle_is_found(engine: Engine) -> None:
    """A careful forger: renumbers the rows after it and chains and hashes the forgery."""
    fill(engine, 12)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET seq = seq + 1000000 WHERE seq >= 5"))
        conn.execute(text("UPDATE audit_entry SET seq = seq - 999999 WHERE seq >= 1000000"))
        forged = seal(seq=5, at=T0, actor="mallory",
                      action="principal.add", target="principal:mallory", before=None,
                      after={"role": "bureau-admin"}, prev_hash=row(conn, 4)["hash"])
        insert(conn, forged)
    expect_broken(engine, 5, Tampering.INSERTED)


def insert(conn: Any, entry: Any) -> None:
    conn.execute(text(
        "INSERT INTO audit_entry (seq, at, actor, action, target, before_json, after_json, "
        "prev_hash, hash) VALUES (:seq, :at, :actor, :action, :target, :before_json, "
        ":after_json, :prev_hash, :hash)").bindparams(bindparam("at", type_=AT)),
        {"seq": entry.seq, "at": entry.at, "actor": entry.actor, "action": entry.action,
         "target": entry.target, "before_json": None,
         "after_json": '{"role":"bureau-admin"}', "prev_hash": entry.prev_hash,
         "hash": entry.hash})
