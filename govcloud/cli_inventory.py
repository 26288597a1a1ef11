"""Inventory commands, all clients of the control plane's API: ``sync``, ``capacity``,
``status`` and ``servers list``. Registered by ``govcloud.cli``; errors are reported there.
"""

from __future__ import annotations

import argparse
from typing import Any

from govcloud.api.models.inventory import (
    QuotaCommitment,
    Server,
    VolumeTotals,
    WhatIf,
)
from govcloud.cli_control import _client, _cmd, _group, _print_json, _table, echo
from govcloud.client import as_json
from govcloud.domain.text import printable


def _gib(mb: int) -> str:
    return f"{mb / 1024:,.0f}"


def _when(value: str | None) -> str:
    return value[:19].replace("T", " ") if value else "never"


def cmd_sync(args: argparse.Namespace) -> int:
    with _client(args) as api:
        report = api.sync(full=args.full, sites=args.site or None)
    if args.json:
        _print_json(as_json(report))
        return 0 if report.ok else 1
    rows: list[tuple[str, ...]] = [(r.site, "full" if r.full else "incremental",
             "ok" if r.ok else "STALE", f"{r.seconds:.2f}", f"{r.api_s:.2f}",
             f"{r.db_s:.2f}", str(r.servers), str(r.changed), str(r.deleted),
             r.error or "") for r in report.sites]
    echo(_table(rows, ("SITE", "KIND", "RESULT", "SECONDS", "API S", "DB S", "SERVERS",
                        "WRITTEN", "TOMBSTONED", "ERROR")))
    return 0 if report.ok else 1


# One vocabulary for capacity (docs/capacity.md), used by the console and the demo too: USED
# (ACTIVE servers hold it), ALLOC (Placement has allocated it), CAP (capacity after ratios and
# reserved), FREE (CAP − ALLOC per host), HEADROOM (FREE on hosts up and enabled), QUOTA/CAP
# (the departments' quotas summed, against CAP); RAM in GiB.
CAPACITY_COLUMNS = ("SITE", "ROLE", "HOSTS", "CORES", "VCPU USED", "VCPU ALLOC/CAP", "VCPU FREE",
                    "VCPU HEADROOM", "VCPU QUOTA/CAP", "RAM GIB USED", "RAM GIB ALLOC/CAP",
                    "RAM GIB FREE", "RAM GIB HEADROOM", "RAM GIB QUOTA/CAP",
                    "DISK GB ALLOC/CAP", "DATA AS OF")


def _committed(q: QuotaCommitment | None, resource: str) -> str:
    """``Σ quotas ratio`` of a site's quota commitment: ``1,120 146%`` (RAM in GiB)."""
    if not q:
        return "-"
    ratio = q.ratio.vcpu if resource == "vcpu" else q.ratio.ram
    committed = q.committed.vcpu if resource == "vcpu" else q.committed.ram_mb
    amount = f"{committed:,}" if resource == "vcpu" else _gib(committed)
    return f"{amount} {ratio:.0%}" if ratio is not None else f"{amount} -"


def cmd_capacity(args: argparse.Namespace) -> int:
    with _client(args) as api:
        answer = api.capacity(site=args.site, flavor=args.flavor,
                              what_if_lose=args.what_if_lose)
    if args.json:
        _print_json(as_json(answer))
        return 0
    rows: list[tuple[str, ...]] = []
    for s in answer.sites:
        v, r, d = s.vcpus, s.ram_mb, s.disk_gb
        rows.append((s.site, s.role, str(s.hypervisors), str(s.physical_cores),
                     f"{v.used:,}" if v.used is not None else "-",
                     f"{v.allocated:,}/{v.capacity:,}", f"{v.free:,}",
                     f"{v.headroom:,}", _committed(s.quota_commitment, "vcpu"),
                     _gib(r.used) if r.used is not None else "-",
                     f"{_gib(r.allocated)}/{_gib(r.capacity)}", _gib(r.free),
                     _gib(r.headroom), _committed(s.quota_commitment, "ram"),
                     f"{d.allocated:,}/{d.capacity:,}",
                     _when(s.data_as_of) + (" STALE" if s.stale else "")))
    echo(_table(rows, CAPACITY_COLUMNS))
    for fit in answer.flavor_fit or []:
        echo(f"{fit.site}: {fit.count:,} more {fit.flavor} fit "
              f"(on {fit.hosts_with_room} of {fit.hosts_considered} hosts; limited by "
              f"{fit.limited_by}; aggregate bound {fit.aggregate_count:,})")
    if answer.what_if is not None:
        _print_what_if(answer.what_if,
                       {s.site: (s.vcpus.free, s.ram_mb.free) for s in answer.sites})
    return 0


def _print_what_if(w: WhatIf, free_of: dict[str, tuple[int, int]]) -> None:
    """The verdict; a receiving site's room is its HEADROOM (free on hosts up and enabled),
    shown beside its FREE (which also counts hosts down or disabled): ``free_of`` maps a
    site to its free (vCPU, RAM MB)."""
    lost = w.lost_load
    echo(f"\nIf {w.lost_site} is lost ({lost.servers:,} servers, {lost.vcpu:,} vCPU): "
          + ("YES, the receiving sites have room" if w.fits else "NO, not enough room"))
    for r in w.receiving:
        short = r.shortfall
        missing = [text for amount, text in (
            (short.vcpu, f"{short.vcpu:,} vCPU"),
            (short.ram_mb, f"{_gib(short.ram_mb)} GiB RAM"),
            (short.disk_gb, f"{short.disk_gb:,} GB disk")) if amount > 0]
        verdict = "fits" if r.fits else "SHORT by " + ", ".join(missing)
        n = len(r.departments)
        room = r.free
        site_free = free_of.get(r.site)
        free = (f"; free {site_free[0]:,} vCPU, {_gib(site_free[1])} GiB"
                if site_free else "")
        echo(f"  {r.site}: takes {n} department{'' if n == 1 else 's'} "
              f"({r.incoming.vcpu:,} vCPU, {_gib(r.incoming.ram_mb)} GiB RAM) "
              f"into headroom {room.vcpu:,} vCPU, {_gib(room.ram_mb)} GiB{free} — "
              f"{verdict}")
    if w.not_protected:
        echo("  not protected (restored later): "
              + ", ".join(s.department for s in w.not_protected))
    if w.copies_lost:
        echo("  DR copies lost: " + ", ".join(s.department for s in w.copies_lost))
    if w.stale_sites:
        echo("  warning: stale data for " + ", ".join(w.stale_sites))


def _volumes(volumes: VolumeTotals | None) -> str:
    return f"{volumes.count:,} ({volumes.gb:,})" if volumes else "-"


def cmd_status(args: argparse.Namespace) -> int:
    from govcloud.cli_replicas import control_plane_json, print_control_plane, read_control_plane

    with _client(args) as api:
        answer = api.status()
        plane = read_control_plane(api)
    if args.json:  # the /status answer, and the control plane's (docs/high-availability.md)
        _print_json({**as_json(answer), "control_plane": control_plane_json(api, plane)})
        return 0
    rows: list[tuple[str, ...]] = []
    for s in answer.sites:
        vcpu, hv = s.vcpus, s.hypervisors
        rows.append((s.site, s.role, s.health, _when(s.data_as_of),
                     f"{s.duration_s:.1f}" if s.duration_s is not None else "-",
                     f"{s.servers.total:,}",
                     f"{hv.up}/{hv.total}" if hv else "-",
                     f"{vcpu.allocated:,}/{vcpu.capacity:,}" if vcpu else "-",
                     _volumes(s.volumes), s.probes if s.probes is not None else "-"))
    echo(_table(rows, ("SITE", "ROLE", "HEALTH", "DATA AS OF", "SYNC S", "SERVERS",
                        "HOSTS UP", "VCPU ALLOC/CAP", "VOLUMES (GB)", "APIS")))
    echo(f"\n{answer.totals.servers:,} servers in scope ({answer.scope})")
    for alert in answer.alerts:
        echo(f"{printable(alert.severity).upper()}: {printable(alert.message)}")
    if not answer.alerts:
        echo("no alerts")
    print_control_plane(api, plane)
    return 0


def cmd_servers_list(args: argparse.Namespace) -> int:
    servers: list[Server] = []
    cursor = None
    with _client(args) as api:
        while True:
            page = api.servers(department=args.department, site=args.site,
                               status=args.status, limit=min(1000, args.limit - len(servers)),
                               cursor=cursor)
            servers += page.servers
            cursor = page.next_cursor
            if cursor is None or len(servers) >= args.limit:
                break
    if args.json:
        _print_json({"servers": [as_json(s) for s in servers], "next_cursor": cursor,
                     "data_as_of": page.data_as_of})
        return 0
    echo(_table([(s.site, s.id, s.name or "", s.department or "-", s.status or "",
                   s.flavor or "-", s.host or "-") for s in servers],
                 ("SITE", "ID", "NAME", "DEPARTMENT", "STATUS", "FLAVOR", "HOST")))
    more = " (more: raise --limit)" if cursor else ""
    echo(f"{len(servers):,} servers{more}; data as of "
          + ", ".join(f"{k} {_when(v)}" for k, v in page.data_as_of.items()))
    return 0


def register(commands: Any) -> None:
    p = _cmd(commands, "sync", cmd_sync, "sync the inventory of every site now (operator); "
             "exits 1 when a site failed and is stale")
    p.add_argument("--full", action="store_true",
                   help="full reconcile (tombstones servers that vanished)")
    p.add_argument("--site", action="append", help="only this site (repeatable)")

    p = _cmd(commands, "capacity", cmd_capacity, "capacity per site from the last sync")
    p.add_argument("--site", help="only this site")
    p.add_argument("--flavor", help="how many more servers of this flavor fit, host by host")
    p.add_argument("--what-if-lose", metavar="SITE",
                   help="if SITE is lost: whose load moves where, and does it fit")

    _cmd(commands, "status", cmd_status, "one screenful: sites, health, freshness, totals, "
         "alerts; the control plane's replicas, worker leases and database role")

    sub = _group(commands, "servers", "servers in every site (from the last sync)")
    p = _cmd(sub, "list", cmd_servers_list, "list servers you may see")
    p.add_argument("--department")
    p.add_argument("--site")
    p.add_argument("--status", help="e.g. ACTIVE, SHUTOFF, ERROR")
    p.add_argument("--limit", type=int, default=1000, help="at most this many (default 1000)")
