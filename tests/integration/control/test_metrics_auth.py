"""``/metrics`` with basic auth (on the API's port and on its own) and TLS (on its own port,
``govcloud serve --metrics-port``): a real uvicorn on loopback, a self-signed certificate."""

from __future__ import annotations

import datetime as dt
import ipaddress
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
from govcloud.settings import load_settings
from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade_engine
from monitors.exporter import MetricsServer

from .metrics_util import parse, value

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
