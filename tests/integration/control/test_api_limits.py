"""The API's input bounds over real HTTP: a body over the limit is refused before it is read
(413, with or without a Content-Length), every free-text field has a documented length, ids
and cursors stay within the database's INTEGER, floats are finite (422, never a 500), and the
audit chain keeps a digest of free text, never the text. The CLI exits 2 on each of them."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from govcloud.api.body_limit import DEFAULT_MAX_BODY_BYTES
from govcloud.cli import main
from govcloud.domain.limits import MAX_LINE, MAX_NAME, MAX_TEXT
from govcloud.errors import InvalidInput

from .conftest import Plane

pytestmark = pytest.mark.slow

NETWORKS = {"PROD": "prod-net", "DR-LOCAL": "dr-local-net", "DR-REMOTE": "dr-remote-net"}
HUGE = str(2**63)  # one past int64 (SQLite's integers)
PAST_INTEGER = str(2**31)  # one past PostgreSQL's INTEGER (request, event and audit ids)


def _post(plane: Plane, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{plane.url}/api/v1{path}", timeout=30,
                      headers={"Authorization": f"Bearer {plane.admin_token}",
                               "Content-Type": "application/json"}, **kwargs)


def _get(plane: Plane, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{plane.url}/api/v1{path}", params=params, timeout=30,
                     headers={"Authorization": f"Bearer {plane.admin_token}"})


def _audit_count(plane: Plane) -> int:
    return int(plane.admin.get("/audit/verify")["checked"])


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:300])
    error: dict[str, Any] = response.json()["error"]
    assert error["message"] and error["type"]
    return error


@pytest.fixture(scope="module")
def synced(plane: Plane) -> Plane:
    assert plane.admin.post("/sync", {"full": True})["ok"]
    return plane


# --- the body limit ------------------------------------------------------------------------------

def test_a_body_over_the_limit_is_413_and_changes_nothing(plane: Plane) -> None:
    before = _audit_count(plane)
    body = json.dumps({"department": "gd-psd", "note": "x" * DEFAULT_MAX_BODY_BYTES})
    error = _error(_post(plane, "/migrate/signoff", content=body), 413)
    assert str(DEFAULT_MAX_BODY_BYTES) in error["message"] and error["hint"]
    assert error["type"] == "TooLarge"
    assert _audit_count(plane) == before


def test_a_streamed_body_without_length_is_cut_off_at_the_limit(plane: Plane) -> None:
    before = _audit_count(plane)
    sent = 0

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        nonlocal sent
        yield b'{"department": "gd-psd", "note": "'
        for _ in range(64):
            sent += 64 * 1024
            yield b"y" * (64 * 1024)
        yield b'"}'

    response = _post(plane, "/migrate/signoff", content=chunks())
    assert "content-length" not in {k.lower() for k in response.request.headers}
    _error(response, 413)
    assert _audit_count(plane) == before


def test_a_body_within_the_limit_still_works(plane: Plane) -> None:
    answer = _post(plane, "/migrate/signoff", content=json.dumps(
        {"department": "gd-psd", "note": "n" * MAX_TEXT}))
    assert answer.status_code == 200, answer.text[:300]


def test_the_client_reports_413_as_bad_input(plane: Plane) -> None:
    with pytest.raises(InvalidInput, match="larger than"):
        plane.admin.post("/migrate/signoff", {"department": "gd-psd",
                                              "note": "z" * DEFAULT_MAX_BODY_BYTES})


# --- field lengths -------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "body", "field"), [
    ("/migrate/signoff", {"department": "gd-psd", "note": "n" * (MAX_TEXT + 1)}, "note"),
    ("/migrate/signoff", {"department": "d" * (MAX_NAME + 1)}, "department"),
    ("/migrate/waves/w1/override", {"reason": "r" * (MAX_LINE + 1)}, "reason"),
    ("/migrate/rollback", {"target": "t" * (MAX_NAME + 1)}, "target"),
    ("/migrate/survey", {"department": "gd-psd", "hosts": ["h" * (MAX_NAME + 1)]}, "hosts"),
    ("/hosts/h1/trust", {"fingerprint": "SHA256:" + "f" * MAX_LINE}, "fingerprint"),
    ("/hosts/import", {"text": "all: {}", "name": "n" * (MAX_NAME + 1)}, "name"),
    ("/principals", {"name": "p1", "role": "city-operator", "city": "c" * (MAX_NAME + 1)},
     "city"),
    ("/sync", {"sites": ["S" * (MAX_NAME + 1)]}, "sites"),
    ("/requests/1/reject", {"reason": "r" * (MAX_LINE + 1)}, "reason"),
    ("/requests/1/cancel", {"reason": "r" * (MAX_LINE + 1)}, "reason"),
    ("/requests", {"department": "gd-psd", "system": "big", "justification": "j" * (
        MAX_TEXT + 1), "servers": [{"name_prefix": "app", "flavor": "gc.c2m4", "image": "i",
                                    "count": 1, "network": "n"}]}, "justification"),
])
def test_a_field_over_its_length_is_422_naming_it(plane: Plane, path: str,
                                                  body: dict[str, Any], field: str) -> None:
    before = _audit_count(plane)
    error = _error(_post(plane, path, content=json.dumps(body)), 422)
    assert field in error["message"] and "at most" in error["message"]
    assert _audit_count(plane) == before


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/sync", {"sites": [""]}, "sites"),
    ("/migrate/signoff", {"department": ""}, "department"),
    ("/migrate/survey", {"department": "gd-psd", "hosts": [""]}, "hosts"),
    ("/migrate/rollback", {"target": ""}, "target"),
    ("/hosts/import", {"text": "all: {}", "name": ""}, "name"),
])
def test_an_empty_name_is_422_naming_it(plane: Plane, path: str, body: dict[str, Any],
                                        field: str) -> None:
    # `govcloud sync --site ''` was answered "no site named ''" (404, exit 4): an empty name
    # is bad input (issue 17 item 8: bad values are 4xx with the error body, CLI exit 2)
    before = _audit_count(plane)
    error = _error(_post(plane, path, content=json.dumps(body)), 422)
    assert field in error["message"] and "at least 1 character" in error["message"]
    assert _audit_count(plane) == before


@pytest.mark.parametrize(("path", "params"), [
    ("/servers", {"department": "d" * (MAX_NAME + 1)}),
    ("/capacity", {"flavor": "f" * (MAX_NAME + 1)}),
    ("/audit", {"actor": "a" * (MAX_NAME + 1)}),
    ("/requests", {"department": "d" * (MAX_NAME + 1)}),
    ("/migrate/waves", {"department": "d" * (MAX_NAME + 1)}),
])
def test_a_query_string_over_its_length_is_422(plane: Plane, path: str,
                                               params: dict[str, str]) -> None:
    _error(_get(plane, path, **params), 422)


# --- numbers -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "params"), [
    (f"/requests/{HUGE}", {}),
    (f"/requests/{PAST_INTEGER}", {}),
    ("/requests/1", {"after_event": HUGE}),
    ("/requests/1", {"after_event": PAST_INTEGER}),
    ("/audit", {"before_seq": PAST_INTEGER}),
    ("/migrate/waves/w1/events", {"after": PAST_INTEGER}),
    ("/audit", {"after_seq": HUGE}),
    ("/audit", {"before_seq": HUGE}),
    ("/audit", {"after_seq": "-" + HUGE}),
    ("/migrate/waves/w1/events", {"after": HUGE}),
    ("/audit", {"until": "0.5"}),
])
def test_ids_beyond_the_database_integer_and_odd_values_are_422(plane: Plane, path: str,
                                                      params: dict[str, str]) -> None:
    error = _error(_get(plane, path, **params), 422)
    assert error["type"] == "InvalidInput"


@pytest.mark.parametrize("ttl", ["1e308", "Infinity", "-Infinity", "NaN", "1e400"])
def test_a_token_lifetime_must_be_a_finite_number_of_days(plane: Plane, ttl: str) -> None:
    body = ('{"name": "ttl-odd", "role": "operator", "person": "Odd Lifetime", '
            f'"ttl_days": {ttl}}}')
    error = _error(_post(plane, "/principals", content=body), 422)
    assert "ttl_days" in error["message"] and "person" not in error["message"]


def test_a_sync_of_no_site_is_422(plane: Plane) -> None:
    error = _error(_post(plane, "/sync", content='{"sites": []}'), 422)
    assert "sites" in error["message"]


def test_the_cli_exits_2_on_a_huge_request_id(cli_env: Plane,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["request", "show", HUGE]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


# --- bulk text stays out of the audit chain ------------------------------------------------------

def _digest(text: str) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(text.encode()).hexdigest(), "length": len(text)}


def test_the_audit_chain_keeps_a_digest_of_free_text(synced: Plane) -> None:
    plane = synced
    note = "sign-off note " * 20
    assert _post(plane, "/migrate/signoff", content=json.dumps(
        {"department": "gd-tax", "note": note})).status_code == 200
    entry = plane.admin.get("/audit", action="migrate.signoff", newest_first=True,
                            limit=1)["entries"][0]
    assert entry["after"]["note"] == _digest(note)

    _, operator = plane.principal("operator")
    justification = " ".join(["需要更多容量"] * 40)
    submitted = operator.post("/requests", {
        "department": "gd-psd", "system": "digest", "justification": justification,
        "servers": [{"name_prefix": "app", "flavor": "gc.c2m4",
                     "image": "cirros-0.6.2-x86_64-disk", "count": 1, "network": NETWORKS}]})
    assert submitted["spec"]["justification"] == justification  # the request keeps the text
    reason = " ".join(["not this quarter"] * 10)
    plane.admin.post(f"/requests/{submitted['id']}/reject", {"reason": reason})
    entries = {e["action"]: e for e in plane.admin.get(
        "/audit", action="request.submit", newest_first=True, limit=1)["entries"]
               + plane.admin.get("/audit", action="request.reject", newest_first=True,
                                 limit=1)["entries"]}
    assert entries["request.submit"]["after"]["justification"] == _digest(justification)
    assert entries["request.reject"]["after"]["reason"] == _digest(reason)
    text = json.dumps(entries, ensure_ascii=False)
    assert justification not in text and reason not in text
    assert plane.admin.get("/audit/verify")["ok"]


def test_a_body_that_is_not_utf8_json_is_bad_input(plane: Plane) -> None:
    error = _error(_post(plane, "/sync", content=b'{"sites": ["\xff\xfe"]}'), 400)
    assert error["type"] == "InvalidInput" and error["hint"]


def test_a_sign_off_for_an_unknown_department_is_404_and_stores_nothing(plane: Plane) -> None:
    """A code no department has (here longer than any column holds) is not signed off:
    PostgreSQL refused to store it with a 500 before."""
    before = _audit_count(plane)
    error = _error(_post(plane, "/migrate/signoff", content=json.dumps(
        {"department": "x" * MAX_NAME, "note": "n"})), 404)
    assert error["type"] == "NotFound"
    assert _audit_count(plane) == before


# --- the query string holds what the document declares ------------------------------------------

def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation in the served document, path parameters filled."""
    from govcloud.api.reference import current_openapi

    return [(method.upper(), _filled(path))
            for path, operations in sorted(current_openapi()["paths"].items())
            for method in sorted(operations)]


def _filled(path: str) -> str:
    path = path.removeprefix("/api/v1").replace("{request_id}", "1")
    return re.sub(r"\{[a-z_]+\}", "x1", path)

def _query_parameters(kind: str) -> list[tuple[str, str, str]]:
    """(method, path, name) of every query parameter the served document declares as one value
    (``kind="one"``) or as a list (``kind="many"``), path parameters filled with a valid id."""
    from govcloud.api.reference import current_openapi

    found = []
    for path, operations in sorted(current_openapi()["paths"].items()):
        for method, operation in sorted(operations.items()):
            for param in operation.get("parameters", []):
                if param["in"] != "query":
                    continue
                schema = param["schema"]
                many = any(s.get("type") == "array" for s in [schema, *schema.get("anyOf", [])])
                if many == (kind == "many"):
                    found.append((method.upper(), _filled(path), param["name"]))
    return found


def _twice(plane: Plane, method: str, path: str, name: str) -> httpx.Response:
    return httpx.request(method, f"{plane.url}/api/v1{path}", params=[(name, "1"), (name, "2")],
                         timeout=30, headers={"Authorization": f"Bearer {plane.admin_token}"})


def test_the_document_declares_single_and_repeated_query_parameters() -> None:
    one = {(p, n) for _, p, n in _query_parameters("one")}
    many = {(p, n) for _, p, n in _query_parameters("many")}
    assert {("/hosts", "department"), ("/migrate/waves", "department"),
            ("/servers", "department"), ("/audit", "department")} <= one
    assert {("/capacity", "fit"), ("/requests", "state"), ("/tenants/plan", "department")} <= many


@pytest.mark.parametrize(("method", "path", "name"), _query_parameters("one"))
def test_a_parameter_of_one_value_given_twice_is_422_and_changes_nothing(
        plane: Plane, method: str, path: str, name: str) -> None:
    """The document says one value: a repeat is refused, never silently the last one
    (issue 17: schemathesis found /hosts and /migrate/waves taking it)."""
    before = _audit_count(plane)
    error = _error(_twice(plane, method, path, name), 422)
    assert f"query.{name}: given 2 times, takes one value" in error["message"]
    assert error["type"] == "InvalidInput"
    assert _audit_count(plane) == before


@pytest.mark.parametrize(("method", "path", "name"),
                         [c for c in _query_parameters("many") if c[0] == "GET"])
def test_a_list_parameter_may_be_repeated(plane: Plane, method: str, path: str,
                                          name: str) -> None:
    response = _twice(plane, method, path, name)
    assert "takes one value" not in response.text, response.text[:300]


@pytest.mark.parametrize(("method", "path"), _operations())
def test_a_parameter_the_operation_lacks_is_422_and_changes_nothing(plane: Plane, method: str,
                                                                    path: str) -> None:
    """A misspelt filter (``?departmnet=gd-tax``) must not silently list everything (issue
    17: schemathesis found /audit taking unknown parameters); the name is shown escaped."""
    before = _audit_count(plane)
    response = httpx.request(method, f"{plane.url}/api/v1{path}",
                             params=[("departmnet", "gd-tax"), ("\x1b[2J", "1")], timeout=30,
                             headers={"Authorization": f"Bearer {plane.admin_token}"})
    error = _error(response, 422)
    assert "query.departmnet: not a parameter of this endpoint" in error["message"]
    assert "\x1b" not in error["message"] and "query.\\x1b[2J" in error["message"]
    assert _audit_count(plane) == before
