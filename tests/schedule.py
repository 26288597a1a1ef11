"""The order the suite's test files are handed out in under ``make test`` (``-n 3 --dist
loadfile --no-loadscope-reorder``): the files known to be long first, longest first, then the
others by their number of tests, most first (xdist's own order). The workers take the next
file as each finishes one; when a long file came last (xdist orders by number of tests, and a
three-test file of crash tests may take minutes), one worker ran it alone while the other
sat idle. Longest first, the short files fill in at the end and the workers finish together.

``SECONDS`` is each long file's time in one ``make test`` run (2026-12-07, ``--durations=0
--durations-min=1.0``: its tests' setup, call and teardown of a second or more, summed; a
loaded 2-core machine, so the figures are relative; the files of 50 s or more). Refresh it from
such a run when a file gets much longer or shorter; ``tests/test_schedule.py`` checks that
every file named here exists. The order changes nothing a test proves: pytest-randomly still
shuffles the tests inside each file, and the files are independent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest

SECONDS: dict[str, int] = {
    "tests/integration/control/test_scoped_migration.py": 1070,
    "tests/integration/control/test_api_fuzz.py": 470,
    "tests/integration/dr/test_drill.py": 290,
    "tests/integration/test_no_orphans.py": 280,
    "tests/integration/control/test_lifecycle_crash.py": 270,
    "tests/integration/migrate/test_wave_faults.py": 250,
    "tests/unit/services/test_migration_run.py": 240,
    "tests/integration/control/test_api_limits.py": 200,
    "tests/integration/dr/test_failover.py": 190,
    "tests/integration/test_audit_store.py": 170,
    "tests/integration/dr/test_drill_crash.py": 160,
    "tests/integration/migrate/test_demo_migration.py": 160,
    "tests/integration/control/test_lifecycle_change.py": 140,
    "tests/integration/test_soak.py": 130,
    "tests/integration/control/test_provisioning.py": 130,
    "tests/integration/test_store.py": 130,
    "tests/integration/control/test_host_drain.py": 130,
    "tests/sim/test_openstack_cli.py": 120,
    "tests/integration/dr/test_reprotect_cycles.py": 120,
    "tests/integration/migrate/test_wave_crash.py": 120,
    "tests/integration/dr/test_protect_crash.py": 120,
    "tests/integration/dr/test_drill_after_failback.py": 110,
    "tests/integration/control/test_provision_crash.py": 100,
    "tests/unit/services/test_provisioning_requests.py": 100,
    "tests/integration/dr/test_failover_crash.py": 88,
    "tests/unit/services/test_metrics.py": 85,
    "tests/integration/control/test_lifecycle_resize.py": 84,
    "tests/integration/migrate/test_cloud_target.py": 83,
    "tests/integration/dr/test_failover_restore.py": 82,
    "tests/integration/control/test_worker_process.py": 80,
    "tests/integration/migrate/test_wave_run.py": 78,
    "tests/integration/dr/test_protect_cycles.py": 77,
    "tests/integration/dr/test_protect_host_keys.py": 75,
    "tests/unit/services/test_dr_posture.py": 70,
    "tests/integration/control/test_processes.py": 69,
    "tests/integration/migrate/test_rollback_changes.py": 68,
    "tests/integration/dr/test_protect_volumes.py": 66,
    "tests/integration/control/test_dr_posture_api.py": 64,
    "tests/integration/control/test_host_drain_crash.py": 64,
    "tests/integration/test_principals_store.py": 62,
    "tests/unit/store/test_protection_repo.py": 62,
    "tests/tui/test_console_pilot.py": 57,
    "tests/integration/test_reservations_across_processes.py": 57,
    "tests/integration/test_audit_anchor.py": 56,
    "tests/unit/reports/test_pdf.py": 55,
    "tests/integration/control/test_provision_rerun.py": 55,
    "tests/integration/control/test_inventory_api.py": 55,
    "tests/sim/test_block_storage_conformance.py": 55,
    "tests/integration/dr/test_drill_backup.py": 52,
    "tests/integration/dr/test_failover_site.py": 52,
}


def file_of(item: pytest.Item) -> str:
    """The test file of ``item``, as its node id spells it (``tests/unit/test_x.py``)."""
    return item.nodeid.split("::", 1)[0]


def longest_files_first(items: list[pytest.Item],
                        seconds: dict[str, int] | None = None) -> None:
    """Order ``items`` (in place) by file: the known-long files first, longest first, then the
    rest by number of tests, most first. A stable sort: inside a file the order stays."""
    known = SECONDS if seconds is None else seconds
    count = Counter(file_of(item) for item in items)
    items.sort(key=lambda item: (-known.get(file_of(item), 0), -count[file_of(item)]))


def files_in_order(items: Sequence[pytest.Item]) -> list[str]:
    """The files of ``items`` in the order they come (each once)."""
    return list(dict.fromkeys(file_of(item) for item in items))
