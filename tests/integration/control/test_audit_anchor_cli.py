"""``govcloud audit verify --anchor FILE [--key-file K]`` against a running control plane whose
audit log is keyed and checkpointed, after tampering by raw SQL as someone who can write the
database but holds neither the key nor the anchor: cutting the newest entries off, rewriting
the newest entry with its hash recomputed, appending a forged entry. Plain ``audit verify``
passed all three before the audit log had a key and an anchor (issue 17, item 7)."""

from __future__ import annotations

import json
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import DateTime, bindparam, text

from govcloud.cli import main
from govcloud.domain.audit import seal
from govcloud.errors import InvalidInput, PermanentError
from govcloud.services.audit_anchor import last_checkpoint

from .conftest import Plane
from .metrics_util import parse, promtool_check, scrape, value

AT = DateTime(timezone=True)
COLUMNS = ("seq", "at", "actor", "action", "target", "before_json", "after_json", "prev_hash",
           "hash", "mac")


@pytest.fixture(scope="module")
def plane_settings(plane_database: str,
                   tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # one key and anchor per database: the SQLite and PostgreSQL planes of this module must
    # not share an anchor file (the second would meet the first one's checkpoints)
    root = tmp_path_factory.mktemp("audit")
    return {"audit_key_file": root / "state" / "audit.key",
            "audit_anchor_file": root / "state" / "audit-anchor.jsonl",
            "audit_checkpoint_interval_s": 0.2, "audit_checkpoint_entries": 1}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def head_seq(plane: Plane) -> int:
    with plane.engine.connect() as conn:
        return int(conn.execute(text("SELECT max(seq) FROM audit_entry")).scalar_one())


def checkpointed(plane: Plane, anchor: Path) -> int:
    """Wait for the server's checkpoint of the current head; its seq."""
    want, deadline = head_seq(plane), time.monotonic() + 30
    while (newest := last_checkpoint(anchor)) is None or newest.seq < want:
        assert time.monotonic() < deadline, "no checkpoint of the head"
        time.sleep(0.05)
    return newest.seq


def rows(plane: Plane, since: int) -> list[dict[str, Any]]:
    query = text(f"SELECT {', '.join(COLUMNS)} FROM audit_entry WHERE seq >= :s ORDER BY seq")
    with plane.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query.columns(at=AT), {"s": since}).mappings()]


def chain_verified_becomes(plane: Plane, want: int) -> None:
    """Wait for /metrics to say so (the snapshot catches up in the background)."""
    deadline = time.monotonic() + 30
    while value(parse(scrape(plane.url)), "govcloud_audit_chain_verified") != want:
        assert time.monotonic() < deadline, f"govcloud_audit_chain_verified is not {want}"
        time.sleep(0.2)


def put_back(plane: Plane, saved: list[dict[str, Any]]) -> None:
    """Undo a tampering: the saved rows exactly as they were, nothing after them."""
    insert = text(f"INSERT INTO audit_entry ({', '.join(COLUMNS)}) VALUES "
                  f"({', '.join(':' + c for c in COLUMNS)})").bindparams(
        bindparam("at", type_=AT))
    with plane.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE seq >= :s"), {"s": saved[0]["seq"]})
        for row in saved:
            conn.execute(insert, row)


def test_verify_with_the_anchor_finds_what_the_bare_chain_cannot(
        cli_env: Plane, capsys: pytest.CaptureFixture[str],
        plane_settings: dict[str, Any]) -> None:
    anchor, key = plane_settings["audit_anchor_file"], plane_settings["audit_key_file"]
    for name in ("audit.one", "audit.two", "audit.three"):
        assert run(capsys, "principals", "add", name, "--role", "bureau-auditor",
                   "--person", name)[0] == 0
    top = checkpointed(cli_env, anchor)
    code, out, err = run(capsys, "audit", "verify", "--anchor", str(anchor), "--key-file",
                         str(key))
    assert code == 0, err
    assert "every entry carries the audit key's MAC" in out
    assert f"reaches the checkpoint of entry {top}" in out
    assert "checkpoints, all signed with key" in err
    # the newest checkpoint's seq is on /metrics (the snapshot catches up in the background)
    deadline = time.monotonic() + 30
    while (seen := value(parse(page := scrape(cli_env.url)),
                         "govcloud_audit_checkpoint_seq")) < top:
        assert time.monotonic() < deadline, seen
        time.sleep(0.2)
    assert seen == top
    assert value(parse(page), "govcloud_audit_chain_verified") == 1
    checked = promtool_check(page)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    saved = rows(cli_env, top - 1)

    def bare_and_anchored() -> tuple[dict[str, Any], str]:
        """What a verification of the bare chain says (the check the server ran before it had
        a key and an anchor), and the error of ``verify --anchor``."""
        from sqlmodel import Session

        from govcloud.store.audit import AuditLog

        with Session(cli_env.engine) as session:  # the test's engine: no key
            bare = AuditLog(session=session).verify().to_dict()
        code, _, err = run(capsys, "audit", "verify", "--anchor", str(anchor))
        assert code == PermanentError.exit_code and "hint:" in err
        return bare, err

    # 1. the two newest entries cut off
    with cli_env.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entry WHERE seq >= :s"), {"s": top - 1})
    bare, err = bare_and_anchored()
    assert bare["ok"]
    assert f"audit chain broken at entry {top - 1} (deleted)" in err
    assert f"entry {top} was recorded before" in err
    chain_verified_becomes(cli_env, 0)  # GovcloudAuditChainBroken fires
    put_back(cli_env, saved)
    chain_verified_becomes(cli_env, 1)

    # 2. the newest entry rewritten, its hash recomputed
    old = saved[-1]
    forged = seal(seq=old["seq"], at=old["at"].astimezone(UTC), actor="someone-else",
                  action=old["action"], target=old["target"], before=None, after=None,
                  prev_hash=old["prev_hash"])
    with cli_env.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET actor = :a, before_json = NULL, "
                          "after_json = NULL, hash = :h WHERE seq = :s"),
                     {"a": forged.actor, "h": forged.hash, "s": forged.seq})
    bare, err = bare_and_anchored()
    assert bare["ok"]
    assert f"audit chain broken at entry {top} (forged)" in err
    put_back(cli_env, saved)

    # 3. a forged entry appended after the newest checkpoint
    appended = seal(seq=top + 1, at=old["at"].astimezone(UTC), actor="mallory",
                    action="principal.add", target="principal:mallory", before=None,
                    after={"role": "bureau-admin"}, prev_hash=old["hash"])
    with cli_env.engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_entry (seq, at, actor, action, target, "
                          "after_json, prev_hash, hash) VALUES (:s, :at, :a, :ac, :t, :j, "
                          ":p, :h)").bindparams(bindparam("at", type_=AT)),
                     {"s": appended.seq, "at": appended.at, "a": appended.actor,
                      "ac": appended.action, "t": appended.target,
                      "j": json.dumps(appended.after, separators=(",", ":")),
                      "p": appended.prev_hash, "h": appended.hash})
    bare, err = bare_and_anchored()
    assert bare["ok"]
    assert f"audit chain broken at entry {top + 1} (forged)" in err
    code, _, err = run(capsys, "audit", "verify")  # the server's own anchor and key say so too
    assert code == PermanentError.exit_code and "(forged)" in err
    put_back(cli_env, saved)
    assert run(capsys, "audit", "verify", "--anchor", str(anchor))[0] == 0


def test_an_edited_anchor_file_is_refused(cli_env: Plane, capsys: pytest.CaptureFixture[str],
                                          plane_settings: dict[str, Any],
                                          tmp_path: Path) -> None:
    anchor, key = plane_settings["audit_anchor_file"], plane_settings["audit_key_file"]
    for name in ("audit.four", "audit.five"):  # whatever ran before: at least two entries
        assert run(capsys, "principals", "add", name, "--role", "bureau-auditor",
                   "--person", name)[0] == 0
    checkpointed(cli_env, anchor)
    lines = anchor.read_text().splitlines()
    newest = json.loads(lines[-1])
    back = newest["seq"] - 1
    copy = tmp_path / "copy.jsonl"
    # the newest checkpoint moved back to an earlier, shorter head: its signature fails
    moved = json.dumps({**newest, "seq": back})
    copy.write_text("\n".join([*lines[:-1], moved]) + "\n")
    code, _, err = run(capsys, "audit", "verify", "--anchor", str(copy), "--key-file", str(key))
    assert code == PermanentError.exit_code
    assert f"{copy} line {len(lines)}: the checkpoint of entry {back} is not signed" in err
    copy.write_text("\n".join([*lines, moved]) + "\n")  # and seqs may not go back
    code, _, err = run(capsys, "audit", "verify", "--anchor", str(copy))
    assert code == PermanentError.exit_code
    assert f"checkpoint {back} comes after checkpoint {newest['seq']}" in err
    copy.write_text(moved + "\n")
    code, _, err = run(capsys, "audit", "verify", "--anchor", str(copy))  # the server checks
    assert code == PermanentError.exit_code and "is not signed with this server's" in err
    copy.write_text("\n".join(lines) + "\nnot json\n")
    code, _, err = run(capsys, "audit", "verify", "--anchor", str(copy))
    assert code == InvalidInput.exit_code and f"line {len(lines) + 1} is not JSON" in err
    copy.write_text("")
    code, _, err = run(capsys, "audit", "verify", "--anchor", str(copy))
    assert code == InvalidInput.exit_code and "holds no checkpoint" in err
    code, _, err = run(capsys, "audit", "verify", "--key-file", str(key))
    assert code == InvalidInput.exit_code and "give --anchor too" in err


@pytest.mark.slow
def test_govcloud_serve_keeps_its_key_and_anchor_in_the_state_dir(
        plane: Plane, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The composition root as an operator runs it: ``admin bootstrap`` makes the key (0600)
    in the XDG state dir, ``serve`` keys the log with it and writes checkpoints beside it,
    one more when it stops; ``audit verify --anchor`` with them passes."""
    import stat

    from tests.served import ServedPlane

    assert plane.sim.clouds_yaml is not None
    served = ServedPlane(tmp_path, database_url=f"sqlite:///{tmp_path / 'g.db'}",
                         catalogue=plane.catalogue, clouds_yaml=plane.sim.clouds_yaml,
                         env={"GOVCLOUD_AUDIT_CHECKPOINT_INTERVAL_S": "3600"})
    token = served.bootstrap()
    state = tmp_path / "state" / "govcloud"
    key, anchor = state / "audit.key", state / "audit-anchor.jsonl"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and not anchor.exists()
    served.serve()
    try:
        deadline = time.monotonic() + 30  # the first one is due at the writer's first tick
        while (first := last_checkpoint(anchor)) is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert first.seq >= 1
        served.api(token, "POST", "/principals", {"name": "late.one", "role":
                                                  "bureau-auditor", "person": "late.one"})
    finally:
        served.stop()
    from govcloud.store.engine import make_engine

    db = make_engine(served.db)
    try:
        with db.connect() as conn:
            head = conn.execute(text("SELECT max(seq) FROM audit_entry")).scalar_one()
    finally:
        db.dispose()
    newest = last_checkpoint(anchor)
    assert newest is not None and newest.seq == head > first.seq  # written at shutdown
    assert "audit checkpoint {" in served.log.read_text()
    served.serve()
    try:
        code, out, err = run(capsys, "audit", "verify", "--server", served.url, "--token",
                             token, "--anchor", str(anchor), "--key-file", str(key))
    finally:
        served.stop()
    assert code == 0, err
    assert f"reaches the checkpoint of entry {head}" in out
