"""``govcloud tui``: the ops console, a client of the control plane (``tui/``).

The server and token come from ``--server``/``--token``, ``GOVCLOUD_SERVER``/``GOVCLOUD_TOKEN``
or the context (as for every client command). The console logs to a file
(``$XDG_STATE_HOME/govcloud/console.log``), never to the terminal it draws on.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from govcloud.cli_control import _cmd, finite
from govcloud.errors import InvalidInput


def log_to_file(path: Path | None = None, *, debug: bool = False) -> Path:
    """Send every log record to ``path`` (default: the state dir's console.log)."""
    from govcloud.config_files import state_dir
    from govcloud.logging import configure_logging

    path = path or state_dir() / "console.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    configure_logging(debug=debug, stream=stream)
    logging.getLogger("uvicorn").propagate = True
    return path


def run_console(*, server: str, token: str | None, lang: str = "en", start: str = "overview",
                refresh_s: float = 10.0) -> int:
    """Run the console in this terminal until it quits."""
    from tui.app import make_app

    if not sys.stdout.isatty() or not sys.stdin.isatty():
        raise InvalidInput("the console needs a terminal",
                           hint="run it in a terminal (or use the CLI's --json commands in "
                                "scripts)")
    app = make_app(server=server, token=token, lang=lang, start=start, refresh_s=refresh_s)
    try:
        app.run()
    finally:
        app.session.api.close()
    return 0


def cmd_tui(args: argparse.Namespace) -> int:
    from govcloud.client import resolve

    server, token = resolve(server=args.server, token=args.token, context=args.context)
    log_to_file(debug=bool(getattr(args, "debug", False)))
    return run_console(server=server, token=token, lang=args.lang, start=args.view,
                       refresh_s=args.refresh)


def register(commands: Any) -> None:
    p = _cmd(commands, "tui", cmd_tui, "the ops console: sites, departments, servers, "
             "capacity and audit, live (keys: `:` views, `/` filter, `?` help)", json_=False)
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="label language")
    p.add_argument("--view", default="overview", help="the view to open first "
                   "(overview, departments, sites, servers, whatif, audit)")
    p.add_argument("--refresh", type=finite, default=10.0, metavar="SECONDS",
                   help="seconds between background refreshes (default 10)")


def demo_console(state_dir: Path, *, lang: str = "en") -> Any:
    """What ``govcloud demo`` runs once the demo is up: the console on it, logging to the
    state directory (the server's logs must not draw over the console). None without a
    terminal: the demo then keeps running as with ``--no-tui``."""
    if not sys.stdout.isatty() or not sys.stdin.isatty():
        return None

    def console(server: str, token: str) -> int:
        log_to_file(state_dir / "console.log")
        return run_console(server=server, token=token, lang=lang)

    return console
