"""The operator scorecard from a real store (SQLite, and PostgreSQL when
GOVCLOUD_TEST_DATABASE_URL is set): availability from the hours each site was read, request
fulfilment from the stored requests, drills held in the month; only the whole-cloud roles
read it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from govcloud.domain.rbac import Principal, Role
from govcloud.domain.scorecard import Targets
from govcloud.domain.sites import Site, SiteRole
from govcloud.errors import Forbidden
from govcloud.services.dr_posture import Posture, Totals
from govcloud.services.scorecard import scorecard
from govcloud.store.engine import write_begin
from govcloud.store.inventory import table

from .statements_seed import AFTER, NOV, seed

SITES = [Site("PROD", "c", "r1", SiteRole.PRODUCTION),
         Site("DR-REMOTE", "c", "r2", SiteRole.REMOTE_DR)]
H = dt.timedelta(hours=1)


def _request(created: dt.datetime, updated: dt.datetime, state: str) -> dict[str, Any]:
    return {"department": "gd-tax", "system": "s", "dr_level": 1, "state": state,
            "requester": "ci", "requester_person": "CI", "spec_json": "{}",
            "created_at": created, "updated_at": updated}


def test_the_scorecard_from_the_store(db: Engine) -> None:
    seed(db)
    day = NOV.start + dt.timedelta(days=3)
    with write_begin(db) as conn:
        conn.execute(insert(table("provision_request")), [
            _request(day, day + 2 * H, "done"), _request(day, day + 4 * H, "done"),
            _request(day, day + 100 * H, "done"), _request(day, day + H, "rejected"),
            _request(NOV.end - 90 * H, NOV.end - 89 * H, "approved")])
        conn.execute(insert(table("dr_drill")), [
            {"department": "gd-tax", "system": "s", "site": "DR-REMOTE", "at": day,
             "result": "passed", "rto_s": 600.0},
            {"department": "gd-tax", "system": "s", "site": "DR-REMOTE", "at": day + H,
             "result": "failed", "rto_s": None},
            {"department": "gd-tax", "system": "s", "site": "DR-REMOTE",
             "at": NOV.start - H, "result": "failed", "rto_s": None}])
    posture = Posture(AFTER, (), {}, {}, Totals(compliant=1))  # one system, compliant
    card = scorecard(db, Principal("auditor", Role.BUREAU_AUDITOR), NOV, sites=SITES,
                     targets=Targets(), clock=lambda: AFTER, posture=lambda: posture)
    got = {f["name"]: (f["value"], f["met"]) for f in card["figures"]}
    assert got["PROD API"] == ("90.91 %", False)  # 10 read, 1 failed (timeout)
    assert got["DR-REMOTE API"] == ("100 %", True)
    assert got["requests done"] == ("3", None)
    assert got["fulfilment p50"] == ("4 h", True) and got["fulfilment p95"] == ("100 h", False)
    assert got["breaches"] == ("2", False)  # 100 h done, 90 h still open at the month's end
    assert got["systems compliant"] == ("1 of 1", True)
    assert got["drills overdue"] == ("0", True)
    assert got["drills held in the month"] == ("2", False)  # one failed (October's not counted)
    assert got["PROD vCPU headroom"] == ("-", None)  # nothing synced: no capacity known
    assert card["targets"]["availability_pct"] == "99.5"
    assert (card["met"], card["missed"]) == (4, 4)
    with pytest.raises(Forbidden):
        scorecard(db, Principal("v", Role.DEPARTMENT_VIEWER, department="gd-tax"), NOV,
                  sites=SITES, targets=Targets(), clock=lambda: AFTER)
