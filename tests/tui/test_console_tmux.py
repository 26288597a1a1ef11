"""End to end in a real terminal: ``govcloud demo --scale small`` started in a tmux session,
driven by keys (open servers, filter, drill in, back, quit) and checked on the captured
screen. The demo's own API (its token from the context it writes) says what the screen
should show."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from govcloud.client import ApiClient
from tests.processes import children_of, wait_gone

pytestmark = pytest.mark.slow

if shutil.which("tmux") is None:  # the Makefile's apt step installs it
    pytest.skip("tmux is not installed", allow_module_level=True)


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True,
                              capture_output=True, text=True, timeout=10).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "demo", *keys)

    def text(self, *keys: str) -> None:
        self.run("send-keys", "-t", "demo", "-l", *keys)

    def screen(self, *, styles: bool = False) -> str:
        return self.run("capture-pane", "-p", *(["-e"] if styles else []), "-t", "demo")

    def wait(self, condition: Callable[[str], bool], what: str, timeout: float = 30,
             *, styles: bool = False) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen(styles=styles)
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}")
            time.sleep(0.1)


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[tuple[Tmux, Path]]:
    socket = f"govcloud-test-{uuid.uuid4().hex[:8]}"
    t = Tmux(socket)
    govcloud = Path(sys.executable).parent / "govcloud"
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    # COLUMNS/LINES (set in this process under pytest) would override the pane's real size
    command = ("env -u COLUMNS -u LINES "
               + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
               + f" {shlex.quote(str(govcloud))} demo --scale small --seed 42 "
               f"--state-dir {shlex.quote(str(tmp_path / 'demo'))}"
               "; echo DEMO-EXIT=$?; sleep 600")
    t.run("-f", "/dev/null", "new-session", "-d", "-s", "demo", "-x", "160", "-y", "45",
          command)
    t.run("resize-window", "-t", "demo", "-x", "160", "-y", "45")
    try:
        yield t, tmp_path
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)


def test_demo_console_in_tmux(tmux: tuple[Tmux, Path]) -> None:
    t, root = tmux
    t.wait(lambda s: "Overview" in s and "If PROD is lost" in s, "the overview", 120)
    contexts = yaml.safe_load((root / "config" / "govcloud" / "contexts.yaml").read_text())
    demo = contexts["contexts"]["demo"]
    with ApiClient(demo["server"], demo["token"]) as api:
        servers = []
        cursor = None
        while True:
            page = api.get("/servers", limit=1000, cursor=cursor)
            servers += page["servers"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    psd = sorted((s for s in servers if s["name"].startswith("gd-psd-")),
                 key=lambda s: s["name"])
    total = len(servers)

    t.text(":")
    t.wait(lambda s: ":servers" in s, "the palette")
    t.text("servers")
    t.keys("Enter")
    t.wait(lambda s: f"{total} of {total} rows" in s, "the server list")

    t.text("/")
    # the filter box has the focus: its cursor (reverse video) sits on the placeholder's "/"
    t.wait(lambda s: "m/\x1b[" in s.splitlines()[-2], "the filter box's focus", styles=True)
    typed = ""
    for ch in "gd-psd-":  # key by key, as typed (a burst of keys arrives as a paste)
        t.text(ch)
        typed += ch
        t.wait(lambda s, typed=typed: f"substring '{typed}'" in s, f"the filter {typed!r}")
    t.keys("Enter")
    screen = t.wait(lambda s: f"{len(psd)} of {total} rows" in s, "the filtered list")
    rows = [line for line in screen.splitlines() if line[:10].strip() in
            ("PROD", "DR-LOCAL", "DR-REMOTE")]
    assert rows and all("gd-psd-" in line for line in rows)
    assert psd[0]["name"] in rows[0]  # sorted by name, the cursor on the first

    t.keys("Enter")
    same_name = [s for s in psd if s["name"] == psd[0]["name"]]  # one per site, maybe
    screen = t.wait(lambda s: "addresses" in s and any(x["id"] in s for x in same_name),
                    "the server")
    shown = next(x for x in same_name if x["id"] in screen)
    assert "广东省公安厅 Public Security Department" in screen
    assert shown["flavor"] in screen and shown["host"] in screen

    t.keys("Escape")
    t.wait(lambda s: f"{len(psd)} of {total} rows" in s, "back to the filtered list")

    t.text("q")
    screen = t.wait(lambda s: "DEMO-EXIT=" in s, "the demo to stop", 60)
    assert "DEMO-EXIT=0" in screen and "console closed" in screen
    assert "Traceback" not in screen


def test_demo_console_ends_with_its_terminal(tmux: tuple[Tmux, Path]) -> None:
    """The terminal closed under the open console (``tmux kill-session``: the hang-up a
    dropped SSH session also sends): the demo stops in order as on ``q`` and leaves no
    process behind, its simulator included (issue 24)."""
    t, root = tmux
    t.wait(lambda s: "Overview" in s and "If PROD is lost" in s, "the overview", 120)
    pane = int(t.run("list-panes", "-t", "demo", "-F", "#{pane_pid}").strip())
    started = children_of(pane)
    ready = root / "demo" / "sim.ready"
    sim_pid = json.loads(ready.read_text())["pid"]
    assert sim_pid in started
    t.run("kill-session", "-t", "demo")
    wait_gone(started | {pane}, "the demo after its terminal closed")
    # stopped in order, not just killed: the demo itself removes the ready file on its way out
    assert not ready.exists()
