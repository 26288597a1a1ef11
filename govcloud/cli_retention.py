"""``govcloud admin compact``: compact the database as the retention policy says, with direct
database access (the server's compaction worker does the same every ``compact_interval_s``);
``--dry-run`` counts what would go without deleting anything."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from govcloud.cli_control import _keyed, _print_json, _settings, echo

LABELS = {"provision_event": "request progress events",
          "migration_event": "migration events",
          "host_drain_event": "host drain events",
          "notification": "sent and dead notifications",
          "capacity_sample_thinned": "capacity samples thinned to one an hour",
          "capacity_sample": "hourly capacity samples past their time",
          "server_tombstone": "rows of servers deleted long ago",
          "alert_episode": "alert episodes that ended long ago"}


def cmd_admin_compact(args: argparse.Namespace) -> int:
    from govcloud.services.retention import compact
    from govcloud.store.engine import make_engine
    from govcloud.store.migrate import upgrade_engine
    from govcloud.store.tables import utcnow

    settings = _settings(args)
    engine = make_engine(settings.database_url)
    try:
        upgrade_engine(engine)
        keyed = engine if args.dry_run else _keyed(args, engine)
        report = compact(keyed, policy=settings.retention_policy(), now=utcnow(),
                         dry_run=args.dry_run, actor="admin-compact")
    finally:
        engine.dispose()
    answer = report.to_dict()
    if args.json:
        _print_json(answer)
        return 0
    verb = "would remove" if args.dry_run else "removed"
    echo(f"compaction {verb} {report.total} rows in {report.seconds:.2f} s"
         + (" (dry run: nothing was deleted)" if args.dry_run else ""))
    for key, label in LABELS.items():
        echo(f"  {report.removed.get(key, 0):>9}  {label}")
    echo(f"  audit log: {answer['audit']}")
    return 0


def register(sub: Any, cmd: Callable[..., argparse.ArgumentParser]) -> None:
    """Add ``compact`` to the ``admin`` group (``cmd``: cli_control's ``_cmd``)."""
    p = cmd(sub, "compact", cmd_admin_compact,
            "delete the history the retention policy no longer keeps (events, delivered "
            "notifications, old capacity samples and tombstones; never the audit log)",
            client=False)
    p.add_argument("--database-url", help="default: the database_url setting")
    p.add_argument("--dry-run", action="store_true",
                   help="count what would be removed; delete nothing")
