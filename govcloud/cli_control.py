"""The control plane's commands: ``serve``, ``admin bootstrap`` (direct database access),
``context``, and the API clients ``principals``, ``tenants`` and ``departments`` (``audit``:
``govcloud.cli_audit``).

Registered by ``govcloud.cli``; errors are reported there (message, hint, exit code).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govcloud.client import as_json
from govcloud.domain.catalogue import QUOTA_FIELDS
from govcloud.domain.text import check_identifier, printable, printable_lines, safe_json
from govcloud.errors import InvalidInput

if TYPE_CHECKING:
    from govcloud.api.models import NewToken, QuotaUse
    from govcloud.client import ApiClient

_QUOTAS = QUOTA_FIELDS  # every quota the catalogue sets, server groups included
_QUOTA_HEADERS = {"ram_mb": "RAM GIB",  # RAM is shown in GiB everywhere (docs/capacity.md)
                  "server_groups": "GROUPS", "server_group_members": "GROUP MEMBERS"}


def _quota_cell(name: str, figure: QuotaUse) -> str:
    """``in use/limit`` of one quota; RAM (MiB in Nova) in GiB; an unlimited limit as -1."""
    used, limit = figure.in_use, figure.limit
    if name == "ram_mb":
        return f"{used / 1024:,.0f}/{limit / 1024:,.0f}" if limit >= 0 else \
            f"{used / 1024:,.0f}/-1"
    return f"{used}/{limit}"


def _print_json(data: Any) -> None:
    """``data`` as JSON on stdout, no control character raw (``safe_json``)."""
    sys.stdout.write(safe_json(data) + "\n")


def write_output(output: str | None, document: bytes, *, what: str) -> None:
    """Write a binary ``document`` (a PDF, a spreadsheet) to the file ``output``, whole or not
    at all (a temporary file beside it, then renamed); ``-`` writes it to standard output when
    that is not a terminal, which it would garble."""
    if output is None or (output == "-" and sys.stdout.isatty()):
        raise InvalidInput(f"{what} needs --output FILE",
                           hint="give a file name, or `--output -` into a pipe")
    if output == "-":
        sys.stdout.buffer.write(document)
        sys.stdout.buffer.flush()
        return
    path = Path(output)
    part = path.with_name(f".{path.name}.part")
    try:
        part.write_bytes(document)
        part.replace(path)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {printable(output)}: {exc.strerror}",
                           hint="give a file in a folder you may write to") from None


def echo(*values: object, sep: str = " ", end: str = "\n", file: Any = None,
         flush: bool = False) -> None:
    """``print`` for every line of text the CLI shows: control characters escaped, only the
    newlines between lines kept (``printable_lines``). A value that must stay on its line (a
    reason, an error, a message) goes through ``printable`` where it is formatted; table
    cells are escaped whole by ``render_table``."""
    print(printable_lines(sep.join(str(v) for v in values)), end=end, file=file, flush=flush)


def _table(rows: list[tuple[str, ...]], columns: tuple[str, ...]) -> str:
    from govcloud.demo.table import render_table

    return render_table(rows, columns=columns)


def _switched(previous: str, now: str) -> None:
    """The client moved to another replica: say so on stderr (stdout stays the answer)."""
    echo(f"note: {previous} did not answer; using {now}", file=sys.stderr, flush=True)


def _client(args: argparse.Namespace) -> ApiClient:
    from govcloud.client import ApiClient

    return ApiClient.from_options(server=args.server, token=args.token, context=args.context,
                                  on_switch=_switched)


# --- serve and bootstrap (the only commands that touch the database) ---------------------------

def _settings(args: argparse.Namespace) -> Any:
    from govcloud.settings import load_settings

    overrides = {"database_url": args.database_url} if args.database_url else {}
    return load_settings(**overrides)


def _serve_settings(args: argparse.Namespace) -> Any:
    """The server's settings: audit key and /metrics credential made where unset, and the
    URL ``govcloud status`` shows for this replica."""
    settings = _settings(args).with_audit_defaults().with_metrics_defaults()
    if settings.replica_url is None:  # what `govcloud status` shows for this replica
        settings = settings.model_copy(
            update={"replica_url": f"http://{args.host}:{args.port}"})
    return settings


def _worker_command(args: argparse.Namespace) -> list[str]:
    """The worker process's command: this ``govcloud serve``, as the worker child."""
    from govcloud.workers.process import CHILD_FLAG

    command = [sys.executable, "-m", "govcloud.cli", "serve", "--host", args.host,
               "--port", str(args.port), "--catalogue", str(args.catalogue), CHILD_FLAG]
    if args.database_url:
        command += ["--database-url", args.database_url]
    return command + (["--debug"] if getattr(args, "debug", False) else [])


def cmd_serve(args: argparse.Namespace) -> int:
    if args.worker_child:  # before the API's imports: the worker child serves no HTTP
        return _serve_worker_child(args)
    import uvicorn

    from govcloud.api.app import make_app
    from govcloud.services.plane import build_plane
    from govcloud.store.engine import display_url, make_engine
    from govcloud.store.migrate import upgrade_engine
    from govcloud.store.serve_lock import hold_sqlite_database
    from govcloud.workers import BESIDE_API, start_workers
    from govcloud.workers.process import WorkerProcess
    from monitors.exporter import MetricsServer

    settings = _serve_settings(args)
    held = hold_sqlite_database(settings.database_url)  # SQLite: one server per file
    engine = make_engine(settings.database_url)
    upgrade_engine(engine)
    plane = build_plane(engine=engine, settings=settings, catalogue_dir=args.catalogue)
    workers: Any = start_workers
    if args.workers == "process":  # the workers in a child process (govcloud/workers/process.py)
        command, lock_fd = _worker_command(args), None if held is None else held.fd

        def workers(plane: Any) -> Any:
            beside = start_workers(plane, BESIDE_API)  # they start runs: cancel finds them here
            child = WorkerProcess(plane, command, lock_fd=lock_fd).start()

            def stop() -> None:
                child()
                beside()
            return stop
    app = make_app(plane, workers=workers)
    echo(f"govcloud control plane on http://{args.host}:{args.port}/api/v1 "
          f"(database {display_url(settings.database_url)}; replica {plane.replicas.replica.id}; "
          f"workers {'in a worker process' if args.workers == 'process' else 'inline'})",
          file=sys.stderr, flush=True)
    _say_metrics_auth(settings)
    metrics = None
    if args.metrics_port is not None:
        metrics = MetricsServer(plane, host=args.host, port=args.metrics_port).start()
        echo(f"metrics on {metrics.url}", file=sys.stderr, flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_config=None,
                    log_level="debug" if args.debug else "info")
    finally:
        if metrics is not None:
            metrics.stop()
        if held is not None:
            held.release()
    return 0


def _serve_worker_child(args: argparse.Namespace) -> int:
    """``govcloud serve --worker-child``: the worker process ``govcloud serve`` starts (its
    setup read from standard input; never run by hand)."""
    from govcloud.services.plane import build_plane
    from govcloud.store.engine import make_engine
    from govcloud.store.serve_lock import inherit_sqlite_lock
    from govcloud.workers.process import read_setup, run_worker_child, watch_parent

    setup = read_setup(sys.stdin.buffer)
    watch_parent(int(setup["pid"]))  # before anything that may block: the plane's build
    settings = _settings(args).with_audit_defaults()
    if settings.replica_url is None:
        settings = settings.model_copy(
            update={"replica_url": f"http://{args.host}:{args.port}"})
    lock_fd = setup.get("lock_fd")
    held = inherit_sqlite_lock(settings.database_url,
                               lock_fd if isinstance(lock_fd, int) else None)
    engine = make_engine(settings.database_url)
    try:
        plane = build_plane(engine=engine, settings=settings, catalogue_dir=args.catalogue)
        return run_worker_child(plane, setup, sys.stdin.buffer)
    finally:
        engine.dispose()
        if held is not None:
            held.release()


def _say_metrics_auth(settings: Any) -> None:
    """What /metrics asks for, on stderr at start — loudly when nothing."""
    if settings.metrics_auth == "none":
        echo("WARNING: /metrics is OPEN to anyone who reaches the port (metrics_auth: none): "
             "it names the departments and shows their quota use", file=sys.stderr,
             flush=True)
    elif settings.metrics_token_file is not None:
        echo(f"/metrics asks for the bearer token in {settings.metrics_token_file} "
             "(Prometheus: authorization.credentials_file)", file=sys.stderr, flush=True)
    else:
        echo("/metrics asks for the configured credential", file=sys.stderr, flush=True)


def _keyed(args: argparse.Namespace, engine: Any) -> Any:
    """``engine`` keyed with the server's audit key (made now if there is none yet), so that
    entries written here carry their MAC as the server's do."""
    from govcloud.services.audit_anchor import open_key

    path = _settings(args).with_audit_defaults().audit_key_file
    return open_key(engine, path)[0]


def cmd_admin_bootstrap(args: argparse.Namespace) -> int:
    from govcloud.store.audit import AuditLog, write_session
    from govcloud.store.engine import make_engine
    from govcloud.store.migrate import upgrade_engine
    from govcloud.store.principals import PrincipalRepository

    engine = make_engine(_settings(args).database_url)
    try:
        upgrade_engine(engine)
        with write_session(_keyed(args, engine)) as session:
            issued = PrincipalRepository(session=session).bootstrap_admin(
                args.name, person=args.person)
            AuditLog(session=session).append(
                actor="bootstrap", action="principal.bootstrap",
                target=f"principal:{issued.record.name}", after=issued.record.summary())
            session.commit()
    finally:
        engine.dispose()
    if args.json:
        _print_json({"name": issued.record.name, "person": issued.record.principal.person,
                     "token": issued.token})
    else:
        echo(issued.token)
    return 0


def cmd_admin_approve(args: argparse.Namespace) -> int:
    """Approve a pending principal with direct database access — only while no bureau-admin
    of another person than its issuer exists (the second admin's way in)."""
    from govcloud.store.audit import AuditLog, write_session
    from govcloud.store.engine import make_engine
    from govcloud.store.migrate import upgrade_engine
    from govcloud.store.principals import PrincipalRepository

    engine = make_engine(_settings(args).database_url)
    try:
        upgrade_engine(engine)
        with write_session(_keyed(args, engine)) as session:
            repo = PrincipalRepository(session=session)
            before = repo.get_principal(args.name)
            after = repo.approve_unattended(args.name)
            AuditLog(session=session).append(
                actor="bootstrap", action="principal.approve",
                target=f"principal:{after.name}", before=before.summary(),
                after={**after.summary(), "issued_by": before.issued_by,
                       "issued_by_person": before.issued_by_person})
            session.commit()
    finally:
        engine.dispose()
    if args.json:
        _print_json({"name": after.name, "person": after.principal.person,
                     "status": "approved"})
    else:
        echo(f"approved {after.name} ({after.principal.person})")
    return 0


# --- contexts --------------------------------------------------------------------------------

def cmd_context_add(args: argparse.Namespace) -> int:
    from govcloud.client import Context, Contexts
    from govcloud.client_failover import check_servers, split_servers

    servers = check_servers(split_servers(",".join(args.server)))
    Contexts().add(Context(args.name, ",".join(servers), args.token), use=args.use)
    more = f" ({len(servers)} replicas)" if len(servers) > 1 else ""
    echo(f"context {args.name} saved{more}", file=sys.stderr)
    return 0


def cmd_context_use(args: argparse.Namespace) -> int:
    from govcloud.client import Contexts

    context = Contexts().use(args.name)
    echo(f"now using context {context.name} ({context.server})", file=sys.stderr)
    return 0


def cmd_context_list(args: argparse.Namespace) -> int:
    from govcloud.client import Contexts

    contexts = Contexts()
    items = [{"name": c.name, "server": c.servers[0],
              **({"servers": c.servers} if len(c.servers) > 1 else {}),
              "current": c.name == contexts.current, "has_token": bool(c.token)}
             for c in contexts.contexts.values()]
    if args.json:
        _print_json({"current": contexts.current, "contexts": items})
        return 0
    echo(_table([("*" if c.name == contexts.current else "", c.name, ", ".join(c.servers),
                   "yes" if c.token else "no") for c in contexts.contexts.values()],
                 ("CURRENT", "NAME", "SERVER", "TOKEN")))
    return 0


# --- principals ------------------------------------------------------------------------------

def _print_issued(args: argparse.Namespace, answer: NewToken) -> None:
    """The token alone on stdout (scripts read it); a pending one's note on stderr."""
    if args.json:
        _print_json(as_json(answer))
        return
    echo(answer.token)
    if answer.pending:
        name = answer.principal.name
        echo(f"{name} is pending: its token works once a bureau-admin who is another person "
             f"runs `govcloud principals approve {name}`", file=sys.stderr)


def cmd_principals_add(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.add_principal(args.name, role=args.role, person=args.person,
                                   city=args.city, department=args.department,
                                   ttl_days=None if args.no_expiry else args.ttl_days)
    _print_issued(args, answer)
    return 0


def cmd_principals_approve(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.approve_principal(args.name)
    if args.json:
        _print_json(as_json(answer))
    else:
        p = answer.principal
        echo(f"approved {p.name} ({p.person}, {p.role})")
    return 0


def cmd_principals_rotate(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.rotate_token(args.name,
                                  ttl_days=None if args.no_expiry else args.ttl_days)
    _print_issued(args, answer)
    return 0


def cmd_principals_list(args: argparse.Namespace) -> int:
    with _client(args) as api:
        principals = api.principals(role=args.role).principals
    if args.json:
        _print_json([as_json(p) for p in principals])
        return 0
    echo(_table([(p.name, p.person or "", p.role, p.city or p.department or "all",
                   p.status, p.expires_at or "never") for p in principals],
                 ("NAME", "PERSON", "ROLE", "SCOPE", "STATUS", "EXPIRES")))
    return 0


def cmd_principals_revoke(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.revoke_principal(args.name)
    if args.json:
        _print_json(as_json(answer))
    else:
        echo(f"revoked {answer.principal.name}")
    return 0


# --- tenancy and departments -----------------------------------------------------------------

def cmd_tenants_plan(args: argparse.Namespace) -> int:
    with _client(args) as api:
        plan = api.tenancy_plan(departments=args.department)
    if args.json:
        _print_json({k: v for k, v in as_json(plan).items() if k != "lines"})
    else:
        echo("\n".join(printable(line) for line in plan.lines))
    return 0


def cmd_tenants_apply(args: argparse.Namespace) -> int:
    with _client(args) as api:
        result = api.tenancy_apply(departments=args.department, change=args.change)
    if args.json:
        _print_json(as_json(result))
        return 0
    for change in result.changes:
        echo(f"{change.site} {change.department}: {printable(change.action)}")
    echo(printable(result.summary)
         + (f" (under change {result.change})" if result.change is not None else ""))
    return 0


def cmd_departments_list(args: argparse.Namespace) -> int:
    with _client(args) as api:
        departments = api.departments().departments
    if args.json:
        _print_json([as_json(d) for d in departments])
        return 0
    echo(_table([(d.code, d.name_zh, d.name_en, d.kind, d.city,
                   str(d.dr_level)) for d in departments],
                 ("CODE", "NAME", "ENGLISH", "KIND", "CITY", "DR")))
    return 0


def cmd_departments_show(args: argparse.Namespace) -> int:
    with _client(args) as api:
        view = api.department(args.code)
    if args.json:
        _print_json(as_json(view))
        return 0
    echo(f"{view.code}  {printable(view.name_zh)} {printable(view.name_en)}  "
         f"({view.kind}, "
          f"city {view.city}, DR level {view.dr_level})")
    rows: list[tuple[str, ...]] = []
    for s in view.sites:
        if s.error:
            rows.append((s.site, "error: " + s.error, *("" for _ in _QUOTAS), ""))
            continue
        quotas = [_quota_cell(q, s.quotas[q]) if q in s.quotas else "-" for q in _QUOTAS]
        servers = ", ".join(f"{k} {v}" for k, v in s.servers.by_status.items()) or "0"
        rows.append((s.site, s.project_id or "(no project)", *quotas, servers))
    echo(_table(rows, ("SITE", "PROJECT", *(_QUOTA_HEADERS.get(q, q.upper()) for q in _QUOTAS),
                       "SERVERS")))
    return 0


# --- parser ----------------------------------------------------------------------------------

def _cmd(sub: Any, name: str, handler: Any, help_: str, *, json_: bool = True,
         client: bool = True) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_, description=help_)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="log everything and show tracebacks")
    p.set_defaults(handler=handler)
    if json_:
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
    if client:
        p.add_argument("--server", help="control-plane URL (default: GOVCLOUD_SERVER or the "
                                        "current context)")
        p.add_argument("--token", help="API token (default: GOVCLOUD_TOKEN or the context's)")
        p.add_argument("--context", help="use this context instead of the current one")
    return p


def identifier(what: str) -> Callable[[str], str]:
    """An argparse ``type`` for a name or id that goes into an API path (department code,
    wave, host, principal): anything else — ``..``, ``/``, ``?``, control characters — is a
    usage error (exit 2) before any call is made."""
    def check(value: str) -> str:
        try:
            return check_identifier(value, what)
        except InvalidInput as exc:
            raise argparse.ArgumentTypeError(f"{exc.message} ({exc.hint})") from None

    check.__name__ = what  # argparse names the type in some messages
    return check


def finite(value: str) -> float:
    """An argparse ``type`` for a number of days, hours or seconds: ``inf`` and ``nan`` are a
    usage error (exit 2), not an unexpected error when the number is sent as JSON."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{value!r} is not a finite number")
    return number


def _group(commands: Any, name: str, help_: str) -> Any:
    group = commands.add_parser(name, help=help_, description=help_)
    return group.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")


def _register_server(commands: Any) -> None:
    """``serve``, ``admin`` and ``context``: the commands that need no API token."""
    p = _cmd(commands, "serve", cmd_serve, "run the control-plane API server (migrates the "
             "database first)", json_=False, client=False)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8780)
    p.add_argument("--database-url", help="default: the database_url setting")
    p.add_argument("--catalogue", type=Path, default=Path("tenants"),
                   help="the department catalogue directory (default: ./tenants)")
    p.add_argument("--metrics-port", type=int, default=None,
                   help="also serve /metrics on this port (TLS when metrics_tls_cert is set; "
                        "see docs/metrics.md)")
    p.add_argument("--workers", choices=("process", "inline"), default="process",
                   help="where the background workers run: a worker process of their own, "
                        "started and restarted by this one (default), or inline, in the API "
                        "process (tests, debugging); docs/operator-guide.md")
    p.add_argument("--worker-child", action="store_true", help=argparse.SUPPRESS)

    sub = _group(commands, "admin", "direct database administration")
    p = _cmd(sub, "bootstrap", cmd_admin_bootstrap, "create the first bureau-admin and print "
             "its token (refused while an active bureau-admin exists)", client=False)
    p.add_argument("--database-url", help="default: the database_url setting")
    p.add_argument("--name", default="admin")
    p.add_argument("--person", help="the person behind it (default: the name)")
    p = _cmd(sub, "approve", cmd_admin_approve, "approve a pending principal with direct "
             "database access (refused while a bureau-admin of another person than its "
             "issuer exists: they approve with `principals approve`)", client=False)
    p.add_argument("--database-url", help="default: the database_url setting")
    p.add_argument("name")
    from govcloud.cli_retention import register as register_compact

    register_compact(sub, _cmd)

    sub = _group(commands, "context", "named control-plane servers and tokens")
    p = _cmd(sub, "add", cmd_context_add, "add or replace a context", json_=False,
             client=False)
    p.add_argument("name")
    p.add_argument("--server", required=True, action="append",
                   help="the control plane's URL; repeat it (or comma-separate) for several "
                        "replicas: the client fails over between them")
    p.add_argument("--token")
    p.add_argument("--use", action="store_true", help="also make it the current context")
    p = _cmd(sub, "use", cmd_context_use, "make a context current", json_=False, client=False)
    p.add_argument("name")
    _cmd(sub, "list", cmd_context_list, "list the contexts", client=False)


def _register_principals(commands: Any) -> None:
    from govcloud.domain.rbac import Role

    sub = _group(commands, "principals", "people and pipelines with API tokens")
    p = _cmd(sub, "add", cmd_principals_add, "add a principal; prints its token, once (a "
             "bureau-admin, operator or ci token works once another person approves it)")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    p.add_argument("--person", required=True,
                   help="the person behind it (for ci: the person accountable)")
    p.add_argument("--city", help="for --role city-operator")
    p.add_argument("--department", help="for --role department-viewer")
    p.add_argument("--ttl-days", type=finite, default=90.0, help="token lifetime (default 90)")
    p.add_argument("--no-expiry", action="store_true", help="the token never expires")
    p = _cmd(sub, "approve", cmd_principals_approve, "approve a pending principal (you must "
             "be another person than the one who issued its token)")
    p.add_argument("name", type=identifier("principal name"))
    p = _cmd(sub, "rotate", cmd_principals_rotate, "issue a principal a new token; prints it, "
             "once (the old one stops working)")
    p.add_argument("name", type=identifier("principal name"))
    p.add_argument("--ttl-days", type=finite, default=90.0, help="token lifetime (default 90)")
    p.add_argument("--no-expiry", action="store_true", help="the token never expires")
    p = _cmd(sub, "list", cmd_principals_list, "list the principals")
    p.add_argument("--role", choices=[r.value for r in Role])
    p = _cmd(sub, "revoke", cmd_principals_revoke, "revoke a principal's token")
    p.add_argument("name", type=identifier("principal name"))


def _register_catalogue(commands: Any) -> None:
    """``tenants`` and ``departments``."""
    sub = _group(commands, "tenants", "the department catalogue in every site")
    for name, handler, help_ in (
            ("plan", cmd_tenants_plan, "show what apply would change, per site"),
            ("apply", cmd_tenants_apply, "make every site match the catalogue (audited)")):
        p = _cmd(sub, name, handler, help_)
        p.add_argument("--department", action="append", metavar="CODE",
                       help="only this department (repeatable)")
        if name == "apply":
            p.add_argument("--change", type=int, metavar="ID",
                           help="the approved change it runs under (its departments when "
                                "no --department is given); docs/changes.md")

    sub = _group(commands, "departments", "departments across all sites")
    _cmd(sub, "list", cmd_departments_list, "list the departments you may see")
    p = _cmd(sub, "show", cmd_departments_show, "one department in every site: projects, "
             "quotas (used/limit), servers by status")
    p.add_argument("code", type=identifier("department code"))


def register(commands: Any) -> None:
    _register_server(commands)
    _register_principals(commands)
    _register_catalogue(commands)
