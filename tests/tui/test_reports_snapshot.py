"""A snapshot of the console's `:reports` view (pytest-textual-snapshot) on fixed data: the
small simulator with seed 42 synced through a real control plane, November 2026's usage
seeded and priced with the example sheet (tests/unit/services/statements_seed.py), the
server's clock just after November and the console's fixed (on 28 November: `[`/`]` moves
from its default, October, to November). A plane of its own: the seeded usage and sheet
would change the other snapshots.

Update after an intended change with ``pytest tests/tui/test_reports_snapshot.py
--snapshot-update``, look at the SVG, and copy it to docs/img/console-reports_month.svg.
"""

from __future__ import annotations

from typing import Any

import pytest

from govcloud.store.tables import utcnow
from tests.integration.control.conftest import Plane
from tests.unit.services.statements_seed import AFTER, seed

from .snapshots import SIZE, before, fixed_console

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seeded(ready: Plane) -> Plane:
    ready.clock.offset = AFTER - utcnow()
    seed(ready.engine)
    return ready


def test_reports_month(seeded: Plane, snap_compare: Any) -> None:
    assert snap_compare(fixed_console(seeded), terminal_size=SIZE,
                        run_before=before("reports", "right_square_bracket"))
