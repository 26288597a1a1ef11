"""The audit key file and the anchor file, without a database: which key files are accepted
or refused, what is read back as the newest checkpoint, which anchor lines are refused, and
when a checkpoint is due. (Signing the chain's head and verifying it against a checkpoint:
tests/integration/test_audit_anchor.py.)"""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from govcloud.domain.audit import ChainAnchor
from govcloud.domain.audit_signing import AuditKey, Checkpoint, sign_checkpoint
from govcloud.errors import InvalidInput
from govcloud.services.audit_anchor import (
    MAX_KEY_FILE,
    CheckpointWriter,
    append_checkpoint,
    last_checkpoint,
    load_or_create_key,
    read_checkpoints,
    read_key,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
KEY = AuditKey(bytes(range(32)))
HASH = "ab" * 32


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def checkpoint(seq: int, *, key: AuditKey = KEY, at: datetime = T0) -> Checkpoint:
    return sign_checkpoint(key, seq=seq, entry_hash=f"{seq % 256:02x}" * 32, at=at)


# --- the key file -----------------------------------------------------------------------------

def test_the_first_key_is_made_private_in_a_private_directory(tmp_path: Path) -> None:
    path = tmp_path / "state" / "audit.key"
    key, made = load_or_create_key(path)
    assert made
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert AuditKey.from_text(path.read_text()).key_id == key.key_id
    assert [p.name for p in path.parent.iterdir()] == ["audit.key"]  # no draft left behind


def test_an_existing_key_is_read_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    first, _ = load_or_create_key(path)
    again, made = load_or_create_key(path)
    assert not made and again.key_id == first.key_id


@pytest.mark.parametrize("bits", [0o640, 0o604, 0o620, 0o602])
def test_a_key_file_others_may_read_or_write_is_refused(tmp_path: Path, bits: int) -> None:
    path = tmp_path / "audit.key"
    load_or_create_key(path)
    path.chmod(bits)
    with pytest.raises(InvalidInput, match="read or written by others") as caught:
        load_or_create_key(path)
    assert caught.value.hint == f"chmod 600 {path}"


def test_a_key_file_behind_a_link_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.key"
    load_or_create_key(real)
    link = tmp_path / "audit.key"
    link.symlink_to(real)
    with pytest.raises(InvalidInput, match="cannot read the audit key file"):
        load_or_create_key(link)


def test_a_key_file_too_long_to_be_a_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    path.write_text(KEY.to_text() + " " * MAX_KEY_FILE)
    with pytest.raises(InvalidInput, match="too long"):
        read_key(path)
    path.write_text(KEY.to_text() + " " * (MAX_KEY_FILE - len(KEY.to_text())))
    assert read_key(path).key_id == KEY.key_id  # at the limit: still a key


def test_a_directory_or_a_missing_file_is_not_a_key(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a regular file"):
        read_key(tmp_path)
    with pytest.raises(InvalidInput, match="cannot read") as caught:
        read_key(tmp_path / "nothing.key")
    assert "--key-file" in (caught.value.hint or "")


def test_a_key_file_that_is_not_a_key_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    path.write_text("not a key\n")
    with pytest.raises(InvalidInput, match=f"{path} is not an audit key"):
        read_key(path)


# --- the anchor file --------------------------------------------------------------------------

def test_no_anchor_file_means_no_checkpoint_yet(tmp_path: Path) -> None:
    assert last_checkpoint(tmp_path / "anchor.jsonl") is None
    (tmp_path / "empty.jsonl").write_text("\n\n")
    assert last_checkpoint(tmp_path / "empty.jsonl") is None


def test_the_newest_checkpoint_is_the_last_line_even_in_a_long_file(tmp_path: Path) -> None:
    path = tmp_path / "anchor.jsonl"
    for seq in range(1, 41):  # ~10 KiB: more than the tail that is read
        append_checkpoint(path, checkpoint(seq))
    assert mode(path) == 0o644  # auditors read it
    assert last_checkpoint(path) == checkpoint(40)
    with path.open("a") as handle:
        handle.write("\n\n")  # blank lines after it change nothing
    assert last_checkpoint(path) == checkpoint(40)


def test_a_last_line_that_is_not_a_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "anchor.jsonl"
    append_checkpoint(path, checkpoint(1))
    with path.open("a") as handle:
        handle.write('{"seq": 2}\n')
    with pytest.raises(InvalidInput, match="the last line of"):
        last_checkpoint(path)


def test_every_checkpoint_is_read_with_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "anchor.jsonl"
    path.write_text(checkpoint(1).to_json() + "\n\n" + checkpoint(5).to_json() + "\n")
    assert list(read_checkpoints(path)) == [(1, checkpoint(1)), (3, checkpoint(5))]


def test_a_bad_anchor_line_is_refused_naming_its_number(tmp_path: Path) -> None:
    path = tmp_path / "anchor.jsonl"
    path.write_text(checkpoint(1).to_json() + "\nnot json\n")
    with pytest.raises(InvalidInput, match=r"line 2 is not JSON"):
        list(read_checkpoints(path))
    path.write_bytes(checkpoint(1).to_json().encode() + b"\n\xff\xfe\n")
    with pytest.raises(InvalidInput, match=r"line 2 is not UTF-8"):
        list(read_checkpoints(path))


def test_an_anchor_file_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read the anchor file") as caught:
        list(read_checkpoints(tmp_path / "nothing.jsonl"))
    assert "--anchor" in (caught.value.hint or "")


# --- when a checkpoint is due -----------------------------------------------------------------

def writer(anchor: Path, *, every: int = 5, interval_s: float = 60.0) -> CheckpointWriter:
    return CheckpointWriter(engine=None, key=KEY, anchor_file=anchor,  # type: ignore[arg-type]
                            interval_s=interval_s, every_entries=every)


def test_the_first_checkpoint_is_due_at_once(tmp_path: Path) -> None:
    w = writer(tmp_path / "anchor.jsonl")
    assert w.last is None
    assert w._due(ChainAnchor(1, HASH), T0)


def test_a_checkpoint_is_due_after_enough_entries_or_enough_time(tmp_path: Path) -> None:
    anchor = tmp_path / "anchor.jsonl"
    append_checkpoint(anchor, checkpoint(10))
    w = writer(anchor, every=5, interval_s=60.0)
    assert w.last == checkpoint(10)  # continues the series in the file
    assert not w._due(ChainAnchor(14, HASH), T0 + timedelta(seconds=59))
    assert w._due(ChainAnchor(15, HASH), T0 + timedelta(seconds=1))
    assert w._due(ChainAnchor(11, HASH), T0 + timedelta(seconds=60))


def test_a_series_signed_with_another_key_is_not_continued(tmp_path: Path) -> None:
    anchor = tmp_path / "anchor.jsonl"
    append_checkpoint(anchor, checkpoint(10, key=AuditKey(bytes(32))))
    w = writer(anchor)
    assert w.last is None  # a new series starts: the next tick signs whatever the head is
    assert w._due(ChainAnchor(11, HASH), T0)


def test_the_key_file_is_not_world_readable_even_with_a_loose_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        load_or_create_key(tmp_path / "k" / "audit.key")
    finally:
        os.umask(old)
    assert mode(tmp_path / "k" / "audit.key") == 0o600
    assert mode(tmp_path / "k") == 0o700
