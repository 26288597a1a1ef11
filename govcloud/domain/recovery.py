"""Recovery points and drill records as stored (pure): what a protection cycle copied to a DR
site's server, and what a drill achieved — the values the posture judges with.

A protection cycle ends in a *recovery point* of one copy server (the server in a DR site that
holds one production server's copy): when it was taken, what was copied (a volume snapshot or a
file sync), how much, the digest of its checksum manifest, and how the cycle ended. Only an
``ok`` point counts: a failed or partial cycle is recorded, never replaces the last good point.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from govcloud.domain.protection import Drill, RecoveryPoint
from govcloud.domain.text import check_identifier
from govcloud.errors import InvalidInput

MAX_SERVER_ID = 64
MAX_ERROR = 2000
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_SERVER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


class PointKind(StrEnum):
    """What a cycle copied."""

    VOLUME_SNAPSHOT = "volume-snapshot"
    VOLUME_BACKUP = "volume-backup"   # Cinder backups of the member's volumes
    FILE_SYNC = "file-sync"


class ArtifactKind(StrEnum):
    """What a recovery point's data is held in, in the DR site (what a drill or a failover
    brings a server up from)."""

    IMAGE = "image"                       # a shelved copy's snapshot image
    VOLUME_SNAPSHOT = "volume-snapshot"   # a Cinder snapshot
    BACKUP = "backup"                     # a Cinder backup, imported into the DR site
    VOLUME = "volume"                     # a Cinder volume restored or synced into
    SERVER = "server"                     # a running copy's guest, synced file by file


MAX_ARTIFACTS = 64
MAX_MANIFEST = 100_000
MAX_PATH = 4096


@dataclass(frozen=True, slots=True)
class Artifact:
    """One thing in the DR site that holds a recovery point's data: its kind, the site
    (region) it lives in and its id there."""

    kind: ArtifactKind
    site: str
    id: str

    def __post_init__(self) -> None:
        check_identifier(self.site, "site")
        if not _SERVER_ID.fullmatch(self.id):
            raise InvalidInput(f"{self.id[:80]!r} is not a resource id",
                               hint="at most 64 letters, digits and '-', '_', '.', ':'")

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind.value, "site": self.site, "id": self.id}


def manifest_digest(manifest: Iterable[tuple[str, str]]) -> str:
    """The digest of a checksum manifest (path, ``sha256:<hex>`` of its content): sha256 of
    its lines ``<checksum>  <path>``, sorted by path — the same manifest gives the same digest
    whatever order it was listed in."""
    h = hashlib.sha256()
    for path, checksum in sorted(manifest):
        h.update(f"{checksum}  {path}\n".encode("utf-8", "surrogateescape"))
    return "sha256:" + h.hexdigest()


def _check_manifest(manifest: tuple[tuple[str, str], ...]) -> None:
    if len(manifest) > MAX_MANIFEST:
        raise InvalidInput(f"a manifest of {len(manifest)} entries is too long",
                           hint=f"at most {MAX_MANIFEST} files per recovery point")
    for path, checksum in manifest:
        if not path or len(path) > MAX_PATH or "\0" in path or "\n" in path:
            raise InvalidInput(f"{path[:80]!r} is not a manifest path",
                               hint=f"a path of 1 to {MAX_PATH} characters, no NUL or newline")
        if not _DIGEST.fullmatch(checksum):
            raise InvalidInput(f"{checksum[:80]!r} is not a checksum",
                               hint="sha256: and 64 lowercase hex digits")
    if len({p for p, _ in manifest}) != len(manifest):
        raise InvalidInput("a manifest names a path twice", hint="one checksum per path")


class PointStatus(StrEnum):
    """How a cycle ended: only ``ok`` makes a recovery point one can recover from."""

    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"


class DrillResult(StrEnum):
    PASSED = "passed"
    FAILED = "failed"


def _names(department: str, system: str, site: str) -> None:
    for value, what, most in ((department, "department", 64), (system, "system", 128),
                              (site, "site", 63)):
        check_identifier(value, what)
        if len(value) > most:
            raise InvalidInput(f"{what} {value[:40]!r}... is longer than {most} characters",
                               hint=f"a {what} has at most {most} characters")


def _aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{what} {value.isoformat()} has no time zone",
                           hint="give times in UTC (with their zone)")


@dataclass(frozen=True, slots=True)
class PointRecord:
    """One protection cycle's outcome for one copy server. An ``ok`` point has its manifest's
    digest (``sha256:<64 hex>``); ``error`` says why a failed or partial one is not good.

    ``artifacts`` say where the data is held in the DR site (what a drill or failover brings a
    server up from); ``manifest`` is the checksum of every file copied (path, ``sha256:``),
    whose digest must be ``manifest_digest`` when given. Both are empty where only the digest
    is known (read in bulk for the posture, or recorded before revision 0013)."""

    department: str
    system: str
    site: str
    server_id: str
    taken_at: datetime
    kind: PointKind
    size_bytes: int
    manifest_digest: str | None
    status: PointStatus = PointStatus.OK
    error: str | None = None
    id: int | None = None
    artifacts: tuple[Artifact, ...] = ()
    manifest: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        _names(self.department, self.system, self.site)
        if len(self.artifacts) > MAX_ARTIFACTS:
            raise InvalidInput(f"{len(self.artifacts)} artifacts for one recovery point",
                               hint=f"at most {MAX_ARTIFACTS}")
        if self.manifest:
            _check_manifest(self.manifest)
            if self.manifest_digest != manifest_digest(self.manifest):
                raise InvalidInput("the manifest's digest does not match its entries",
                                   hint="record manifest_digest(manifest) as the digest")
        if not _SERVER_ID.fullmatch(self.server_id):
            raise InvalidInput(f"{self.server_id[:80]!r} is not a server id",
                               hint=f"a server id is at most {MAX_SERVER_ID} letters, digits "
                                    "and '-', '_', '.', ':'")
        _aware(self.taken_at, "taken_at")
        object.__setattr__(self, "taken_at", self.taken_at.astimezone(UTC))  # stored as UTC
        if isinstance(self.size_bytes, bool) or self.size_bytes < 0:
            raise InvalidInput(f"size {self.size_bytes!r} is negative",
                               hint="the bytes copied, 0 or more")
        if self.manifest_digest is not None and not _DIGEST.fullmatch(self.manifest_digest):
            raise InvalidInput(f"{self.manifest_digest[:80]!r} is not a manifest digest",
                               hint="sha256: and 64 lowercase hex digits")
        if self.status is PointStatus.OK and self.manifest_digest is None:
            raise InvalidInput("an ok recovery point needs its manifest's digest",
                               hint="record the cycle as partial or failed if it has none")
        if self.error is not None and len(self.error) > MAX_ERROR:
            object.__setattr__(self, "error", self.error[:MAX_ERROR])

    def as_point(self) -> RecoveryPoint:
        """The point as the verdict counts it (its site and time)."""
        return RecoveryPoint(self.site, self.taken_at)


@dataclass(frozen=True, slots=True)
class DrillRecord:
    """A drill's summary: when it started, into which site, its result and achieved RTO
    (None when it failed before the system was healthy)."""

    department: str
    system: str
    site: str
    at: datetime
    result: DrillResult
    rto: timedelta | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        _names(self.department, self.system, self.site)
        _aware(self.at, "the drill's start")
        object.__setattr__(self, "at", self.at.astimezone(UTC))
        if self.rto is not None and self.rto < timedelta(0):
            raise InvalidInput("a drill's achieved RTO is negative", hint="0 or more")
        if self.result is DrillResult.PASSED and self.rto is None:
            raise InvalidInput("a passed drill needs its achieved RTO",
                               hint="the time from its start until the system was healthy")

    def as_drill(self) -> Drill:
        return Drill(self.at, self.result is DrillResult.PASSED, self.rto)
