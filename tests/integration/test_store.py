from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select
from sqlmodel import Session

from govcloud.domain.sites import Site, SiteRole, default_sites
from govcloud.errors import InvalidInput, NotFound
from govcloud.store.bulk import Delete, Insert, Update, insert_rows, write_all
from govcloud.store.engine import display_url, make_engine, normalise_url
from govcloud.store.migrate import current, head, upgrade
from govcloud.store.sites import SiteRepository
from govcloud.store.tables import SiteRow, metadata
from govcloud.store.tables_metering import UsageHourRow
from govcloud.store.tables_provisioning import ProvisionEventRow, ReservationLedgerRow

HEAD = "0030_servers_listing_index"  # the newest revision in migrations/versions


def test_current_of_an_empty_database_is_none(database_url: str) -> None:
    state = current(database_url)
    assert state.current is None
    assert state.head == head() == HEAD
    assert not state.up_to_date


def test_upgrade_from_empty_creates_the_schema(database_url: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # migrations are found in the package, not relative to cwd
    state = upgrade(database_url)
    assert state.current == state.head == HEAD
    assert state.up_to_date
    eng = make_engine(database_url)
    try:
        tables = set(inspect(eng).get_table_names())
    finally:
        eng.dispose()
    assert {"site", "alembic_version"} <= tables
    assert current(database_url).to_dict() == {
        "database": display_url(database_url), "current": HEAD, "head": HEAD,
        "up_to_date": True}


def test_upgrade_twice_is_harmless(database_url: str) -> None:
    upgrade(database_url)
    assert upgrade(database_url).current == HEAD


def test_head_matches_the_table_metadata(engine: Engine) -> None:
    """Alembic owns the schema: a model change without a revision fails here."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True,
                                                     "compare_server_default": True})
        diff = compare_metadata(ctx, metadata)
    assert diff == []


def test_site_repository_round_trip(engine: Engine) -> None:
    with Session(engine) as session:
        repo = SiteRepository(session=session)
        for site in default_sites():
            assert repo.upsert(site) == site
        session.commit()
    with Session(engine) as session:
        repo = SiteRepository(session=session)
        assert [s.name for s in repo.list_sites()] == ["DR-LOCAL", "DR-REMOTE", "PROD"]
        assert repo.get_site("PROD").role is SiteRole.PRODUCTION
        assert repo.find_site("NOPE") is None
        with pytest.raises(NotFound, match="NOPE"):
            repo.get_site("NOPE")


def test_upsert_updates_in_place_and_keeps_created_at(engine: Engine) -> None:
    with Session(engine) as session:
        SiteRepository(session=session).upsert(Site("SZ", "sz", "One", SiteRole.CITY))
        session.commit()
        created = session.get(SiteRow, "SZ")
        assert created is not None
        first_created_at = created.created_at
    with Session(engine) as session:
        repo = SiteRepository(session=session)
        updated = repo.upsert(Site("SZ", "sz-new", "Two", SiteRole.CITY))
        session.commit()
        assert updated.cloud == "sz-new"
        row = session.get(SiteRow, "SZ")
        assert row is not None
        assert row.region == "Two"
        assert row.created_at == first_created_at
        assert isinstance(row.created_at, datetime)
        assert len(list(repo.list_sites())) == 1


def test_uncommitted_changes_are_rolled_back(engine: Engine) -> None:
    with Session(engine) as session:
        SiteRepository(session=session).upsert(Site("GZ", "gz", "One", SiteRole.CITY))
        session.rollback()
    with Session(engine) as session:
        assert SiteRepository(session=session).find_site("GZ") is None


def test_insert_rows_writes_awkward_values_exactly_and_rolls_back_with_the_transaction(
        engine: Engine) -> None:
    """PostgreSQL sends the rows as binary arrays (one INSERT ... unnest), SQLite inserts them
    one by one: both store them as given
    (tabs, newlines, backslashes, quotes, non-ASCII, NULL, aware times) and both inside the
    caller's transaction."""
    table = ProvisionEventRow.__table__  # type: ignore[attr-defined]
    at = datetime(2026, 11, 29, 5, 0, 1, 123456, tzinfo=UTC)
    messages = ["tab\there", "line\nbreak\r\n", "back\\slash \\N \\.", "quote ' \" ,;|",
                "省政务云 — ✓", "\\N", ""]
    rows = [{"request_id": i, "at": at, "kind": "note", "message": m}
            for i, m in enumerate(messages, start=1)]
    with engine.connect() as conn:
        insert_rows(conn, table, rows)
        conn.rollback()
        assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
        insert_rows(conn, table, rows)
        insert_rows(conn, table, [])
        conn.commit()
    with engine.connect() as conn:
        got = conn.execute(select(table).order_by(table.c.request_id)).all()
    assert [r.message for r in got] == messages
    assert [r.id for r in got] == sorted(r.id for r in got) and len({r.id for r in got}) == 7
    assert all((r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC)) == at for r in got)


def test_sqlite_pragmas(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'deep' / 'dir' / 'x.db'}")
    try:
        with eng.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    finally:
        eng.dispose()
    assert (tmp_path / "deep" / "dir" / "x.db").exists()


@pytest.mark.parametrize(("url", "driver"), [
    ("postgresql://u@h/db", "postgresql+psycopg"),
    ("postgres://u@h/db", "postgresql+psycopg"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
    ("sqlite:///x.db", "sqlite"),
])
def test_urls_use_psycopg3_for_postgresql(url: str, driver: str) -> None:
    assert normalise_url(url).drivername == driver


def test_display_url_hides_the_password() -> None:
    assert "s3cret" not in display_url("postgresql://gov:s3cret@db/govcloud")


@pytest.mark.parametrize("url", ["not a url", "mysql://u@h/db"])
def test_bad_urls_are_invalid_input(url: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_url(url)
    assert info.value.hint


def test_concurrent_upgrades_do_not_collide(database_url: str) -> None:
    """Several control-plane processes may start at once against a fresh database."""
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-m", "govcloud.cli", "db", "upgrade",
                               "--database-url", database_url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    for p in procs:
        for stream in (p.stdout, p.stderr):
            if stream:
                stream.close()
    assert results == [(0, "")] * 3
    assert current(database_url).current == HEAD


def test_write_all_updates_by_compound_key_in_order_and_rolls_back(engine: Engine) -> None:
    """An Update sets only the rows whose keys match, only the columns given, and sees the
    Insert before it; none of it survives a rollback."""
    table = ReservationLedgerRow.__table__  # type: ignore[attr-defined]
    zero = {"vcpu": 0, "ram_mb": 0, "disk_gb": 0, "instances": 0}
    rows = [{"site": s, "department": d, **zero} for s in ("PROD", "DR-LOCAL")
            for d in ("*", "gd-psd")]
    with engine.connect() as conn:
        write_all(conn, [Insert(table, rows)])
        conn.commit()
    operations = [
        Insert(table, [{"site": "PROD", "department": "gd-new", **zero}]),
        Update(table, ("site", "department"), [
            {"site": "PROD", "department": "gd-psd", "vcpu": 8, "instances": 2},
            {"site": "DR-LOCAL", "department": "*", "vcpu": 2**31 - 1, "instances": 1},
            {"site": "PROD", "department": "gd-new", "vcpu": 4, "instances": 1},
            {"site": "NOWHERE", "department": "gd-psd", "vcpu": 99, "instances": 9}]),
        Update(table, ("site", "department"), [])]
    with engine.connect() as conn:
        write_all(conn, operations)
        conn.rollback()
        write_all(conn, [Update(table, ("site", "department"), [
            {"site": "PROD", "department": "*", "vcpu": 1, "instances": 1}])])
        conn.commit()
    with engine.connect() as conn:
        got = {(r.site, r.department): (r.vcpu, r.ram_mb, r.instances)
               for r in conn.execute(select(table))}
    assert got == {("PROD", "*"): (1, 0, 1), ("PROD", "gd-psd"): (0, 0, 0),
                   ("DR-LOCAL", "*"): (0, 0, 0), ("DR-LOCAL", "gd-psd"): (0, 0, 0)}
    with engine.connect() as conn:
        write_all(conn, operations)
        conn.commit()
        got = {(r.site, r.department): (r.vcpu, r.ram_mb, r.instances)
               for r in conn.execute(select(table))}
    assert got == {("PROD", "*"): (1, 0, 1), ("PROD", "gd-psd"): (8, 0, 2),
                   ("DR-LOCAL", "*"): (2**31 - 1, 0, 1), ("DR-LOCAL", "gd-psd"): (0, 0, 0),
                   ("PROD", "gd-new"): (4, 0, 1)}


def test_write_all_deletes_by_key_and_inserts_shared_columns_once(engine: Engine) -> None:
    """A Delete removes only the rows whose every given column matches; an Insert's ``same``
    columns (here an aware hour and a site) land on every row as if each row held them; a
    rollback undoes both."""
    table = UsageHourRow.__table__  # type: ignore[attr-defined]
    hour = datetime(2026, 11, 3, 10, tzinfo=UTC)
    keys = [{"department": d, "flavor": "m1.small", "kind": "primary", "resource": r}
            for d in ("gd-tax", "gd-edu") for r in ("vcpu", "servers")]
    insert = Insert(table, [{**k, "quantity": i} for i, k in enumerate(keys, start=1)],
                    same={"hour": hour, "site": "PROD"})
    gone = Delete(table, [{"hour": hour, "site": "PROD", **keys[0]},
                          {"hour": hour, "site": "DR-LOCAL", **keys[1]},  # no such row
                          {"hour": hour, "site": "PROD", **keys[3]}])
    with engine.connect() as conn:
        write_all(conn, [insert, gone])
        conn.rollback()
        assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
        write_all(conn, [insert, gone, Delete(table, [])])
        conn.commit()
    with engine.connect() as conn:
        got = {(r.site, r.department, r.resource, r.quantity,
                r.hour if r.hour.tzinfo else r.hour.replace(tzinfo=UTC))
               for r in conn.execute(select(table))}
    assert got == {("PROD", "gd-tax", "servers", 2, hour), ("PROD", "gd-edu", "vcpu", 3, hour)}
