"""``/metrics`` asks for a credential by default: a bearer token (a setting, or a file read again
when it is replaced) or basic auth, on the API's port and on its own (``govcloud serve
--metrics-port``, with TLS); with none configured it refuses every scrape, and only
``metrics_auth: none`` opens it (logged). A real uvicorn on loopback, a self-signed
certificate."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from govcloud.api.app import make_app
from govcloud.api.server import ServerThread
from govcloud.errors import InvalidInput
from govcloud.settings import load_settings
from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade_engine
from monitors.exporter import MetricsServer

from .metrics_util import parse, scrape, value

pytestmark = pytest.mark.slow


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "metrics.crt", directory / "metrics.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    cert, key = self_signed(tmp_path)
    url = f"sqlite:///{tmp_path / 'govcloud.db'}"
    engine = make_engine(url)
    upgrade_engine(engine)
    settings = load_settings(database_url=url, metrics_user="prom",
                             metrics_password="s3cret-scrape", metrics_tls_cert=cert,
                             metrics_tls_key=key)
    app = make_app(engine=engine, settings=settings, clouds={}, catalogue_dir=tmp_path)
    api = ServerThread(app).start()
    metrics = MetricsServer(app.state.plane, port=0).start()
    try:
        yield api.url + "/metrics", metrics.url, cert
    finally:
        metrics.stop()
        api.stop()
        engine.dispose()


def get(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, timeout=30, **kwargs)


def test_basic_auth_on_the_api_port(servers: tuple[str, str, Path]) -> None:
    api_metrics, _, _ = servers
    refused = get(api_metrics)
    assert refused.status_code == 401 and "Basic" in refused.headers["www-authenticate"]
    assert get(api_metrics, auth=("prom", "wrong")).status_code == 401
    assert get(api_metrics, auth=("other", "s3cret-scrape")).status_code == 401
    ok = get(api_metrics, auth=("prom", "s3cret-scrape"))
    assert ok.status_code == 200
    assert value(parse(ok.text), "govcloud_site_stale", site="PROD") == 1


def test_tls_and_basic_auth_on_the_metrics_port(servers: tuple[str, str, Path]) -> None:
    _, metrics_url, cert = servers
    assert metrics_url.startswith("https://127.0.0.1:")
    with pytest.raises(httpx.ConnectError):  # not trusted without the certificate
        get(metrics_url, auth=("prom", "s3cret-scrape"))
    assert get(metrics_url, verify=str(cert)).status_code == 401
    ok = get(metrics_url, verify=str(cert), auth=("prom", "s3cret-scrape"))
    assert ok.status_code == 200 and "govcloud_build_info" in ok.text


@contextlib.contextmanager
def api(tmp_path: Path, **settings: Any) -> Iterator[str]:
    """A control plane with ``settings`` on loopback; its /metrics URL."""
    url = f"sqlite:///{tmp_path / 'govcloud.db'}"
    engine = make_engine(url)
    upgrade_engine(engine)
    app = make_app(engine=engine, settings=load_settings(database_url=url, **settings),
                   clouds={}, catalogue_dir=tmp_path)
    server = ServerThread(app).start()
    try:
        yield server.url + "/metrics"
    finally:
        server.stop()
        engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_a_credential_every_scrape_is_refused(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="monitors.exporter"), api(tmp_path) as url:
        refused = get(url)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="govcloud metrics"'
        assert "govcloud_" not in refused.text
        assert get(url, headers=bearer("x" * 32)).status_code == 401
        assert get(url, auth=("prom", "anything")).status_code == 401
    assert "refuses every scrape: no credential is configured" in caplog.text


def test_a_bearer_token_file_is_read_again_when_replaced(tmp_path: Path) -> None:
    token_file = tmp_path / "secrets" / "metrics.token"
    with api(tmp_path, metrics_token_file=token_file) as url:
        # made on first start, 0600 in a 0700 folder
        assert os.stat(token_file).st_mode & 0o777 == 0o600
        assert os.stat(token_file.parent).st_mode & 0o777 == 0o700
        first = token_file.read_text().strip()
        assert len(first) >= 32
        assert get(url).status_code == 401
        assert get(url, headers=bearer(first[:-1] + "x")).status_code == 401
        assert get(url, headers={"Authorization": first}).status_code == 401  # no scheme
        assert value(parse(scrape(url.removesuffix("/metrics"), headers=bearer(first))),
                     "govcloud_site_stale", site="PROD") == 1
        # rotation: the file replaced (as an operator's `install -m 600` does)
        fresh = tmp_path / "new.token"
        fresh.write_text("rotated-token-0123456789abcdef\n")
        fresh.chmod(0o600)
        fresh.replace(token_file)
        assert get(url, headers=bearer(first)).status_code == 401
        assert get(url, headers=bearer("rotated-token-0123456789abcdef")).status_code == 200
        # a file anyone may read is refused, and so is every token until it is fixed
        token_file.chmod(0o644)
        assert get(url, headers=bearer("rotated-token-0123456789abcdef")).status_code == 401


def test_a_token_file_others_may_read_stops_the_start(tmp_path: Path) -> None:
    token_file = tmp_path / "metrics.token"
    token_file.write_text("shared-token-0123456789abcdef\n")
    token_file.chmod(0o644)
    with pytest.raises(InvalidInput, match="may be read or written by anyone"), \
            api(tmp_path, metrics_token_file=token_file):
        pass


def test_opting_out_opens_it_and_says_so(tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="monitors.exporter"), \
            api(tmp_path, metrics_auth="none") as url:
        assert get(url).status_code == 200
    assert "is OPEN: anyone who reaches the port" in caplog.text


@pytest.mark.parametrize(("settings", "error"), [
    ({"metrics_auth": "none", "metrics_token": "t" * 20}, "metrics_auth is none but"),
    ({"metrics_auth": "none", "metrics_user": "p", "metrics_password": "q"},
     "metrics_auth is none but"),
    ({"metrics_user": "prom"}, "give both"),
    ({"metrics_password": "alone"}, "give both"),
    ({"metrics_token": "short"}, "at least 16"),
    ({"metrics_auth": "open"}, "metrics_auth"),
])
def test_contradictory_metrics_settings_are_refused(settings: dict[str, Any],
                                                    error: str) -> None:
    with pytest.raises(InvalidInput, match=error):
        load_settings(**settings)


def test_serve_defaults_to_a_token_file_in_the_state_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert load_settings().with_metrics_defaults().metrics_token_file == \
        tmp_path / "state" / "govcloud" / "metrics.token"
    for kept in ({"metrics_auth": "none"}, {"metrics_token": "t" * 20},
                 {"metrics_user": "p", "metrics_password": "q"}):
        assert load_settings(**kept).with_metrics_defaults().metrics_token_file is None
