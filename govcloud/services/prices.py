"""Price sheets: loaded from YAML (``tenants/prices/*.yaml``) — every scalar read as the text
written, so prices are exact decimals, every problem naming its file, line and field
(``govcloud.domain.prices``), a directory with any problem yielding no sheet at all — and
proposed, approved and listed through the API.

A sheet is proposed (by the bureau or the operator), then approved by a bureau-admin who is
another person than the one who proposed it (``rbac.may_approve``, the provisioning rule);
both are audited in the same transaction. An approved sheet is never changed: a correction
is a new version, and sheets may not overlap in time."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from govcloud.domain.prices import (
    PriceProblem,
    PriceSheet,
    PriceSheetError,
    SheetState,
    check_sheets,
    parse_sheet,
)
from govcloud.domain.rbac import GLOBAL, Action, Principal, may_approve, require
from govcloud.errors import Forbidden, InvalidInput
from govcloud.store import metering_repo as repo
from govcloud.store.audit import AuditLog, write_session
from govcloud.store.metering_repo import StoredSheet
from govcloud.yamlfile import load_text_tree, read_text


def parse_sheet_text(text: str, *, source: str, flavors: Collection[str] | None = None,
                     sites: Collection[str] | None = None) -> PriceSheet:
    """One sheet from its YAML text, or a :class:`PriceSheetError` naming each line."""
    try:
        doc, lines = load_text_tree(text, what=f"price sheet {source}")
    except InvalidInput as exc:
        raise PriceSheetError([PriceProblem(source, "", exc.message, exc.hint or "")]) from None
    return parse_sheet(doc, source=source, lines=lines, flavors=flavors, sites=sites)


def load_price_sheets(directory: str | os.PathLike[str], *,
                      flavors: Collection[str] | None = None,
                      sites: Collection[str] | None = None) -> tuple[PriceSheet, ...]:
    """Every sheet in ``directory`` (``*.yaml``), checked alone and against each other,
    ordered by start date; or one :class:`PriceSheetError` listing every problem."""
    folder = Path(directory)
    if not folder.is_dir():
        raise InvalidInput(f"the price sheets folder {folder} is not a directory",
                           hint="point at tenants/prices (one YAML file per sheet)")
    problems: list[PriceProblem] = []
    sheets: list[PriceSheet] = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            text = read_text(path, what="price sheet")
            sheets.append(parse_sheet_text(text, source=str(path), flavors=flavors,
                                           sites=sites))
        except PriceSheetError as exc:
            problems += exc.problems
        except InvalidInput as exc:
            problems.append(PriceProblem(str(path), "", exc.message, exc.hint or ""))
    if problems:
        raise PriceSheetError(problems)
    return check_sheets(sheets)


# --- proposing and approving (the bureau's four eyes) -----------------------------------------

Clock = Callable[[], dt.datetime]
MAX_DOCUMENT = 64 * 1024  # characters: a sheet is a few KiB


def _summary(s: StoredSheet, day: dt.date) -> dict[str, Any]:
    return {"version": s.version, "effective_from": s.effective_from.isoformat(),
            "effective_until": s.effective_until.isoformat() if s.effective_until else None,
            "currency": s.currency, "state": s.state_on(day).value, "digest": s.digest,
            "proposed_by": s.proposed_by, "proposed_by_person": s.proposed_by_person,
            "proposed_at": s.proposed_at.isoformat(), "approved_by": s.approved_by,
            "approved_by_person": s.approved_by_person,
            "approved_at": s.approved_at.isoformat() if s.approved_at else None}


def approved_sheets(conn: Connection, sites: Collection[str] | None = None
                    ) -> list[PriceSheet]:
    """Every approved sheet, parsed from the YAML text it was proposed with."""
    return [parse_sheet_text(s.document, source=f"price sheet {s.version}", sites=sites)
            for s in repo.list_sheets(conn, states=[SheetState.APPROVED])]


def propose_sheet(engine: Engine, principal: Principal, document: str, *,
                  sites: Collection[str], clock: Clock) -> dict[str, Any]:
    """Store a sheet (its YAML text) as proposed, after checking it alone (flavors the sites
    offer, configured sites) and against the approved sheets (its version and dates)."""
    require(principal, Action.PRICES_PROPOSE, GLOBAL)
    if len(document) > MAX_DOCUMENT:
        raise InvalidInput(f"the price sheet is longer than {MAX_DOCUMENT // 1024} KiB",
                           hint="a sheet is a few KiB of YAML; is this the right file?")
    with write_session(engine) as session:
        conn = session.connection()
        flavors = repo.flavor_names(conn) or None  # nothing synced yet: not checked
        sheet = parse_sheet_text(document, source="the price sheet", flavors=flavors,
                                 sites=sites)
        now = clock()
        stored = repo.add_sheet(conn, sheet, document, by=principal.name,
                                person=principal.person, at=now)  # a version given: conflict
        check_sheets([*approved_sheets(conn, sites), sheet])  # refused: rolled back with the rest
        after = _summary(stored, now.date())
        AuditLog(session=session, clock=clock).append(
            actor=principal.name, action="prices.propose",
            target=f"price-sheet:{sheet.version}", after=after)
        session.commit()
    return {"sheet": after}


def approve_sheet(engine: Engine, principal: Principal, version: str, *,
                  sites: Collection[str], clock: Clock) -> dict[str, Any]:
    """The bureau approves a proposed sheet — another person than the one who proposed it;
    it must still fit beside the approved sheets. It is never changed afterwards."""
    require(principal, Action.PRICES_APPROVE, GLOBAL)
    with write_session(engine) as session:
        conn = session.connection()
        before = repo.get_sheet(conn, version)
        if not may_approve(principal, before.proposed_by_person):
            raise Forbidden(f"{principal.name} ({principal.person}) proposed price sheet "
                            f"{version}, with this or another principal, and so may not "
                            "approve it (proposer and approver must differ, as persons)",
                            hint="another person of the bureau approves it")
        if before.state is SheetState.PROPOSED:
            check_sheets([*approved_sheets(conn, sites),
                          parse_sheet_text(before.document, source=f"price sheet {version}",
                                           sites=sites)])
        now = clock()
        after = repo.approve_sheet(conn, version, by=principal.name, person=principal.person,
                                   at=now)
        AuditLog(session=session, clock=clock).append(
            actor=principal.name, action="prices.approve", target=f"price-sheet:{version}",
            before=_summary(before, now.date()), after=_summary(after, now.date()))
        session.commit()
    return {"sheet": _summary(after, now.date())}


def list_sheets(engine: Engine, principal: Principal, *, clock: Clock) -> dict[str, Any]:
    require(principal, Action.PRICES_VIEW, GLOBAL)
    with engine.connect() as conn:
        stored = repo.list_sheets(conn)
    today = clock().date()
    return {"sheets": [_summary(s, today) for s in stored]}
