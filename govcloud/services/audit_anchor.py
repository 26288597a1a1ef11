"""The audit log's key file and its anchor: signed checkpoints of the chain's head.

``open_key(engine, path)`` reads the audit key (or makes it, mode 0600, the first time — and
then gives the entries written before it their MAC) and returns the engine keyed with it
(``govcloud.store.audit.keyed``). ``CheckpointWriter`` appends a signed checkpoint of the
chain's head to the anchor file (JSON lines, one ``Checkpoint`` each) whenever
``every_entries`` entries came after the last one, or ``interval_s`` passed while the log grew,
and once more when the server stops; each checkpoint is also logged. It signs only a head
that verifies from the previous checkpoint, with every entry's MAC.

What a checkpoint cannot cover: entries written after the newest one. Someone who can write
the database can delete those without a trace until the next checkpoint would have included
them; a smaller ``audit_checkpoint_entries`` / ``audit_checkpoint_interval_s`` shortens that
window (docs/security.md).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from govcloud.domain.audit import GENESIS, ChainAnchor, Tampering, VerifyResult
from govcloud.domain.audit_signing import (
    KEY_BYTES,
    AuditKey,
    Checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from govcloud.errors import InvalidInput, PermanentError
from govcloud.store.audit import AuditLog, key_of, keyed, write_session
from govcloud.store.tables import utcnow

log = logging.getLogger(__name__)
# Each checkpoint is logged at INFO whatever the root logger's level (warnings by default): the
# server's log, shipped off the host, is a second copy of the anchor.
log.setLevel(logging.INFO)

MAX_KEY_FILE = 256
TAIL_BYTES = 4096  # the newest checkpoint is within the anchor file's last 4 KiB


def read_key(path: Path) -> AuditKey:
    """The audit key in ``path`` (a regular file of at most 256 bytes)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError as exc:
        raise InvalidInput(f"cannot read the audit key file {path}: {exc.strerror}",
                           hint="give its path with --key-file (GOVCLOUD_AUDIT_KEY_FILE for "
                                "the server)") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidInput(f"the audit key file {path} is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_KEY_FILE + 1)
    if len(data) > MAX_KEY_FILE:
        raise InvalidInput(f"the audit key file {path} is too long to be an audit key")
    return AuditKey.from_text(data.decode("ascii", "replace"), source=f"{path}")


def load_or_create_key(path: Path) -> tuple[AuditKey, bool]:
    """The server's audit key, made (mode 0600, in a 0700 directory when that is new) if
    ``path`` does not exist; and whether it was made now. A key file that others may read or
    write is refused: whoever can read it can forge entries."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = AuditKey(secrets.token_bytes(KEY_BYTES))
        # written whole to a file of our own, then linked into place: a process starting at
        # the same moment (serve and admin bootstrap) sees the whole key or none
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(key.to_text())
                handle.flush()
                os.fsync(handle.fileno())
            os.link(draft, path)
        except FileExistsError:  # another process made it first: use theirs
            return read_key(path), False
        finally:
            draft.unlink(missing_ok=True)
        log.warning("audit: made a new audit key in %s (key id %s); back it up apart from "
                    "the database", path, key.key_id)
        return key, True
    if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077:
        raise InvalidInput(f"the audit key file {path} may be read or written by others "
                           f"(mode {stat.S_IMODE(info.st_mode):o})",
                           hint=f"chmod 600 {path}")
    return read_key(path), False


def open_key(engine: Engine, path: Path) -> tuple[Engine, AuditKey]:
    """``engine`` keyed with the audit key in ``path``, and the key. When the key is made now,
    the entries already in the log (a chain that verifies) get their MAC in the same step."""
    key, made = load_or_create_key(path)
    engine = keyed(engine, key)
    if made:
        with write_session(engine) as session:
            signed = AuditLog(session=session).sign_unsigned()
            session.commit()
        if signed:
            log.warning("audit: gave %d existing entries their MAC with the new key", signed)
    return engine, key


# --- the anchor file --------------------------------------------------------------------------

def append_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Append one line and flush it to disk (the file is made 0644: auditors read it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    with os.fdopen(fd, "a", encoding="ascii") as handle:
        handle.write(checkpoint.to_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def last_checkpoint(path: Path) -> Checkpoint | None:
    """The anchor file's newest checkpoint (None: no file, or no checkpoint in it yet)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_BYTES))
            tail = handle.read(TAIL_BYTES).decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PermanentError(f"cannot read the audit anchor file {path}: {exc.strerror}"
                             ) from None
    lines = [line for line in tail.split("\n")[1 if size > TAIL_BYTES else 0:] if line.strip()]
    if not lines:
        return None
    return parse_checkpoint(lines[-1], where=f"the last line of {path}")


def read_checkpoints(path: Path) -> Iterator[tuple[int, Checkpoint]]:
    """Every checkpoint of an anchor file with its line number (blank lines skipped); a line
    that is not a checkpoint is an InvalidInput naming it. Reads a line at a time."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InvalidInput(f"cannot read the anchor file {path}: {exc.strerror}",
                           hint="give the anchor file's path, e.g. --anchor audit-anchor.jsonl"
                           ) from None
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise InvalidInput(f"the anchor file {path} is not a regular file")
        for number, raw in enumerate(iter(lambda: handle.readline(2048), b""), start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"{path} line {number} is not UTF-8 text") from None
            if line.strip():
                yield number, parse_checkpoint(line.rstrip("\n"),
                                               where=f"{path} line {number}")


# --- writing checkpoints ----------------------------------------------------------------------

class CheckpointWriter:
    """Signs and appends checkpoints of the chain's head (``tick``); ``start`` runs it in a
    thread. ``last`` is the newest checkpoint written (or found in the file at start)."""

    def __init__(self, *, engine: Engine, key: AuditKey, anchor_file: Path,
                 interval_s: float, every_entries: int,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.key = key
        self.anchor_file = anchor_file
        self.interval_s = interval_s
        self.every_entries = every_entries
        self.clock = clock
        self.last = last_checkpoint(anchor_file)
        if self.last is not None and not self.last.signed_by(key):
            log.error("audit: the newest checkpoint in %s is not signed with this server's "
                      "key (key id %s): starting a new series", anchor_file, key.key_id)
            self.last = None
        self.problem: str | None = None  # why the last tick signed nothing it should have

    def _due(self, head: ChainAnchor, now: datetime) -> bool:
        last = self.last
        if last is None:
            return True
        if head.seq - last.seq >= self.every_entries:
            return True
        return (now - datetime.fromisoformat(last.at)).total_seconds() >= self.interval_s

    def tick(self, *, force: bool = False) -> Checkpoint | None:
        """Write a checkpoint if one is due (``force``: whenever the head moved)."""
        with Session(self.engine) as session:
            audit = AuditLog(session=session)
            head = audit.head()
            last = self.last
            if head.seq == 0 or (last is not None and head == ChainAnchor(last.seq, last.hash)):
                return None
            now = self.clock()
            if not force and not self._due(head, now):
                return None
            start = GENESIS if last is None else ChainAnchor(last.seq, last.hash)
            if last is not None:
                stored = audit.find_entry(last.seq)
                if stored is None or stored.hash != last.hash:
                    self._refuse(f"entry {last.seq} is no longer the one checkpointed at "
                                 f"{last.at} (the chain was cut off or rewritten)")
                    return None
            result = audit.verify(after=start)
            if not result.ok:
                self._refuse(result.describe())
                return None
        checkpoint = sign_checkpoint(self.key, seq=result.head.seq,
                                     entry_hash=result.head.hash, at=now)
        append_checkpoint(self.anchor_file, checkpoint)
        self.last, self.problem = checkpoint, None
        log.info("audit checkpoint %s", checkpoint.to_json())
        return checkpoint

    def _refuse(self, why: str) -> None:
        if why != self.problem:
            log.error("audit: no checkpoint written: %s", why)
        self.problem = why

    def start(self) -> Callable[[], None]:
        """Run ``tick`` every few seconds in a daemon thread; the returned function stops it
        after one last checkpoint of whatever came since the newest one."""
        stop = threading.Event()

        def run() -> None:
            period = min(5.0, self.interval_s)
            while not stop.wait(period):
                try:
                    self.tick()
                except Exception:  # keep checkpointing after a passing database error
                    log.exception("audit: writing a checkpoint failed")

        thread = threading.Thread(target=run, name="govcloud-audit-checkpoints", daemon=True)
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join(timeout=30)
            try:
                self.tick(force=True)
            except Exception:
                log.exception("audit: the final checkpoint failed")

        return halt


# --- verifying against a checkpoint -----------------------------------------------------------

def verify_log(engine: Engine, *, checkpoint: Checkpoint | None = None,
               anchor_file: Path | None = None) -> dict[str, Any]:
    """Verify the whole chain — with every entry's MAC when the engine is keyed — and that it
    still reaches ``checkpoint`` (by default the newest one in ``anchor_file``) with the same
    hash. A checkpoint not signed with this server's key fails the verification."""
    with Session(engine) as session:
        key = key_of(session)
        if checkpoint is not None and key is None:
            raise InvalidInput("this server keeps no audit key, so it cannot check a "
                               "checkpoint's signature",
                               hint="start it with GOVCLOUD_AUDIT_KEY_FILE (govcloud serve "
                                    "does by default)")
        if checkpoint is None and key is not None and anchor_file is not None:
            checkpoint = last_checkpoint(anchor_file)
        if checkpoint is not None and key is not None and not checkpoint.signed_by(key):
            result = VerifyResult(
                ok=False, checked=0, head=GENESIS, seq=checkpoint.seq, kind=Tampering.FORGED,
                reason=f"the checkpoint of entry {checkpoint.seq} ({checkpoint.at}) is not "
                       f"signed with this server's audit key (key id {key.key_id}): it was "
                       "edited, or made with another key")
        else:
            anchor = None if checkpoint is None else ChainAnchor(checkpoint.seq, checkpoint.hash)
            result = AuditLog(session=session).verify(anchor=anchor)
    description = result.describe()
    if result.ok:
        description += ("; every entry carries the audit key's MAC" if key is not None else
                        "; no audit key: entry MACs not checked")
        description += ("" if checkpoint is None else
                        f"; reaches the checkpoint of entry {checkpoint.seq} ({checkpoint.at})")
    return {**result.to_dict(), "description": description, "keyed": key is not None,
            "checkpoint": None if checkpoint is None else checkpoint.to_dict()}
