from __future__ import annotations

import io
import logging
import sys

import pytest

from govcloud.logging import RedactingFilter, configure_logging, redact


@pytest.mark.parametrize(("text", "secret"), [
    ("X-Auth-Token: gAAAAABsecret123", "gAAAAABsecret123"),
    ("x-subject-token=abc.def", "abc.def"),
    ("Authorization: Bearer eyJsecret", "eyJsecret"),
    ("password=hunter2 user=bob", "hunter2"),
    ('{"password": "hunter2", "name": "x"}', "hunter2"),
    ("{'auth_token': 'tok-1'}", "tok-1"),
    ("postgresql://govcloud:s3cret@db:5432/govcloud", "s3cret"),
    ("os_password: s3cret", "s3cret"),
    ("application_credential_secret=xyz", "xyz"),
])
def test_redact_removes_secrets(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert "***" in cleaned


@pytest.mark.parametrize("text", [
    "site PROD: 300 hypervisors",
    "the token expired; re-authenticating",
    "user=bob project=tax",
])
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


def test_filter_redacts_message_arguments_and_exceptions() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("govcloud.test.redaction")
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("auth with %s", {"password": "hunter2"})
        try:
            raise RuntimeError("token=abc123 rejected")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "hunter2" not in out
    assert "abc123" not in out
    assert "token=*** rejected" in out


def test_configure_logging_levels_and_no_duplicate_handlers() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        stream = io.StringIO()
        configure_logging(debug=False, stream=stream)
        configure_logging(debug=False, stream=stream)
        ours = [h for h in root.handlers if getattr(h, "_govcloud", False)]
        assert len(ours) == 1
        assert root.level == logging.WARNING
        logging.getLogger("govcloud.x").warning("password=pw1")
        assert "pw1" not in stream.getvalue()
        configure_logging(debug=True, stream=stream)
        assert root.level == logging.DEBUG
    finally:
        for h in list(root.handlers):
            if h not in before:
                root.removeHandler(h)
        root.setLevel(logging.WARNING)


def test_log_lines_escape_control_characters_but_keep_traceback_lines() -> None:
    """A message quoting a hostile value (a rollback target, a cloud's error) is written with
    ESC, BEL, CR and bidi overrides escaped: `govcloud serve` logs to a terminal."""
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        stream = io.StringIO()
        configure_logging(debug=False, stream=stream)
        log = logging.getLogger("govcloud.x")
        log.warning("rollback %s: %s", "w1\x1b]0;pwned\x07", "gone\r\u202eok")
        try:
            raise ValueError("bad \x1b[2J")
        except ValueError:
            log.exception("failed")
        out = stream.getvalue()
        assert "rollback w1\\x1b]0;pwned\\x07: gone\\r\\u202eok" in out
        assert "ValueError: bad \\x1b[2J" in out and "Traceback" in out
        assert not any(c in out for c in "\x1b\x07\r\u202e")
        # a value with a newline cannot forge a record of its own (issue 17 item 4's class)
        stream.seek(0)
        stream.truncate()
        log.warning("no site named %s", "x\n2026-12-07 09:00:00,000 ERROR govcloud.audit: forged")
        assert stream.getvalue().count("\n") == 1
        assert "x\\n2026-12-07 09:00:00,000 ERROR govcloud.audit: forged" in stream.getvalue()
    finally:
        for h in list(root.handlers):
            if h not in before:
                root.removeHandler(h)
        root.setLevel(logging.WARNING)


def test_default_handler_follows_stderr_after_it_is_swapped_and_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`govcloud` (``main``) logs to stderr; a caller that captured stderr and closed it (a
    test's capsys, a daemon's redirect) must not leave the root logger writing to the closed
    stream: the next record goes to the stderr there is then, with no "Logging error"."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    first, second = io.StringIO(), io.StringIO()
    try:
        monkeypatch.setattr(sys, "stderr", first)
        configure_logging(debug=False)
        logging.getLogger("govcloud.x").warning("one")
        first.close()
        monkeypatch.setattr(sys, "stderr", second)
        logging.getLogger("govcloud.x").warning("two")
        for handler in root.handlers:
            handler.flush()
        out = second.getvalue()
        assert "Logging error" not in out
        assert "WARNING govcloud.x: two" in out
    finally:
        for h in list(root.handlers):
            if h not in before:
                root.removeHandler(h)
        root.setLevel(level)
