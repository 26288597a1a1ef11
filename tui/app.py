"""The ops console: ``make_app()`` builds it around a control-plane client.

The console is a client of the control-plane HTTP API only (``govcloud.client``): it never
opens the database or a cloud. Views come from the registry (``tui.registry``), each a
Textual *mode* with its own screen stack (Enter pushes a drill-in, Esc pops it), so a view
keeps its place when you switch away and back with `:`.

App-wide keys: `:` views, `?` help, number keys pick the site in view (0: all), ctrl+r
refresh, q quit.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static

from govcloud.api.models import Department, Server, StatusSite, WhoAmI
from govcloud.client import ApiClient
from govcloud.domain.text import printable, printable_lines
from govcloud.errors import GovCloudError, PermanentError
from tui.cache import ServerCache
from tui.i18n import key_label, label
from tui.registry import ViewSpec, find_view, load_views
from tui.screens import HelpScreen, PaletteScreen
from tui.session import Clock, Session, utcnow
from tui.views.common import SERVER_SORT, server_rows, server_style
from tui.widgets.header import ConsoleHeader, SiteFreshness, freshness
from tui.widgets.table import RowSet, build_rows

log = logging.getLogger(__name__)


class Connected(Message):
    def __init__(self, whoami: WhoAmI, departments: list[Department]) -> None:
        super().__init__()
        self.whoami = whoami
        self.departments = departments


class ConnectFailed(Message):
    def __init__(self, error: GovCloudError) -> None:
        super().__init__()
        self.error = error


class StatusPolled(Message):
    def __init__(self, sites: list[StatusSite] | None,
                 error: GovCloudError | None = None) -> None:
        super().__init__()
        self.sites = sites
        self.error = error


class ConsoleApp(App[None]):
    TITLE = "govcloud"
    ENABLE_COMMAND_PALETTE = False  # `:` is the palette here
    CSS_PATH = "console.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("colon", "palette", "views", key_display=":"),
        Binding("question_mark", "help", "help", key_display="?"),
        Binding("q", "quit", "quit"),
        Binding("ctrl+s", "sync", "sync now"),
        *[Binding(str(n), f"site({n})", f"site {n}", show=False) for n in range(10)],
    ]

    site: reactive[str | None] = reactive(None)

    def __init__(self, session: Session, *, start: str = "overview",
                 prefetch_servers: bool = True) -> None:
        super().__init__()
        self.session = session
        self.start_view = start
        self.prefetch_servers = prefetch_servers
        self.site_status: list[SiteFreshness] = []  # the header's, from /status
        self.departments: dict[str, Department] = {}
        self.servers = ServerCache(max_age_s=max(60.0, 6 * session.refresh_s),
                                   prepare=self._server_rows)
        self.specs: list[ViewSpec] = []
        self.connected = False
        self._retries = 0
        self._status_timer: Timer | None = None

    # --- who may do what --------------------------------------------------------------------

    @property
    def read_only(self) -> bool:
        return not any(self.session.may(a) for a in ("sync.run", "tenancy.apply"))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sync":
            return self.connected and self.session.may("sync.run", anywhere=False)
        return True

    # --- start ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(Text(f"connecting to {self.session.server} …"), id="connect")

    def on_mount(self) -> None:
        self._connect()

    @work(thread=True, exclusive=True, exit_on_error=False, group="connect",
          description="connect to the control plane")
    def _connect(self) -> None:
        try:
            whoami = self.session.api.whoami()
            departments: list[Department] = []
            if self.session.api is not None:
                try:
                    departments = self.session.api.departments().departments
                except GovCloudError as exc:
                    log.info("departments unavailable: %s", exc.message)
            self.post_message(Connected(whoami, departments))
        except GovCloudError as exc:
            self.post_message(ConnectFailed(exc))
        except Exception as exc:
            log.exception("connecting failed")
            self.post_message(ConnectFailed(PermanentError(f"unexpected {exc!r}")))

    @on(ConnectFailed)
    def _connect_failed(self, message: ConnectFailed) -> None:
        self._retries += 1
        delay = min(30, 2 ** self._retries)
        err = message.error
        text = Text()
        text.append(f"✖ {label('unreachable', self.session.lang)}: ", style="bold red")
        text.append(printable_lines(err.message) + "\n")
        if err.hint:
            text.append(f"hint: {printable_lines(err.hint)}\n", style="yellow")
        text.append(f"\nretrying in {delay}s (attempt {self._retries}); q quits")
        self.query_one("#connect", Static).update(text)
        self.set_timer(delay, self._connect)

    @on(Connected)
    def _connected(self, message: Connected) -> None:
        self.session.learn(message.whoami)
        self.departments = {d.code: d for d in message.departments}
        self.connected = True
        self.specs = [s for s in load_views()
                      if s.needs is None
                      or self.session.may(s.needs, anywhere=not s.needs_global)]
        for spec in self.specs:
            self.add_mode(spec.name, spec.factory)
        self._poll_status()
        if self.prefetch_servers:
            self._prefetch()
        start = find_view(self.start_view)
        if start is None or start not in self.specs:
            start = self.specs[0]
        self.switch_mode(start.name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="prefetch",
          description="fetch every server once")
    def _prefetch(self) -> None:
        try:
            self.servers.get(self.session.api)
        except GovCloudError as exc:
            log.info("server prefetch failed: %s", exc.message)

    def _server_rows(self, servers: list[Server]) -> RowSet:
        """The server list's rows, built by the fetching thread (the departments are known by
        then: the prefetch starts once connected)."""
        return build_rows(server_rows(self, servers), row_style=server_style,
                          sort=SERVER_SORT)

    # --- the header's site status, polled ----------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="status",
          description="poll the sites' freshness")
    def _poll_status(self) -> None:
        try:
            self.post_message(StatusPolled(self.session.api.status().sites))
        except GovCloudError as exc:
            self.post_message(StatusPolled(None, exc))

    @on(StatusPolled)
    def _status_polled(self, message: StatusPolled) -> None:
        if message.sites is not None:
            self.site_status = [freshness(s) for s in message.sites]
        self._status_timer = self.set_timer(self.session.refresh_s, self._poll_status)

    # --- actions ----------------------------------------------------------------------------

    def open_view(self, name: str | None) -> None:
        if not name:
            return
        spec = find_view(name)
        if spec is not None and spec in self.specs:
            self.switch_mode(spec.name)

    def action_palette(self) -> None:
        if not self.connected or isinstance(self.screen, PaletteScreen):
            return
        self.push_screen(PaletteScreen(self.specs, self.session.lang), callback=self.open_view)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        keys: list[tuple[str, str]] = []
        seen: set[str] = set()
        lang = self.session.lang
        for key, active in self.screen.active_bindings.items():
            b = active.binding
            # Textual's own bindings (scrolling, focus, copy) are capitalised; ours are not
            if not active.enabled or not b.description or b.description[0].isupper() \
                    or key in seen:
                continue
            if key.isdigit():
                continue
            seen.add(key)
            keys.append((b.key_display or self.get_key_display(b),
                         key_label(b.description, lang)))
        keys.append(("0-9", label("help_sites", lang)))
        keys.append(("j/k ↑/↓ g/G", label("help_move", lang)))
        title = getattr(self.screen, "view_title", lambda: "console")()
        self.push_screen(HelpScreen(str(title), keys, lang=lang))

    def action_site(self, number: int) -> None:
        if number == 0:
            self.site = None
        elif 0 < number <= len(self.site_status):
            self.site = self.site_status[number - 1]["site"]

    def watch_site(self, _old: str | None, _new: str | None) -> None:
        screen = self.screen
        for header in screen.query(ConsoleHeader):
            header.redraw()
        hook = getattr(screen, "site_changed", None)
        if hook is not None:
            hook()
        for stack in self._screen_stacks.values():
            for s in stack:
                if s is not screen and hasattr(s, "_due"):
                    s._due = True

    def action_sync(self) -> None:
        self.notify("syncing every site…", timeout=3)
        self._sync()

    @work(thread=True, exclusive=True, exit_on_error=False, group="sync",
          description="sync every site now")
    def _sync(self) -> None:
        try:
            report = self.session.api.sync(full=False)
            failed = [s.site for s in report.sites if not s.ok]
            text = "sync done" + (f"; STALE: {printable(', '.join(failed))}" if failed else "")
            self.call_from_thread(self.notify, text, severity="warning" if failed else
                                  "information", markup=False)
            self._poll_status()
        except GovCloudError as exc:
            self.call_from_thread(self.notify, f"sync failed: {printable_lines(exc.message)}",
                                  severity="error", markup=False)


def make_app(*, server: str, token: str | None, lang: str = "en", clock: Clock = utcnow,
             refresh_s: float = 10.0, start: str = "overview",
             prefetch_servers: bool = True, timeout: float = 30.0) -> ConsoleApp:
    """The console connected to ``server`` with ``token`` (nothing is fetched until it
    runs); ``server`` may name several replicas, comma-separated: the console moves to the
    next when the one in use stops answering, and its header says which it is on."""
    switches: list[tuple[str, str]] = []  # the replicas moved between (several servers)
    api = ApiClient(server, token, timeout=timeout,
                    on_switch=lambda old, new: switches.append((old, new)))
    session = Session(api=api, lang=lang, clock=clock, refresh_s=refresh_s,
                      switches=switches)
    return ConsoleApp(session, start=start, prefetch_servers=prefetch_servers)
