"""What the server serialised per route, watched through FastAPI's serialize_response
(test_openapi_contract.py, test_dr_posture_api.py)."""

from __future__ import annotations

import json
from typing import Any

import fastapi.routing
import pytest
from fastapi.encoders import jsonable_encoder


class Answers:
    """What the server serialised: per route, the endpoint's JSON and the model's JSON."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.changed: list[tuple[str, str, str]] = []

    def watch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = fastapi.routing.serialize_response

        async def serialize_response(**kwargs: Any) -> Any:
            out = await original(**kwargs)
            if kwargs.get("field") is None:
                return out
            route = (kwargs.get("endpoint_ctx") or {}).get("path", "?")
            got = json.loads(out) if isinstance(out, (bytes, str)) else out
            before = json.dumps(jsonable_encoder(kwargs["response_content"]),
                                ensure_ascii=False)
            after = json.dumps(got, ensure_ascii=False)
            self.seen[route] = self.seen.get(route, 0) + 1
            if before != after:
                self.changed.append((route, before[:2000], after[:2000]))
            return out

        monkeypatch.setattr(fastapi.routing, "serialize_response", serialize_response)
