"""The CLI's exit code for each HTTP status the server answers (docs/api.md, "Errors"): bad
input — 400, 413 (body over the limit) and 422 — exits 2; a bug in the server (500) exits 1,
not 75, since retrying cannot help; only the statuses that may pass exit 75."""

from __future__ import annotations

import httpx
import pytest

from govcloud.client import error_from
from govcloud.errors import InvalidInput


def _answer(status: int) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": f"status {status}",
                                                  "hint": "a hint", "type": "X"}})


@pytest.mark.parametrize(("status", "exit_code"), [
    (400, 2), (413, 2), (422, 2), (401, 5), (403, 5), (404, 4), (409, 3),
    (500, 1), (502, 75), (503, 75), (504, 75), (418, 1),
])
def test_each_status_exits_with_the_documented_code(status: int, exit_code: int) -> None:
    error = error_from(_answer(status))
    assert error.exit_code == exit_code
    assert error.message == f"status {status}" and error.hint == "a hint"


def test_a_body_over_the_limit_is_bad_input() -> None:
    assert isinstance(error_from(_answer(413)), InvalidInput)
    assert not error_from(_answer(500)).retryable
