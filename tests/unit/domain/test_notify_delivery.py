"""Delivering notifications (govcloud.domain.notify_delivery): the retry schedule and when a
message is given up, the webhook signature as a receiver checks it, which URLs may be
webhooks and how a department's webhooks are found."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import pytest

from govcloud.domain.notifications import DeliveryState
from govcloud.domain.notify_delivery import (
    RetryPolicy,
    check_webhook_url,
    error_text,
    routes_from_config,
    shown_url,
    sign,
    verify,
)
from govcloud.errors import InvalidInput

NOW = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)
SECRET = "s3cret-s3cret-s3cret"


def test_the_default_schedule_is_1_5_15_60_minutes_then_doubling_to_6_hours() -> None:
    policy = RetryPolicy()
    assert policy.schedule() == [MIN * m for m in (1, 5, 15, 60, 120, 240, 360, 360, 360)]
    assert policy.max_attempts == 10


def test_a_failure_waits_then_the_last_attempt_is_dead() -> None:
    policy = RetryPolicy(delays=(MIN, 5 * MIN), cap=8 * MIN, max_attempts=4)
    assert policy.after_failure(1, NOW) == (DeliveryState.PENDING, NOW + MIN)
    assert policy.after_failure(2, NOW) == (DeliveryState.PENDING, NOW + 5 * MIN)
    assert policy.after_failure(3, NOW) == (DeliveryState.PENDING, NOW + 8 * MIN)  # capped
    assert policy.after_failure(4, NOW) == (DeliveryState.DEAD, None)
    assert policy.after_failure(40, NOW) == (DeliveryState.DEAD, None)
    assert RetryPolicy(max_attempts=100).delay(99) == dt.timedelta(hours=6)


@pytest.mark.parametrize("bad", [{"delays": ()}, {"delays": (dt.timedelta(0),)},
                                 {"cap": dt.timedelta(0)}, {"max_attempts": 0}])
def test_a_policy_that_could_never_work_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        RetryPolicy(**bad)  # type: ignore[arg-type]


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = '{"delivery":7,"subject":"资源申请"}'.encode()
    expected = hmac.new(SECRET.encode(), b"1764576000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET.encode(), "1764576000", body) == f"sha256={expected}"


def test_a_receiver_refuses_a_changed_body_a_wrong_key_and_a_replay() -> None:
    key, body, stamp = SECRET.encode(), b'{"a":1}', "1764576000"
    signature = sign(key, stamp, body)
    assert verify(key, stamp, body, signature, now=1764576000 + 299)
    assert not verify(key, stamp, b'{"a":2}', signature, now=1764576000)
    assert not verify(b"another-secret-of-16", stamp, body, signature, now=1764576000)
    assert not verify(key, "1764576001", body, signature, now=1764576000)  # stamp is signed
    assert not verify(key, stamp, body, signature, now=1764576000 + 301)  # too old: replay
    assert not verify(key, "soon", body, signature, now=1764576000)


@pytest.mark.parametrize("url", ["https://hooks.example.gov.cn/govcloud?x=1",
                                 "http://127.0.0.1:8080/hook", "https://[::1]:8443/h"])
def test_http_and_https_urls_are_webhooks(url: str) -> None:
    assert check_webhook_url(f"  {url} ", "w") == url


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://example.org/x", "http or https only"),
    ("file:///etc/passwd", "http or https only"),
    ("javascript:alert(1)", "http or https only"),
    ("https:///nohost", "no host"),
    ("https://user:pw@example.org/", "user or password"),
    ("https://example.org/a b", "spaces or control"),
    ("https://example.org/\r\nX: y", "spaces or control"),
    ("https://example.org:99999/", "not a URL"),
    ("https://example.org/" + "a" * 2100, "over 2048"),
    ("", "must be a URL"),
    (42, "must be a URL"),
])
def test_other_urls_are_refused_with_a_hint(url: object, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as caught:
        check_webhook_url(url, "notify_webhooks.global")
    assert caught.value.hint
    assert caught.value.message.startswith("notify_webhooks.global")


def test_listings_show_a_webhook_without_its_path() -> None:
    assert shown_url("https://hooks.example.org/T0K3N/abc?k=v") == "https://hooks.example.org/…"
    assert shown_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/"
    assert shown_url("https://[::1]:8443/x") == "https://[::1]:8443/…"


def test_routes_per_department_then_global_each_signed() -> None:
    routes = routes_from_config({
        "global": "https://soc.example.org/hook",
        "departments": {"gd-psd": ["https://psd.example.org/a",
                                   {"url": "https://psd.example.org/b",
                                    "secret": "psd-own-secret-123"}],
                        "gd-tax": "https://soc.example.org/hook"}}, secret=SECRET)
    assert routes.for_department("gd-psd") == ("https://psd.example.org/a",
                                                "https://psd.example.org/b",
                                                "https://soc.example.org/hook")
    assert routes.for_department("gd-tax") == ("https://soc.example.org/hook",)
    assert routes.for_department("gd-edu") == ("https://soc.example.org/hook",)
    assert routes.secret_for("https://psd.example.org/b") == b"psd-own-secret-123"
    assert routes.secret_for("https://psd.example.org/a") == SECRET.encode()
    assert bool(routes) and not bool(routes_from_config(None))


@pytest.mark.parametrize(("config", "secret", "why"), [
    ({"global": "https://a.example/h"}, None, "has no secret"),
    ({"global": "https://a.example/h"}, "short", "at least 16"),
    ({"everyone": "https://a.example/h"}, SECRET, "unknown keys"),
    ({"departments": ["https://a.example/h"]}, SECRET, "map department codes"),
    ({"departments": {"gd-nope": "https://a.example/h"}}, SECRET, "no department"),
    ({"global": {"url": "https://a.example/h", "token": "x"}}, SECRET, "unknown keys"),
    ({"global": ["https://a.example/h", "gopher://b.example/"]}, SECRET, r"global\[1\]"),
])
def test_bad_routes_are_refused(config: dict[str, object], secret: str | None,
                                why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        routes_from_config(config, secret=secret, known=["gd-psd"])


def test_a_stored_error_is_one_printable_bounded_line() -> None:
    text = error_text("HTTP 500:\r\n\x1b[31m" + "x" * 1000)
    assert "\n" not in text and "\x1b" not in text and len(text) == 500
