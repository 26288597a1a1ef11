"""The ``govcloud`` command line: one subcommand per action, ``--json`` on every read.

Errors are printed as ``error: <message>`` and ``hint: <hint>`` on stderr with a non-zero exit
code and no traceback (``--debug`` shows it). This is the composition root: settings, engines
and connections are made here and handed down.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from govcloud import (
    __version__,
    cli_audit,
    cli_changes,
    cli_control,
    cli_dr,
    cli_hosts,
    cli_inventory,
    cli_lifecycle,
    cli_migrate,
    cli_notifications,
    cli_reports,
    cli_requests,
    cli_tui,
)
from govcloud.domain.text import printable, printable_lines, safe_json
from govcloud.errors import GovCloudError
from govcloud.logging import configure_logging, redact

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]


def _print_json(data: Any) -> None:
    sys.stdout.write(safe_json(data) + "\n")


# --- commands -------------------------------------------------------------------------------

def cmd_version(args: argparse.Namespace) -> int:
    if args.json:
        _print_json({"govcloud": __version__, "python": sys.version.split()[0]})
    else:
        print(f"govcloud {__version__}")
    return 0


def _database_url(args: argparse.Namespace) -> str:
    if args.database_url:
        return str(args.database_url)
    from govcloud.settings import load_settings

    return load_settings().database_url


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from govcloud.store.migrate import upgrade

    state = upgrade(_database_url(args))
    if args.json:
        _print_json(state.to_dict())
    else:
        print(f"database {state.database} is at revision {state.current} (head)")
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    from govcloud.store.migrate import current

    state = current(_database_url(args))
    if args.json:
        _print_json(state.to_dict())
    else:
        where = "empty (run `govcloud db upgrade`)" if state.current is None else state.current
        note = "up to date" if state.up_to_date else f"head is {state.head}"
        print(f"database {state.database}: revision {where}; {note}")
    return 0


def cmd_sites_list(args: argparse.Namespace) -> int:
    from govcloud.settings import load_settings

    sites = load_settings().site_list()
    if args.json:
        _print_json([{"name": s.name, "role": s.role.value, "cloud": s.cloud,
                      "region": s.region} for s in sites])
        return 0
    from govcloud.demo.table import render_table

    print(render_table([(s.name, s.role.value, s.cloud, s.region) for s in sites],
                       columns=("SITE", "ROLE", "CLOUD", "REGION")))
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    from govcloud.sim.cli import main as sim_main  # the only import of the simulator

    return sim_main(list(args.sim_args))


def cmd_demo(args: argparse.Namespace) -> int:
    from govcloud.demo.control import run_control_demo

    state = args.state_dir or Path(tempfile.mkdtemp(prefix="govcloud-demo-"))
    console = None
    if not args.no_tui and not args.json:
        from govcloud.cli_tui import demo_console

        console = demo_console(state, lang=args.lang)
    return run_control_demo(state_dir=state, scale=args.scale, seed=args.seed,
                            port=args.port, as_json=args.json, console=console,
                            migration=args.migration)


# --- parser ---------------------------------------------------------------------------------

def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def _add_debug(p: argparse.ArgumentParser, default: Any) -> None:
    p.add_argument("--debug", action="store_true", default=default,
                   help="log everything and show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="govcloud", description=(
        "Control plane and ops console for the province's government cloud."))
    _add_debug(parser, False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(sub: Any, name: str, handler: Handler, help_: str,
                **kwargs: Any) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_, description=help_,
                                                    **kwargs)
        if kwargs.get("add_help", True):
            _add_debug(p, argparse.SUPPRESS)
        p.set_defaults(handler=handler)
        return p

    p = command(commands, "version", cmd_version, "print govcloud's version")
    _add_json(p)

    db = commands.add_parser("db", help="the control plane's database")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    for name, handler, help_ in (
        ("upgrade", cmd_db_upgrade, "migrate the database schema to the newest revision"),
        ("current", cmd_db_current, "show the database's schema revision"),
    ):
        p = command(db_sub, name, handler, help_)
        p.add_argument("--database-url", help="database URL (default: the database_url "
                                              "setting, GOVCLOUD_DATABASE_URL)")
        _add_json(p)

    sites = commands.add_parser("sites", help="the configured sites (datacentres)")
    sites_sub = sites.add_subparsers(dest="sites_command", required=True, metavar="ACTION")
    p = command(sites_sub, "list", cmd_sites_list, "list the configured sites")
    _add_json(p)

    p = command(commands, "sim", cmd_sim, "run or steer the simulated OpenStack "
                "(`govcloud sim --help` for its commands)", add_help=False)
    p.add_argument("sim_args", nargs=argparse.REMAINDER)

    p = command(commands, "demo", cmd_demo, "start the simulator and the control plane, apply "
                "the catalogue, select the context 'demo'; runs until Ctrl-C")
    p.add_argument("--scale", choices=DEMO_SCALES, default="province",
                   help="the province's three centres (small, province) or with its city "
                        "clouds as sites (cities-small, cities; docs/city-clouds.md)")
    p.add_argument("--seed", type=int, help="simulator seed (deterministic data)")
    p.add_argument("--state-dir", type=Path,
                   help="where the database, the simulator's clouds.yaml and the logs go "
                        "(default: a fresh temporary directory)")
    p.add_argument("--port", type=int, default=0,
                   help="the API server's port on 127.0.0.1 (default: a free one)")
    p.add_argument("--migration", action="store_true",
                   help="also start sshd sandboxes as gd-tax's legacy hosts and as the cloud's "
                        "new servers, surveyed and planned (docs/migration.md)")
    p.add_argument("--no-tui", action="store_true",
                   help="print the summary and keep running without opening the console "
                        "(also when --json is given or there is no terminal)")
    p.add_argument("--lang", choices=("en", "zh"), default="en",
                   help="the console's label language")
    _add_json(p)
    _register_extensions(commands)
    return parser


# Command groups kept in their own modules, each with its ``register(commands)``.
# ``govcloud demo --scale``: the province's three centres, or with its city clouds as sites
DEMO_SCALES = ("small", "province", "cities-small", "cities")

EXTENSIONS = (
    cli_control,
    cli_audit,      # the audit log
    cli_inventory,
    cli_tui,        # the console (issue 4)
    cli_requests,   # requests, approvals, provisioning (issue 5)
    cli_migrate,    # legacy hosts and migration waves (issue 6)
    cli_dr,         # disaster recovery (issue 19)
    cli_reports,    # metering and price sheets (issue 20)
    cli_notifications,  # messages to the departments (issue 21)
    cli_hosts,      # compute hosts' maintenance (issue 21)
    cli_changes,    # change requests and the calendar (issue 21)
    cli_lifecycle,  # a system's scale, resize, retirement (issue 21)
)


def _register_extensions(commands: Any) -> None:
    for module in EXTENSIONS:
        module.register(commands)


# --- entry point ----------------------------------------------------------------------------

def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _report(exc: GovCloudError) -> int:
    # the server's message may quote what someone typed: escaped like every other output
    print(f"error: {printable_lines(redact(exc.message))}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {printable_lines(redact(exc.hint))}", file=sys.stderr)
    return exc.exit_code


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv``; everything after ``sim`` goes to the simulator's own parser untouched."""
    head = 0
    while head < len(argv) and argv[head] == "--debug":
        head += 1
    if head < len(argv) and argv[head] == "sim":
        args = build_parser().parse_args([*argv[:head], "sim"])
        args.sim_args = list(argv[head + 1:])
        return args
    return build_parser().parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else list(argv))
    debug = bool(getattr(args, "debug", False))
    configure_logging(debug=debug)
    handler: Handler = args.handler
    try:
        return handler(args)
    except GovCloudError as exc:
        if debug:
            traceback.print_exc()
        return _report(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`govcloud ... | head`): not an error worth a message.
        _silence_stdout()
        return 141
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no traceback
        if debug:
            traceback.print_exc()
        detail = printable(" ".join(str(exc).split())[:500])
        print(f"error: unexpected {type(exc).__name__}: {redact(detail)}", file=sys.stderr)
        print("hint: this is a bug in govcloud; rerun with --debug to see the traceback",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
