"""Snapshots of the console's main views (pytest-textual-snapshot, pinned with Textual in
pyproject.toml) on fixed demo data: the small simulator with seed 42, synced through a real
control plane, the console's clock fixed. Two things of the live run are normalised before
the picture is taken: the server URL (a free port) and the sync times in the header.

Update after an intended change with ``pytest tests/tui/test_console_snapshots.py
--snapshot-update``, look at the SVGs, and copy the ones docs/console.md shows to docs/img/.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.control.conftest import Plane

from .snapshots import SIZE, before, fixed_console

pytestmark = pytest.mark.slow


def test_overview(ready: Plane, snap_compare: Any) -> None:
    assert snap_compare(fixed_console(ready), terminal_size=SIZE, run_before=before("overview"))


def test_overview_in_chinese(ready: Plane, snap_compare: Any) -> None:
    assert snap_compare(fixed_console(ready, lang="zh"), terminal_size=SIZE,
                        run_before=before("overview"))


def test_departments_chinese_and_english_names(ready: Plane, snap_compare: Any) -> None:
    assert snap_compare(fixed_console(ready), terminal_size=SIZE,
                        run_before=before("departments"))


def test_servers_filtered(ready: Plane, snap_compare: Any) -> None:
    assert snap_compare(fixed_console(ready), terminal_size=SIZE,
                        run_before=before("servers", "slash", *"gd-psd", "enter"))


def test_sites_prod_in_view(ready: Plane, snap_compare: Any) -> None:
    assert snap_compare(fixed_console(ready), terminal_size=SIZE,
                        run_before=before("sites", "1"))


def test_what_if_lose_prod(ready: Plane, snap_compare: Any) -> None:
    assert snap_compare(fixed_console(ready), terminal_size=SIZE,
                        run_before=before("whatif"))
