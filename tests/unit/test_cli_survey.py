"""`govcloud migrate survey`'s table speaks capacity's units: RAM in GiB (issue 17 item 20's
class: RAM was GiB in one place and MB in another)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from govcloud import cli, cli_migrate

HOST = {"host": "tax-app1", "reachable": True, "os_id": "debian", "os_version": "12", "cpus": 2,
        "ram_mb": 3936, "data_bytes": 25_000, "listening": [22], "connections": [],
        "mounts": [], "error": None}


class FakeApi:
    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert path == "/migrate/survey"
        return {"hosts": [HOST]}


def test_the_survey_shows_a_hosts_ram_in_gib(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    @contextmanager
    def client(args: Any) -> Iterator[FakeApi]:
        yield FakeApi()

    monkeypatch.setattr(cli_migrate, "_client", client)
    code = cli.main(["migrate", "survey", "--department", "gd-tax"])
    out = capsys.readouterr().out
    assert code == 0
    header, row = out.splitlines()[:2]
    assert header.split()[:5] == ["HOST", "OS", "CPU", "RAM", "DATA"]
    assert "3.8 GiB" in row and "MB" not in row
