"""The SQLite store is its owner's alone (issue 17, item 9): the database file and the WAL and
shared-memory files SQLite makes beside it are 0600, a directory made for them 0700, and a
store made world-readable by an older govcloud is tightened when it is opened."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> object:
    old = os.umask(0o022)  # what most shells have: new files 0644 unless made otherwise
    yield
    os.umask(old)


def test_a_new_store_and_its_side_files_are_0600(tmp_path: Path) -> None:
    db = tmp_path / "new" / "govcloud.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        upgrade_engine(engine)
        with engine.connect() as conn:  # open: the -wal and -shm files exist now
            conn.execute(text("SELECT count(*) FROM principal")).scalar_one()
            sides = [db.with_name(db.name + s) for s in ("-wal", "-shm")]
            assert all(p.exists() for p in sides)
            assert {p.name: _mode(p) for p in (db, *sides)} == {
                p.name: 0o600 for p in (db, *sides)}
    finally:
        engine.dispose()
    assert _mode(db.parent) == 0o700


def test_a_world_readable_store_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "govcloud.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade_engine(engine)
    engine.dispose()
    for p in tmp_path.iterdir():
        p.chmod(0o644)
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1")).scalar_one()
    finally:
        engine.dispose()
    assert {p.name: _mode(p) for p in tmp_path.iterdir()} == {
        p.name: 0o600 for p in tmp_path.iterdir()}
