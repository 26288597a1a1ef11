"""Migrations: every wave the principal may see, one row per host — the wave's status, gate and
window, the host's readiness and the step it is at — and below, the live event log of the
playbook running for the wave under the cursor (refreshed every 2 s)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.app import ComposeResult
from textual.widgets import Log

from govcloud.api.models.migrate import StepState, WaveDetail, WaveEvent, WaveSummary
from govcloud.client import ApiClient
from govcloud.domain.text import printable
from tui.format import stamp
from tui.i18n import label
from tui.registry import ViewSpec, register_view
from tui.views.base import ListView
from tui.widgets.table import Column

MAX_WAVES = 20
STEP_STYLE = {"failed": "bold red", "interrupted": "yellow", "running": "bold cyan",
              "succeeded": "green", "rolled_back": "magenta"}


def current_step(steps: dict[str, StepState]) -> tuple[str, str]:
    """The step a host is at (the first not succeeded) and its status."""
    for name, s in steps.items():
        if s.status != "succeeded":
            return name, s.status
    return "done", "succeeded"


class MigrationsView(ListView):
    VIEW_NAME = "migrations"
    REFRESH_S = 2.0

    def __init__(self) -> None:
        super().__init__()
        self._log_wave: str | None = None
        self._after = 0

    def columns(self) -> Sequence[Column]:
        lang = self.session.lang
        return [Column("wave", label("wave", lang), 16), Column("dept", label("dept", lang), 12),
                Column("wstatus", label("wave_status", lang), 12),
                Column("gate", label("entry_gate", lang), 10),
                Column("window", label("window", lang), 16),
                Column("host", label("legacy_host", lang), 18),
                Column("ready", label("ready", lang), 5, right=True),
                Column("step", label("step", lang), 12),
                Column("status", label("status", lang), 11),
                Column("live", label("live", lang), 6),
                Column("why", label("blocking", lang), 60)]

    def row_style(self, cells: tuple[str, ...]) -> str | None:
        return STEP_STYLE.get(cells[8])

    def site_changed(self) -> None:
        """Waves span sites; the site keys do not filter them."""

    def compose_body(self) -> ComposeResult:
        yield from super().compose_body()
        yield Log(id="events", max_lines=500, auto_scroll=True)

    def _wave_for_log(self, waves: list[WaveSummary]) -> str | None:
        key = self.table.cursor_key if hasattr(self, "table") else None
        if key:
            return key.split("/", 1)[0]
        running = [w.wave for w in waves if w.status == "running"]
        return running[0] if running else (waves[0].wave if waves else None)

    def fetch(self, api: ApiClient) -> Any:
        waves = api.waves().waves[:MAX_WAVES]
        details = [api.wave(w.wave) for w in waves]
        wave = self._wave_for_log(waves)
        after = self._after if wave == self._log_wave else 0
        events = api.wave_events(wave, after=after).events if wave else []
        return {"waves": details, "log_wave": wave, "events": events, "after": after}

    def rows(self, data: Any) -> list[tuple[str, Sequence[str], Sequence[Any]]]:
        out: list[tuple[str, Sequence[str], Sequence[Any]]] = []
        waves: list[WaveDetail] = data["waves"]
        for w in waves:
            gate = label("gate_override" if w.override else (
                "gate_open" if w.entry_gate.passed else "gate_closed"), self.session.lang)
            for h in w.hosts:
                step, status = current_step(h.steps)
                at = h.steps.get(step)
                error = (at.error if at is not None else None) or ""
                why = error or "; ".join(h.readiness.blocking)
                name = w.wave + (" (R)" if w.rehearsal else "")
                cells = (name, w.department, w.status, gate,
                         stamp(w.window.start), h.host,
                         str(h.readiness.score), step, status, h.live, why)
                out.append((f"{w.wave}/{h.host}", cells,
                            (w.department, w.number, *cells[2:6],
                             h.readiness.score, *cells[7:])))
        return out

    def default_sort(self) -> tuple[int | None, bool]:
        return 0, False

    def show_above(self, data: Any) -> None:
        log = self.query_one("#events", Log)
        if data["log_wave"] != self._log_wave or data["after"] == 0:
            log.clear()
            if data["log_wave"]:
                log.write_line("— " + label("events_of", self.session.lang).format(
                    wave=data["log_wave"]) + " —")
            self._log_wave = data["log_wave"]
        events: list[WaveEvent] = data["events"]
        for e in events:
            self._after = max(self._after, e.id) if data["after"] else e.id
            text = printable(e.message or e.task or "")  # a playbook's output: hostile
            log.write_line(f"{e.at[11:19]} {printable(e.step):<12} "
                           f"{printable(e.host or '*'):<18} {printable(e.event):<12} {text}")


register_view(ViewSpec(name="migrations", title=("Migrations", "迁移"),
                       factory=MigrationsView, aliases=("waves", "migrate"), order=70))
