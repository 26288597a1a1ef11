"""Schema migrations, run in-process: ``upgrade(url)`` to head and ``current(url)``."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from govcloud.errors import TemporaryError
from govcloud.store.engine import display_url, make_engine


def alembic_config() -> Config:
    """An Alembic config whose script location is the packaged ``migrations`` folder."""
    cfg = Config()
    location = resources.files("govcloud.store").joinpath("migrations")
    cfg.set_main_option("script_location", str(location))
    return cfg


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@dataclass(frozen=True, slots=True)
class SchemaState:
    database: str
    current: str | None
    head: str | None

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head

    def to_dict(self) -> dict[str, Any]:
        return {"database": self.database, "current": self.current, "head": self.head,
                "up_to_date": self.up_to_date}


def _unreachable(url: str | URL, exc: OperationalError) -> TemporaryError:
    detail = " ".join(str(exc.orig or exc).split())[:300]
    if "locked" in detail:
        return TemporaryError(f"the database {display_url(url)} is busy: {detail}",
                              hint="another process holds a write lock; retry shortly")
    return TemporaryError(f"cannot reach the database {display_url(url)}: {detail}",
                          hint="check GOVCLOUD_DATABASE_URL and that the server is running")


# Serialises concurrent upgrades from several control-plane workers on PostgreSQL.
_PG_MIGRATION_LOCK = 0x60C10D  # arbitrary, fixed


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config()
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as connection, \
            connection.begin():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def upgrade(url: str | URL, revision: str = "head") -> SchemaState:
    """Migrate the database at ``url`` to ``revision`` (default: the newest)."""
    engine = make_engine(url)
    try:
        upgrade_engine(engine, revision)
        return current(url, engine=engine)
    except OperationalError as exc:
        raise _unreachable(url, exc) from exc
    finally:
        engine.dispose()


def current(url: str | URL, *, engine: Engine | None = None) -> SchemaState:
    """The database's schema revision (None before the first upgrade) and the code's head."""
    own = engine is None
    eng = make_engine(url) if engine is None else engine
    try:
        with eng.connect() as connection:
            rev = MigrationContext.configure(connection).get_current_revision()
    except OperationalError as exc:
        raise _unreachable(url, exc) from exc
    finally:
        if own:
            eng.dispose()
    return SchemaState(database=display_url(url), current=rev, head=head())
