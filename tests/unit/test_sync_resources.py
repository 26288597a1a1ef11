"""The sync's declared resources: which a full or an incremental sync runs, how they are read
(in order, a long listing beside the others), and the watermark they leave."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

from govcloud.cloud.inventory import WATERMARK_OVERLAP
from govcloud.services.sync import next_watermark, read_resources
from govcloud.services.sync_resources import RESOURCES, SiteRun, SyncedResource

AT = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)


def run(*, full: bool) -> SiteRun:
    return SiteRun(site="PROD", full=full, at=AT, since=None if full else AT, department_of={})


def nothing(conn: Any, run: SiteRun, value: Any) -> dict[str, int]:
    return {}


class Changes:
    def __init__(self, next_since: dt.datetime) -> None:
        self.next_since = next_since


def test_the_declarations_each_have_one_name_and_a_way_to_write_what_they_read() -> None:
    names = [r.name for r in RESOURCES]
    assert len(names) == len(set(names))
    assert names[0] == "services"  # first: its answer is the site's clock (the watermark)
    for r in RESOURCES:
        assert (r.changes is None) == (r.write_changes is None), r.name


def test_an_incremental_sync_runs_only_what_it_can_read_changes_of_or_reads_every_time() -> None:
    incremental = {r.name for r in RESOURCES if r.runs(full=False)}
    assert incremental == {"services", "servers", "hypervisors"}
    assert {r.name for r in RESOURCES if r.runs(full=True)} == {r.name for r in RESOURCES}


def test_reads_run_in_order_with_a_listing_beside_them_and_later_ones_see_earlier_reads(
        ) -> None:
    seen: list[str] = []
    beside_started = threading.Event()
    release = threading.Event()

    def slow(reader: Any, r: SiteRun) -> str:
        beside_started.set()
        assert release.wait(5)
        return "long listing"

    def after(reader: Any, r: SiteRun) -> str:
        assert beside_started.wait(5)  # the listing beside runs while this one does
        seen.append(r.read["first"])
        release.set()
        return "after"

    resources = [SyncedResource("first", read=lambda reader, r: "one", write=nothing),
                 SyncedResource("listing", read=slow, write=nothing, own_thread=True),
                 SyncedResource("after", read=after, write=nothing)]
    site = run(full=True)
    phases = read_resources(object(), site, resources)  # type: ignore[arg-type]
    assert site.read == {"first": "one", "listing": "long listing", "after": "after"}
    assert seen == ["one"] and set(phases) == {"first", "listing", "after"}


def test_an_incremental_read_asks_for_changes_and_a_failing_read_is_raised() -> None:
    resources = [SyncedResource("servers", read=lambda reader, r: "all", write=nothing,
                                changes=lambda reader, r: "changed", write_changes=nothing)]
    site = run(full=False)
    read_resources(object(), site, resources)  # type: ignore[arg-type]
    assert site.read == {"servers": "changed"}

    def fails(reader: Any, r: SiteRun) -> str:
        raise RuntimeError("page 2 failed")

    with pytest.raises(RuntimeError, match="page 2"):
        read_resources(object(), run(full=True),  # type: ignore[arg-type]
                       [SyncedResource("x", read=fails, write=nothing, own_thread=True)])


def test_the_watermark_is_the_sites_clock_on_a_full_sync_and_the_changes_on_an_incremental(
        ) -> None:
    began = AT + dt.timedelta(minutes=1)
    resources = [SyncedResource("servers", read=lambda reader, r: [], write=nothing,
                                changes=lambda reader, r: None, write_changes=nothing),
                 SyncedResource("hosts", read=lambda reader, r: [], write=nothing,
                                every_sync=True)]
    full = run(full=True)
    full.read.update(servers=[], hosts=[])
    assert next_watermark(full, resources, began) == began - WATERMARK_OVERLAP
    incremental = run(full=False)
    incremental.read.update(servers=Changes(AT + dt.timedelta(seconds=30)), hosts=[])
    assert next_watermark(incremental, resources, began) == AT + dt.timedelta(seconds=30)
