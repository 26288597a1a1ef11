"""The endpoints table of docs/api.md, generated from the OpenAPI document (a test keeps the
two equal): ``python -m govcloud.api.reference``."""

from __future__ import annotations

from typing import Any

_METHODS = ("get", "post", "put", "patch", "delete")


def endpoints_markdown(openapi: dict[str, Any]) -> str:
    lines = ["| method | path | what |", "| --- | --- | --- |"]
    for path, operations in openapi["paths"].items():
        for method in _METHODS:
            if method in operations:
                summary = str(operations[method].get("summary", "")).replace("|", "\\|")
                lines.append(f"| {method.upper()} | `{path}` | {summary} |")
    return "\n".join(lines) + "\n"


def current_openapi() -> dict[str, Any]:
    """The OpenAPI document of an app built with the default settings (no database used)."""
    from govcloud.api.app import make_app
    from govcloud.services.plane import scratch_plane
    from govcloud.settings import load_settings

    with scratch_plane(load_settings()) as plane:
        openapi: dict[str, Any] = make_app(plane).openapi()
        return openapi


if __name__ == "__main__":
    print(endpoints_markdown(current_openapi()), end="")
