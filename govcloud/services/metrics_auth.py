"""Who may read ``/metrics`` (docs/metrics.md, "Credentials").

``/metrics`` names sites and departments and shows their quota use, so by default
(``metrics_auth: required``) it answers only a scrape that presents a credential: a bearer
token (``metrics_token``, or ``metrics_token_file`` — Prometheus' ``authorization:
credentials_file``) or HTTP basic auth (``metrics_user`` and ``metrics_password``). With no
credential configured a required ``/metrics`` refuses every scrape; ``govcloud serve`` avoids
that by making a token file in the XDG state dir on first start
(``Settings.with_metrics_defaults``). Only ``metrics_auth: none`` opens it, and the server says
so loudly when it starts.

The token file is read again when it changes (its inode, size, modification time or mode), so a
token is rotated by replacing the file — no restart. A file others may read is refused.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import secrets
import stat
import threading
from pathlib import Path

from govcloud.errors import InvalidInput
from govcloud.settings import Settings

log = logging.getLogger(__name__)

REALM = 'realm="govcloud metrics"'
MIN_TOKEN, MAX_TOKEN = 16, 512


def _check_token(text: str, source: str) -> str:
    token = text.strip()
    if not MIN_TOKEN <= len(token) <= MAX_TOKEN or not token.isascii() or \
            not token.isprintable() or " " in token:
        raise InvalidInput(f"the /metrics token in {source} is not {MIN_TOKEN}-{MAX_TOKEN} "
                           "printable ASCII characters without spaces",
                           hint="write one token on one line (e.g. `openssl rand -hex 32`)")
    return token


def _refuse_shared(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode) and mode & 0o007:
        raise InvalidInput(f"the /metrics token file {path} may be read or written by anyone "
                           f"(mode {stat.S_IMODE(mode):o})",
                           hint=f"chmod 600 {path} (640 with the group Prometheus runs as)")


def read_token(path: Path) -> str:
    """The token in ``path`` (one line; surrounding white space ignored, as Prometheus does)."""
    try:
        _refuse_shared(path, path.stat().st_mode)
        data = path.read_bytes()[:MAX_TOKEN + 64]
    except OSError as exc:
        raise InvalidInput(f"cannot read the /metrics token file {path}: {exc.strerror}",
                           hint="check the path and that govcloud may read it") from None
    return _check_token(data.decode("ascii", "replace"), str(path))


def load_or_create_token(path: Path) -> tuple[str, bool]:
    """The token in ``path``, made (mode 0600, in a 0700 directory when that is new) when the
    file does not exist; and whether it was made now."""
    try:
        path.lstat()
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        token = secrets.token_urlsafe(32)
        # written whole to a file of our own, then linked into place: a server starting at
        # the same moment sees the whole token or none
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(token + "\n")
            os.link(draft, path)
        except FileExistsError:
            return read_token(path), False
        finally:
            draft.unlink(missing_ok=True)
        log.warning("metrics: made a bearer token for /metrics in %s; give Prometheus a copy "
                    "(authorization: credentials_file, docs/metrics.md)", path)
        return token, True
    return read_token(path), False


class MetricsGuard:
    """Decides whether a scrape may read ``/metrics``, from its ``Authorization`` header."""

    def __init__(self, settings: Settings) -> None:
        self.open = settings.metrics_auth == "none"
        self._token = (settings.metrics_token.get_secret_value().encode()
                       if settings.metrics_token is not None else None)
        self._basic = None
        if settings.metrics_user is not None and settings.metrics_password is not None:
            self._basic = (settings.metrics_user.encode(),
                           settings.metrics_password.get_secret_value().encode())
        self.token_file = settings.metrics_token_file
        self._lock = threading.Lock()
        self._stamp: tuple[int, ...] | None = None
        self._file_token: bytes | None = None
        if self.token_file is not None:
            self._file_token = load_or_create_token(self.token_file)[0].encode()
            self._stamp = self._stat()

    @property
    def configured(self) -> bool:
        """Whether any credential could pass (or the endpoint is open)."""
        return self.open or self._token is not None or self._basic is not None \
            or self.token_file is not None

    def describe(self) -> str:
        """What ``/metrics`` asks for, for the server's log (no secret)."""
        if self.open:
            return "OPEN to anyone who reaches the port (metrics_auth: none)"
        ways = []
        if self.token_file is not None:
            ways.append(f"a bearer token (the file {self.token_file})")
        if self._token is not None:
            ways.append("a bearer token (metrics_token)")
        if self._basic is not None:
            ways.append(f"basic auth (user {self._basic[0].decode()})")
        return " or ".join(ways) if ways else \
            "a credential, and none is configured: every scrape is refused"

    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value of a refusal."""
        return f"Bearer {REALM}" + (f", Basic {REALM}" if self._basic is not None else "")

    def allows(self, authorization: str | None) -> bool:
        if self.open:
            return True
        scheme, _, value = (authorization or "").strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value:
            given = value.encode()
            return any(hmac.compare_digest(given, t) for t in self._tokens())
        if scheme.lower() == "basic" and self._basic is not None:
            try:
                user, _, password = base64.b64decode(value, validate=True).partition(b":")
            except (binascii.Error, ValueError):
                return False
            ok_user = hmac.compare_digest(user, self._basic[0])
            ok_password = hmac.compare_digest(password, self._basic[1])
            return ok_user and ok_password
        return False

    def _stat(self) -> tuple[int, ...] | None:
        assert self.token_file is not None
        try:
            info = self.token_file.stat()
        except OSError:
            return None
        return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_mode)

    def _tokens(self) -> list[bytes]:
        out = [self._token] if self._token is not None else []
        if self.token_file is None:
            return out
        with self._lock:
            stamp = self._stat()
            if stamp != self._stamp:  # replaced, edited or gone: read it again
                self._stamp = stamp
                try:
                    self._file_token = read_token(self.token_file).encode()
                    log.info("metrics: read the /metrics token file %s again", self.token_file)
                except InvalidInput as exc:  # refuse with it rather than keep an old token
                    self._file_token = None
                    log.error("metrics: %s (%s); scrapes with a token are refused",
                              exc.message, exc.hint)
            if self._file_token is not None:
                out.append(self._file_token)
        return out
