"""A rollback loses nothing (docs/migration.md): whatever the targets of a wave hold after the
cutover — files edited in place, appended, added, deleted, renamed, a file larger than one
rsync block edited in its middle, changed modes — is what every legacy host holds after the
rollback. Real sshd sandboxes, ansible-runner and rsync, as in test_wave_run.py."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from govcloud.demo.sandbox import Sandbox
from tests.integration.control.conftest import Plane
from tests.integration.migrate.waves import DATA, cli, make_hosts, ready_wave

pytestmark = pytest.mark.slow

BIG = 3 * 1024 * 1024 + 12345  # rsync's block is at most 128 KiB: many blocks, a partial last


def _tree(root: Path) -> dict[str, tuple[str, str | None]]:
    """relative path → (mode bits, sha256 of a file's bytes; None for a directory) of every
    entry under ``root``, ``root`` itself included as ".". Symlinks are not followed."""
    entries: dict[str, tuple[str, str | None]] = {}
    for p in [root, *sorted(root.rglob("*"))]:
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) \
            else None
        entries[str(p.relative_to(root))] = (stat.filemode(st.st_mode), digest)
    return entries


def _edit_in_place(path: Path, offset: int, patch: bytes) -> None:
    """Overwrite bytes at ``offset``, keeping the file's size and modification time (touch -r:
    rsync's quick check, size and time, cannot see the change)."""
    before = path.stat()
    with path.open("r+b") as f:
        f.seek(offset)
        f.write(patch)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def test_a_rollback_brings_back_every_change_on_every_host(
        cli_env: Plane, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        sandboxes: Callable[[str], Sandbox]) -> None:
    names = ["rb-a", "rb-b", "rb-c"]
    inv, boxes = make_hosts(sandboxes, tmp_path, "gd-hrss", names, files=4)
    for name, (legacy, _) in boxes.items():
        data = legacy.root / DATA.lstrip("/")
        (data / "big.bin").write_bytes(os.urandom(BIG))
        (data / "f3.bin").chmod(0o640)
        (data / "nested" / "old-name.txt").write_text(f"{name} renamed later\n")
        # next to the data path, not in it: the rollback's sync must leave it alone
        (legacy.root / "srv" / "app" / "config.ini").write_text(f"[{name}]\n")
    wave = ready_wave(capsys, inv, "gd-hrss", boxes)
    code, out, err = cli(capsys, "migrate", "run", wave, "--follow")
    assert code == 0, out + err
    assert f"{wave}: done" in out

    expected: dict[str, dict[str, tuple[str, str | None]]] = {}
    for name, (legacy, target) in boxes.items():
        src, dst = legacy.root / DATA.lstrip("/"), target.root / DATA.lstrip("/")
        assert _tree(dst) == _tree(src)  # the migration kept modes too
        assert stat.S_IMODE((dst / "f3.bin").stat().st_mode) == 0o640
        # the target takes writes after the cutover, every kind of them
        _edit_in_place(dst / "f0.bin", 0, b"EDIT")
        _edit_in_place(dst / "big.bin", BIG // 2, f"{name} edited mid-file".encode())
        with (dst / "nested" / "readme.txt").open("ab") as f:
            f.write(b"appended after the cutover\n")
        (dst / "written-after-cutover.txt").write_text(f"{name}: keep me\n")
        (dst / "new-big.bin").write_bytes(os.urandom(BIG + 1))
        (dst / "f1.bin").unlink()
        (dst / "moved").mkdir()
        (dst / "nested" / "old-name.txt").rename(dst / "moved" / "new-name.txt")
        (dst / "f2.bin").rename(dst / "f2-renamed.bin")
        (dst / "f3.bin").chmod(0o600)
        expected[name] = _tree(dst)
        assert expected[name] != _tree(src)  # the legacy host does not have them yet

    code, out, err = cli(capsys, "migrate", "rollback", wave, "--follow")
    assert code == 0, out + err

    for name, (legacy, target) in boxes.items():
        data = legacy.root / DATA.lstrip("/")
        assert _tree(target.root / DATA.lstrip("/")) == expected[name]  # the target untouched
        got = _tree(data)
        assert set(got) == set(expected[name]), name  # added, deleted and renamed alike
        assert got == expected[name], name  # contents and modes of every file
        for gone in ("f1.bin", "f2.bin", "nested/old-name.txt"):
            assert gone not in got
        assert stat.S_IMODE((data / "f3.bin").stat().st_mode) == 0o600
        assert (data / "moved" / "new-name.txt").read_text() == f"{name} renamed later\n"
        assert (legacy.root / "srv" / "app" / "config.ini").read_text() == f"[{name}]\n"
        assert (legacy.root / "run" / f"{name}.running").exists()
        assert not (target.root / "run" / f"{name}.running").exists()
