"""The commands and the inventory a wave's steps run on: every shell command a host's steps run
(rsync legacy → stage → target → DR copies, the sync back, checksums, stop/start/health), built
and quoted here so that the playbooks only run them, and the YAML inventory of one step run.

No secrets here: the SSH key is passed by path, host keys are checked against govcloud's own
known_hosts (``StrictHostKeyChecking=yes``).
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from govcloud.domain.legacy import Endpoint, LegacyHost, TargetCopy
from govcloud.errors import PermanentError
from govcloud.services.migration import known_hosts
from govcloud.settings import Settings


def _ssh(ep: Endpoint, key: Path | None, known: Path) -> str:
    key_opt = f"-i {shlex.quote(str(key))} " if key else ""
    return (f"ssh {key_opt}-p {ep.port} -o UserKnownHostsFile={shlex.quote(str(known))} "
            "-o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes "
            "-o ConnectTimeout=15")


def _rsync(ssh: str, src: str, dst: str, *, checksum: bool = False) -> str:
    """rsync ``src`` to ``dst``, both after ``--`` (never read as options). rsync hands the
    user and address to ssh itself (``-l user address``), which takes no ``--`` there: that is
    why an ``Endpoint`` only ever holds a validated address and user name. ``checksum``:
    compare contents, not size and time (a file edited in place keeping both is copied)."""
    return " ".join(shlex.quote(x) for x in
                    ("rsync", "-a", *(("--checksum",) if checksum else ()), "--delete",
                     "--mkpath", "-e", ssh, "--", src, dst))


def _differs(ssh: str, src: str, dst: str, label: str) -> str:
    """Fail, naming up to 10 files, unless ``dst`` holds exactly what ``src`` holds (by
    content: rsync's dry run with checksums lists what it would copy or delete)."""
    dry = " ".join(shlex.quote(x) for x in ("rsync", "-rnc", "--delete", "--out-format=%i %n",
                                            "-e", ssh, "--", src, dst))
    what = shlex.quote(label)
    return (f"gc_diff=$({dry}) || {{ echo {what}': cannot compare'; exit 1; }}; "
            f'test -z "$gc_diff" || {{ echo {what}" differs: $(printf "%s" "$gc_diff" | '
            "head -n 10 | tr '\\n' ';')\"; exit 1; }")


def endpoint_of(server: Any, user: str) -> Endpoint:
    """How to reach a server over SSH (the simulator's sandbox when it has one)."""
    meta = dict(server.metadata or {})
    if "sim:ssh" in meta:
        address, _, port = str(meta["sim:ssh"]).rpartition(":")
        return Endpoint(address, int(port), str(meta.get("sim:user", user)),
                        str(meta.get("sim:root", "/")))
    for addresses in (server.addresses or {}).values():
        for a in addresses:
            if a.get("OS-EXT-IPS:type", "fixed") == "fixed" and a.get("version", 4) == 4:
                return Endpoint(str(a["addr"]), 22, user)
    raise PermanentError(f"server {server.id} has no fixed IPv4 address to reach it by",
                         hint="check its network")


def ansible_ssh_args(known: Path) -> str:
    """Ansible's ssh arguments (it splits them as a shell would): strict host keys against
    govcloud's own known_hosts, whatever its path holds."""
    return (f"-o UserKnownHostsFile={shlex.quote(str(known))} -o StrictHostKeyChecking=yes "
            "-o IdentitiesOnly=yes -o ControlMaster=auto -o ControlPersist=30s")


def playbook_env(settings: Settings, base: Path) -> dict[str, str]:
    """The environment of a job over SSH (a migration step, a protection cycle): strict host
    keys against govcloud's known_hosts, YAML inventories only, temp files under ``base``."""
    return {"ANSIBLE_SSH_ARGS": ansible_ssh_args(known_hosts(settings).path),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": tempfile.gettempdir() + "/govcloud-cp",
            "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_PYTHON_INTERPRETER": settings.migrate_python,
            "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
            "ANSIBLE_INVENTORY_ENABLED": "yaml",
            "ANSIBLE_LOCAL_TEMP": str(base / "tmp")}


def _remote(ep: Endpoint, path: str) -> str:
    """rsync's ``user@address:path`` (an IPv6 address in brackets)."""
    address = f"[{ep.address}]" if ":" in ep.address else ep.address
    return f"{ep.user}@{address}:{path}"


def _with_root(root: str, command: str | None) -> str:
    """``command`` with GOVCLOUD_ROOT set (sandboxes keep their files under a root)."""
    if not command:
        return ""
    return f"GOVCLOUD_ROOT={shlex.quote(root)}; export GOVCLOUD_ROOT; {command}"


# --- the processes a step starts on a host, and ending them -------------------------------------

JOB_MARK = "GOVCLOUD_JOB"  # in the environment of every process a step starts on a host


def tracked(command: str, job: str | None, where: str) -> str:
    """``command`` as a step runs it on a host: every process it starts carries
    ``GOVCLOUD_JOB=<job>:<where>`` in its environment, in a process group of its own
    (``setsid``, when the host has it), so that ``reap_command`` finds and ends them when the
    step is cancelled or times out — ending the local job leaves a hung remote command
    running otherwise. The output and exit status are the command's."""
    if not command or job is None:
        return command
    mark = shlex.quote(f"{job}:{where}")
    inner = shlex.quote(command)
    return (f"{JOB_MARK}={mark}; export {JOB_MARK}; "
            f"if command -v setsid >/dev/null 2>&1; then setsid sh -c {inner} & wait $!; "
            f"else sh -c {inner}; fi")


def reap_command(job: str, where: str) -> str:
    """End what step ``job`` started on this host (``tracked``) and is still running: every
    process carrying its mark, and the process groups they lead — TERM, then KILL after 5 s.
    Prints one line per process ended (``ended pid P (process group G): ARGS``); nothing when
    none was left. Reads /proc (Linux), as root when the step ran as root."""
    mark = shlex.quote(f"{JOB_MARK}={job}:{where}")
    return f"""m={mark}; pids=''
for d in /proc/[0-9]*; do p=${{d#/proc/}}; [ "$p" = "$$" ] && continue
  grep -qxzF -- "$m" "$d/environ" 2>/dev/null && pids="$pids $p"; done
[ -n "$pids" ] || exit 0
groups=''
for p in $pids; do g=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f3)
  a=$(tr '\\000' ' ' 2>/dev/null <"/proc/$p/cmdline" | cut -c1-200 | sed 's/ *$//')
  echo "ended pid $p (process group $g): $a"; [ "$g" = "$p" ] && groups="$groups $g"; done
for g in $groups; do kill -TERM -- "-$g" 2>/dev/null; done; kill -TERM $pids 2>/dev/null
alive() {{ left=''; for p in $pids; do s=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -c1)
  [ -n "$s" ] && [ "$s" != Z ] && left="$left $p"; done; [ -n "$left" ]; }}
i=0; while alive && [ $i -lt 25 ]; do sleep 0.2 2>/dev/null || sleep 1; i=$((i+1)); done
if alive; then for g in $groups; do kill -KILL -- "-$g" 2>/dev/null; done
  kill -KILL $left 2>/dev/null; fi
exit 0"""


def checksums_command(paths: Sequence[tuple[str, str]]) -> str:
    """SHA-256 of every file under each (data path, where it is on this machine), in a stable
    order, headed by the data path (the same on both sides)."""
    return "; ".join(f"echo {shlex.quote('== ' + p)}; (cd {shlex.quote(real)} && find . "
                     "-type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)"
                     for p, real in paths) or "true"


def host_commands(host: LegacyHost, target: Endpoint, *, settings: Settings,
                  stage: Path, copies: Sequence[TargetCopy] = (),
                  job: str | None = None) -> dict[str, str]:
    """The shell commands a host's steps run, built and quoted here so that the playbooks
    only run them (``raw``: no Python module per task, which keeps each step cheap).

    Each sync goes legacy → stage → target → and on to every DR copy of the target, so the
    copies hold the same data as the target; the sync back (rollback) compares contents.
    With ``job`` (the step job's ident) the commands run on the legacy host and the target
    are ``tracked`` (``gc_reap_legacy``/``gc_reap_target`` end what they leave running); the
    syncs run on the control node, where the job's end ends them."""
    known = known_hosts(settings).path
    key = settings.ssh_key
    legacy_ssh, target_ssh = _ssh(host.endpoint, key, known), _ssh(target, key, known)
    pull, push, back_pull, back_push, check_copies = [], [], [], [], []
    legacy_paths = [host.endpoint.path(p).rstrip("/") for p in host.data_paths]
    target_paths = [target.path(p).rstrip("/") for p in host.data_paths]
    for p, lp, tp in zip(host.data_paths, legacy_paths, target_paths, strict=True):
        local = str(stage / host.name / p.strip("/"))
        pull.append(_rsync(legacy_ssh, _remote(host.endpoint, f"{lp}/"), f"{local}/"))
        push.append(_rsync(target_ssh, f"{local}/", _remote(target, f"{tp}/")))
        for c in copies:
            copy_ssh, cp = _ssh(c.endpoint, key, known), c.endpoint.path(p).rstrip("/")
            push.append(_rsync(copy_ssh, f"{local}/", _remote(c.endpoint, f"{cp}/")))
            check_copies.append(_differs(copy_ssh, f"{local}/", _remote(c.endpoint, f"{cp}/"),
                                         f"{c.label}: {p}"))
        back_pull.append(_rsync(target_ssh, _remote(target, f"{tp}/"), f"{local}/",
                                checksum=True))
        back_push.append(_rsync(legacy_ssh, f"{local}/", _remote(host.endpoint, f"{lp}/"),
                                checksum=True))
    exists = " && ".join(f"{{ test -d {shlex.quote(p)} || {{ echo "
                         f"{shlex.quote('missing data path ' + p)}; exit 1; }}; }}"
                         for p in legacy_paths) or "true"
    du = (f"du -sk {' '.join(shlex.quote(p) for p in legacy_paths)} | "
          "awk '{s+=$1} END {print s+0}'") if legacy_paths else "echo 0"
    legacy, on_target = host.name, f"{host.name}-target"  # where each runs, for the mark
    remote = {
        "gc_precheck_legacy": (legacy, f"command -v rsync >/dev/null && {exists} && {du}"),
        "gc_precheck_target": (on_target, f"command -v rsync >/dev/null && mkdir -p "
                                          f"{shlex.quote(target.root)} && df -Pk "
                                          f"{shlex.quote(target.root)} | "
                                          "awk 'NR==2 {print $4}'"),
        "gc_sums_legacy": (legacy, checksums_command(
            list(zip(host.data_paths, legacy_paths, strict=True)))),
        "gc_sums_target": (on_target, checksums_command(
            list(zip(host.data_paths, target_paths, strict=True)))),
        "gc_stop_legacy": (legacy, _with_root(host.endpoint.root, host.stop_command)),
        "gc_start_legacy": (legacy, _with_root(host.endpoint.root, host.start_command)),
        "gc_stop_target": (on_target, _with_root(target.root, host.stop_command)),
        "gc_start_target": (on_target, _with_root(target.root, host.start_command)),
        "gc_health_target": (on_target, _with_root(target.root, host.health_check)),
    }
    return {
        **{k: tracked(cmd, job, where) for k, (where, cmd) in remote.items()},
        "gc_sync": " && ".join(pull + push) or "true",
        "gc_sync_back": " && ".join(back_pull + back_push) or "true",
        "gc_check_copies": " && ".join(check_copies),
        **({"gc_reap_legacy": reap_command(job, legacy),
            "gc_reap_target": reap_command(job, on_target)} if job is not None else {}),
    }


def step_inventory(hosts: Sequence[tuple[LegacyHost, Endpoint | None]], *, settings: Settings,
                   stage: Path, cut_over: Mapping[str, bool] | None = None,
                   copies: Mapping[str, Sequence[TargetCopy]] | None = None,
                   job: str | None = None) -> dict[str, Any]:
    """The inventory of a step (YAML inventory structure): group ``wave`` (legacy hosts, with
    the commands their steps run) and each host's target as ``<host>-target`` in group
    ``targets``. No secrets: the SSH key is passed by path. ``job``: the step job's ident,
    which marks what the commands start on the hosts (``tracked``)."""
    key = settings.ssh_key
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    wave: dict[str, Any] = {}
    targets: dict[str, Any] = {}

    def conn(ep: Endpoint) -> dict[str, Any]:
        # no pty (ssh -tt would merge the remote stderr — e.g. a login shell's warnings —
        # into stdout, which the steps parse: checksums, du, df)
        out: dict[str, Any] = {"ansible_host": ep.address, "ansible_port": ep.port,
                               "ansible_user": ep.user, "ansible_ssh_use_tty": False}
        if key:
            out["ansible_ssh_private_key_file"] = str(key)
        return out

    for host, known_target in hosts:
        target = known_target or Endpoint("unprovisioned.invalid")
        tname = f"{host.name}-target"
        wave[host.name] = {
            **conn(host.endpoint), "gc_target": tname,
            "gc_become": host.endpoint.user != "root" or settings.become_password is not None,
            "gc_cut_over": bool((cut_over or {}).get(host.name)),
            "gc_has_target": known_target is not None,
            **host_commands(host, target, settings=settings, stage=stage,
                            copies=(copies or {}).get(host.name, ()), job=job)}
        targets[tname] = conn(target)
    return {"all": {"hosts": {"localhost": local}, "children": {
        "wave": {"hosts": wave}, "targets": {"hosts": targets}}}}
