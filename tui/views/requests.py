"""Requests: provisioning requests the principal may see, with live status (refreshed every
2 s); Enter opens one in full (``RequestScreen``: its servers, target sites, placement and
events). A bureau-admin approves (`a`: a dialog first shows what it will reserve in each site,
and nothing is approved until it is confirmed) or rejects (`x`, with a reason) the one under
the cursor. The keys are hidden from roles that may not decide; the server refuses them anyway
(and refuses a requester deciding on their own request)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Input, Static

from govcloud.api.models import FlavorFit, ProvisionRequest, RequestDetail, Resources
from govcloud.client import ApiClient, api_path
from govcloud.domain.text import printable
from govcloud.errors import GovCloudError
from tui.format import count, gib, stamp
from tui.i18n import label
from tui.registry import ViewSpec, register_view
from tui.screens import ConfirmScreen
from tui.views.base import DataView, ListView
from tui.views.common import department_label
from tui.widgets.table import Column

log = logging.getLogger(__name__)

LIMIT = 500
DECIDE = "request.approve"
STATE_STYLE = {"failed": "bold red", "rejected": "red", "submitted": "yellow",
               "approved": "cyan", "provisioning": "bold cyan", "done": "green",
               "cancelled": "dim"}


class Decided(Message):
    """An approve or reject call came back (``error`` None when it worked)."""

    def __init__(self, text: str, error: GovCloudError | None) -> None:
        super().__init__()
        self.text = text
        self.error = error


class Previewed(Message):
    """What approving the request ``key`` would reserve has been read (or why it could not)."""

    def __init__(self, key: str, request: RequestDetail | None,
                 sizes: dict[str, dict[str, FlavorFit]], error: GovCloudError | None) -> None:
        super().__init__()
        self.key = key
        self.request = request
        self.sizes = sizes
        self.error = error


class RequestsView(ListView):
    VIEW_NAME = "requests"
    REFRESH_S = 2.0
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "approve"),
        Binding("x", "reject", "reject"),
    ]

    def columns(self) -> Sequence[Column]:
        lang = self.session.lang
        return [Column("id", "ID", 6, right=True),
                Column("dept", label("dept", lang), 12),
                Column("system", label("system", lang), 18),
                Column("dr", label("dr", lang), 3, right=True),
                Column("state", label("request_state", lang), 13),
                Column("requester", label("requester", lang), 16),
                Column("approver", label("approver", lang), 24),
                Column("submitted", label("submitted", lang), 16),
                Column("note", label("error_reason", lang), 50)]

    def default_sort(self) -> tuple[int | None, bool]:
        return 0, True  # newest first

    def row_style(self, cells: tuple[str, ...]) -> str | None:
        return STATE_STYLE.get(cells[4])

    def fetch(self, api: ApiClient) -> Any:
        return api.requests(limit=LIMIT).requests

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        out: list[tuple[str, Sequence[str], Sequence[Any]]] = []
        requests: list[ProvisionRequest] = data
        for r in requests:
            cells = (str(r.id), r.department, r.system, str(r.dr_level), r.state,
                     r.requester, r.approver or "", stamp(r.created_at),
                     r.error or r.reason or "")
            out.append((str(r.id), cells, (r.id, *cells[1:])))
        return out

    def drill(self, key: str) -> None:
        self.app.push_screen(RequestScreen(key))

    def compose_body(self) -> ComposeResult:
        yield from super().compose_body()
        yield Input(placeholder=label("reason_prompt", self.session.lang), id="reason")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#reason", Input).display = False

    def site_changed(self) -> None:
        """Requests span sites; the site keys do not filter them."""

    # --- deciding -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("approve", "reject"):
            return bool(self.session.may(DECIDE))
        return True

    def _selected_submitted(self) -> str | None:
        key = self.table.cursor_key
        if key is None:
            self.set_status("no request selected", "error")
            return None
        state = self.table.cells(key)[4]
        if state != "submitted":
            self.set_status(f"request {key} is {state}: only submitted requests are decided",
                            "error")
            return None
        return key

    def action_approve(self) -> None:
        """Read what approving would reserve, then ask (``_previewed``): nothing is sent to
        the approve endpoint before the dialog is confirmed."""
        key = self._selected_submitted()
        if key is not None:
            self.set_status(f"reading what request {key} will reserve…", "dim")
            self._preview(key)

    @work(thread=True, exclusive=True, exit_on_error=False, group="request-preview",
          description="read what approving a request would reserve")
    def _preview(self, key: str) -> None:
        api = self.session.api
        try:
            request = api.get_as(RequestDetail, api_path("requests", key))
        except GovCloudError as exc:
            self.post_message(Previewed(key, None, {}, exc))
            return
        # the spec is the request as submitted: an open mapping (docs/provisioning.md)
        flavors = sorted({g["flavor"] for g in request.spec["servers"]})
        sizes: dict[str, dict[str, FlavorFit]] = {}
        try:  # the flavors' sizes and how many more fit (capacity.view: the bureau has it)
            fits = api.capacity(fit=flavors).flavor_fits or {}
            sizes = {f: {e.site: e for e in entries} for f, entries in fits.items()}
        except GovCloudError as exc:  # the dialog then says the sizes are unknown
            log.info("flavor sizes unavailable for request %s: %s", key, exc.message)
        self.post_message(Previewed(key, request, sizes, None))

    @on(Previewed)
    def _previewed(self, message: Previewed) -> None:
        key = message.key
        if message.error is not None or message.request is None:
            err = message.error
            self.set_status(f"✖ request {key}: {err.message if err else 'not readable'}",
                            "error")
            return
        if message.request.state != "submitted":
            self.set_status(f"request {key} is {message.request.state}: only submitted "
                            "requests are decided", "error")
            self.reload()
            return
        lang = self.session.lang
        body = reservation_text(self.app, message.request,
                                reservation(message.request, message.sizes), lang)
        self.set_status(label("confirm_waiting", lang), "dim")

        def decided(ok: bool | None) -> None:
            if ok:
                self.set_status(f"approving request {key}…", "dim")
                self._decide(key, "approve", None)
            else:
                self.set_status(label("approve_cancelled", lang).format(request=key))

        self.app.push_screen(
            ConfirmScreen(label("approve_title", lang).format(request=key), body,
                          yes=label("approve_yes", lang), no=label("approve_no", lang)),
            callback=decided)

    def action_reject(self) -> None:
        key = self._selected_submitted()
        if key is not None:
            box = self.query_one("#reason", Input)
            box.display = True
            box.value = ""
            box.focus()

    @on(Input.Submitted, "#reason")
    def _reason_given(self, event: Input.Submitted) -> None:
        box = self.query_one("#reason", Input)
        box.display = False
        self.table.focus()
        key = self.table.cursor_key
        if key is not None and event.value.strip():
            self.set_status(f"rejecting request {key}…", "dim")
            self._decide(key, "reject", {"reason": event.value.strip()})

    def action_back(self) -> None:
        box = self.query_one("#reason", Input)
        if box.display:
            box.display = False
            self.table.focus()
            return
        super().action_back()

    @work(thread=True, exclusive=False, exit_on_error=False, group="request-decide",
          description="approve or reject a request")
    def _decide(self, key: str, verb: str, body: Any) -> None:
        try:
            answer = self.session.api.post_as(ProvisionRequest, api_path("requests", key, verb),
                                              body)
        except GovCloudError as exc:
            self.post_message(Decided(f"request {key}", exc))
            return
        self.post_message(Decided(f"request {key}: {answer.state}", None))

    @on(Decided)
    def _decided(self, message: Decided) -> None:
        if message.error is not None:
            err = message.error
            self.set_status(f"✖ {message.text}: {err.message}"
                            + (f"\n  hint: {err.hint}" if err.hint else ""), "error")
        else:
            self.set_status(f"✔ {message.text}")
        self.reload()


@dataclass(frozen=True, slots=True)
class SiteReservation:
    """What approving a request reserves in one target site: per server group ``(flavor,
    count, one server's size or None when unknown)``, the totals (None when a size is
    unknown) and how many more of each flavor fit there now."""

    site: str
    kind: str
    groups: tuple[tuple[str, int, Resources | None], ...]
    vcpu: int | None
    ram_mb: int | None
    disk_gb: int | None
    instances: int
    fits_now: dict[str, int]


def reservation(request: ProvisionRequest, sizes: dict[str, dict[str, FlavorFit]]
                ) -> list[SiteReservation]:
    """Per target site, what approving ``request`` reserves: every copy of the system takes
    every server group, as the control plane's placement counts it (``demand_of``). ``sizes``
    is ``flavor → site → flavor fit`` as ``GET /capacity?fit=`` answers it."""
    out = []
    # the spec and the placement are open mappings (docs/provisioning.md)
    groups = request.spec["servers"]
    for target in (request.placement or {}).get("targets", []):
        site = target["site"]
        rows: list[tuple[str, int, Resources | None]] = []
        totals: tuple[int, int, int] | None = (0, 0, 0)  # vCPU, RAM MB, disk GB
        fits: dict[str, int] = {}
        for g in groups:
            fit = sizes.get(g["flavor"], {}).get(site)
            one = fit.request if fit else None
            n = int(g["count"])
            rows.append((g["flavor"], n, one))
            if fit is not None:
                fits[g["flavor"]] = fit.count
            if one is None or totals is None:
                totals = None
                continue
            totals = (totals[0] + one.vcpu * n, totals[1] + one.ram_mb * n,
                      totals[2] + one.disk_gb * n)
        out.append(SiteReservation(
            site=site, kind=target["kind"], groups=tuple(rows),
            vcpu=totals[0] if totals else None,
            ram_mb=totals[1] if totals else None,
            disk_gb=totals[2] if totals else None,
            instances=sum(int(g["count"]) for g in groups), fits_now=fits))
    return out


def reservation_text(app: Any, request: ProvisionRequest, plan: list[SiteReservation],
                     lang: str) -> Text:
    """The confirmation dialog's body: the request, then per site what will be reserved."""
    out = Text()
    out.append(f"#{request.id} {printable(request.system)}", style="bold")
    out.append(f"  {printable(department_label(app, request.department))} "
               f"({printable(request.department)}), {label('dr', lang)} "
               f"{request.dr_level}\n")
    out.append(f"{label('requester', lang)}: {printable(request.requester)}\n\n")
    out.append(label("will_reserve", lang) + "\n", style="bold")
    servers = label("servers_word", lang)
    for r in plan:
        out.append(f"  {r.site:<10}", style="bold")
        out.append(f" {label(r.kind, lang):<8} ")
        if r.vcpu is None or r.ram_mb is None or r.disk_gb is None:
            out.append(f"{count(r.instances)} {servers}, {label('size_unknown', lang)}\n",
                       style="yellow")
        else:
            out.append(f"{count(r.vcpu)} vCPU, {gib(r.ram_mb)} GiB RAM, "
                       f"{count(r.disk_gb)} GB disk, {count(r.instances)} {servers}\n")
        for flavor, n, one in r.groups:
            size = f"{one.vcpu} vCPU, {gib(one.ram_mb)} GiB RAM" if one else "?"
            out.append(f"      {n} × {printable(flavor)} ({size})")
            if flavor in r.fits_now:
                out.append(f" — {label('fit_now', lang).format(n=count(r.fits_now[flavor]))}",
                           style="dim")
            out.append("\n")
    if not plan:
        out.append("  " + label("no_targets", lang) + "\n", style="yellow")
    return out


class RequestScreen(DataView):
    """One request in full: what it asks for, where its copies go, what was placed and
    reserved, its servers and every event (refreshed every 2 s while it is open)."""

    VIEW_NAME = "request"
    REFRESH_S = 2.0
    AUTO_FOCUS = "#request-scroll"

    def __init__(self, request_id: str) -> None:
        super().__init__()
        self.request_id = request_id

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="request-scroll", can_focus=True):
            yield Static(id="request-detail", classes="panel")

    def view_title(self) -> str:
        return f"{label('request', self.session.lang)} #{self.request_id}"

    def fetch(self, api: ApiClient) -> Any:
        return api.get_as(RequestDetail, api_path("requests", self.request_id))

    def show(self, data: Any) -> None:
        self.query_one("#request-detail", Static).update(
            request_text(self.app, data, self.session.lang))
        self.set_status(label("esc_back", self.session.lang))

    def site_changed(self) -> None:
        """A request spans sites."""


def request_text(app: Any, r: RequestDetail, lang: str) -> Text:
    """A request in full, every value the request's author or a cloud gave escaped."""
    out = Text()

    def line(name: str, value: Any, style: str = "") -> None:
        out.append(f"{label(name, lang):<16}", style="bold")
        out.append(f"{printable(value)}\n", style=style)

    line("request", f"#{r.id} {r.system}")
    line("dept", f"{department_label(app, r.department)} ({r.department})")
    line("dr", r.dr_level)
    line("request_state", r.state, STATE_STYLE.get(r.state, ""))
    line("requester", r.requester)
    line("approver", r.approver or "-")
    line("submitted", stamp(r.created_at))
    line("updated", stamp(r.updated_at))
    if r.reason:
        line("reason", r.reason)
    if r.error:
        line("error", r.error, "bold red")
    # the spec and the placement are open mappings (docs/provisioning.md)
    spec = r.spec or {}
    line("justification", spec.get("justification") or "-")
    out.append(f"\n{label('server_groups', lang)}\n", style="bold")
    for g in spec.get("servers", []):
        nets = ", ".join(f"{site}: {net}" for site, net in
                         sorted((g.get("network") or {}).items()))
        vols = ", ".join(f"{v.get('size_gb', '?')} GB" if isinstance(v, dict) else str(v)
                         for v in g.get("volumes") or [])
        out.append(printable(f"  {g['count']} × {g['flavor']}  {g['name_prefix']}-*  "
                             f"{label('image', lang)} {g.get('image', '-')}") + "\n")
        out.append(printable(f"      {label('networks', lang)}: {nets or '-'}"
                             + (f"; {label('volumes', lang)}: {vols}" if vols else ""))
                   + "\n", style="dim")
    placement = r.placement or {}
    placed = {p["site"]: p for p in placement.get("sites", []) if isinstance(p, dict)}
    out.append(f"\n{label('target_sites', lang)}\n", style="bold")
    for t in placement.get("targets", []):
        out.append(f"  {t['site']:<10} {label(t['kind'], lang):<8}")
        p = placed.get(t["site"], {})
        demand = p.get("demand")
        if demand:
            out.append(f" {label('reserved', lang)} {count(demand.get('vcpu', 0))} vCPU, "
                       f"{gib(demand.get('ram_mb', 0))} GiB RAM, "
                       f"{count(demand.get('disk_gb', 0))} GB disk, "
                       f"{count(demand.get('instances', 0))} {label('servers_word', lang)}")
        if p.get("hosts_used"):
            out.append(f", {label('hosts_used', lang).format(n=count(p['hosts_used']))}")
        for problem in p.get("problems") or []:
            out.append(f"\n      {printable(problem)}", style="red")
        out.append("\n")
    servers = r.servers
    if servers:
        out.append(f"\n{label('servers', lang)} ({len(servers)})\n", style="bold")
        for s in servers:
            out.append(printable(f"  {s.site:<10} {s.name:<28} "
                                 f"{s.status or '-':<10} {s.server_id or '-'}"))
            if s.error:
                out.append(f"  {printable(s.error)}", style="red")
            out.append("\n")
    events = r.events
    out.append(f"\n{label('events', lang)} ({len(events)})\n", style="bold")
    for e in events:
        out.append(f"  {stamp(e.at)} {printable(e.kind):<12} {printable(e.message)}\n")
    return out


register_view(ViewSpec(name="requests", title=("Requests", "申请"), factory=RequestsView,
                       aliases=("req", "approvals"), order=60))
