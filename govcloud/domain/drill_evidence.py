"""A drill's evidence record (pure): every step with its times and output, the targets and
the achieved RTO/RPO of each system, the checksums compared, who asked, approved and ran it,
the leftover check and the comparison of production before and after.

The record is a plain value: ``as_json`` is what is stored and what the API returns,
``digest`` (sha256 of its canonical JSON) is what the audit chain seals, and
``render_markdown`` is the report a person files (every user string escaped for Markdown);
another renderer (PDF) reads the same value.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from govcloud.domain.audit import canonical_json
from govcloud.domain.protection import format_duration
from govcloud.domain.text import printable

MAX_OUTPUT = 4000


@dataclass(frozen=True, slots=True)
class StepEvidence:
    step: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    output: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"step": self.step, "status": self.status, "started_at": _time(self.started_at),
                "finished_at": _time(self.finished_at), "output": self.output[-MAX_OUTPUT:]}


@dataclass(frozen=True, slots=True)
class Checksum:
    server: str
    path: str
    expected: str
    actual: str | None

    @property
    def matched(self) -> bool:
        return self.actual == self.expected

    def as_json(self) -> dict[str, Any]:
        return {"server": self.server, "path": self.path, "expected": self.expected,
                "actual": self.actual, "matched": self.matched}


@dataclass(frozen=True, slots=True)
class SystemEvidence:
    """One system's outcome: the recovery point brought up, targets and achievements."""

    system: str
    servers: tuple[str, ...]
    point_at: datetime | None
    target_rpo_s: float | None
    target_rto_s: float | None
    achieved_rpo_s: float | None
    achieved_rto_s: float | None
    healthy: bool
    checksums: tuple[Checksum, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def rto_met(self) -> bool:
        return (self.achieved_rto_s is not None and
                (self.target_rto_s is None or self.achieved_rto_s <= self.target_rto_s))

    @property
    def rpo_met(self) -> bool:
        return (self.achieved_rpo_s is not None and
                (self.target_rpo_s is None or self.achieved_rpo_s <= self.target_rpo_s))

    def as_json(self) -> dict[str, Any]:
        return {"system": self.system, "servers": list(self.servers),
                "point_at": _time(self.point_at), "target_rpo_s": self.target_rpo_s,
                "target_rto_s": self.target_rto_s, "achieved_rpo_s": self.achieved_rpo_s,
                "achieved_rto_s": self.achieved_rto_s, "healthy": self.healthy,
                "rto_met": self.rto_met, "rpo_met": self.rpo_met,
                "checksums": [c.as_json() for c in self.checksums],
                "problems": list(self.problems)}


@dataclass(frozen=True, slots=True)
class DrillEvidence:
    drill_id: int
    department: str
    system: str | None
    site: str
    result: str
    requester: str
    approver: str | None
    runner: str | None
    started_at: datetime | None
    finished_at: datetime | None
    steps: tuple[StepEvidence, ...] = ()
    systems: tuple[SystemEvidence, ...] = ()
    leftovers: tuple[str, ...] = ()
    leftovers_checked: bool = False
    prod_changes: tuple[str, ...] = ()
    prod_compared: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def prod_unchanged(self) -> bool:
        return self.prod_compared and not self.prod_changes

    def as_json(self) -> dict[str, Any]:
        return {"drill": self.drill_id, "department": self.department, "system": self.system,
                "site": self.site, "result": self.result, "requester": self.requester,
                "approver": self.approver, "runner": self.runner,
                "started_at": _time(self.started_at), "finished_at": _time(self.finished_at),
                "steps": [s.as_json() for s in self.steps],
                "systems": [s.as_json() for s in self.systems],
                "leftovers_checked": self.leftovers_checked, "leftovers": list(self.leftovers),
                "prod_compared": self.prod_compared, "prod_unchanged": self.prod_unchanged,
                "prod_changes": list(self.prod_changes)}

    def digest(self) -> str:
        """``sha256:<hex>`` of the record's canonical JSON: what the audit chain seals."""
        return "sha256:" + hashlib.sha256(canonical_json(self.as_json()).encode()).hexdigest()


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# --- Markdown ---------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&:])")


def md(value: object) -> str:
    """``value`` as inert Markdown text: control characters escaped (``printable``), every
    character Markdown or HTML gives a meaning backslash-escaped, on one line."""
    return _MD_SPECIAL.sub(r"\\\1", printable(value))


def _code(text: str) -> str:
    """Multi-line output in a fenced block that no line of it can close."""
    body = "\n".join(printable(line) for line in text.splitlines()) or "(no output)"
    fence = "```"
    while fence in body:
        fence += "`"
    return f"{fence}text\n{body}\n{fence}"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "-"


def _secs(value: float | None) -> str:
    return "-" if value is None else format_duration(timedelta(seconds=round(value)))


def _system_rows(systems: Sequence[SystemEvidence]) -> list[str]:
    lines = ["| system | recovery point | RPO target | RPO achieved | RTO target | "
             "RTO achieved | healthy |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for s in systems:
        lines.append(
            f"| {md(s.system)} | {_when(s.point_at)} | {_secs(s.target_rpo_s)} | "
            f"{_secs(s.achieved_rpo_s)} ({'met' if s.rpo_met else 'NOT met'}) | "
            f"{_secs(s.target_rto_s)} | {_secs(s.achieved_rto_s)} "
            f"({'met' if s.rto_met else 'NOT met'}) | {'yes' if s.healthy else 'no'} |")
    return lines


def _checksum_rows(systems: Sequence[SystemEvidence]) -> list[str]:
    rows = [(s.system, c) for s in systems for c in s.checksums]
    if not rows:
        return ["No checksums were compared."]
    matched = sum(1 for _, c in rows if c.matched)
    lines = [f"{matched} of {len(rows)} checksums matched the recovery point's manifest.", "",
             "| system | server | path | expected | actual | |",
             "| --- | --- | --- | --- | --- | --- |"]
    for system, c in rows:
        lines.append(f"| {md(system)} | {md(c.server)} | {md(c.path)} | {md(c.expected)} | "
                     f"{md(c.actual or 'missing')} | {'matched' if c.matched else 'MISMATCH'} |")
    return lines


def render_markdown(e: DrillEvidence) -> str:
    """The evidence as a Markdown report (every user string escaped)."""
    scope = f"system {md(e.system)}" if e.system else "every system"
    out = [f"# DR drill {e.drill_id}: {scope} of {md(e.department)} into {md(e.site)}", "",
           f"- **Result:** {md(e.result)}",
           f"- **Requested by:** {md(e.requester)}",
           f"- **Approved by:** {md(e.approver or '-')}",
           f"- **Run by:** {md(e.runner or '-')}",
           f"- **Started:** {_when(e.started_at)}", f"- **Finished:** {_when(e.finished_at)}",
           f"- **Evidence digest:** `{e.digest()}`", "",
           "## Recovery objectives", "", *_system_rows(e.systems), ""]
    problems = [f"- {md(s.system)}: {md(p)}" for s in e.systems for p in s.problems]
    if problems:
        out += ["Problems:", "", *problems, ""]
    out += ["## Checksums", "", *_checksum_rows(e.systems), "", "## Leftovers", ""]
    if not e.leftovers_checked:
        out.append("The leftover check did not run.")
    elif e.leftovers:
        out += ["Left behind:", "", *(f"- {md(x)}" for x in e.leftovers)]
    else:
        out.append("Nothing the drill made is left in any region.")
    out += ["", "## Production before and after", ""]
    if not e.prod_compared:
        out.append("Production was not compared.")
    elif e.prod_changes:
        out += ["**Production changed during the drill (flagged):**", "",
                *(f"- {md(x)}" for x in e.prod_changes)]
    else:
        out.append("Production is unchanged: the same servers, status, flavor and addresses.")
    out += ["", "## Steps", "", "| step | status | started | finished |",
            "| --- | --- | --- | --- |"]
    out += [f"| {md(s.step)} | {md(s.status)} | {_when(s.started_at)} | "
            f"{_when(s.finished_at)} |" for s in e.steps]
    for s in e.steps:
        out += ["", f"### {md(s.step)}", "", _code(s.output)]
    return "\n".join(out) + "\n"


# --- reading a stored record back ---------------------------------------------------------------

def _parsed(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def evidence_from_json(doc: Mapping[str, Any]) -> DrillEvidence:
    """The record ``DrillEvidence.as_json`` wrote (its digest is the same)."""
    return DrillEvidence(
        drill_id=int(doc["drill"]), department=doc["department"], system=doc.get("system"),
        site=doc["site"], result=doc["result"], requester=doc["requester"],
        approver=doc.get("approver"), runner=doc.get("runner"),
        started_at=_parsed(doc.get("started_at")), finished_at=_parsed(doc.get("finished_at")),
        steps=tuple(StepEvidence(s["step"], s["status"], _parsed(s.get("started_at")),
                                 _parsed(s.get("finished_at")), s.get("output") or "")
                    for s in doc.get("steps", [])),
        systems=tuple(SystemEvidence(
            system=s["system"], servers=tuple(s.get("servers", [])),
            point_at=_parsed(s.get("point_at")), target_rpo_s=s.get("target_rpo_s"),
            target_rto_s=s.get("target_rto_s"), achieved_rpo_s=s.get("achieved_rpo_s"),
            achieved_rto_s=s.get("achieved_rto_s"), healthy=bool(s.get("healthy")),
            checksums=tuple(Checksum(c["server"], c["path"], c["expected"], c.get("actual"))
                            for c in s.get("checksums", [])),
            problems=tuple(s.get("problems", []))) for s in doc.get("systems", [])),
        leftovers=tuple(doc.get("leftovers", [])),
        leftovers_checked=bool(doc.get("leftovers_checked")),
        prod_changes=tuple(doc.get("prod_changes", [])),
        prod_compared=bool(doc.get("prod_compared")))
