"""Turn openstacksdk and keystoneauth1 exceptions into govcloud errors, naming the site."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as sdk_exc

from govcloud.errors import (
    ConflictError,
    Forbidden,
    GovCloudError,
    InvalidInput,
    NotFound,
    PermanentError,
    TemporaryError,
)


def _one_line(exc: BaseException, limit: int = 300) -> str:
    return " ".join(str(exc).split())[:limit] or type(exc).__name__


def _from_status(status: int | None, where: str, detail: str) -> GovCloudError:
    message = f"{where}: HTTP {status}: {detail}"
    if status in (401, 403):
        return Forbidden(message, hint="check the credentials and roles in clouds.yaml for this "
                                       "cloud (admin is needed for hypervisors and placement)")
    if status == 404:
        return NotFound(message)
    if status == 409:
        return ConflictError(message, hint="someone changed it meanwhile; re-read and retry")
    if status is not None and (status >= 500 or status == 429):
        return TemporaryError(message, hint="the cloud API is failing or overloaded; retry later")
    return PermanentError(message)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``exc`` or anything in its cause/context chain is a ``kind``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def translate(exc: BaseException, *, where: str) -> GovCloudError:
    """The govcloud error for an SDK exception raised while talking to ``where``."""
    detail = _one_line(exc)
    if isinstance(exc, GovCloudError):
        return exc
    if isinstance(exc, sdk_exc.ConfigException):
        return InvalidInput(f"{where}: {detail}",
                            hint="check the cloud and region names in clouds.yaml "
                                 "(OS_CLIENT_CONFIG_FILE or the clouds_yaml setting)")
    if isinstance(exc, (ksa_exc.EndpointNotFound, sdk_exc.EndpointNotFound)):
        return PermanentError(f"{where}: {detail}",
                              hint="the service catalog has no such endpoint in this region; "
                                   "check the site's region name")
    if _caused_by(exc, ksa_exc.ConnectionError):  # also discovery failing to connect
        return TemporaryError(f"{where}: cannot connect: {detail}",
                              hint="check that the cloud's auth_url is reachable from here")
    if isinstance(exc, sdk_exc.HttpException):
        return _from_status(exc.status_code, where, detail)
    if isinstance(exc, ksa_exc.HttpError):
        return _from_status(exc.http_status, where, detail)
    if isinstance(exc, ksa_exc.auth_plugins.MissingRequiredOptions):
        return InvalidInput(f"{where}: {detail}", hint="complete the cloud's auth in clouds.yaml")
    return PermanentError(f"{where}: {detail}")


@contextmanager
def sdk_errors(where: str) -> Iterator[None]:
    """Re-raise SDK and keystoneauth exceptions as govcloud errors."""
    try:
        yield
    except (sdk_exc.SDKException, ksa_exc.ClientException) as exc:
        raise translate(exc, where=where) from exc
