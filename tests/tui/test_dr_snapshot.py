"""A snapshot of the console's `:dr` view (pytest-textual-snapshot) on fixed data: the small
simulator with seed 42 synced through a real control plane, four systems' DR records seeded
(one compliant, one missing a copy, one whose cold copy runs, one whose request no longer
reads), the server's clock at the seeds' NOW and the console's fixed. A plane of its own: the
seeded servers would change the other snapshots' counts.

Update after an intended change with ``pytest tests/tui/test_dr_snapshot.py
--snapshot-update``, look at the SVG, and copy it to docs/img/console-dr_posture.svg.
"""

from __future__ import annotations

from typing import Any

import pytest

from govcloud.store.engine import write_begin
from govcloud.store.tables import utcnow
from tests.integration.control.conftest import Plane
from tests.unit.services.dr_seed import NOW, protected, request

from .snapshots import SIZE, before, fixed_console

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seeded(ready: Plane) -> Plane:
    ready.clock.offset = NOW - utcnow()
    with write_begin(ready.engine) as conn:
        protected(conn, "gd-psd", "case")
        protected(conn, "gd-tax", "ledger", skip=("DR-REMOTE", "ledger-vm-2"))
        protected(conn, "guangzhou", "portal", statuses={"DR-REMOTE": "ACTIVE"})
        protected(conn, "shenzhen", "web", level=4, drilled=None)
        request(conn, "gd-data", "archive", servers=1, state="provisioning")
    return ready


def test_dr_posture(seeded: Plane, snap_compare: Any) -> None:
    assert snap_compare(fixed_console(seeded), terminal_size=SIZE, run_before=before("dr"))
