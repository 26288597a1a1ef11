from __future__ import annotations

import pytest
import requests
from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc

from govcloud.cloud.errors import sdk_errors, translate
from govcloud.errors import (
    ConflictError,
    Forbidden,
    GovCloudError,
    InvalidInput,
    NotFound,
    PermanentError,
    TemporaryError,
)


def _response(status: int) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    return response


@pytest.mark.parametrize(("exc", "expected"), [
    (sdk_exc.HttpException("nope", response=_response(401)), Forbidden),
    (sdk_exc.ForbiddenException("nope", response=_response(403)), Forbidden),
    (sdk_exc.NotFoundException("gone", response=_response(404)), NotFound),
    (sdk_exc.ConflictException("stale generation", response=_response(409)), ConflictError),
    (sdk_exc.HttpException("busy", response=_response(503)), TemporaryError),
    (sdk_exc.HttpException("slow down", response=_response(429)), TemporaryError),
    (sdk_exc.BadRequestException("bad", response=_response(400)), PermanentError),
    (ksa_exc.Unauthorized("The request you have made requires authentication."), Forbidden),
    (ksa_exc.ConnectFailure("Connection refused"), TemporaryError),
    (ksa_exc.ConnectTimeout("timed out"), TemporaryError),
    (sdk_exc.ConfigException("Cloud nope was not found."), InvalidInput),
    (ksa_exc.EndpointNotFound("no placement in XX"), PermanentError),
    (sdk_exc.SDKException("odd"), PermanentError),
])
def test_translate(exc: Exception, expected: type[GovCloudError]) -> None:
    err = translate(exc, where="site PROD")
    assert type(err) is expected
    assert err.message.startswith("site PROD")


def test_sdk_errors_reraises_with_the_cause() -> None:
    with pytest.raises(TemporaryError) as info, sdk_errors("site DR-LOCAL"):
        raise ksa_exc.ConnectFailure("Connection refused")
    assert isinstance(info.value.__cause__, ksa_exc.ConnectFailure)
    assert info.value.hint


def test_discovery_that_could_not_connect_is_temporary() -> None:
    try:
        try:
            raise ksa_exc.ConnectFailure("Connection refused")
        except ksa_exc.ConnectFailure as inner:
            raise ksa_exc.DiscoveryFailure("Could not find versioned identity endpoints") \
                from inner
    except ksa_exc.DiscoveryFailure as exc:
        assert type(translate(exc, where="site PROD")) is TemporaryError


def test_sdk_errors_lets_other_exceptions_through() -> None:
    with pytest.raises(ValueError), sdk_errors("x"):
        raise ValueError("not an SDK error")
