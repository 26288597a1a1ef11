"""Database URLs naming several PostgreSQL hosts (libpq's ``h1:p1,h2:p2``) reach psycopg as
one multi-host connection string; and ``govcloud serve``'s lock on a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine

from govcloud.errors import InvalidInput, PermanentError
from govcloud.store.engine import display_url, normalise_url
from govcloud.store.serve_lock import hold_sqlite_database, lock_path


def test_several_hosts_become_host_parameters() -> None:
    url = normalise_url("postgresql://gov:s3cret@db1.gd:5432,db2.gd:5433/govcloud"
                        "?target_session_attrs=read-write&sslmode=require")
    assert url.drivername == "postgresql+psycopg" and url.database == "govcloud"
    assert url.query == {"host": ("db1.gd:5432", "db2.gd:5433"),
                         "target_session_attrs": "read-write", "sslmode": "require"}
    args = create_engine(url).dialect.create_connect_args(url)[1]
    assert (args["host"], args["port"]) == ("db1.gd,db2.gd", "5432,5433")
    assert args["password"] == "s3cret" and args["target_session_attrs"] == "read-write"
    assert "s3cret" not in display_url("postgresql://gov:s3cret@h1:1,h2:2/db")


def test_one_host_is_left_as_it_was() -> None:
    url = normalise_url("postgresql://gov@db1:5432/govcloud")
    assert (url.host, url.port, dict(url.query)) == ("db1", 5432, {})


@pytest.mark.parametrize("url", ["postgresql://u@h1,/db", "postgresql://u@,h2/db",
                                 "postgresql://u@" + ",".join(f"h{i}" for i in range(9)) +
                                 "/db"])
def test_a_bad_host_list_is_refused_with_a_hint(url: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_url(url)
    assert info.value.hint and "target_session_attrs" in info.value.hint


def test_one_serve_per_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gc.db'}"
    held = hold_sqlite_database(url)
    assert held is not None and lock_path(tmp_path / "gc.db").is_file()
    with pytest.raises(PermanentError) as info:
        hold_sqlite_database(url)
    assert info.value.message.startswith("another govcloud serve (pid ")
    assert "PostgreSQL" in (info.value.hint or "")
    held.release()
    again = hold_sqlite_database(url)  # released: the next one may serve
    assert again is not None
    again.release()
    assert hold_sqlite_database("sqlite://") is None
    assert hold_sqlite_database("postgresql://u@h/db") is None
