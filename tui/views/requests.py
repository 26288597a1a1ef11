"""Requests: provisioning requests the principal may see, with live status (refreshed every
2 s); a bureau-admin approves (`a`) or rejects (`x`, with a reason) the one under the cursor.
The keys are hidden from roles that may not decide; the server refuses them anyway (and
refuses a requester deciding on their own request)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

from govcloud.client import ApiClient, api_path
from govcloud.errors import GovCloudError
from tui.format import stamp
from tui.i18n import label
from tui.registry import ViewSpec, register_view
from tui.views.base import ListView
from tui.widgets.table import Column

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
                Column("system", "SYSTEM", 18),
                Column("dr", label("dr", lang), 3, right=True),
                Column("state", "STATE", 13),
                Column("requester", "REQUESTER", 16),
                Column("approver", "APPROVER", 24),
                Column("submitted", "SUBMITTED", 16),
                Column("note", "ERROR / REASON", 50)]

    def default_sort(self) -> tuple[int | None, bool]:
        return 0, True  # newest first

    def row_style(self, cells: tuple[str, ...]) -> str | None:
        return STATE_STYLE.get(cells[4])

    def fetch(self, api: ApiClient) -> Any:
        return api.get("/requests", limit=LIMIT)["requests"]

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        out: list[tuple[str, Sequence[str], Sequence[Any]]] = []
        for r in data:
            cells = (str(r["id"]), r["department"], r["system"], str(r["dr_level"]), r["state"],
                     r["requester"], r["approver"] or "", stamp(r["created_at"]),
                     r.get("error") or r.get("reason") or "")
            out.append((str(r["id"]), cells, (r["id"], *cells[1:])))
        return out

    def compose_body(self) -> ComposeResult:
        yield from super().compose_body()
        yield Input(placeholder="reason for rejecting — Enter rejects, Esc cancels",
                    id="reason")

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
        key = self._selected_submitted()
        if key is not None:
            self.set_status(f"approving request {key}…", "dim")
            self._decide(key, "approve", None)

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
            answer = self.session.api.post(api_path("requests", key, verb), body)
        except GovCloudError as exc:
            self.post_message(Decided(f"request {key}", exc))
            return
        self.post_message(Decided(f"request {key}: {answer['state']}", None))

    @on(Decided)
    def _decided(self, message: Decided) -> None:
        if message.error is not None:
            err = message.error
            self.set_status(f"✖ {message.text}: {err.message}"
                            + (f"\n  hint: {err.hint}" if err.hint else ""), "error")
        else:
            self.set_status(f"✔ {message.text}")
        self.reload()


register_view(ViewSpec(name="requests", title=("Requests", "申请"), factory=RequestsView,
                       aliases=("req", "approvals"), order=60))
