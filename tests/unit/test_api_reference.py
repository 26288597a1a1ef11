"""docs/api.md's endpoints table is the one generated from the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from govcloud.api.reference import current_openapi, endpoints_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_docs_api_endpoints_match_openapi() -> None:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- endpoints:begin -->\n")[1].split("<!-- endpoints:end -->")[0]
    assert block == endpoints_markdown(current_openapi()), (
        "docs/api.md is out of date: paste the output of `python -m govcloud.api.reference` "
        "between the endpoints markers")


def test_openapi_is_served_under_the_api_prefix() -> None:
    doc = current_openapi()
    assert doc["info"]["title"] == "govcloud control plane"
    assert all(path.startswith("/api/v1/") for path in doc["paths"])
