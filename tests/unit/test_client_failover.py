"""The client of several control-plane replicas (govcloud.client_failover): it moves to the
next replica when one cannot be reached and says so; it retries a ``DatabaseUnavailable``
answer a bounded number of times, waiting the server's Retry-After, then gives up (exit 75);
a write cut off after it was sent is never sent again elsewhere."""

from __future__ import annotations

import httpx
import pytest

from govcloud.client import ApiClient
from govcloud.client_failover import MAX_WAIT_S, check_servers, split_servers
from govcloud.errors import DatabaseUnavailable, InvalidInput, TemporaryError

WHOAMI = {"name": "admin", "person": "Admin", "role": "bureau-admin", "city": None,
          "department": None, "scope": "all"}
DB_DOWN = {"error": {"message": "cannot reach the database", "hint": "retry",
                     "type": "DatabaseUnavailable"}}


class Replicas:
    """A fake network: ``down`` hosts refuse connections; the others answer from ``script``
    (a list of responses, the last one repeated)."""

    def __init__(self, down: set[str], script: list[httpx.Response] | None = None,
                 cut_off: set[str] | None = None) -> None:
        self.down = down
        self.cut_off = cut_off or set()
        self.script = script or [httpx.Response(200, json=WHOAMI)]
        self.sent: list[tuple[str, str]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.sent.append((request.method, host))
        if host in self.down:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if host in self.cut_off:
            raise httpx.RemoteProtocolError("Server disconnected", request=request)
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


def _client(net: Replicas, servers: str, **kw: object) -> tuple[ApiClient, list[tuple[str, str]],
                                                                list[float]]:
    switches: list[tuple[str, str]] = []
    waits: list[float] = []
    api = ApiClient(servers, "gct_t", transport=httpx.MockTransport(net.handle),
                    on_switch=lambda a, b: switches.append((a, b)), sleep=waits.append,
                    **kw)  # type: ignore[arg-type]
    return api, switches, waits


def test_the_next_replica_answers_when_the_first_is_down() -> None:
    net = Replicas(down={"a.test"})
    api, switches, _ = _client(net, "http://a.test, http://b.test/")
    assert api.whoami().name == "admin"
    assert api.server == "http://b.test" and api.server_urls == ["http://a.test",
                                                                 "http://b.test"]
    assert switches == [("http://a.test", "http://b.test")]
    api.whoami()  # it stays on the one that answered: no second switch, no second try of a
    assert switches == [("http://a.test", "http://b.test")]
    assert net.sent == [("GET", "a.test"), ("GET", "b.test"), ("GET", "b.test")]


def test_every_replica_down_is_one_temporary_error_naming_them_all() -> None:
    net = Replicas(down={"a.test", "b.test"})
    api, switches, waits = _client(net, "http://a.test,http://b.test")
    with pytest.raises(TemporaryError) as info:
        api.whoami()
    assert info.value.exit_code == 75 and switches == [] and waits == []
    assert info.value.message.startswith(
        "cannot reach the control plane at http://a.test, http://b.test: http://a.test: ")
    assert len(net.sent) == 2  # one try each


def test_a_database_failover_is_retried_then_given_up() -> None:
    down = httpx.Response(503, json=DB_DOWN, headers={"Retry-After": "2"})
    net = Replicas(down=set(), script=[down, down, httpx.Response(200, json=WHOAMI)])
    api, _, waits = _client(net, "http://a.test", retries=3)
    assert api.whoami().name == "admin" and waits == [2.0, 2.0]
    net = Replicas(down=set(), script=[httpx.Response(503, json=DB_DOWN,
                                                      headers={"Retry-After": "3600"})])
    api, _, waits = _client(net, "http://a.test", retries=2)
    with pytest.raises(DatabaseUnavailable) as info:
        api.decide_request(7, "approve")
    assert info.value.exit_code == 75 and waits == [MAX_WAIT_S, MAX_WAIT_S]
    assert net.sent == [("POST", "a.test")] * 3


def test_other_temporary_errors_are_not_retried() -> None:
    site_down = {"error": {"message": "site PROD: 503", "hint": None, "type": "TemporaryError"}}
    net = Replicas(down=set(), script=[httpx.Response(503, json=site_down)])
    api, _, waits = _client(net, "http://a.test", retries=3)
    with pytest.raises(TemporaryError):
        api.whoami()
    assert waits == [] and len(net.sent) == 1


def test_a_write_cut_off_after_sending_is_not_sent_again() -> None:
    net = Replicas(down=set(), cut_off={"a.test"})
    api, switches, _ = _client(net, "http://a.test,http://b.test")
    with pytest.raises(TemporaryError, match="went away while answering") as info:
        api.decide_request(7, "approve")
    assert "may or may not have been applied" in (info.value.hint or "")
    assert net.sent == [("POST", "a.test")] and switches == []
    assert api.whoami().name == "admin"  # a read is: the next replica answers it
    assert switches == [("http://a.test", "http://b.test")]


def test_the_retries_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVCLOUD_RETRIES", "0")
    net = Replicas(down=set(), script=[httpx.Response(503, json=DB_DOWN)])
    api, _, waits = _client(net, "http://a.test")
    with pytest.raises(DatabaseUnavailable):
        api.whoami()
    assert waits == []
    monkeypatch.setenv("GOVCLOUD_RETRIES", "lots")
    with pytest.raises(InvalidInput, match="GOVCLOUD_RETRIES='lots' is not a whole number"):
        _client(net, "http://a.test")


@pytest.mark.parametrize("text", ["", " , ", ",".join(["http://x"] * 9)])
def test_a_server_list_is_one_to_eight_urls(text: str) -> None:
    with pytest.raises(InvalidInput):
        split_servers(text)


@pytest.mark.parametrize("url", ["ftp://x", "127.0.0.1:8780", "http://a b", "http://x\x1b[2J"])
def test_a_context_stores_only_http_urls(url: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_servers([url])
    assert "\x1b" not in info.value.message
