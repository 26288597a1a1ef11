"""Legacy hosts and migration waves, all clients of the control plane's API:
``hosts import|list|trust``, ``inventory`` and ``migrate survey|plan|waves|show|signoff|
override|run|cancel|rollback|events``. Registered by ``govcloud.cli``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from govcloud.api.models import RunStarted, WaveEvents
from govcloud.cli_changes import add_change_flag
from govcloud.cli_control import (
    _client,
    _cmd,
    _group,
    _print_json,
    _table,
    echo,
    finite,
    identifier,
)
from govcloud.client import ApiClient, as_json
from govcloud.domain.text import printable
from govcloud.errors import InvalidInput
from govcloud.yamlfile import read_text

# --- hosts -------------------------------------------------------------------------------------


def cmd_hosts_import(args: argparse.Namespace) -> int:
    path: Path = args.file
    text = read_text(path, what="inventory file",  # bounded; no devices, only UTF-8
                     hint="give the path of an inventory file "
                          "(inventory/legacy/<department>.yaml)")
    with _client(args) as api:
        answer = api.import_hosts(text, name=str(path))
    if args.json:
        _print_json(as_json(answer))
    else:
        echo(f"{answer.hosts} hosts of {', '.join(answer.departments)}: "
              f"{answer.created} new, {answer.updated} changed")
    return 0


def cmd_hosts_list(args: argparse.Namespace) -> int:
    with _client(args) as api:
        hosts = api.hosts(department=args.department).hosts
    if args.json:
        _print_json([as_json(h) for h in hosts])
        return 0
    rows: list[tuple[str, ...]] = [(h.name, h.department, h.system,
             f"{h.endpoint.address}:{h.endpoint.port}",
             {None: "-", True: "yes", False: "UNREACHABLE"}[h.reachable],
             h.wave or "-", h.live or "-") for h in hosts]
    echo(_table(rows, ("HOST", "DEPARTMENT", "SYSTEM", "ADDRESS", "SURVEYED", "WAVE", "LIVE")))
    return 0


def cmd_hosts_trust(args: argparse.Namespace) -> int:
    with _client(args) as api:
        key = api.host_key(args.host)
        if args.fingerprint is None:
            if args.yes:
                raise InvalidInput("--yes needs --fingerprint SHA256:... to pin the key",
                                   hint="get the fingerprint from the host's owner "
                                        "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)")
            echo(f"{args.host} ({key.address}) presents a {key.key_type} key\n"
                  f"  fingerprint {key.fingerprint}")
            if key.changed:
                echo(f"  WARNING: this differs from the recorded {key.recorded[0]}")
            if not sys.stdin.isatty():
                raise InvalidInput("cannot ask for confirmation: stdin is not a terminal",
                                   hint="pass --yes --fingerprint SHA256:... (CI)")
            if input("Trust this key? [y/N] ").strip().lower() not in ("y", "yes"):
                echo("not trusted; nothing was recorded")
                return 1
            fingerprint = key.fingerprint
        else:
            fingerprint = args.fingerprint
        answer = api.trust_host(args.host, fingerprint=fingerprint, replace=args.replace)
    if args.json:
        _print_json(as_json(answer))
    else:
        echo(f"trusted {answer.host} ({answer.address}): {answer.fingerprint}")
    return 0


def cmd_inventory(args: argparse.Namespace) -> int:
    with _client(args) as api:
        _print_json(as_json(api.inventory()))
    return 0


# --- survey, plan, waves -----------------------------------------------------------------------

def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n //= 1024
    return f"{n} TiB"


def cmd_survey(args: argparse.Namespace) -> int:
    with _client(args) as api:
        echo(f"surveying {args.department} ...", file=sys.stderr, flush=True)
        answer = api.survey(args.department, hosts=args.host or None)
    if args.json:
        _print_json(as_json(answer))
    else:
        rows: list[tuple[str, ...]] = []
        for h in answer.hosts:
            if not h.reachable:
                rows.append((h.host, "UNREACHABLE", "-", "-", "-", "-", h.error or ""))
                continue
            rows.append((h.host, f"{h.os_id} {h.os_version}", str(h.cpus),
                         "-" if h.ram_mb is None else f"{h.ram_mb / 1024:,.1f} GiB",
                         _size(h.data_bytes),
                         ",".join(str(p) for p in h.listening[:8]),
                         f"{len(h.connections)} connections, {len(h.mounts)} "
                         f"network mounts"))
        echo(_table(rows, ("HOST", "OS", "CPU", "RAM", "DATA", "LISTENING", "NOTES")))
    return 0 if all(h.reachable for h in answer.hosts) else 1


def cmd_plan(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.plan_waves(args.department, first_window=args.first_window or None,
                                max_hosts=args.max_hosts, window_hours=args.window_hours,
                                every_days=args.every_days)
    if args.json:
        _print_json(as_json(answer))
        return 0
    for w in answer.waves:
        kind = " (rehearsal)" if w.rehearsal else ""
        echo(f"{w.wave}{kind}: DR level {w.dr_level}, {_size(w.data_bytes)}, "
              f"window {w.window.start[:16]} – {w.window.end[11:16]}")
        for group in w.groups:
            echo("  together: " + printable(", ".join(group)))
    return 0


def cmd_waves(args: argparse.Namespace) -> int:
    with _client(args) as api:
        waves = api.waves(department=args.department).waves
    if args.json:
        _print_json([as_json(w) for w in waves])
        return 0
    echo(_table([(w.wave, w.department, w.status, "yes" if w.rehearsal else "",
                   str(w.dr_level), w.window.start[:16], str(len(w.hosts)))
                  for w in waves],
                 ("WAVE", "DEPARTMENT", "STATUS", "REHEARSAL", "DR", "WINDOW", "HOSTS")))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with _client(args) as api:
        wave = api.wave(args.wave, gate=args.gate)
    if args.json:
        _print_json(as_json(wave))
        return 0
    echo(f"{wave.wave}: {wave.status}; window {wave.window.start[:16]}"
          + (" (rehearsal)" if wave.rehearsal else ""))
    for label, g in (("entry gate", wave.entry_gate), ("exit gate", wave.exit_gate)):
        echo(f"{label}: {'PASSED' if g.passed else 'CLOSED'}")
        for reason in g.reasons:
            echo(f"  - {printable(reason)}")
    if wave.override:
        echo(f"override by {printable(wave.override.by)}: "
             f"{printable(wave.override.reason)}")
    rows: list[tuple[str, ...]] = []
    for h in wave.hosts:
        at = next((s for s, v in h.steps.items() if v.status != "succeeded"), "done")
        step = h.steps.get(at)
        status = step.status if step is not None else "succeeded"
        rows.append((h.host, str(h.readiness.score), at, status, h.live,
                     "; ".join(h.readiness.blocking)[:80]))
    echo(_table(rows, ("HOST", "READINESS", "STEP", "STATUS", "LIVE", "BLOCKING")))
    return 0


def cmd_signoff(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.signoff(args.department, note=args.note)
    echo(f"sign-off of {answer.department} recorded by {answer.by}")
    return 0


def cmd_override(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.override_wave(args.wave, reason=args.reason)
    echo(f"{answer.wave} may start below the gate (override by {answer.override_by}, "
          "audited)")
    return 0


# --- run, follow, cancel, rollback -------------------------------------------------------------

def _follow(api: ApiClient, wave: str, *, after: int = 0, json_lines: bool = False,
            poll: float = 0.5) -> WaveEvents:
    while True:
        page = api.wave_events(wave, after=after)
        for e in page.events:
            after = e.id
            if json_lines:
                _print_json(as_json(e))
            else:
                who = printable(e.host or "*")
                text = printable(e.message or e.task or "")
                echo(f"{e.at[11:19]} {e.step:<12} {who:<20} {e.event:<22} {text}",
                      flush=True)
        if not page.running and not page.events:
            return page
        if not page.events:
            time.sleep(poll)


def _run_result(api: ApiClient, args: argparse.Namespace, answer: RunStarted) -> int:
    """What a run or rollback started: said (or, with --follow, its events until it ends)."""
    if answer.action == "wait":
        if args.json:
            _print_json(as_json(answer))
        else:
            echo(f"{answer.wave}: waits for change {answer.change}'s window, from "
                 f"{answer.opens}; the server runs it then")
        return 0
    if not args.follow:
        if args.json:
            _print_json(as_json(answer))
        else:
            under = f" under change {answer.change}" if answer.change else ""
            echo(f"{answer.wave}: {answer.action} started (run {answer.run_id}){under}; "
                  f"`govcloud migrate events {answer.wave} --follow` to watch")
        return 0
    final = _follow(api, answer.wave, after=answer.after, json_lines=args.json)
    status = final.status
    if not args.json:
        echo(f"{answer.wave}: {status}")
        if status == "waiting-window":
            echo("it stopped at a safe step, its change's window closed; the server takes it "
                 "up when a window opens for it (plan one: `govcloud migrate run "
                 f"{answer.wave} --change ID`)")
    return 0 if status in ("done", "rolled_back") else 1


def cmd_run(args: argparse.Namespace) -> int:
    if args.outside_window and not args.reason:
        raise InvalidInput("--outside-window needs --reason",
                           hint="--outside-window --reason 'why it is safe now' (audited)")
    with _client(args) as api:
        started = api.run_wave(args.wave, hook=args.hook,
                               outside_window_reason=args.reason if args.outside_window
                               else None, change=args.change,
                               trust_on_first_use=args.trust_on_first_use)
        return _run_result(api, args, started)


def cmd_rollback(args: argparse.Namespace) -> int:
    with _client(args) as api:
        return _run_result(api, args, api.rollback(args.target, change=args.change))


def cmd_cancel(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.cancel_wave(args.wave)
    if args.json:
        _print_json(as_json(answer))
        return 0
    if not answer.cancelled:
        echo(f"{answer.wave}: nothing is running here")
        return 0
    echo(f"{answer.wave}: cancelled; " + ("the run stopped" if answer.stopped else
                                          "the run is still stopping (follow its events)"))
    for line in answer.ended:
        echo(f"  {printable(line)}")
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    with _client(args) as api:
        if args.follow:
            final = _follow(api, args.wave, json_lines=args.json)
            if not args.json:
                echo(f"{args.wave}: {final.status}")
            return 0
        page = api.wave_events(args.wave, after=0)
    if args.json:
        _print_json(as_json(page))
        return 0
    for e in page.events:
        echo(f"{e.at[11:19]} {e.step:<12} {printable(e.host or '*'):<20} "
             f"{printable(e.event):<22} {printable(e.message or e.task or '')}")
    return 0


def register(commands: Any) -> None:
    sub = _group(commands, "hosts", "legacy hosts: import, list, trust their SSH keys")
    p = _cmd(sub, "import", cmd_hosts_import, "import legacy hosts from an inventory file")
    p.add_argument("file", type=Path, help="inventory/legacy/<department>.yaml")
    p = _cmd(sub, "list", cmd_hosts_list, "list legacy hosts")
    p.add_argument("--department")
    p = _cmd(sub, "trust", cmd_hosts_trust, "show a host's SSH key fingerprint and record it "
             "after confirmation")
    p.add_argument("host", type=identifier("host name"))
    p.add_argument("--yes", action="store_true", help="do not ask (needs --fingerprint)")
    p.add_argument("--fingerprint", help="pin: the key must have this SHA256 fingerprint")
    p.add_argument("--replace", action="store_true",
                   help="replace a different recorded key (after out-of-band confirmation)")

    _cmd(commands, "inventory", cmd_inventory, "the dynamic Ansible inventory (JSON)",
         json_=False)

    sub = _group(commands, "migrate", "migration waves: survey, plan, run, roll back")
    p = _cmd(sub, "survey", cmd_survey, "survey a department's legacy hosts over SSH; exits 1 "
             "when a host was unreachable")
    p.add_argument("--department", required=True)
    p.add_argument("--host", action="append", help="only this host (repeatable)")
    p = _cmd(sub, "plan", cmd_plan, "group a department's hosts into waves")
    p.add_argument("--department", required=True)
    p.add_argument("--first-window", help="ISO time of the first window (default: next "
                                          "Saturday 01:00 UTC)")
    p.add_argument("--window-hours", type=finite, default=4.0)
    p.add_argument("--every-days", type=int, default=7)
    p.add_argument("--max-hosts", type=int, default=10)
    p = _cmd(sub, "waves", cmd_waves, "list waves")
    p.add_argument("--department")
    p = _cmd(sub, "show", cmd_show, "a wave: gates, readiness and each host's step")
    p.add_argument("wave", type=identifier("wave id"))
    p.add_argument("--gate", type=int, default=100, help="readiness gate (default 100)")
    p = _cmd(sub, "signoff", cmd_signoff, "record the department's sign-off", json_=False)
    p.add_argument("--department", required=True)
    p.add_argument("--note")
    p = _cmd(sub, "override", cmd_override, "let a wave start below the readiness gate "
             "(bureau-admin; audited)", json_=False)
    p.add_argument("wave", type=identifier("wave id"))
    p.add_argument("--reason", required=True)
    p = _cmd(sub, "run", cmd_run, "run (or resume) a wave: precheck → provision → initial "
             "sync → freeze → final sync → cutover → verify")
    p.add_argument("wave", type=identifier("wave id"))
    p.add_argument("--follow", action="store_true", help="stream events until it ends")
    p.add_argument("--hook", help="a playbook under playbooks/migrate/hooks run at cutover")
    p.add_argument("--outside-window", action="store_true",
                   help="run although the wave's maintenance window is not open "
                        "(migration.override; audited with --reason)")
    p.add_argument("--reason", help="why running outside the window is safe")
    add_change_flag(p, "migration-wave")
    p.add_argument("--trust-on-first-use", metavar="REASON",
                   help="trust the first SSH host key of a target whose cloud shows none in "
                        "its console log (migration.override; audited with REASON); without "
                        "it such a target is refused")
    p = _cmd(sub, "rollback", cmd_rollback, "put the legacy host(s) back as the live "
             "endpoint, syncing back what was written on the target")
    p.add_argument("target", metavar="WAVE|HOST", type=identifier("wave id or host name"))
    p.add_argument("--follow", action="store_true")
    add_change_flag(p, "migration-wave")
    p = _cmd(sub, "cancel", cmd_cancel, "cancel a running wave (the step is interrupted "
             "and resumable; what it left running on the hosts is ended, and listed)")
    p.add_argument("wave", type=identifier("wave id"))
    p = _cmd(sub, "events", cmd_events, "a wave's playbook events")
    p.add_argument("wave", type=identifier("wave id"))
    p.add_argument("--follow", action="store_true")

