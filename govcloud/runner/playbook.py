"""Run one playbook as one ansible-runner job, with its events streamed as plain values.

Generic: provisioning runs post-provision playbooks through it, migration steps and drills can
run theirs the same way. Hygiene (ARCHITECTURE.md, convention 11):

* one ``ident`` and artifact folder per job (``<private_data_dir>/artifacts/<ident>``), never
  shared, so concurrent jobs cannot mix their events;
* ``suppress_env_files=True``: extra variables, passwords and environment are passed in memory,
  not written to ``env/`` files in the private data dir;
* a ``timeout`` always (ansible-runner kills the job and reports ``timeout``), and a
  ``cancel`` function polled by ansible-runner (the caller's own cancellation);
* environment values are never logged (only their names), host-key checking stays on unless
  the caller turns it off for an inventory that is not SSH (``connection: local``);
* an inventory given as a mapping is data, never a template: it is written as YAML with every
  string value tagged ``!unsafe``, so that a ``{{ lookup('pipe', ...) }}`` in a host's
  variable (an imported inventory, a server's name) is never evaluated on the control node;
* the job ends with govcloud: ``ansible-playbook`` runs tied to this process
  (``govcloud.children.tied_to_parent``), so a control plane killed outright (SIGKILL, the OOM
  killer) leaves no playbook running against a host;
* and nothing of the job outlives it: Ansible's workers start sessions of their own
  (``os.setsid``), so the process-group kill with which ansible-runner ends a job that timed
  out or was cancelled does not reach them. Every process of a job carries
  ``GOVCLOUD_PLAYBOOK_JOB=<ident>`` in its environment, and ``run_playbook`` ends those still
  there when the job is over (``end_job``) — and the job's SSH connection masters
  (``ControlPersist``), which get a control-socket folder of the job's own.

``run_playbook`` returns a :class:`PlaybookResult` (status ``successful``, ``failed``,
``timeout`` or ``canceled``, the per-host stats) and calls ``on_event`` with a
:class:`PlaybookEvent` for every task result as it happens.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shlex
import shutil
import signal
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

from govcloud.children import setpriv, tied_to_parent
from govcloud.errors import InvalidInput, PermanentError

log = logging.getLogger(__name__)

_RESULT_EVENTS = {
    "runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable", "runner_item_on_failed": "failed",
}


@dataclass(frozen=True, slots=True)
class PlaybookEvent:
    """One task result (or the play recap) of a job."""

    counter: int
    kind: str           # ok, changed, failed, skipped, unreachable, recap
    host: str | None
    task: str | None
    message: str

    def line(self) -> str:
        where = f"{self.host}: " if self.host else ""
        return f"{where}{self.task or ''} — {self.kind}" + (f": {self.message}"
                                                           if self.message else "")


@dataclass(frozen=True, slots=True)
class PlaybookResult:
    ident: str
    status: str                    # successful, failed, timeout, canceled
    rc: int | None
    artifact_dir: Path
    stats: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    events: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "successful"

    @property
    def changed(self) -> int:
        return sum(self.stats.get("changed", {}).values())

    def summary(self) -> str:
        failed = sorted(set(self.stats.get("failures", {})) | set(self.stats.get("dark", {})))
        return (f"playbook {self.status} (rc {self.rc}, {self.events} events, "
                f"{self.changed} changed" + (f", failed on {', '.join(failed)}" if failed
                                             else "") + ")")


def _event(data: Mapping[str, Any]) -> PlaybookEvent | None:
    name = data.get("event")
    ev = data.get("event_data") or {}
    if name == "playbook_on_stats":
        return PlaybookEvent(int(data.get("counter", 0)), "recap", None, None,
                             " ".join(str(data.get("stdout", "")).split())[-300:])
    if name not in _RESULT_EVENTS:
        return None
    kind = _RESULT_EVENTS[str(name)]
    res = ev.get("res") or {}
    if kind == "ok" and res.get("changed"):
        kind = "changed"
    message = str(res.get("msg") or "") if isinstance(res, Mapping) else ""
    return PlaybookEvent(int(data.get("counter", 0)), kind, ev.get("host"), ev.get("task"),
                         " ".join(message.split())[:500])


class _Unsafe(str):
    """A string Ansible must not template (written with YAML's ``!unsafe`` tag)."""

    __slots__ = ()


class _InventoryDumper(yaml.SafeDumper):
    pass


_InventoryDumper.add_representer(
    _Unsafe, lambda dumper, data: dumper.represent_scalar("!unsafe", str(data)))


def _as_data(value: Any) -> Any:
    """``value`` with every string that is a value (not a key) marked unsafe."""
    if isinstance(value, str):
        return _Unsafe(value) if value else value  # Ansible reads `!unsafe ''` as null
    if isinstance(value, Mapping):
        return {str(k): _as_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_data(v) for v in value]
    return value


def write_inventory(inventory: Mapping[str, Any], path: Path) -> Path:
    """Write ``inventory`` (YAML inventory structure) to ``path``: every string value tagged
    ``!unsafe``, so Ansible reads it as data and never as a template."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.dump(_as_data(inventory), Dumper=_InventoryDumper, sort_keys=False,
                              allow_unicode=True))
    return path


def _path_with_ansible() -> str:
    """PATH with the directory of this interpreter's ansible-playbook first (a virtualenv's
    bin is not on PATH when govcloud runs as ``.venv/bin/govcloud``)."""
    here = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", os.defpath)
    if shutil.which("ansible-playbook", path=here) and here not in path.split(os.pathsep):
        return here + os.pathsep + path
    return path


JOB_ENV = "GOVCLOUD_PLAYBOOK_JOB"


def job_processes(ident: str) -> list[int]:
    """The processes of job ``ident`` still alive (those this user may read: ``/proc/<pid>/
    environ`` holds the job's tag, inherited by every process the job starts)."""
    marker = f"{JOB_ENV}={ident}".encode()
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or another user's
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _naming(text: str) -> list[int]:
    """The processes (of this user) whose command line names ``text``."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            if text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def end_job(ident: str, *, grace_s: float = 2.0, control_dir: str | None = None) -> list[int]:
    """End what is left of job ``ident``: SIGTERM, then SIGKILL after ``grace_s``. Returns the
    pids that were still there. ``control_dir``: the job's own SSH control-socket folder, whose
    connection masters (``ssh: <dir>/<hash> [mux]``, started with a clean environment, so
    without the job's tag) are ended too, and the folder removed."""
    if control_dir:
        for pid in _naming(control_dir + "/"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        shutil.rmtree(control_dir, ignore_errors=True)
    left = job_processes(ident)
    if left:
        log.warning("playbook job %s: ending %d process(es) it left: %s", ident, len(left),
                    left)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace_s
        while job_processes(ident) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not job_processes(ident):
            break
    return left


def _job_control_dir(env: dict[str, str], ident: str) -> str | None:
    """Give the job SSH connection masters of its own: a folder of the caller's
    ``ANSIBLE_SSH_CONTROL_PATH_DIR`` named after the job (short: a socket's path is at most
    107 bytes), so that they end with the job instead of lingering ``ControlPersist``."""
    base = env.get("ANSIBLE_SSH_CONTROL_PATH_DIR")
    if not base:
        return None
    control_dir = f"{base}/{hashlib.sha256(ident.encode()).hexdigest()[:12]}"
    env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = control_dir
    return control_dir


def tied_playbook(root: Path) -> Path | None:
    """A one-line ``ansible-playbook`` in ``root/bin`` that runs the real one tied to this
    process (it ends when this process dies); None where that cannot be done (no ``setpriv``,
    no ansible-playbook). One per process: the pid it checks is written in it."""
    exe = shutil.which("ansible-playbook", path=_path_with_ansible())
    if exe is None or setpriv() is None:
        return None
    script = "#!/bin/sh\nexec " + shlex.join(tied_to_parent([exe])) + ' "$@"\n'
    path = root / "bin" / f"ansible-playbook-{os.getpid()}"
    try:
        if path.read_text() == script:
            return path
    except OSError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fresh = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fresh.write_text(script)
    fresh.chmod(0o700)
    fresh.replace(path)  # whole, for a job of this process starting at the same moment
    return path


def run_playbook(playbook: str | Path, *, private_data_dir: str | Path,
                 inventory: str | Path | Mapping[str, Any],
                 extravars: Mapping[str, Any] | None = None,
                 envvars: Mapping[str, str] | None = None, timeout_s: float = 600.0,
                 ident: str | None = None,
                 on_event: Callable[[PlaybookEvent], None] | None = None,
                 cancel: Callable[[], bool] | None = None, check: bool = False,
                 diff: bool = False, limit: str | None = None,
                 host_key_checking: bool = True, idle_timeout_s: float | None = None,
                 forks: int | None = None) -> PlaybookResult:
    """Run ``playbook`` (a path) as one job; never raises for a failing play — read
    ``result.status`` — only for a playbook that does not exist or a job that cannot start.

    ``idle_timeout_s`` ends a job that printed nothing for that long (status ``timeout``);
    ``forks`` is Ansible's parallelism."""
    path = Path(playbook).resolve()
    if not path.is_file():
        raise InvalidInput(f"playbook {path} does not exist",
                           hint="give the path of a playbook file (e.g. playbooks/...yml)")
    ident = ident or uuid.uuid4().hex
    root = Path(private_data_dir)
    root.mkdir(parents=True, exist_ok=True)
    env = {"PATH": _path_with_ansible(),
           "ANSIBLE_HOST_KEY_CHECKING": "True" if host_key_checking else "False",
           "ANSIBLE_RETRY_FILES_ENABLED": "False", "ANSIBLE_NOCOLOR": "1",
           **(envvars or {}), JOB_ENV: ident}
    control_dir = _job_control_dir(env, ident)
    if idle_timeout_s:
        # ansible-runner reads idle_timeout only from env/settings (a settings= argument is
        # dropped when that file is missing); it holds no secret, unlike env/ files in general
        (root / "env").mkdir(exist_ok=True)
        (root / "env" / "settings").write_text(
            json.dumps({"idle_timeout": int(max(1, idle_timeout_s))}))
    if isinstance(inventory, Mapping):
        inventory = write_inventory(inventory, root / "inventory" / f"{ident}.yml")
    args = [x for x in ("--check" if check else "", "--diff" if diff else "") if x]
    binary = tied_playbook(root)
    if binary is not None:  # ansible-runner then runs it as given: the playbook is an argument
        args.append(shlex.quote(str(path)))
    cmdline = " ".join(args)
    log.info("playbook %s: job %s (env %s)", path.name, ident, sorted(env))
    count = 0

    def handler(data: Mapping[str, Any]) -> bool:
        nonlocal count
        count += 1
        event = _event(data)
        if event is not None and on_event is not None:
            try:
                on_event(event)
            except Exception:  # a broken listener must not break the job
                log.exception("playbook %s: event handler failed", ident)
        return True

    try:
        runner = ansible_runner.run(
            private_data_dir=str(root), ident=ident, playbook=str(path),
            inventory=str(inventory),
            extravars=dict(extravars or {}), envvars=env, timeout=int(max(1, timeout_s)),
            suppress_env_files=True, quiet=True, event_handler=handler,
            cancel_callback=cancel or (lambda: False), limit=limit,
            cmdline=cmdline or None, forks=forks,
            binary=None if binary is None else str(binary))
    except Exception as exc:  # ansible-runner could not even start the job
        raise PermanentError(f"playbook {path.name}: could not run: {exc}",
                             hint="check that ansible-core is installed next to govcloud") \
            from exc
    finally:
        end_job(ident, control_dir=control_dir)
    stats = runner.stats or {}
    return PlaybookResult(ident=ident, status=str(runner.status), rc=runner.rc,
                          artifact_dir=Path(runner.config.artifact_dir),
                          stats={k: dict(v) for k, v in stats.items() if isinstance(v, dict)},
                          events=count)
