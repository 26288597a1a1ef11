"""govcloud's error hierarchy: every error carries a message and, where it helps, a hint.

The CLI prints ``error: <message>`` and ``hint: <hint>`` and exits with ``exit_code``; the API
answers with ``http_status``. ``retryable`` says whether trying again unchanged can help.
"""

from __future__ import annotations


class GovCloudError(Exception):
    """Base of every error govcloud reports to a person or a pipeline."""

    exit_code: int = 1
    http_status: int = 500
    _retryable: bool = False

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    @property
    def retryable(self) -> bool:
        """True when the same call may succeed later without any change."""
        return self._retryable

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, hint={self.hint!r})"


class TemporaryError(GovCloudError):
    """A transient failure (unreachable API, timeout, 5xx): retrying may help."""

    exit_code = 75  # EX_TEMPFAIL
    http_status = 503
    _retryable = True


class DatabaseUnavailable(TemporaryError):
    """The control plane's database could not be reached, or was lost in the middle of a
    request (it is failing over to a standby): the request's transaction was rolled back, and
    the same request may succeed in a few seconds. The CLI retries it a bounded number of
    times before it exits 75 (docs/high-availability.md)."""


class PermanentError(GovCloudError):
    """A failure that will repeat until something is changed."""

    exit_code = 1
    http_status = 500


class InsufficientCapacity(PermanentError):
    """A provisioning request does not fit (quota, capacity or per-host fit) in some target
    site; it stays submitted. Its own exit code, so a pipeline can tell it from a conflict."""

    exit_code = 6
    http_status = 409


class ChangeRefused(PermanentError):
    """An operation that needs an approved change in its window was refused, or a change's
    window is not allowed by the change calendar (docs/changes.md, "The gate"): the message
    names what is missing; nothing was done. Its own exit code, so a pipeline can tell "wait
    for the window or the approval" from a failure."""

    exit_code = 7
    http_status = 409


class ConflictError(GovCloudError):
    """The target changed under us (stale generation, concurrent update): re-read, then retry."""

    exit_code = 3
    http_status = 409
    _retryable = True


class NotFound(GovCloudError):
    """The named thing does not exist."""

    exit_code = 4
    http_status = 404


class Forbidden(GovCloudError):
    """Authentication failed or the caller's role does not allow this."""

    exit_code = 5
    http_status = 403


class InvalidInput(GovCloudError):
    """Bad input: an argument, a configuration file or an environment variable."""

    exit_code = 2  # as argparse uses for usage errors
    http_status = 422


class TooLarge(InvalidInput):
    """Bad input that is too large to read at all (a request body over the server's limit)."""

    http_status = 413


def error_types() -> dict[str, type[GovCloudError]]:
    """Every error class of this module by name (the ``type`` an API error body carries), so
    a client raises the class the server raised — with its own exit code."""
    out: dict[str, type[GovCloudError]] = {}
    todo: list[type[GovCloudError]] = [GovCloudError]
    while todo:
        cls = todo.pop()
        if cls.__module__ == __name__:
            out[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return out
