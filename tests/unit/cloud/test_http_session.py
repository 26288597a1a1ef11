"""EnvOnceSession finds what requests finds in the environment, looked up once per host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
import requests.adapters

from govcloud.cloud import http_session
from govcloud.cloud.http_session import EnvOnceSession, env_once

URLS = ("http://keystone.example:5000/v3/auth/tokens", "http://nova.example:8774/v2.1/servers",
        "http://nova.example:8774/v2.1/os-hypervisors/detail?limit=5",
        "https://placement.internal:8778/resource_providers", "http://10.0.0.7/x")


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine nova.example login ops password s3cret\n", encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3129")
    monkeypatch.setenv("NO_PROXY", "placement.internal,10.0.0.0/8")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    return netrc


def settings(session: requests.Session, url: str, **kw: Any) -> tuple[Any, ...]:
    merged = session.merge_environment_settings(url, dict(kw.get("proxies") or {}), None,
                                                kw.get("verify"), None)
    prepared = session.prepare_request(requests.Request("GET", url))
    return (merged["proxies"], merged["verify"], prepared.headers.get("Authorization"))


@pytest.mark.usefixtures("environment")
@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("verify", [None, True, False, "/etc/own-ca.pem"])
def test_the_same_settings_as_requests_finds(url: str, verify: Any) -> None:
    plain, once = requests.Session(), EnvOnceSession()
    assert settings(once, url, verify=verify) == settings(plain, url, verify=verify)
    assert settings(once, url, verify=verify) == settings(plain, url, verify=verify)  # cached


@pytest.mark.usefixtures("environment")
def test_netrc_credentials_are_sent_to_their_host_only() -> None:
    once = EnvOnceSession()
    nova = once.prepare_request(requests.Request("GET", URLS[1]))
    keystone = once.prepare_request(requests.Request("GET", URLS[0]))
    assert nova.headers["Authorization"].startswith("Basic ")
    assert "Authorization" not in keystone.headers
    own = once.prepare_request(requests.Request("GET", URLS[1], auth=("me", "pw")))
    assert own.headers["Authorization"] != nova.headers["Authorization"]


@pytest.mark.usefixtures("environment")
def test_the_environment_is_read_once_per_host(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_netrc, real_proxies = http_session.get_netrc_auth, http_session.get_environ_proxies

    def netrc(url: str) -> Any:
        calls.append("netrc " + url)
        return real_netrc(url)

    def proxies(url: str, no_proxy: Any = None) -> Any:
        calls.append("proxies " + url)
        return real_proxies(url, no_proxy=no_proxy)

    monkeypatch.setattr(http_session, "get_netrc_auth", netrc)
    monkeypatch.setattr(http_session, "get_environ_proxies", proxies)
    once = EnvOnceSession()
    for _ in range(3):
        for url in URLS:
            settings(once, url)
    hosts = {u.split("/")[2] for u in URLS}
    assert len([c for c in calls if c.startswith("netrc")]) == len(hosts)
    assert len([c for c in calls if c.startswith("proxies")]) == len(hosts)


def test_env_once_keeps_the_sessions_settings() -> None:
    plain = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=32)
    plain.mount("http://", adapter)
    plain.verify = "/etc/ca.pem"
    plain.headers["User-Agent"] = "govcloud-test"
    once = env_once(plain)
    assert isinstance(once, EnvOnceSession)
    assert once.get_adapter("http://x.example/") is adapter
    assert once.verify == "/etc/ca.pem" and once.headers["User-Agent"] == "govcloud-test"
    assert env_once(once) is once
