"""The store's unit tests that need a database use the same ``db`` fixture as the services'
(a fresh SQLite file, and a PostgreSQL schema when GOVCLOUD_TEST_DATABASE_URL is set)."""

from tests.unit.services.conftest import db

__all__ = ["db"]
