"""What the runs of DR drills (``services.drill_run``) and failovers (``services.failover_run``)
share, on top of the step machine (``services.step_machine``): the run a step works on (its
notes per step, its project connections per site), the subject's stored state (a JSON object
that each step merges what it saw or made into, committed), the sites' connections and the
departments' projects, and the playbooks a step runs over the system's servers (health
checks, freeze, verify: ``playbooks/dr``)."""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlmodel import Session

from govcloud.cloud.provision import project_connection
from govcloud.domain.legacy import Endpoint
from govcloud.domain.steps import StepStatus
from govcloud.errors import GovCloudError, PermanentError
from govcloud.runner.playbook import PlaybookEvent, run_playbook
from govcloud.services import step_machine
from govcloud.services.migration_commands import playbook_env
from govcloud.store import provisioning as provision_store
from govcloud.store.audit import write_session

if TYPE_CHECKING:
    from govcloud.services.drill_state import DrillContext


@dataclass
class StepRun:
    """The subject (a drill, a failover) a run works on: what its steps said (per step, the
    step's output), the project connections it made (per site) and the run that holds it
    (``run_id``: its last transaction lets go of the subject in the same commit)."""

    id: int
    department: str
    run_id: str | None = field(default=None, kw_only=True)
    pconns: dict[str, Any] = field(default_factory=dict, kw_only=True)
    notes: dict[Any, list[str]] = field(default_factory=dict, kw_only=True)

    def say(self, step: Any, line: str) -> None:
        self.notes.setdefault(step, []).append(line)

    def output(self, step: Any) -> str:
        return "\n".join(self.notes.get(step, []))


def claim(ctx: DrillContext, get: Callable[[Session, int], step_machine.Held],
          interrupt_running: Callable[[Session, int, datetime], None], subject_id: int,
          run_id: str, *, what: str, hint: str) -> None:
    """Take the subject for ``run_id`` (refused while another live run holds it, naming
    ``what``, with ``hint``); what a dead run left running becomes interrupted."""
    step_machine.claim(
        ctx.engine, lambda session: get(session, subject_id), run_id, now=ctx.clock(),
        stale_after_s=ctx.stale_after_s, what=what, hint=hint,
        interrupted=lambda session, now: interrupt_running(session, subject_id, now))


def failed_output(run: StepRun, step: Any, exc: GovCloudError) -> str:
    """A failed step's output: what it said, then the error and its hint."""
    text = exc.message + (f"\nhint: {exc.hint}" if exc.hint else "")
    return (run.output(step) + "\n" + text).strip()


def site_conn(ctx: DrillContext, site: str) -> Any:
    """The site's admin connection."""
    conns = ctx.connections()
    if site not in conns:
        raise PermanentError(f"no connection to site {site}", hint="check clouds.yaml")
    return conns[site]


def department_project(ctx: DrillContext, department: str, site: str) -> str:
    """The department's project in ``site``."""
    with Session(ctx.engine) as session:
        project = provision_store.project_of(session, department, site)
    if project is None:
        raise PermanentError(f"{site}: department {department} has no project",
                             hint="apply the tenancy plan (`govcloud tenants apply`)")
    return project


def project_conn(ctx: DrillContext, run: StepRun, site: str) -> Any:
    """The run's connection to the department's project in ``site`` (made once a run)."""
    if site not in run.pconns:
        run.pconns[site] = project_connection(site_conn(ctx, site), site,
                                              department_project(ctx, run.department, site))
    return run.pconns[site]


# --- the stored state -----------------------------------------------------------------------------

class Stated(Protocol):
    state_json: str | None


R = TypeVar("R", bound=Stated)


class StepRow(Protocol):
    step: str
    status: str


def state_of(row: Stated) -> dict[str, Any]:
    return dict(json.loads(row.state_json)) if row.state_json else {}


def update_state(engine: Any, get: Callable[[Session, int], Stated], subject_id: int,
                 **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into the subject's stored state, now (committed)."""
    with write_session(engine) as session:
        row = get(session, subject_id)
        state = {**state_of(row), **changes}
        row.state_json = json.dumps(state, ensure_ascii=False, sort_keys=True)
        session.add(row)
        session.commit()
    return state


def read(engine: Any, get: Callable[[Session, int], R],
         steps: Callable[[Session, int], Sequence[StepRow]], subject_id: int
         ) -> tuple[R, dict[str, StepStatus]]:
    """The subject's row (detached) and its steps' statuses."""
    with Session(engine) as session:
        row = get(session, subject_id)
        statuses = {r.step: StepStatus(r.status) for r in steps(session, subject_id)}
        session.expunge(row)
    return row, statuses


# --- playbooks over the system's servers ----------------------------------------------------------

def host_vars(ctx: DrillContext, ep: Endpoint, **extra: Any) -> dict[str, Any]:
    """The inventory variables of a server reached at ``ep``, with ``extra``."""
    out: dict[str, Any] = {"ansible_host": ep.address, "ansible_port": ep.port,
                           "ansible_user": ep.user, "ansible_ssh_use_tty": False, **extra}
    if ctx.settings.ssh_key:
        out["ansible_ssh_private_key_file"] = str(ctx.settings.ssh_key)
    return out


def sums_command(root: str | None, manifest: Sequence[Sequence[str]]) -> str:
    """The shell command that prints the checksums of ``manifest``'s paths under ``root``."""
    paths = [p.lstrip("/") for p, _ in manifest]
    if not paths:
        return "exit 0"  # not "true": the template would render it a boolean
    return (f"cd {shlex.quote(root or '/')} && sha256sum -- "
            + " ".join(shlex.quote(p) for p in paths) + " 2>/dev/null; true")


def expected_sums(manifest: Sequence[Sequence[str]]) -> list[str]:
    """``manifest`` as ``sha256sum`` prints it."""
    return [f"{c.removeprefix('sha256:')}  {p.lstrip('/')}" for p, c in manifest]


def playbook(ctx: DrillContext, folder: str, run_id: int, name: str, ident: str, group: str,
             hosts: Mapping[str, dict[str, Any]]
             ) -> tuple[str, dict[str, str], dict[str, str]]:
    """``playbooks/dr/<name>.yml`` over ``hosts`` (inventory group ``group``), its files
    under ``<migrate dir>/<folder>/<run_id>``: (status, per-host failure, per-host
    checksums the playbook wrote)."""
    ident = f"{ident}-{uuid.uuid4().hex[:8]}"
    base = ctx.settings.migrate_path() / folder / str(run_id) / ident
    out_dir = base / "sums"
    out_dir.mkdir(parents=True, exist_ok=True)
    failed: dict[str, str] = {}

    def on_event(ev: PlaybookEvent) -> None:
        if ev.kind in ("failed", "unreachable") and ev.host:
            failed[ev.host] = f"{ev.task}: {ev.message or ev.kind}"

    env = playbook_env(ctx.settings, base)
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {"hosts": {"localhost": local},
                         "children": {group: {"hosts": dict(hosts)}}}}
    result = run_playbook(ctx.playbooks / f"{name}.yml", private_data_dir=base,
                          inventory=inventory, envvars=env, ident=ident,
                          extravars={"gc_out": str(out_dir)},
                          timeout_s=ctx.settings.step_timeout_s, on_event=on_event,
                          idle_timeout_s=ctx.settings.step_idle_timeout_s)
    sums = {}
    for host in hosts:
        with contextlib.suppress(OSError):
            sums[host] = (out_dir / f"{host}.sums").read_text(errors="replace")
    return result.status, failed, sums
