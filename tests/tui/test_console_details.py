"""The console's drill-ins and confirmations against a real control plane (issue 17): Enter
on a request or an audit entry opens it in full, and `a` shows what approving will reserve
in each site and approves nothing until it is confirmed."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from textual.containers import VerticalScroll

from tests.integration.control.conftest import Plane
from tui.screens import ConfirmScreen
from tui.views.audit import AuditEntryScreen, AuditView
from tui.views.requests import RequestScreen, RequestsView

from .conftest import console, loaded, settled, wait_for
from .pilot import SIZE, open_view

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

# longer than any list column: the detail screens must show it whole
JUSTIFICATION = "capacity for the provincial tax filing season " + " ".join(
    f"word{i:03d}" for i in range(60)) + " END-OF-JUSTIFICATION"


def body(system: str, **extra: Any) -> dict[str, Any]:
    spec = {"department": "gd-psd", "system": system, "justification": JUSTIFICATION,
            "servers": [{"name_prefix": "web", "flavor": "gc.c1m2", "count": 2,
                         "image": "cirros-0.6.2-x86_64-disk",
                         "network": {"PROD": "prod-net", "DR-LOCAL": "dr-local-net",
                                     "DR-REMOTE": "dr-remote-net"}},
                        {"name_prefix": "db", "flavor": "gc.c2m4", "count": 1,
                         "image": "cirros-0.6.2-x86_64-disk",
                         "network": {"PROD": "prod-net", "DR-LOCAL": "dr-local-net",
                                     "DR-REMOTE": "dr-remote-net"}}]}
    spec.update(extra)
    return spec


def text_of(screen: Any, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def requests_view(pilot: Any, rid: int) -> RequestsView:
    await loaded(pilot, "overview")
    await open_view(pilot, "requests")
    view = await loaded(pilot, "requests")
    assert isinstance(view, RequestsView)
    await wait_for(pilot, lambda: str(rid) in view.table.keys, what="the request listed")
    while view.table.cursor_key != str(rid):
        await pilot.press("down")
    return view


async def test_enter_on_a_request_opens_it_in_full(ready: Plane) -> None:
    _, operator = ready.principal("operator")
    rid = operator.post("/requests", body("detail-one"))["id"]
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        view = await requests_view(pilot, rid)
        await pilot.press("enter")
        screen = await loaded(pilot, "request")
        assert isinstance(screen, RequestScreen) and screen.request_id == str(rid)
        text = text_of(screen, "#request-detail")
        assert f"#{rid} detail-one" in text
        assert JUSTIFICATION in text.replace("\n", " ").replace("  ", " ") or \
            "END-OF-JUSTIFICATION" in text
        assert "2 × gc.c1m2" in text and "1 × gc.c2m4" in text
        for site, kind in (("PROD", "primary"), ("DR-LOCAL", "standby"),
                           ("DR-REMOTE", "cold")):
            assert any(site in line and kind in line for line in text.splitlines()), site
        assert "submitted" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is view, what="back to the list")


async def test_enter_on_an_audit_row_shows_the_whole_change(ready: Plane) -> None:
    _, operator = ready.principal("operator")
    rid = operator.post("/requests", body("detail-audit"))["id"]
    entry = next(e for e in ready.admin.get("/audit", newest_first=True, limit=50)["entries"]
                 if e["action"] == "request.submit" and e["after"]["request"] == rid)
    app = console(ready)
    async with app.run_test(size=(120, 24)) as pilot:
        await loaded(pilot, "overview")
        await open_view(pilot, "audit")
        view = await loaded(pilot, "audit")
        assert isinstance(view, AuditView)
        key = str(entry["seq"])
        await wait_for(pilot, lambda: key in view.table.keys, what="the entry listed")
        # the list's CHANGE column (40 cells) cannot hold it
        assert len(json.dumps(entry["after"], ensure_ascii=False)) > 40
        while view.table.cursor_key != key:
            await pilot.press("down")
        await pilot.press("enter")
        screen = await loaded(pilot, "audit-entry")
        assert isinstance(screen, AuditEntryScreen)
        text = text_of(screen, "#audit-entry")
        whole = json.dumps(entry["after"], ensure_ascii=False, sort_keys=True, indent=2)
        for line in whole.splitlines():  # the whole change, not cut
            assert line in text, line
        assert entry["hash"] in text and entry["actor"] in text
        scroll = screen.query_one("#audit-entry-scroll", VerticalScroll)
        assert scroll.max_scroll_y > 0  # longer than the screen: it scrolls
        await pilot.press("end")
        await wait_for(pilot, lambda: scroll.scroll_y > 0, what="scrolled down")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is view, what="back to the list")


async def test_approve_asks_first_with_the_reservation_per_site(ready: Plane) -> None:
    _, operator = ready.principal("operator")
    rid = operator.post("/requests", body("detail-approve"))["id"]
    sizes = ready.admin.get("/capacity", fit=["gc.c1m2", "gc.c2m4"])["flavor_fits"]
    one = {f: sizes[f][0]["request"] for f in sizes}
    vcpu = 2 * one["gc.c1m2"]["vcpu"] + one["gc.c2m4"]["vcpu"]
    ram_gib = (2 * one["gc.c1m2"]["ram_mb"] + one["gc.c2m4"]["ram_mb"]) / 1024
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        view = await requests_view(pilot, rid)
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen),
                       what="the confirmation")
        text = text_of(app.screen, "#confirm-body")
        for site in ("PROD", "DR-LOCAL", "DR-REMOTE"):
            line = next(x for x in text.splitlines() if x.strip().startswith(site))
            assert f"{vcpu} vCPU" in line and f"{ram_gib:,.0f} GiB RAM" in line, line
            assert "3 servers" in line, line
        assert "2 × gc.c1m2" in text and "1 × gc.c2m4" in text
        # nothing is approved while the dialog is open
        await settled(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert ready.admin.get(f"/requests/{rid}")["state"] == "submitted"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is view, what="the dialog closed")
        assert "nothing was reserved" in text_of(view, "#status-line")
        await settled(pilot)
        assert ready.admin.get(f"/requests/{rid}")["state"] == "submitted"
        # asked again and confirmed: approved
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen),
                       what="the confirmation again")
        await pilot.press("y")
        await wait_for(pilot, lambda: view.table.cells(str(rid))[4] == "approved",
                       what="the approval")
    assert ready.admin.get(f"/requests/{rid}")["state"] == "approved"


async def test_what_if_counts_are_counts_of_its_rows(ready: Plane) -> None:
    """Losing DR-LOCAL moves nothing; the departments whose copies lived there are the
    list's rows, as many as the verdict says."""
    w = ready.admin.get("/capacity", what_if_lose="DR-LOCAL")["what_if"]
    assert w["copies_lost"] and not w["moves"]  # the seed has standbys in DR-LOCAL
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, "overview")
        await wait_for(pilot, lambda: len(app.site_status) == 3, what="site status")
        await open_view(pilot, "whatif")
        view = await loaded(pilot, "whatif")
        await pilot.press("2")  # DR-LOCAL in view: it is the site lost
        await wait_for(pilot, lambda: "DR-LOCAL" in text_of(view, "#whatif-verdict"),
                       what="the DR-LOCAL verdict")
        verdict = text_of(view, "#whatif-verdict")
        said = int(re.search(r"DR copies lost: (\d+) departments", verdict).group(1))
        table = view.table
        copies = [k for k in table.keys if table.cells(k)[2] == "DR copy lost"]
        assert said == len(copies) == len(w["copies_lost"])
        assert table.total == len(w["moves"]) + len(w["not_protected"]) + len(
            w["copies_lost"])
        assert {table.cells(k)[0].rsplit("(", 1)[1].rstrip(")") for k in copies} == {
            c["department"] for c in w["copies_lost"]}
        # Enter opens the department of the row
        code = table.cursor_key.split("/", 1)[1]
        await pilot.press("enter")
        department = await loaded(pilot, "department")
        assert department.code == code
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is view, what="back to the what-if")
        # the receiving sites' headroom is shown beside their free figures (losing PROD)
        await pilot.press("1")
        await wait_for(pilot, lambda: "PROD" in text_of(view, "#whatif-verdict")
                       and "headroom" in text_of(view, "#whatif-verdict"), what="PROD")
        prod = ready.admin.get("/capacity", what_if_lose="PROD")
        local = next(s for s in prod["sites"] if s["site"] == "DR-LOCAL")
        line = next(x for x in text_of(view, "#whatif-verdict").splitlines()
                    if x.strip().startswith("DR-LOCAL"))
        assert f"headroom {local['vcpus']['headroom']:,} /" in line
        assert f"(free {local['vcpus']['free']:,} /" in line


CJK = re.compile(r"[\u4e00-\u9fff]")
# words that stay as they are in Chinese: units, codes, key names
TECHNICAL = {"ID", "vCPU", "GiB", "GB", "%", "Esc", "Enter", "ctrl+r"}


def _untranslated(texts: list[str]) -> list[str]:
    return [t for t in texts if t.strip() and not CJK.search(t) and t.strip() not in TECHNICAL]


async def test_the_chinese_console_translates_every_view_and_key(ready: Plane) -> None:
    from textual.widgets._footer import FooterKey

    _, operator = ready.principal("operator")
    operator.post("/requests", body("detail-zh"))
    app = console(ready, lang="zh")
    async with app.run_test(size=SIZE) as pilot:
        overview = await loaded(pilot, "overview")
        await wait_for(pilot, lambda: "PROD" in text_of(overview, "#verdict"), what="verdict")
        verdict = text_of(overview, "#verdict")
        assert "若 PROD 失效" in verdict and "接管" in verdict and ":whatif" in verdict
        for english in ("If ", " takes ", "departments", "fits", "for the details"):
            assert english not in verdict, english
        assert CJK.search(text_of(overview, "#status-line"))
        for view_name in ("requests", "migrations", "alerts", "whatif"):
            await open_view(pilot, view_name)
            view = await loaded(pilot, view_name)
            assert CJK.search(view.view_title()), view.view_title()  # the header's title
            headers = [c.label for c in view.table.columns]
            assert not _untranslated(headers), (view_name, headers)
            assert view.table._header_text().count("…") == 0, view.table._header_text()
            keys = [k.description for k in view.query(FooterKey)]
            assert keys and not _untranslated(keys), (view_name, keys)
            # Enter ("详情", drill in) is offered only where it opens something
            assert ("详情" in keys) == (view_name in ("requests", "whatif")), (view_name, keys)
            placeholder = view.query_one("#filter").placeholder
            assert CJK.search(placeholder), placeholder
        # the drill-ins: a department, and one of its servers
        await open_view(pilot, "departments")
        departments = await loaded(pilot, "departments")
        while departments.table.cursor_key != "gd-psd":
            await pilot.press("down")
        await pilot.press("enter")
        department = await loaded(pilot, "department")
        await wait_for(pilot, lambda: department.table.row_count > 0, what="its servers")
        detail = text_of(department, "#department-detail")
        assert "项目" in detail and "云主机" in detail and "project " not in detail, detail
        await pilot.press("enter")
        server = await loaded(pilot, "server")
        fields = [line[:16].strip() for line in text_of(server, "#server-detail").splitlines()
                  if line.strip()]
        assert fields and not _untranslated(fields), fields


async def test_console_shows_headroom_and_quota_commitments(ready: Plane) -> None:
    """The overview's site cards and the sites view say, in `govcloud capacity`'s words,
    each site's headroom and its departments' quotas against its capacity."""
    sites = {s["site"]: s for s in ready.admin.get("/capacity")["sites"]}
    app = console(ready)
    async with app.run_test(size=SIZE) as pilot:
        overview = await loaded(pilot, "overview")
        for name, s in sites.items():
            await wait_for(pilot, lambda name=name: "quotas" in text_of(
                overview, f"#card-{name}"), what=f"{name}'s card")
            card = text_of(overview, f"#card-{name}")
            q = s["quota_commitment"]
            assert f"quotas: {q['ratio']['vcpu']:.0%} vCPU · {q['ratio']['ram']:.0%} RAM" \
                in card, card
            assert f"headroom: {s['vcpus']['headroom']:,} vCPU" in card, card
        await open_view(pilot, "sites")
        view = await loaded(pilot, "sites")
        panel = text_of(view, "#site-capacity")
        prod = sites["PROD"]
        q = prod["quota_commitment"]
        assert (f"quotas {q['committed']['vcpu']:,} = {q['ratio']['vcpu']:.0%} of capacity"
                in panel), panel
        v = prod["vcpus"]
        assert f"alloc {v['allocated']:,}/{v['capacity']:,}" in panel
        assert f"free {v['free']:,} · headroom {v['headroom']:,}" in panel
        assert "GiB ALLOC/CAP" in view.table._header_text()
