"""The demo with its control plane: simulator, API server on loopback with SQLite in the
state directory, a bootstrapped admin, the catalogue applied, a full sync (when the sync
service exists), the sites' summary, and then a context named ``demo`` selected — then it
keeps running until interrupted.

The simulator is a child process reached over HTTP; the server runs in this process, in a
thread, and is the only holder of the database and of the clouds.yaml credentials.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from govcloud.api.app import make_app
from govcloud.api.models import TenancyApplied
from govcloud.api.server import ServerThread
from govcloud.client import ApiClient, Context, Contexts
from govcloud.demo.cities import city_catalogue, ready_sites, site_servers
from govcloud.demo.migration import migrate_settings, start_migration_demo
from govcloud.demo.process import SIM_CLOUD, SimProcess
from govcloud.demo.run import _progress, _stop_signals_interrupt
from govcloud.demo.table import overview_rows, render_table
from govcloud.domain.sites import Site, SiteRole
from govcloud.domain.text import printable_lines
from govcloud.errors import ConflictError, GovCloudError
from govcloud.services.overview import openstack_reader, read_sites
from govcloud.services.plane import build_plane
from govcloud.settings import Settings, load_settings
from govcloud.store.audit import AuditLog, write_session
from govcloud.store.engine import make_engine
from govcloud.store.migrate import upgrade_engine
from govcloud.store.principals import IssuedToken, PrincipalRepository
from govcloud.workers import start_workers

log = logging.getLogger(__name__)

CONTEXT = "demo"
# The tenants the small simulator seed has (the rest of the catalogue is province scale).
SMALL_TENANTS = ("gd-psd", "gd-tax", "gd-hrss", "gd-edu", "gd-agri", "gd-data", "guangzhou",
                 "shenzhen", "shantou")
_SCALE_TENANTS: dict[str, tuple[str, ...]] = {"small": SMALL_TENANTS,
                                              "cities-small": (*SMALL_TENANTS, "zhuhai")}


def shipped_catalogue() -> Path:
    """The ``tenants/`` directory next to the package (a source checkout), else ./tenants."""
    beside = Path(__file__).resolve().parents[2] / "tenants"
    return beside if beside.is_dir() else Path("tenants")


def demo_catalogue(state_dir: Path, scale: str, *, sites: tuple[Site, ...] = (),
                   servers: dict[str, int] | None = None) -> Path:
    """The catalogue to apply: all of it at province scale; at a small scale a copy in the
    state directory holding only the tenants the small seed has; with city sites a copy in
    which each city's tenant has quotas in its city's site (docs/city-clouds.md)."""
    source = shipped_catalogue()
    keep = _SCALE_TENANTS.get(scale)
    if any(s.role is SiteRole.CITY for s in sites):
        return city_catalogue(source, state_dir / "tenants", sites=sites,
                              servers=servers or {}, keep=keep)
    if keep is None:
        return source
    target = state_dir / "tenants"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy(source / "schema.json", target / "schema.json")
    for code in keep:
        shutil.copy(source / f"{code}.yaml", target / f"{code}.yaml")
    return target


METRICS_TOKEN_FILE = "metrics.token"


def demo_settings(state_dir: Path, clouds_yaml: Path, *,
                  sites: dict[str, dict[str, Any]] | None = None, **extra: Any) -> Settings:
    """The demo's settings; ``sites`` as the simulator's ready file lists them (the three
    centres of the embedded default when not given)."""
    sites = sites if sites is not None else ready_sites({})
    # the demo applies the catalogue at once, without a change (docs/changes.md); /metrics
    # asks for a bearer token as a real server's does, kept in the state dir (docs/metrics.md)
    return load_settings(database_url=f"sqlite:///{state_dir / 'govcloud.db'}",
                         clouds_yaml=clouds_yaml, sites=sites,
                         **{"change_control": "off",
                            "metrics_token_file": state_dir / METRICS_TOKEN_FILE, **extra})


def admin_token(settings: Settings) -> str:
    """Bootstrap the admin (or, in a reused state directory, issue it a new token)."""
    engine = make_engine(settings.database_url)
    try:
        upgrade_engine(engine)
        with write_session(engine) as session:
            repo = PrincipalRepository(session=session)
            try:
                issued: IssuedToken = repo.bootstrap_admin()
                action = "principal.bootstrap"
            except ConflictError:
                session.rollback()
                issued = repo.rotate_token("admin")
                action = "principal.rotate"
            AuditLog(session=session).append(actor="demo", action=action,
                                             target="principal:admin",
                                             after=issued.record.summary())
            session.commit()
        return issued.token
    finally:
        engine.dispose()


def _sync(api: ApiClient, err: TextIO) -> None:
    """A full sync through the API, when the server has the sync route."""
    paths = api.openapi().get("paths", {})
    if "post" not in paths.get("/api/v1/sync", {}):
        print("inventory sync is not available in this build; skipped", file=err, flush=True)
        return
    started = time.monotonic()
    try:
        api.sync(full=True)
    except GovCloudError as exc:
        print(f"warning: the full sync failed: {printable_lines(exc.message)}", file=err,
              flush=True)
        return
    print(f"full sync done in {time.monotonic() - started:.1f}s", file=err, flush=True)


def _warm(api: ApiClient, sites: tuple[Site, ...]) -> None:
    """Ask once what the console's first screen asks (its answers are then cached): the
    status, and capacity with the lose-production what-if and the console's flavors."""
    production = next(s.name for s in sites if s.role is SiteRole.PRODUCTION)
    try:
        api.status()
        api.capacity(what_if_lose=production, fit=["gc.c2m4", "gc.c4m8", "gc.c8m16"])
    except GovCloudError as exc:
        log.info("warming the control plane failed: %s", exc.message)


Console = Callable[[str, str], object]  # (server URL, token): runs until the user quits


def run_control_demo(*, state_dir: Path, scale: str = "province", seed: int | None = None,
                     port: int = 0, as_json: bool = False, out: TextIO | None = None,
                     err: TextIO | None = None, ready_timeout: float = 300.0,
                     console: Console | None = None, migration: bool = False) -> int:
    """Run the demo until Ctrl-C — or, with ``console``, until the console it opens on the
    running demo quits."""
    # the streams there are now, not the ones there were when this module was imported
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # database, keys, clouds.yaml
    sim = SimProcess(state_dir=state_dir, scale=scale, seed=seed)
    server: ServerThread | None = None
    stop_sandboxes: Callable[[], None] | None = None

    def stop_children() -> None:
        if server is not None:
            server.stop()
        if stop_sandboxes is not None:
            stop_sandboxes()
        sim.stop()

    with _stop_signals_interrupt(on_stuck=stop_children):
        try:
            print(f"starting the simulator ({scale} scale); files in {state_dir}", file=err,
                  flush=True)
            sim.start()
            info = sim.wait_ready(timeout=ready_timeout, progress=_progress(err, scale))
            extra: dict[str, Any] = {}
            if migration:
                extra = migrate_settings(state_dir)
            settings = demo_settings(state_dir, info.clouds_yaml, sites=ready_sites(info.raw),
                                     **extra)
            sites = settings.site_list()
            token = admin_token(settings)
            engine = make_engine(settings.database_url)
            catalogue = demo_catalogue(state_dir, scale, sites=sites,
                                       servers=site_servers(info.raw))
            plane = build_plane(engine=engine, settings=settings, catalogue_dir=catalogue)
            app = make_app(plane, workers=start_workers)
            server = ServerThread(app, port=port).start()
            print(f"control plane at {server.url}/api/v1; applying the catalogue",
                  file=err, flush=True)
            with ApiClient(server.url, token) as api:
                applied = api.tenancy_apply()
                print(applied.summary, file=err, flush=True)
                _sync(api, err)
                if migration:
                    stop_sandboxes = start_migration_demo(
                        state_dir, api, info.base_url,
                        lambda text: print(text, file=err, flush=True))
            overview = read_sites(sites, read=openstack_reader(clouds_yaml=info.clouds_yaml))
            with ApiClient(server.url, token) as api:
                _warm(api, sites)
            # Only now: a client that finds the context (the console, a benchmark) meets a
            # control plane that has synced, answered the console's first screen once, and
            # is no longer busy reading the sites' summary.
            Contexts().add(Context(CONTEXT, server.url, token), use=True)
            _print(out, as_json=as_json, overview=overview, info_url=info.base_url,
                   clouds_yaml=info.clouds_yaml, server_url=server.url, token=token,
                   state_dir=state_dir, applied=applied)
            if console is not None:
                print("opening the console (q quits it and stops the demo)", file=err,
                      flush=True)
                console(server.url, token)
                print("console closed; stopping the control plane and the simulator",
                      file=err, flush=True)
                return 0
            print(f"the demo keeps running (context {CONTEXT!r} selected: try "
                  "`govcloud departments list`); press Ctrl-C to stop it", file=err, flush=True)
            sim.wait()
            raise sim.died_error()
        except KeyboardInterrupt:
            print("\nstopping the control plane and the simulator", file=err, flush=True)
            return 0
        finally:
            stop_children()


def _print(out: TextIO, *, as_json: bool, overview: Any, info_url: str, clouds_yaml: Path,
           server_url: str, token: str, state_dir: Path, applied: TenancyApplied) -> None:
    if as_json:
        json.dump({"simulator": {"base_url": info_url, "clouds_yaml": str(clouds_yaml)},
                   "server": server_url, "token": token, "context": CONTEXT,
                   "metrics": {"url": f"{server_url}/metrics",
                               "token_file": str(state_dir / METRICS_TOKEN_FILE)},
                   "state_dir": str(state_dir), "tenancy": applied.summary,
                   "sites": [o.to_dict() for o in overview]}, out, indent=2)
        print(file=out)
    else:
        print(render_table(overview_rows(overview)), file=out)
        print(f"\nclouds.yaml: {clouds_yaml}", file=out)
        print(f"  export OS_CLIENT_CONFIG_FILE={clouds_yaml} OS_CLOUD={SIM_CLOUD}", file=out)
        print(f"\nserver: {server_url}", file=out)
        print(f"admin token: {token}", file=out)
        print(f"metrics: {server_url}/metrics (bearer token in "
              f"{state_dir / METRICS_TOKEN_FILE})", file=out)
        print(f"context: {CONTEXT} (selected)", file=out)
    out.flush()
