from __future__ import annotations

import pytest

from govcloud.errors import (
    ConflictError,
    Forbidden,
    GovCloudError,
    InvalidInput,
    NotFound,
    PermanentError,
    TemporaryError,
)

ALL = [TemporaryError, PermanentError, ConflictError, NotFound, Forbidden, InvalidInput]


def test_message_and_hint_are_kept() -> None:
    err = NotFound("no site named 'X'", hint="configured sites: PROD")
    assert err.message == "no site named 'X'"
    assert err.hint == "configured sites: PROD"
    assert str(err) == "no site named 'X'"
    assert "hint='configured sites: PROD'" in repr(err)


def test_hint_is_optional() -> None:
    assert GovCloudError("boom").hint is None


@pytest.mark.parametrize("cls", ALL)
def test_every_subclass_is_a_govcloud_error_with_codes(cls: type[GovCloudError]) -> None:
    err = cls("x")
    assert isinstance(err, GovCloudError)
    assert err.exit_code != 0
    assert 400 <= err.http_status < 600


def test_exit_codes_and_statuses_are_distinct_where_they_matter() -> None:
    assert len({c.exit_code for c in ALL if c is not PermanentError}) == len(ALL) - 1
    assert NotFound.http_status == 404
    assert Forbidden.http_status == 403
    assert ConflictError.http_status == 409
    assert TemporaryError.http_status == 503
    assert InvalidInput.http_status == 422


@pytest.mark.parametrize(("cls", "retryable"), [
    (TemporaryError, True), (ConflictError, True), (PermanentError, False),
    (NotFound, False), (Forbidden, False), (InvalidInput, False), (GovCloudError, False),
])
def test_retryable_says_whether_a_retry_can_help(cls: type[GovCloudError],
                                                 retryable: bool) -> None:
    assert cls("x").retryable is retryable
