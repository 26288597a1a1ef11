"""The console pointed at two replicas keeps working when one is killed: a context lists both
``govcloud serve`` replicas (real processes on a PostgreSQL of the test's own), the console
(Textual Pilot) opens on the first and lists every server; kill -9 of that replica → the next
refresh is answered by the other, the list is still whole, the header says which replica it
is on (``2/2``) and a notice says it moved (docs/high-availability.md, "What a client
sees")."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from govcloud.cli import main
from govcloud.client import resolve
from tests.integration.ha.cluster import Cluster
from tests.integration.ha.replicas import Replicas
from tests.tui.conftest import loaded, wait_for
from tests.tui.pilot import SIZE, drawn, open_view
from tui.app import ConsoleApp, make_app
from tui.widgets.header import ConsoleHeader

pytestmark = [pytest.mark.slow, pytest.mark.ha, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def replicas(tmp_path: Path, primary: Cluster,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Replicas]:
    made = Replicas(tmp_path, primary.url, count=2)
    try:
        admin = made.bootstrap()
        made.serve_all()
        first = made.members[0]
        first.api(admin, "POST", "/tenants/apply")
        assert first.api(admin, "POST", "/sync", {"full": True})["ok"]
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
        for name in ("GOVCLOUD_SERVER", "GOVCLOUD_TOKEN", "GOVCLOUD_CONTEXT"):
            monkeypatch.delenv(name, raising=False)
        yield made
    finally:
        made.close()


def _header(app: ConsoleApp) -> str:
    return drawn(app.screen.query_one(ConsoleHeader))


async def test_the_console_moves_to_the_other_replica_and_says_which_it_is_on(
        replicas: Replicas, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = replicas.members
    assert main(["context", "add", "province", "--server", first.url, "--server", second.url,
                 "--token", replicas.admin, "--use"]) == 0, capsys.readouterr().err
    server, token = resolve(server=None, token=None, context=None)  # as `govcloud tui`
    assert server == f"{first.url},{second.url}"
    total = sum(len(r.servers) for r in replicas.sim.sim.cloud.regions.values())
    app = make_app(server=server, token=token, refresh_s=3600.0)  # refreshed by ctrl+r
    try:
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot, "overview")
            await open_view(pilot, "servers")
            view = await loaded(pilot, "servers")
            await wait_for(pilot, lambda: view.table.total == total, what="every server")
            assert app.session.server == first.url
            await wait_for(pilot, lambda: "replica 1/2" in _header(app), what="the header")
            assert first.url in _header(app)

            assert first.proc is not None
            first.proc.send_signal(signal.SIGKILL)
            first.wait_exit()
            version = app.servers.version
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: app.servers.version > version, timeout=60,
                           what="a refresh answered by the other replica")
            assert app.session.server == second.url
            assert view.table.total == total  # still every server
            await wait_for(pilot, lambda: "replica 2/2" in _header(app), what="the header")
            assert second.url in _header(app) and first.url not in _header(app)
            notes = [str(n.message) for n in app._notifications]
            assert f"{first.url} did not answer; now on {second.url}" in notes, notes

            await open_view(pilot, "overview")  # another view reads from the other too
            await loaded(pilot, "overview")
            assert app.session.server == second.url
    finally:
        app.session.api.close()
