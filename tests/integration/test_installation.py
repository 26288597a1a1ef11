"""The installation id (revision 0024_installation): made once per database by the migration,
the same for every reader, different between databases; a database upgraded with provisioning
requests in it keeps their keys (``legacy_through``), and a database without the row gets one
made, once, however many make it at the same moment."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, delete, insert, text

from govcloud.domain.provisioning import Installation, idempotency_key
from govcloud.store.engine import make_engine
from govcloud.store.installation import find_installation, get_installation
from govcloud.store.migrate import upgrade
from govcloud.store.tables_installation import InstallationRow
from govcloud.store.tables_provisioning import ProvisionRequestRow
from tests.databases import fresh_database


def _requests(engine: Engine, ids: list[int]) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(ProvisionRequestRow.__table__), [  # type: ignore[attr-defined]
            {"id": i, "department": "gd-psd", "system": "case", "dr_level": 1,
             "state": "provisioning", "requester": "ops", "requester_person": "ops",
             "spec_json": "{}", "created_at": now, "updated_at": now} for i in ids])


def test_the_migration_makes_one_id_and_keeps_older_requests_keys(database_url: str) -> None:
    upgrade(database_url, "0022_leases")  # the revision before 0024_installation
    engine = make_engine(database_url)
    try:
        _requests(engine, [3, 7])  # in flight when the control plane is upgraded
        upgrade(database_url)
        made = get_installation(engine)
        assert made.legacy_through == 7 and len(made.id) == 12
        upgrade(database_url)  # again: nothing changes
        assert get_installation(engine) == made
        # request 7's servers were tagged without an installation: still found by that key;
        # the next request's keys carry the installation
        assert idempotency_key(7, "PROD", 1, installation=made) == "govcloud-req-7-prod-1"
        assert idempotency_key(8, "PROD", 1, installation=made) == \
            f"govcloud-req-8-prod-1@{made.id}"
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT COUNT(*) FROM installation")).scalar_one()
        assert rows == 1
    finally:
        engine.dispose()


def test_two_databases_are_two_installations(database_url: str, tmp_path: Path) -> None:
    upgrade(database_url)
    kind = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    (tmp_path / "other").mkdir()
    with fresh_database(kind, tmp_path / "other") as other:
        upgrade(other)
        one, two = make_engine(database_url), make_engine(other)
        try:
            first, second = get_installation(one), get_installation(two)
        finally:
            one.dispose()
            two.dispose()
    assert first.id != second.id
    assert first.legacy_through == second.legacy_through == 0


def test_a_database_without_the_row_gets_one_made_once(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        _requests(engine, [11])
        with engine.begin() as conn:
            conn.execute(delete(InstallationRow.__table__))  # type: ignore[attr-defined]
        assert find_installation(engine) is None
        seen: list[Installation] = []
        threads = [threading.Thread(target=lambda: seen.append(get_installation(engine)))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(seen) == 4 and len(set(seen)) == 1  # they agree on the one row
        assert seen[0].legacy_through == 11
        assert find_installation(engine) == seen[0]
    finally:
        engine.dispose()
