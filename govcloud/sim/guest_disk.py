"""Guest data that follows images in the simulator.

A simulated server may be backed by an SSH sandbox whose root directory stands in for the
guest's disk (metadata ``sim:root``). When such a server is snapshotted (Nova ``createImage``,
``shelve``) the image's data is a *guest disk*: a gzip'd tar of the sandbox root's regular
files and directories, its first member the marker ``GOVCLOUD-SIM-DISK``. Glance serves it as
the image's data (download), and an upload of such bytes to any region's Glance makes that
image a guest disk too — so download + upload copies the guest's files across regions. A server
booted from such an image (or unshelved from one) gets the files written into its sandbox root.

Volumes, volume snapshots and backups carry no guest data in the simulator.
"""

from __future__ import annotations

import gzip
import io
import logging
import tarfile
from pathlib import Path

from govcloud.sim.model import Server

log = logging.getLogger(__name__)

MARKER = "GOVCLOUD-SIM-DISK"
MAX_BYTES = 64 * 1024 * 1024  # larger guests are not captured (the image carries no files)
_GZIP_MAGIC = b"\x1f\x8b"


def sandbox_root(server: Server) -> Path | None:
    """The server's sandbox root directory, if it has one the simulator may touch (never the
    machine's ``/``)."""
    if "sim:ssh" not in server.metadata:
        return None
    raw = server.metadata.get("sim:root") or ""
    if not raw:
        return None
    root = Path(raw)
    if not root.is_absolute() or root.resolve() == Path("/") or not root.is_dir():
        return None
    return root


def capture(root: Path | None) -> bytes | None:
    """The guest disk of ``root`` (an empty guest when None); None when it is over
    ``MAX_BYTES``. Symlinks and special files are left out; nothing outside ``root`` is read."""
    buf = io.BytesIO()
    total = 0
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(MARKER)
        tar.addfile(info, io.BytesIO(b""))
        for path, arcname in _files(root):
            total += path.stat().st_size if path.is_file() else 0
            if total > MAX_BYTES:
                log.warning("guest disk of %s is over %d bytes: not captured", root, MAX_BYTES)
                return None
            tar.add(path, arcname=arcname, recursive=False)
    return buf.getvalue()


def _files(root: Path | None) -> list[tuple[Path, str]]:
    """The regular files and directories under ``root`` (no symlinks), with their names
    relative to it."""
    if root is None:
        return []
    return [(p, str(p.relative_to(root))) for p in sorted(root.rglob("*"))
            if not p.is_symlink() and (p.is_file() or p.is_dir())]


def is_guest_disk(data: bytes | None) -> bool:
    if not data or not data.startswith(_GZIP_MAGIC) or len(data) > MAX_BYTES * 2:
        return False
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            first = tar.next()
            return first is not None and first.name == MARKER
    except (tarfile.TarError, OSError, EOFError):
        return False


def restore(data: bytes, root: Path) -> int:
    """Write a guest disk's files into ``root`` (over what is there); the number of files."""
    count = 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = [m for m in tar.getmembers() if m.name != MARKER and (m.isfile() or m.isdir())]
        tar.extractall(root, members=members, filter="data")
        count = sum(1 for m in members if m.isfile())
    return count


def give(server: Server, data: bytes | None) -> None:
    """Copy ``data`` (a guest disk or nothing) into the server's sandbox root, if it has one."""
    root = sandbox_root(server)
    if data is None or root is None or not is_guest_disk(data):
        return
    try:
        restore(data, root)
    except (tarfile.TarError, OSError) as exc:  # a guest that cannot be written stays as is
        log.warning("guest disk not restored into %s: %s", root, exc)
