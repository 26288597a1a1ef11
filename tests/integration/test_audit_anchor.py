"""The audit key and anchor on a real database (SQLite and PostgreSQL), tampered with by raw
SQL as someone who can write the database but holds neither the key nor the anchor file:
cutting entries off the end, rewriting the newest entry with its hash recomputed, appending a
forged entry. Each passes the bare hash chain and fails with the key and the anchor."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import DateTime, Engine, bindparam, text
from sqlmodel import Session

from govcloud.domain.audit import Tampering, seal
from govcloud.domain.audit_signing import (
    AuditKey,
    Checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from govcloud.errors import InvalidInput
from govcloud.services.audit_anchor import (
    CheckpointWriter,
    last_checkpoint,
    load_or_create_key,
    open_key,
    read_checkpoints,
    verify_log,
)
from govcloud.store.audit import AuditLog, append_committed
from tests.databases import T0, Clock, migrated_engine

AT = DateTime(timezone=True)


@pytest.fixture
def plain(database_url: str) -> Iterator[Engine]:
    """The store's engine without the audit key (a writer of the database that holds no key)."""
    with migrated_engine(database_url) as eng:
        yield eng


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "audit.key"


@pytest.fixture
def engine(plain: Engine, key_file: Path) -> Engine:
    return open_key(plain, key_file)[0]


def fill(engine: Engine, n: int, clock: Clock | None = None) -> None:
    clock = clock or Clock()
    for i in range(n):
        append_committed(engine, actor=f"user-{i % 3}", action="tenancy.apply",
                         target=f"department:d{i % 4}", after={"cores": i}, clock=clock)


def verify(engine: Engine, **kwargs: Any) -> Any:
    with Session(engine) as session:
        return AuditLog(session=session).verify(**kwargs)


def writer(engine: Engine, tmp_path: Path, key_file: Path, **kwargs: Any) -> CheckpointWriter:
    return CheckpointWriter(engine=engine, key=load_or_create_key(key_file)[0],
                            anchor_file=tmp_path / "anchor" / "audit-anchor.jsonl",
                            interval_s=kwargs.pop("interval_s", 60.0),
                            every_entries=kwargs.pop("every_entries", 1), **kwargs)


def stored(conn: Any, seq: int) -> dict[str, Any]:
    cols = "at, actor, action, target, before_json, after_json, prev_hash, hash, mac"
    query = text(f"SELECT {cols} FROM audit_entry WHERE seq = :seq").columns(at=AT)
    return dict(conn.execute(query, {"seq": seq}).mappings().one())


def insert(conn: Any, entry: Any, mac: str | None) -> None:
    conn.execute(text(
        "INSERT INTO audit_entry (seq, at, actor, action, target, before_json, after_json, "
        "prev_hash, hash, mac) VALUES (:seq, :at, :actor, :action, :target, NULL, "
        ":after_json, :prev_hash, :hash, :mac)").bindparams(bindparam("at", type_=AT)),
        {"seq": entry.seq, "at": entry.at, "actor": entry.actor, "action": entry.action,
         "target": entry.target, "after_json": '{"role":"bureau-admin"}',
         "prev_hash": entry.prev_hash, "hash": entry.hash, "mac": mac})


def test_every_entry_carries_the_keys_mac(engine: Engine, plain: Engine,
                                          key_file: Path) -> None:
    fill(engine, 5)
    key = load_or_create_key(key_file)[0]
    with plain.connect() as conn:
        for seq in range(1, 6):
            row = stored(conn, seq)
            assert row["mac"] == key.entry_mac(row["hash"])
    assert verify(engine).ok
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().strip() not in repr(key)


def test_a_forged_entry_appended_is_found_with_the_key(engine: Engine, plain: Engine) -> None:
    fill(engine, 6)
    with plain.begin() as conn:
        head = stored(conn, 6)
        forged = seal(seq=7, at=T0 + timedelta(hours=1), actor="mallory",
                      action="principal.add", target="principal:mallory", before=None,
                      after={"role": "bureau-admin"}, prev_hash=head["hash"])
        insert(conn, forged, mac=None)
    assert verify(plain).ok  # the bare chain cannot tell ...
    result = verify(engine)  # ... the key can
    assert not result.ok and (result.seq, result.kind) == (7, Tampering.FORGED)
    assert "carries no MAC" in result.reason and result.checked == 6
    with plain.begin() as conn:  # a made-up MAC does no better
        conn.execute(text("UPDATE audit_entry SET mac = :m WHERE seq = 7"), {"m": "a" * 64})
    result = verify(engine)
    assert (result.seq, result.kind) == (7, Tampering.FORGED)
    assert "did not make" in result.reason


def test_the_newest_entry_rewritten_with_its_hash_recomputed_is_found(
        engine: Engine, plain: Engine) -> None:
    fill(engine, 6)
    with plain.begin() as conn:
        old = stored(conn, 6)
        rewritten = seal(seq=6, at=old["at"].replace(tzinfo=UTC), actor="someone-else",
                         action=old["action"], target=old["target"], before=None,
                         after={"cores": 0}, prev_hash=old["prev_hash"])
        conn.execute(text("UPDATE audit_entry SET actor = :a, after_json = :j, hash = :h "
                          "WHERE seq = 6"),
                     {"a": rewritten.actor, "j": '{"cores":0}', "h": rewritten.hash})
    assert verify(plain).ok
    result = verify(engine)
    assert not result.ok and (result.seq, result.kind) == (6, Tampering.FORGED)


def test_entries_cut_off_the_end_are_found_against_the_checkpoint(
        engine: Engine, plain: Engine, tmp_path: Path, key_file: Path) -> None:
    fill(engine, 8)
    checkpoints = writer(engine, tmp_path, key_file)
    written = checkpoints.tick()
    assert written is not None and (written.seq, written.hash) == \
        (verify(engine).head.seq, verify(engine).head.hash)
    assert last_checkpoint(checkpoints.anchor_file) == written
    assert verify_log(engine, anchor_file=checkpoints.anchor_file)["ok"]
    with plain.begin() as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE seq > 5"))
    assert verify(engine).ok  # what is left is a valid chain with valid MACs ...
    result = verify_log(engine, anchor_file=checkpoints.anchor_file)  # ... short of its anchor
    assert not result["ok"] and (result["seq"], result["kind"]) == (6, "deleted")
    assert "entry 8 was recorded before" in result["reason"]
    result = verify_log(engine, checkpoint=written)  # the auditor's copy says the same
    assert (result["seq"], result["kind"]) == (6, "deleted")
    # the writer will not sign the shorter chain either
    fill(engine, 4)
    assert checkpoints.tick(force=True) is None
    assert checkpoints.problem is not None and "entry 8" in checkpoints.problem


def test_the_chain_recomputed_below_a_checkpoint_is_found(
        engine: Engine, plain: Engine, tmp_path: Path, key_file: Path) -> None:
    """Deleting the newest entries and appending new ones (hashes and all, but no key) in
    their place: the checkpointed entry now has another hash."""
    fill(engine, 6)
    checkpoints = writer(engine, tmp_path, key_file)
    assert checkpoints.tick() is not None
    with plain.begin() as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE seq >= 5"))
        prev = stored(conn, 4)["hash"]
        for seq in (5, 6, 7):
            entry = seal(seq=seq, at=T0 + timedelta(hours=seq), actor="mallory",
                         action="tenancy.apply", target="department:d0", before=None,
                         after={"role": "bureau-admin"}, prev_hash=prev)
            insert(conn, entry, mac=None)
            prev = entry.hash
    assert verify(plain).ok  # unkeyed, unanchored: nothing to see
    result = verify_log(engine, anchor_file=checkpoints.anchor_file)
    assert not result["ok"] and result["seq"] == 5


def test_a_checkpoint_not_made_with_the_key_fails(engine: Engine, tmp_path: Path,
                                                  key_file: Path) -> None:
    fill(engine, 3)
    good = writer(engine, tmp_path, key_file).tick()
    assert good is not None
    edited = Checkpoint(seq=good.seq, hash=good.hash, at="2027-01-01T00:00:00+00:00",
                        key_id=good.key_id, mac=good.mac)
    result = verify_log(engine, checkpoint=edited)
    assert not result["ok"] and result["kind"] == "forged" and "not signed" in result["reason"]
    other = AuditKey(os.urandom(32))
    foreign = sign_checkpoint(other, seq=good.seq, entry_hash=good.hash, at=T0)
    assert not verify_log(engine, checkpoint=foreign)["ok"]
    with pytest.raises(InvalidInput, match="no audit key"):
        verify_log(engine.execution_options(govcloud_audit_key=None), checkpoint=good)


def test_checkpoints_are_written_when_due_and_only_forward(engine: Engine, tmp_path: Path,
                                                           key_file: Path) -> None:
    clock = Clock()
    checkpoints = writer(engine, tmp_path, key_file, every_entries=5, interval_s=60.0,
                         clock=clock)
    assert checkpoints.tick() is None  # an empty log: nothing to sign
    fill(engine, 2)
    assert checkpoints.tick() is not None  # the first one is always due
    fill(engine, 2)
    assert checkpoints.tick() is None  # 2 entries since, 1 s later: not due
    fill(engine, 3)
    assert checkpoints.tick().seq == 7  # 5 entries since
    fill(engine, 1)
    clock.now += timedelta(seconds=61)
    assert checkpoints.tick().seq == 8  # the interval passed while the log grew
    assert checkpoints.tick(force=True) is None  # nothing new
    fill(engine, 1)
    assert checkpoints.tick(force=True).seq == 9  # at shutdown
    lines = list(read_checkpoints(checkpoints.anchor_file))
    assert [c.seq for _, c in lines] == [2, 7, 8, 9]
    key = load_or_create_key(key_file)[0]
    assert all(c.signed_by(key) for _, c in lines)
    # a new writer (the server restarted) goes on from the file's newest checkpoint
    again = writer(engine, tmp_path, key_file, every_entries=5, clock=clock)
    assert again.last == lines[-1][1]


def test_a_new_key_signs_the_entries_before_it_and_only_then(
        plain: Engine, key_file: Path) -> None:
    fill(plain, 4)  # written before the log had a key
    engine, key = open_key(plain, key_file)
    assert verify(engine).ok  # signed when the key was made
    fill(plain, 1)  # an unkeyed writer after that: its entry has no MAC
    again, same = open_key(plain, key_file)
    assert same.key_id == key.key_id
    result = verify(again)
    assert (result.seq, result.kind) == (5, Tampering.FORGED)


def test_a_broken_chain_is_not_signed_by_a_new_key(plain: Engine, key_file: Path) -> None:
    fill(plain, 4)
    with plain.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET actor = 'x' WHERE seq = 2"))
    with pytest.raises(InvalidInput, match="will not sign a broken audit chain"):
        open_key(plain, key_file)


def test_a_key_file_others_may_read_is_refused(tmp_path: Path, key_file: Path) -> None:
    key, made = load_or_create_key(key_file)
    again, made_again = load_or_create_key(key_file)
    assert made and not made_again and again.key_id == key.key_id
    os.chmod(key_file, 0o644)
    with pytest.raises(InvalidInput, match="may be read or written by others"):
        load_or_create_key(key_file)
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n")
    os.chmod(bad, 0o600)
    with pytest.raises(InvalidInput, match="not an audit key"):
        load_or_create_key(bad)


def test_anchor_lines_that_are_not_checkpoints_are_named(tmp_path: Path) -> None:
    path = tmp_path / "anchor.jsonl"
    key = AuditKey(os.urandom(32))
    good = sign_checkpoint(key, seq=3, entry_hash="a" * 64, at=T0).to_json()
    for bad, message in ((good.replace('"seq":3', '"seq":1e400'), "seq must be"),
                         ('{"seq": 1}', "not a checkpoint"), ("[", "not JSON"),
                         (good[:-1] + ',"x":1}', "not a checkpoint")):
        path.write_text(good + "\n\n" + bad + "\n")
        with pytest.raises(InvalidInput, match=message) as caught:
            list(read_checkpoints(path))
        assert "line 3" in caught.value.message
    path.write_bytes(good.encode() + b"\n\xff\xfe\n")
    with pytest.raises(InvalidInput, match="line 2 is not UTF-8"):
        list(read_checkpoints(path))
    assert parse_checkpoint(good).seq == 3
    with pytest.raises(InvalidInput, match="not a regular file"):
        list(read_checkpoints(Path("/dev/zero")))


def test_processes_starting_at_once_share_one_whole_key(tmp_path: Path) -> None:
    """``serve`` and ``admin bootstrap`` may start together: each sees the whole key that one
    of them made, never a half-written file, and no draft is left behind."""
    import subprocess
    import sys

    path = tmp_path / "state" / "audit.key"
    code = ("import sys; from pathlib import Path; "
            "from govcloud.services.audit_anchor import load_or_create_key; "
            "key, made = load_or_create_key(Path(sys.argv[1])); print(key.key_id, made)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(6)]
    answers = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), answers
    ids = {out.split()[0] for out, _ in answers}
    assert len(ids) == 1 and [out.split()[1] for out, _ in answers].count("True") == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["audit.key"]
