"""Console benchmark (issue 4), printed and appended to bench/results.md.

    python bench/tui_bench.py [--server URL --token T | --context NAME]
                              [--start [--scale province|cities|cities-small]] [--no-write]

Against a running control plane (default: the current context — `govcloud demo --no-tui`
writes one named demo), or with ``--start`` a `govcloud demo --no-tui` of ``--scale``
(province by default; ``cities``: 24 sites in 4 clouds, 60,000 servers) started for the run
and stopped after it:

1. a real terminal: `govcloud tui` in a tmux window (200×50); the time from starting the
   process to the first useful screen (the overview with every site's figures and the
   what-if verdict on screen), then from `:servers` Enter to the list of every server on
   screen, then each key of a filter typed one at a time — from `tmux send-keys` to the
   pane showing that key's filter (polled with `capture-pane`, so it includes tmux and
   the polling, a few ms each) — and the console's RSS with every server loaded and a
   filter applied;
2. the same console headless in this process, for figures without tmux: each measures from
   the event entering the app (a key posted to the app's driver as the terminal driver posts
   it; `switch_mode` for opening the list) to the first frame the app composes that shows
   its effect (``App.post_display_hook``). Headless, Textual composes the frame (every
   widget's lines rendered) but does not encode it into escape codes or write it: the tmux
   figures include that. Nothing is subtracted. Each filter key's CPU time in the app's
   thread is printed too (``keystrokes_cpu_ms``: on a shared machine the wall-clock figure
   is that plus the wait for a core). Also the cold fetch of every server.

Targets: first useful screen < 2 s, server list opens < 500 ms (< 200 ms at the cities
scales, issue 22), each filter keystroke < 50 ms, RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from sim_bench import machine

from govcloud.client import ApiClient, resolve

HERE = Path(__file__).resolve().parent
GOVCLOUD = Path(sys.executable).parent / "govcloud"
TARGETS = {"first_screen_s": 2.0, "open_servers_ms": 500.0, "keystroke_ms": 50.0,
           "rss_mb": 300.0}
FILTER = "gd-psd-db"
SCALES = ("province", "cities", "cities-small")
OPEN_SERVERS_CITIES_MS = 200.0  # the server list at the cities scales (issue 22)


def targets(scale: str) -> dict[str, float]:
    if scale.startswith("cities"):
        return {**TARGETS, "open_servers_ms": OPEN_SERVERS_CITIES_MS}
    return TARGETS


def start_demo(root: Path, scale: str = "province"
               ) -> tuple[subprocess.Popen[bytes], str, str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(root / "config")}
    proc = subprocess.Popen([str(GOVCLOUD), "demo", "--no-tui", "--scale", scale,
                             "--state-dir", str(root / "demo")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    contexts = root / "config" / "govcloud" / "contexts.yaml"
    deadline = time.monotonic() + 900
    while not contexts.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the demo did not start")
        time.sleep(1)
    demo = yaml.safe_load(contexts.read_text())["contexts"]["demo"]
    return proc, demo["server"], demo["token"]


def count_servers(server: str, token: str) -> int:
    with ApiClient(server, token) as api:
        return int(sum(s["servers"]["total"] for s in api.get("/status")["sites"]))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def terminal_run(server: str, token: str, total: int) -> dict[str, Any]:
    """`govcloud tui` in tmux: first useful screen, servers on screen, RSS."""
    sock = f"tui-bench-{uuid.uuid4().hex[:8]}"

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-L", sock, *args], check=True, capture_output=True,
                              text=True, timeout=10).stdout

    def wait(text: str, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while True:
            if text in tmux("capture-pane", "-p", "-t", "b"):
                return time.perf_counter()
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {text!r}")
            time.sleep(0.01)

    state = tempfile.mkdtemp(prefix="tui-bench-")
    command = (f"exec env -u COLUMNS -u LINES XDG_STATE_HOME={shlex.quote(state)} "
               f"{shlex.quote(str(GOVCLOUD))} tui --server {shlex.quote(server)} "
               f"--token {shlex.quote(token)}")
    try:
        t0 = time.perf_counter()
        tmux("-f", "/dev/null", "new-session", "-d", "-s", "b", "-x", "200", "-y", "50",
             command)
        first = wait("If PROD is lost") - t0
        pid = int(tmux("display", "-p", "-t", "b", "#{pane_pid}").strip())
        rss_overview = rss_mb(pid)
        time.sleep(3)  # let the background prefetch of every server finish
        tmux("send-keys", "-t", "b", ":")
        wait(":servers")
        tmux("send-keys", "-t", "b", "-l", "servers")
        t1 = time.perf_counter()
        tmux("send-keys", "-t", "b", "Enter")
        opened = wait(f"{total:,} of {total:,} rows") - t1
        tmux("send-keys", "-t", "b", "-l", "/")
        time.sleep(0.3)
        keys = []
        for i, ch in enumerate(FILTER, start=1):  # one key at a time, each waited for
            t2 = time.perf_counter()
            tmux("send-keys", "-t", "b", "-l", ch)
            keys.append((wait(f"substring '{FILTER[:i]}'") - t2) * 1000)
            time.sleep(0.1)  # a typist's pace
        rss = rss_mb(pid)
        tmux("send-keys", "-t", "b", "q")
        return {"first_screen_s": round(first, 3), "open_servers_terminal_ms":
                round(opened * 1000, 1), "rss_mb": round(rss, 1),
                "rss_overview_mb": round(rss_overview, 1),
                "keystrokes_terminal_ms": [round(k, 1) for k in keys],
                "keystroke_terminal_median_ms": round(statistics.median(keys), 1),
                "keystroke_terminal_max_ms": round(max(keys), 1),
                "keystroke_terminal_over": sum(1 for k in keys
                                               if k >= TARGETS["keystroke_ms"])}
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True, timeout=10)
        shutil.rmtree(state, ignore_errors=True)


def _key_press(app: Any, name: str, char: str | None = None) -> Callable[[], None]:
    """A function that sends the key ``name`` to ``app`` as the terminal would."""
    from textual import events

    def post() -> None:
        event = events.Key(name, char)
        event.set_sender(app)
        app._driver.send_message(event)
    return post


async def _until(pilot: Any, cond: Callable[[], Any], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        await pilot.pause(0.01)


async def pilot_run(server: str, token: str, total: int) -> dict[str, Any]:
    from tui.app import make_app

    app = make_app(server=server, token=token, refresh_s=3600)
    out: dict[str, Any] = {}
    # (when, condition) waited for by `frame`
    frames: list[tuple[asyncio.Future[tuple[float, float]], Callable[[], Any]]] = []
    loop = asyncio.get_running_loop()
    cpu: list[float] = []  # the CPU time of each `frame`'s wait, ms

    def composed() -> None:  # every frame the app composes
        if frames and frames[0][1]():
            future = frames.pop(0)[0]
            if not future.done():
                future.set_result((time.perf_counter(), time.thread_time()))

    app.post_display_hook = composed  # type: ignore[method-assign]

    async def frame(start: Any, shown: Any) -> float:
        """ms from ``start()`` to the first frame composed once ``shown()`` holds (and, in
        ``cpu``, the CPU time the app's thread spent in between: what load does not
        inflate, as a wall-clock figure on a shared machine is)."""
        future: asyncio.Future[tuple[float, float]] = loop.create_future()
        frames.append((future, shown))
        t, c = time.perf_counter(), time.thread_time()
        start()
        done, done_cpu = await asyncio.wait_for(future, 60)
        cpu.append((done_cpu - c) * 1000)
        return float(done - t) * 1000

    def key(name: str, char: str | None = None) -> Callable[[], None]:
        return _key_press(app, name, char)

    async with app.run_test(size=(200, 50)) as pilot:
        async def until(cond: Any, timeout: float = 120) -> None:
            await _until(pilot, cond, timeout)

        t0 = time.perf_counter()
        await until(lambda: getattr(app.screen, "loads", 0) > 0)
        out["first_screen_pilot_s"] = round(time.perf_counter() - t0, 3)
        await until(lambda: app.servers.ready)
        await pilot.pause(0.5)
        out["fetch_all_servers_s"] = round(app.servers.fetch_seconds or 0, 2)

        def listed() -> bool:
            table = getattr(app.screen, "table", None)
            return getattr(app.screen, "VIEW_NAME", "") == "servers" \
                and getattr(table, "total", 0) == total
        out["open_servers_ms"] = round(await frame(lambda: app.switch_mode("servers"),
                                                   listed), 1)
        await pilot.pause(0.5)
        screen: Any = app.screen  # the servers view
        table = screen.table
        await frame(key("slash", "/"), lambda: screen.filter_wanted)
        keys = []
        for i, ch in enumerate(FILTER, start=1):
            name = "minus" if ch == "-" else ch
            keys.append(await frame(key(name, ch),
                                    lambda i=i: table.filter.text == FILTER[:i]))
            await pilot.pause(0.1)  # a typist's pace
        out["keystrokes_ms"] = [round(k, 1) for k in keys]
        out["keystroke_max_ms"] = round(max(keys), 1)
        out["keystroke_median_ms"] = round(statistics.median(keys), 1)
        keys_cpu = cpu[-len(keys):]
        out["keystrokes_cpu_ms"] = [round(k, 1) for k in keys_cpu]
        out["keystroke_cpu_max_ms"] = round(max(keys_cpu), 1)
        out["keystroke_cpu_median_ms"] = round(statistics.median(keys_cpu), 1)
        out["filtered_rows"] = table.row_count
        back = []
        for i in range(len(FILTER) - 1, -1, -1):  # backspace to nothing: widening
            back.append(await frame(key("backspace"),
                                    lambda i=i: table.filter.text == FILTER[:i]))
            await pilot.pause(0.1)
        out["backspace_max_ms"] = round(max(back), 1)
        out["backspace_median_ms"] = round(statistics.median(back), 1)
        await frame(key("enter"), lambda: table.has_focus)
        pages = []
        for _ in range(20):
            if table.scroll_offset.y >= table.max_scroll_y:  # a small scale: at the end
                break
            before = int(table.scroll_offset.y)
            pages.append(await frame(key("pagedown"),
                                     lambda before=before: int(table.scroll_offset.y)
                                     != before))
            await pilot.pause(0.05)
        out["page_down_max_ms"] = round(max(pages, default=0.0), 1)
        out["page_down_median_ms"] = round(statistics.median(pages or [0.0]), 1)
    app.session.api.close()
    return out


def write_results(r: dict[str, Any]) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    goal = targets(r["scale"])

    def ok(value: float, key: str) -> str:
        return "✅" if value < goal[key] else "❌"

    text = (
        f"\n## Console (`govcloud tui`) at {r['scale']} scale — {stamp}\n\n"
        f"Machine: {machine()} · 1-min load average {r['load_avg']} at the start (the "
        f"machine is shared with other engineers' work)  \n"
        f"Command: `python bench/tui_bench.py"
        f"{' --start --scale ' + r['scale'] if r['started'] else ''}` against "
        f"a {r['scale']}-scale `govcloud demo --no-tui` ({r['servers']:,} servers) on the same "
        f"machine (the demo's simulator and control plane share its cores)\n\n"
        "| figure | measured | target |\n| --- | --- | --- |\n"
        f"| first useful screen (tmux, process start → overview with figures and verdict) | "
        f"{r['first_screen_s']} s | < 2 s {ok(r['first_screen_s'], 'first_screen_s')} |\n"
        f"| server list opens (headless: `switch_mode` → first frame with the "
        f"{r['servers']:,} rows) | {r['open_servers_ms']} ms | < {goal['open_servers_ms']:.0f} ms "
        f"{ok(r['open_servers_ms'], 'open_servers_ms')} |\n"
        f"| server list opens (tmux: Enter on `:servers` → list on screen, incl. capture "
        f"polling) | {r['open_servers_terminal_ms']} ms | |\n"
        f"| filter keystroke (headless: key event → first frame showing it; `{FILTER}` "
        f"typed over {r['servers']:,} rows) | median {r['keystroke_median_ms']} ms, max "
        f"{r['keystroke_max_ms']} ms | < 50 ms "
        f"{ok(r['keystroke_max_ms'], 'keystroke_ms')} |\n"
        f"| filter keystroke (tmux: `send-keys` → pane shows it, incl. tmux and "
        f"`capture-pane` polling; one key 0.1 s after the previous one showed) | median "
        f"{r['keystroke_terminal_median_ms']} ms, max "
        f"{r['keystroke_terminal_max_ms']} ms ({r['keystroke_terminal_over']} of "
        f"{len(FILTER)} keys ≥ 50 ms) | < 50 ms "
        f"{ok(r['keystroke_terminal_max_ms'], 'keystroke_ms')} |\n"
        f"| backspace to an empty filter (headless, widening back to every row) | median "
        f"{r['backspace_median_ms']} ms, max {r['backspace_max_ms']} ms | < 50 ms "
        f"{ok(r['backspace_max_ms'], 'keystroke_ms')} |\n"
        f"| page down over every server (headless, 20 pages: key → frame) | median "
        f"{r['page_down_median_ms']} ms, max {r['page_down_max_ms']} ms | smooth |\n"
        f"| console RSS with every server loaded and filtered (tmux process) | "
        f"{r['rss_mb']} MB ({r['rss_overview_mb']} MB on the first screen) | < 300 MB "
        f"{ok(r['rss_mb'], 'rss_mb')} |\n"
        f"| fetching every server in the background (`GET /servers` pages, rows built) | "
        f"{r['fetch_all_servers_s']} s | (before the list is first opened) |\n")
    with (HERE / "results.md").open("a", encoding="utf-8") as fh:
        fh.write(text)


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--server")
    p.add_argument("--token")
    p.add_argument("--context")
    p.add_argument("--start", action="store_true",
                   help="start a demo for the run (takes a few minutes)")
    p.add_argument("--scale", default="province", choices=SCALES,
                   help="the scale of the demo --start starts, or of the one running "
                   "(it sets the targets; default province)")
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args()
    demo = None
    root = Path(tempfile.mkdtemp(prefix="tui-bench-demo-"))
    try:
        if args.start:
            demo, server, token = start_demo(root, args.scale)
        else:
            server, tok = resolve(server=args.server, token=args.token, context=args.context)
            token = tok or ""
        total = count_servers(server, token)
        result: dict[str, Any] = {"servers": total, "started": args.start,
                                  "scale": args.scale,
                                  "load_avg": round(os.getloadavg()[0], 1)}
        result.update(terminal_run(server, token, total))
        result.update(asyncio.run(pilot_run(server, token, total)))
    finally:
        if demo is not None:
            demo.send_signal(signal.SIGINT)
            demo.wait(timeout=60)
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(result, indent=2))
    if not args.no_write:
        write_results(result)
        print(f"appended to {HERE / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
