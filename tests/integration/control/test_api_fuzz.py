"""The API against its own OpenAPI document: schemathesis generates requests from the served
``/api/v1/openapi.json`` (valid ones and invalid ones) and sends them over real HTTP to a
control plane on the simulator, as a bureau-admin and as a city-operator.

Every answer must be no server error (no 5xx), carry a status code the document declares for
the operation, with the declared content type and a body that matches the declared schema —
so the document is true and every bad input is a 4xx with the error body. The example count
is bounded (``FUZZ_EXAMPLES`` per operation and role) and derandomised, so that the run is
the same every time. It runs on one database: PostgreSQL, production's, where it is
configured (as in CI), else SQLite — the answers' shapes do not depend on the database, the
per-database behaviour has its own tests, and both together took three minutes of the suite.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.databases import PG_ENV, fresh_database

from .conftest import Plane

pytestmark = pytest.mark.slow

FUZZ_EXAMPLES = 8
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection,
          ignored_auth]


def _token(plane: Plane, role: str, city: str | None = None) -> str:
    """A token of ``role``, its own principal (named so that no generated name hits it)."""
    return plane.add_principal(f"fuzz-{role}-{uuid.uuid4().hex}", role, city=city)


@pytest.fixture(scope="module")
def plane_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The module's one database (this module's ``plane`` is built on it, see above)."""
    kind = "postgresql" if os.environ.get(PG_ENV) else "sqlite"
    with fresh_database(kind, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="module")
def admin_token(plane: Plane) -> str:
    return _token(plane, "bureau-admin")


@pytest.fixture(scope="module")
def city_token(plane: Plane) -> str:
    return _token(plane, "city-operator", "shenzhen")


@pytest.fixture(scope="module")
def api_schema(plane: Plane) -> Any:
    """The served document, with something behind it: a synced inventory and request 1 (the
    smallest id, which the generated cases use) submitted by an operator."""
    assert plane.admin.post("/sync", {"full": True})["ok"]
    _, operator = plane.principal("operator")
    operator.post("/requests", {
        "department": "shenzhen", "system": "fuzz", "justification": "fuzzing the API",
        "servers": [{"name_prefix": "app", "flavor": "gc.c2m4",
                     "image": "cirros-0.6.2-x86_64-disk", "count": 1,
                     "network": {"PROD": "prod-net", "DR-LOCAL": "dr-local-net",
                                 "DR-REMOTE": "dr-remote-net"}}]})
    return schemathesis.openapi.from_url(f"{plane.url}/api/v1/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def _call(case: Any, plane: Plane, token: str) -> None:
    case.call_and_validate(base_url=plane.url, headers={"Authorization": f"Bearer {token}"},
                           checks=CHECKS)


@schema.parametrize()
@FUZZ
def test_a_bureau_admin_gets_only_declared_answers(case: Any, plane: Plane,
                                                   admin_token: str) -> None:
    _call(case, plane, admin_token)


@schema.parametrize()
@FUZZ
def test_a_city_operator_gets_only_declared_answers(case: Any, plane: Plane,
                                                    city_token: str) -> None:
    _call(case, plane, city_token)
