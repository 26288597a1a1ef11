"""``POST /requests``'s body in the OpenAPI document against the parse that checks it.

The route hands the JSON as sent to ``govcloud.domain.provisioning.parse_request``; the
document shows ``govcloud.api.models.bodies.RequestSpecBody``. Each case below is sent through
both — the document's schema with a JSON Schema validator (as a client or schemathesis reads
it), and the parse — and both must answer as listed: the same, but for the few things listed
apart, where the parse is stricter (what a JSON schema cannot say) or more lenient (it trims
white space around a text, and takes any empty value for no playbooks). A bound or a field
changed on one side only turns a case red.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from govcloud import yamlfile
from govcloud.api.reference import current_openapi
from govcloud.domain.limits import MAX_ITEMS, MAX_NAME, MAX_TEXT
from govcloud.domain.provisioning import (
    MAX_COUNT,
    MAX_SERVERS,
    MAX_VOLUME_GB,
    MAX_VOLUMES,
    parse_request,
)
from govcloud.errors import InvalidInput

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "request.yaml"
GONE = object()  # the field left out


def _example() -> dict[str, Any]:
    data: dict[str, Any] = yamlfile.load(EXAMPLE.read_text(encoding="utf-8"), what="example")
    return data


def _with(path: str, value: Any) -> dict[str, Any]:
    """The example with the field at ``path`` (``servers.0.count``) set, or left out."""
    data = _example()
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is GONE:
        del node[last]
    else:
        node[last] = copy.deepcopy(value)
    return data


def _groups(n: int, count: int = 1) -> list[dict[str, Any]]:
    return [{"name_prefix": f"g{i}", "flavor": "gc.c2m4", "image": "i", "count": count,
             "network": "n"} for i in range(n)]


BOTH = (True, True)        # the document and the parse take it
NEITHER = (False, False)   # both refuse it
PARSE_STRICTER = (True, False)
PARSE_LENIENT = (False, True)

CASES: list[tuple[str, Any, tuple[bool, bool]]] = [
    ("the example", _example(), BOTH),
    ("not a mapping", [_example()], NEITHER),
    ("an unknown field", {**_example(), "colour": "blue"}, NEITHER),
    # department
    ("department at the bound", _with("department", "d" * MAX_NAME), BOTH),
    ("department over the bound", _with("department", "d" * (MAX_NAME + 1)), NEITHER),
    ("department in capitals", _with("department", "GD-PSD"), NEITHER),
    ("department empty", _with("department", ""), NEITHER),
    ("department a number", _with("department", 5), NEITHER),
    ("department left out", _with("department", GONE), NEITHER),
    # system
    ("system of 2", _with("system", "ab"), BOTH),
    ("system of 42", _with("system", "a" * 42), BOTH),
    ("system of 1", _with("system", "a"), NEITHER),
    ("system of 43", _with("system", "a" * 43), NEITHER),
    ("system ending in -", _with("system", "case-"), NEITHER),
    ("system left out", _with("system", GONE), NEITHER),
    # dr_level
    ("dr_level null", _with("dr_level", None), BOTH),
    ("dr_level left out", _with("dr_level", GONE), BOTH),
    ("dr_level 1", _with("dr_level", 1), BOTH),
    ("dr_level 0", _with("dr_level", 0), NEITHER),
    ("dr_level 7", _with("dr_level", 7), NEITHER),
    ("dr_level text", _with("dr_level", "6"), NEITHER),
    ("dr_level true", _with("dr_level", True), NEITHER),
    ("dr_level 2.5", _with("dr_level", 2.5), NEITHER),
    ("dr_level infinite", _with("dr_level", float("inf")), NEITHER),
    # justification
    ("justification at the bound", _with("justification", "j" * MAX_TEXT), BOTH),
    ("justification over the bound", _with("justification", "j" * (MAX_TEXT + 1)), NEITHER),
    ("justification with newlines and tabs", _with("justification", "a\n\tb"), BOTH),
    ("justification empty", _with("justification", ""), NEITHER),
    ("justification null", _with("justification", None), NEITHER),
    ("justification left out", _with("justification", GONE), NEITHER),
    # servers
    ("servers empty", _with("servers", []), NEITHER),
    ("servers left out", _with("servers", GONE), NEITHER),
    ("servers a mapping", _with("servers", _groups(1)[0]), NEITHER),
    ("servers at the bound", _with("servers", _groups(MAX_ITEMS)), BOTH),
    ("servers over the bound", _with("servers", _groups(MAX_ITEMS + 1)), NEITHER),
    ("a group not a mapping", _with("servers", ["web"]), NEITHER),
    ("an unknown field in a group", _with("servers.0.colour", "blue"), NEITHER),
    # a group's fields
    ("name_prefix of 2", _with("servers.0.name_prefix", "ab"), BOTH),
    ("name_prefix of 1", _with("servers.0.name_prefix", "a"), NEITHER),
    ("name_prefix in capitals", _with("servers.0.name_prefix", "Web"), NEITHER),
    ("name_prefix left out", _with("servers.0.name_prefix", GONE), NEITHER),
    ("flavor at the bound", _with("servers.0.flavor", "f" * MAX_NAME), BOTH),
    ("flavor over the bound", _with("servers.0.flavor", "f" * (MAX_NAME + 1)), NEITHER),
    ("flavor empty", _with("servers.0.flavor", ""), NEITHER),
    ("flavor a number", _with("servers.0.flavor", 4), NEITHER),
    ("image over the bound", _with("servers.0.image", "i" * (MAX_NAME + 1)), NEITHER),
    ("image left out", _with("servers.0.image", GONE), NEITHER),
    ("count 1", _with("servers.0.count", 1), BOTH),
    ("count at the bound", _with("servers.0.count", MAX_COUNT), BOTH),
    ("count 0", _with("servers.0.count", 0), NEITHER),
    ("count over the bound", _with("servers.0.count", MAX_COUNT + 1), NEITHER),
    ("count text", _with("servers.0.count", "2"), NEITHER),
    ("count true", _with("servers.0.count", True), NEITHER),
    ("count NaN", _with("servers.0.count", float("nan")), NEITHER),
    ("count null", _with("servers.0.count", None), NEITHER),
    ("count left out", _with("servers.0.count", GONE), NEITHER),
    ("one network", _with("servers.0.network", "prod-net"), BOTH),
    ("network at the bound", _with("servers.0.network", "n" * MAX_NAME), BOTH),
    ("network over the bound", _with("servers.0.network", "n" * (MAX_NAME + 1)), NEITHER),
    ("network empty", _with("servers.0.network", ""), NEITHER),
    ("network per site, empty", _with("servers.0.network", {}), NEITHER),
    ("a site's network empty", _with("servers.0.network", {"PROD": ""}), NEITHER),
    ("a site's network over the bound",
     _with("servers.0.network", {"PROD": "n" * (MAX_NAME + 1)}), NEITHER),
    ("a site name over the bound", _with("servers.0.network", {"S" * (MAX_NAME + 1): "n"}),
     NEITHER),
    ("a site's network a number", _with("servers.0.network", {"PROD": 5}), NEITHER),
    ("network per site over the bound",
     _with("servers.0.network", {f"S{i}": "n" for i in range(MAX_ITEMS + 1)}), NEITHER),
    ("network a list", _with("servers.0.network", ["prod-net"]), NEITHER),
    ("network left out", _with("servers.0.network", GONE), NEITHER),
    ("volumes null", _with("servers.1.volumes", None), BOTH),
    ("volumes empty", _with("servers.1.volumes", []), BOTH),
    ("volumes at the bounds", _with("servers.1.volumes", [1, MAX_VOLUME_GB]), BOTH),
    ("volumes, as many as allowed", _with("servers.1.volumes", [1] * MAX_VOLUMES), BOTH),
    ("volumes, one too many", _with("servers.1.volumes", [1] * (MAX_VOLUMES + 1)), NEITHER),
    ("a volume of 0 GB", _with("servers.1.volumes", [0]), NEITHER),
    ("a volume over the bound", _with("servers.1.volumes", [MAX_VOLUME_GB + 1]), NEITHER),
    ("a volume of true", _with("servers.1.volumes", [True]), NEITHER),
    ("volumes a number", _with("servers.1.volumes", 100), NEITHER),
    # playbooks
    ("playbooks", _with("playbooks", ["base-hardening"]), BOTH),
    ("playbooks null", _with("playbooks", None), BOTH),
    ("playbooks empty", _with("playbooks", []), BOTH),
    ("a playbook at the bound", _with("playbooks", ["p" * MAX_NAME]), BOTH),
    ("a playbook over the bound", _with("playbooks", ["p" * (MAX_NAME + 1)]), NEITHER),
    ("a playbook empty", _with("playbooks", [""]), NEITHER),
    ("a playbook a number", _with("playbooks", [1]), NEITHER),
    ("playbooks over the bound", _with("playbooks", [f"p{i}" for i in range(MAX_ITEMS + 1)]),
     NEITHER),
    ("playbooks one name", _with("playbooks", "base-hardening"), NEITHER),
    # what a JSON schema cannot say: the parse refuses it
    ("two groups of one name_prefix", _with("servers", _groups(1) * 2), PARSE_STRICTER),
    ("more servers than a request may ask for",
     _with("servers", _groups(MAX_SERVERS // MAX_COUNT + 1, count=MAX_COUNT)), PARSE_STRICTER),
    ("justification of white space", _with("justification", "   "), PARSE_STRICTER),
    ("a control character in a flavor", _with("servers.0.flavor", "gc\x1b[2J"),
     PARSE_STRICTER),
    ("a control character in a network", _with("servers.0.network", "prod\x1b[2J"),
     PARSE_STRICTER),
    ("a control character in a network's site key",
     _with("servers.0.network", {"PROD\x07": "prod-net"}), PARSE_STRICTER),
    ("a control character in a site's network",
     _with("servers.0.network", {"PROD": "prod\x1b]0;x\x07"}), PARSE_STRICTER),
    ("a control character in a playbook", _with("playbooks", ["base\x1b[2J"]), PARSE_STRICTER),
    ("a bidi override in the justification", _with("justification", "ok\u202e"),
     PARSE_STRICTER),
    ("dr_level written 6.0", _with("dr_level", 6.0), PARSE_STRICTER),
    # the parse is more lenient: it trims white space first, and any empty value is no playbooks
    ("department with white space around it", _with("department", " gd-psd\n"), PARSE_LENIENT),
    ("system with white space around it", _with("system", "case-mgmt "), PARSE_LENIENT),
    ("playbooks false", _with("playbooks", False), PARSE_LENIENT),
]


@pytest.fixture(scope="module")
def document() -> Draft202012Validator:
    """A validator of ``POST /requests``'s body schema as served (its ``$ref`` to the
    document's components resolved within it)."""
    doc = current_openapi()
    body = doc["paths"]["/api/v1/requests"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": doc["components"]})


def _parses(data: Any) -> bool:
    try:
        parse_request(data)
    except InvalidInput:
        return False
    return True


@pytest.mark.parametrize(("data", "expected"), [(d, e) for _, d, e in CASES],
                         ids=[name for name, _, _ in CASES])
def test_the_document_and_the_parse_agree(document: Draft202012Validator, data: Any,
                                          expected: tuple[bool, bool]) -> None:
    found = (document.is_valid(data), _parses(data))
    assert found == expected, ("document, parse", found,
                               [e.message[:200] for e in document.iter_errors(data)])


def test_the_cases_reach_every_field() -> None:
    """Each field of the spec and of a group is changed by some case."""
    names = " ".join(name for name, _, _ in CASES)
    for field in ("department", "system", "dr_level", "justification", "servers", "playbook",
                  "name_prefix", "flavor", "image", "count", "network", "volume"):
        assert field in names, field
