"""The protection policy from configuration (pure): the built-in table and the ``dr_protection``
setting that overrides it, checked against GB/T 20988 and against ``dr_policy``.

``dr_protection`` overrides the built-in table field by field::

    dr_protection:
      levels:
        5: {rpo: 15m, rto: 4h, drill_every_months: 6,
            copies: [{site_role: same-city-dr, kind: warm}, {site_role: remote-dr, kind: cold}]}
      rpo_warning: 0.8          # at risk above this share of the target RPO
      drill_warning_days: 30    # at risk this long before a drill is due

A level's ``copies`` default to the placement table in force (``dr_policy``: a standby becomes a
hot copy, a cold copy a cold one); given, they must name the same site roles as ``dr_policy``
places for that level, a standby as hot or warm and a cold copy as cold.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from govcloud.domain.protection import (
    CopyRule,
    LevelPolicy,
    ProtectionPolicy,
    StandbyKind,
    format_duration,
)
from govcloud.domain.provisioning import (
    DEFAULT_POLICY,
    DR_LEVELS,
    CopyKind,
    DrPolicy,
    policy_from_config,
)
from govcloud.domain.sites import SiteRole
from govcloud.errors import InvalidInput

# The built-in targets: the loosest GB/T 20988 allows where it sets a bound; where it sets
# none (the RTO of levels 1–3) govcloud's own choice. Drills: levels 5–6 every 6 months, 3–4
# yearly, 1–2 none (the default dr_policy keeps no copy of them outside production).
_D, _M = timedelta(days=1), timedelta(minutes=1)
DEFAULT_TARGETS: Mapping[int, tuple[timedelta, timedelta, int | None]] = {
    1: (7 * _D, 7 * _D, None),
    2: (7 * _D, 3 * _D, None),
    3: (_D, 2 * _D, 12),
    4: (_D, 2 * _D, 12),
    5: (30 * _M, 2 * _D, 6),
    6: (timedelta(0), 30 * _M, 6),
}
MAX_DURATION = timedelta(days=366)
_DURATION = re.compile(r"(?:(\d{1,6})([smhdw]))+")
_PART = re.compile(r"(\d{1,6})([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_HINT = ("a duration is whole seconds (e.g. 1800) or numbers with units s, m, h, d, w "
                  "(e.g. 30m, 12h, 7d, 1h30m), at most 366 days")
_LEVEL_FIELDS = ("rpo", "rto", "drill_every_months", "copies")
_TOP_FIELDS = ("levels", "rpo_warning", "drill_warning_days")
_PLACED_AS = {CopyKind.STANDBY: (StandbyKind.HOT, StandbyKind.WARM),
              CopyKind.COLD: (StandbyKind.COLD,)}


def parse_duration(value: object, where: str) -> timedelta:
    """``1800``, ``"30m"``, ``"1h30m"``, ``"0"`` → a timedelta; anything else InvalidInput."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) if math.isfinite(value) and value >= 0 else None
    elif isinstance(value, str) and len(value) <= 32:
        text = value.strip().lower()
        if text.isdigit():
            seconds = float(text)
        elif _DURATION.fullmatch(text):
            seconds = float(sum(int(n) * _UNIT[u] for n, u in _PART.findall(text)))
    if seconds is None or seconds > MAX_DURATION.total_seconds():
        shown = value[:40] if isinstance(value, str) else value
        raise InvalidInput(f"{where}: {shown!r} is not a duration", hint=_DURATION_HINT)
    return timedelta(seconds=seconds)


def placement_from_config(rows: list[dict[str, Any]] | None) -> DrPolicy:
    """The placement table in force: the ``dr_policy`` setting, or the built-in one."""
    return policy_from_config(rows) if rows else DEFAULT_POLICY


def _placed(placement: DrPolicy, level: int) -> dict[SiteRole, tuple[StandbyKind, ...]]:
    """Where ``dr_policy`` places copies of ``level``, and the kinds each may be kept as."""
    return {role: _PLACED_AS[kind] for role, kind in placement.rule_for(level).copies
            if kind in _PLACED_AS}


def placement_copies(placement: DrPolicy, level: int) -> tuple[CopyRule, ...]:
    """The copies ``dr_policy`` places for ``level``, as protection copies (standby → hot)."""
    return tuple(CopyRule(role, kinds[0]) for role, kinds in _placed(placement, level).items())


def protection_from_config(raw: Mapping[str, Any] | None,
                           placement: DrPolicy = DEFAULT_POLICY) -> ProtectionPolicy:
    """The built-in table with ``raw`` (the ``dr_protection`` setting) over it."""
    raw = raw or {}
    if not isinstance(raw, Mapping):
        raise InvalidInput("dr_protection must be a mapping",
                           hint="see the dr_protection setting in docs/dr.md")
    _known_fields("dr_protection", raw, _TOP_FIELDS)
    levels = raw.get("levels") or {}
    if not isinstance(levels, Mapping):
        raise InvalidInput("dr_protection.levels must map DR levels to their rows",
                           hint="e.g. levels: {5: {rpo: 15m}}")
    given: dict[int, Mapping[str, Any]] = {}
    for key, row in levels.items():
        level = _level(key)
        if level in given:
            raise InvalidInput(f"dr_protection.levels: level {level} is given twice",
                               hint="give each level once")
        if not isinstance(row, Mapping):
            raise InvalidInput(f"dr_protection.levels.{level} must be a mapping",
                               hint=f"its fields: {', '.join(_LEVEL_FIELDS)}")
        given[level] = row
    rows = tuple(_level_policy(level, given.get(level, {}), placement) for level in DR_LEVELS)
    warning = raw.get("rpo_warning", 0.8)
    days = raw.get("drill_warning_days", 30)
    if isinstance(warning, bool) or not isinstance(warning, int | float):
        raise InvalidInput(f"dr_protection.rpo_warning: {warning!r} is not a number",
                           hint="a share of the target RPO, e.g. 0.8")
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 366:
        raise InvalidInput(f"dr_protection.drill_warning_days: {days!r} is not 0–366 days",
                           hint="whole days, e.g. 30")
    return ProtectionPolicy(rows, float(warning), timedelta(days=days))


def _known_fields(where: str, raw: Mapping[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(str(k)[:40] for k in raw if k not in known)
    if unknown:
        raise InvalidInput(f"{where}: unknown field {', '.join(map(repr, unknown))}",
                           hint=f"the fields are: {', '.join(known)}")


def _level(key: object) -> int:
    text = str(key).strip()[:40]
    if isinstance(key, bool) or not text.isdigit() or int(text) not in DR_LEVELS:
        raise InvalidInput(f"dr_protection.levels: unknown DR level {text!r}",
                           hint="DR levels are 1–6 (GB/T 20988)")
    return int(text)


def _level_policy(level: int, row: Mapping[str, Any], placement: DrPolicy) -> LevelPolicy:
    where = f"dr_protection.levels.{level}"
    _known_fields(where, row, _LEVEL_FIELDS)
    rpo, rto, months = DEFAULT_TARGETS[level]
    if "rpo" in row:
        rpo = parse_duration(row["rpo"], f"{where}.rpo")
    if "rto" in row:
        rto = parse_duration(row["rto"], f"{where}.rto")
    if "drill_every_months" in row:
        months = row["drill_every_months"]
        if months is not None and (isinstance(months, bool) or not isinstance(months, int)):
            raise InvalidInput(f"{where}.drill_every_months: {months!r} is not a whole number",
                               hint="months between drills (e.g. 6), or null for none")
    copies = (_copies(where, row["copies"], _placed(placement, level)) if "copies" in row
              else placement_copies(placement, level))
    try:
        return LevelPolicy(level, rpo, rto, months, copies)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc.message}", hint=exc.hint) from None


def _copies(where: str, raw: object,
            placed: Mapping[SiteRole, tuple[StandbyKind, ...]]) -> tuple[CopyRule, ...]:
    hint = ("each copy is {site_role: same-city-dr|remote-dr|city, kind: hot|warm|cold}; "
            "leave copies out to follow dr_policy")
    if not isinstance(raw, list):
        raise InvalidInput(f"{where}.copies must be a list", hint=hint)
    rules = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise InvalidInput(f"{where}.copies[{i}] must be a mapping", hint=hint)
        try:
            _known_fields(f"{where}.copies[{i}]", item, ("site_role", "kind"))
            rules.append(CopyRule(SiteRole(item["site_role"]), StandbyKind(item["kind"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"{where}.copies[{i}]: {str(exc)[:200]}", hint=hint) from None
    roles = sorted(r.role.value for r in rules)
    wanted = sorted(r.value for r in placed)
    if roles != wanted:
        raise InvalidInput(
            f"{where}.copies: keeps copies in {', '.join(roles) or 'no DR site'}, but dr_policy "
            f"places them in {', '.join(wanted) or 'no DR site'}",
            hint="the sites that hold copies come from dr_policy (docs/provisioning.md); "
                 "change both together, or leave copies out to follow dr_policy")
    for rule in rules:
        allowed = placed[rule.role]
        if rule.kind not in allowed:
            raise InvalidInput(
                f"{where}.copies: the {rule.role} copy is {rule.kind}, but dr_policy provisions "
                f"it as {'a standby' if StandbyKind.HOT in allowed else 'a cold copy'}",
                hint=f"give it kind {' or '.join(allowed)}")
    return tuple(rules)


def protection_to_config(policy: ProtectionPolicy) -> dict[str, Any]:
    """The policy in the ``dr_protection`` shape (reads back to the same policy)."""
    return {
        "levels": {
            row.level: {"rpo": format_duration(row.rpo), "rto": format_duration(row.rto),
                        "drill_every_months": row.drill_every_months,
                        "copies": [{"site_role": c.role.value, "kind": c.kind.value}
                                   for c in row.copies]}
            for row in policy.levels},
        "rpo_warning": policy.rpo_warning,
        "drill_warning_days": policy.drill_warning.days,
    }


DEFAULT_PROTECTION = protection_from_config(None)
