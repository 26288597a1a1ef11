"""Change requests: what a change is, who may approve it, and the gate an operation passes
through before it alters a department's service (issue 21; docs/changes.md).

* A **change** wraps one kind of operation (:class:`OperationKind`) on some departments (and
  sites), within a planned window ``[start, end)`` (UTC), with a rollback plan.
* **Types**: ``standard`` changes are pre-approved by a declared policy
  (:data:`STANDARD_POLICIES`; e.g. a quota raise within 10%) and must stay within it when
  they run; ``normal`` changes are approved by the bureau before their window, which must be
  inside the calendar's maintenance windows and outside every freeze that touches their
  departments; ``emergency`` changes may run at once and are approved afterwards, within a
  review deadline (72 h by default), flagged until they are — except during a freeze, where
  a bureau-admin approves one before it runs.
* **Four eyes**: the requester never approves (as a person, ``rbac.may_approve``); a normal
  or emergency change that touches a department of DR level 5 or 6 needs two approvals by
  two different persons, others one.
* :func:`require_change` is the gate: it raises :class:`~govcloud.errors.ChangeRefused`
  naming what is missing (no change, not approved, wrong kind, a department or site not
  covered, outside its window, in a freeze, outside its standard policy), with a hint.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from govcloud.domain.calendar import Calendar, Freeze, check_window, freezes_touching
from govcloud.domain.rbac import Principal, Role, may_approve, same_person
from govcloud.errors import ChangeRefused, ConflictError, Forbidden, InvalidInput

MAX_TITLE = 200
MAX_ROLLBACK = 4000
MAX_REASON = 500
MAX_WINDOW = dt.timedelta(days=14)
MAX_AHEAD = dt.timedelta(days=400)
REVIEW_DEADLINE = dt.timedelta(hours=72)
TWO_APPROVAL_LEVELS = frozenset({5, 6})
GRACE = dt.timedelta(minutes=5)  # a window may start this long before it is submitted


class OperationKind(StrEnum):
    """What a change wraps: one kind of operation (a closed set)."""

    TENANCY_APPLY = "tenancy-apply"
    MIGRATION_WAVE = "migration-wave"
    DR_DRILL = "dr-drill"
    DR_FAILOVER = "dr-failover"
    HOST_MAINTENANCE = "host-maintenance"
    LIFECYCLE = "lifecycle"


class ChangeType(StrEnum):
    STANDARD = "standard"
    NORMAL = "normal"
    EMERGENCY = "emergency"


class ChangeState(StrEnum):
    """submitted → approved → in-progress → done | failed; rejected, cancelled; an emergency
    change is ``flagged`` while it may run but is not yet (fully) approved."""

    SUBMITTED = "submitted"
    APPROVED = "approved"
    FLAGGED = "flagged"
    IN_PROGRESS = "in-progress"
    DONE = "done"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


# states in which an operation may pass the gate; a failed change may be tried again in its
# window (the operations are idempotent), a done one may not
RUNNABLE = frozenset({ChangeState.APPROVED, ChangeState.FLAGGED, ChangeState.IN_PROGRESS,
                      ChangeState.FAILED})
OPEN = frozenset({ChangeState.SUBMITTED, ChangeState.APPROVED, ChangeState.FLAGGED})
RAN = frozenset({ChangeState.IN_PROGRESS, ChangeState.DONE, ChangeState.FAILED})


# --- standard changes: the declared policy ------------------------------------------------------

@dataclass(frozen=True, slots=True)
class QuotaDelta:
    """One quota an operation would set: ``current`` None when the project does not exist
    yet (a creation)."""

    department: str
    site: str
    field: str
    current: int | None
    desired: int


@dataclass(frozen=True, slots=True)
class StandardPolicy:
    """A kind of change the bureau pre-approved: quota raises of at most ``max_raise_pct``
    percent of each current limit (never a decrease, never a new project)."""

    name: str
    kind: OperationKind
    max_raise_pct: int
    description: str


STANDARD_POLICIES: tuple[StandardPolicy, ...] = (
    StandardPolicy("quota-raise-10pct", OperationKind.TENANCY_APPLY, 10,
                   "tenancy apply that only raises existing quotas, each by at most 10% of "
                   "its current limit"),
)


def standard_policy(kind: OperationKind) -> StandardPolicy | None:
    return next((p for p in STANDARD_POLICIES if p.kind is kind), None)


def outside_policy(policy: StandardPolicy, deltas: Iterable[QuotaDelta]) -> list[str]:
    """What in ``deltas`` the policy does not cover (empty: all of it is covered)."""
    out: list[str] = []
    for d in deltas:
        where = f"{d.department} {d.field} in {d.site}"
        if d.current is None:
            out.append(f"{where}: a new project (set to {d.desired})")
        elif d.current < 0 or d.desired < 0:
            out.append(f"{where}: {d.current} -> {d.desired} (an unlimited quota)")
        elif d.desired < d.current:
            out.append(f"{where}: {d.current} -> {d.desired} (a decrease)")
        elif (d.desired - d.current) * 100 > d.current * policy.max_raise_pct:
            pct = "inf" if d.current == 0 else f"{(d.desired - d.current) * 100 / d.current:.1f}"
            out.append(f"{where}: {d.current} -> {d.desired} (+{pct}%, more than "
                       f"{policy.max_raise_pct}%)")
    return out


# --- a change ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Approval:
    by: str
    person: str
    role: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    kind: OperationKind
    type: ChangeType
    title: str
    departments: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime
    rollback_plan: str
    requester: str
    requester_person: str
    state: ChangeState
    created_at: dt.datetime
    approvals_needed: int
    approvals: tuple[Approval, ...] = ()
    sites: tuple[str, ...] = ()  # empty: every site
    policy: str | None = None  # the standard policy that pre-approved it
    review_by: dt.datetime | None = None  # an emergency change's approval deadline
    in_freeze: bool = False  # an emergency change whose window overlaps a freeze
    reason: str | None = None  # why it was rejected or cancelled
    links: tuple[Link, ...] = field(default=())

    @property
    def approved(self) -> bool:
        """Has it every approval it needs (a standard change: its policy)?"""
        return self.policy is not None or len(self.approvals) >= self.approvals_needed

    def awaiting_review(self) -> bool:
        """An emergency change still short of its approvals (and not rejected/cancelled)."""
        return (self.type is ChangeType.EMERGENCY and not self.approved
                and self.state not in (ChangeState.REJECTED, ChangeState.CANCELLED))

    def flags(self, now: dt.datetime) -> list[str]:
        """What the reports flag: ``awaiting-review``, ``review-overdue``, ``in-freeze``."""
        out: list[str] = []
        if self.awaiting_review():
            overdue = self.review_by is not None and now > self.review_by
            out.append("review-overdue" if overdue else "awaiting-review")
        if self.in_freeze:
            out.append("in-freeze")
        return out


@dataclass(frozen=True, slots=True)
class Link:
    """An operation run under a change: its kind and id, who ran it, how it ended."""

    id: int
    kind: str
    ref: str
    actor: str
    at: dt.datetime
    state: str  # running, done, failed
    finished_at: dt.datetime | None = None
    detail: str | None = None


def approvals_needed(change_type: ChangeType, levels: Iterable[int | None]) -> int:
    """How many persons approve: none for a standard change (its policy does), two when any
    department has DR level 5 or 6, else one."""
    if change_type is ChangeType.STANDARD:
        return 0
    return 2 if any(level in TWO_APPROVAL_LEVELS for level in levels) else 1


# --- submitting --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NewChange:
    """A change as asked for, before it is stored."""

    kind: OperationKind
    type: ChangeType
    title: str
    departments: tuple[str, ...]
    start: dt.datetime
    end: dt.datetime
    rollback_plan: str
    sites: tuple[str, ...] = ()


def check_new(new: NewChange, now: dt.datetime) -> None:
    """The bounds of a new change (its fields are already within the API's lengths)."""
    if not new.title.strip() or len(new.title) > MAX_TITLE:
        raise InvalidInput(f"a change's title is 1 to {MAX_TITLE} characters",
                           hint="say in a line what changes, e.g. raise gd-tax vCPU 10%")
    if not new.rollback_plan.strip() or len(new.rollback_plan) > MAX_ROLLBACK:
        raise InvalidInput(f"a change needs a rollback plan of 1 to {MAX_ROLLBACK} characters",
                           hint="say how its effect is undone if it goes wrong")
    if not new.departments:
        raise InvalidInput("a change names the departments it affects",
                           hint="give at least one catalogue code, e.g. --department gd-tax")
    if new.start.tzinfo is None or new.end.tzinfo is None:
        raise InvalidInput("a change's window needs times with their UTC offset",
                           hint="e.g. 2027-01-09T01:00:00+08:00")
    if new.end <= new.start:
        raise InvalidInput(f"the window ends ({new.end.isoformat()}) before it starts "
                           f"({new.start.isoformat()})", hint="give an end after the start")
    if new.end - new.start > MAX_WINDOW:
        raise InvalidInput(f"the window is longer than {MAX_WINDOW.days} days",
                           hint="split the work into several changes")
    if new.end <= now or (new.type is not ChangeType.EMERGENCY and new.start < now - GRACE):
        raise InvalidInput("the window is in the past",
                           hint="plan a window that starts now or later")
    if new.start > now + MAX_AHEAD:
        raise InvalidInput(f"the window starts more than {MAX_AHEAD.days} days ahead",
                           hint="submit the change nearer the time")


def initial_state(new: NewChange, calendar: Calendar | None, sites: Sequence[str],
                  now: dt.datetime) -> tuple[ChangeState, str | None, bool]:
    """(state, policy name, in freeze) of a change being submitted, or ChangeRefused when
    the calendar does not allow its window: a normal change inside a maintenance window and
    outside every freeze; a standard change outside every freeze (and of a kind a policy
    covers); an emergency change anywhere — one overlapping a freeze waits for a
    bureau-admin's approval."""
    policy = standard_policy(new.kind) if new.type is ChangeType.STANDARD else None
    if new.type is ChangeType.STANDARD and policy is None:
        kinds = ", ".join(p.kind.value for p in STANDARD_POLICIES)
        raise InvalidInput(f"no standard policy covers {new.kind.value}",
                           hint=f"standard changes exist for: {kinds}; submit a normal "
                                "change (--type normal) for the bureau to approve")
    if new.type is ChangeType.EMERGENCY:
        frozen = calendar is not None and bool(
            freezes_touching(calendar, new.departments, new.start, new.end))
        return (ChangeState.SUBMITTED if frozen else ChangeState.FLAGGED), None, frozen
    _check_calendar(calendar, new.departments, sites, new.start, new.end,
                    need_window=new.type is ChangeType.NORMAL, what="the change's window")
    if policy is not None:
        return ChangeState.APPROVED, policy.name, False
    return ChangeState.SUBMITTED, None, False


def _check_calendar(calendar: Calendar | None, departments: Sequence[str],
                    sites: Sequence[str], start: dt.datetime, end: dt.datetime, *,
                    need_window: bool, what: str) -> None:
    if calendar is None:
        raise ChangeRefused("there is no approved change calendar, so no window is allowed",
                            hint="propose one (`govcloud calendar propose FILE`) and have "
                                 "another person of the bureau approve it")
    verdict = check_window(calendar, departments, sites, start, end, need_window=need_window)
    if not verdict:
        raise ChangeRefused(f"{what} ({start.isoformat()} to {end.isoformat()}) is not "
                            f"allowed: {'; '.join(verdict.reasons)}",
                            hint="see the calendar (`govcloud calendar show`) and pick a "
                                 "window inside a maintenance window, outside the freezes")


# --- deciding ----------------------------------------------------------------------------------

def check_approver(change: Change, principal: Principal) -> None:
    """May ``principal`` (who may approve changes: the bureau) add an approval now?"""
    decision = may_approve(principal, change.requester_person)
    if not decision:
        raise Forbidden(decision.reason.replace("this request", f"change {change.id}"),
                        hint="another person of the bureau approves it")
    if any(same_person(a.person, principal.person) for a in change.approvals):
        raise Forbidden(f"{principal.name} ({principal.person}) already approved change "
                        f"{change.id}; a second approval is another person's",
                        hint="a different bureau-admin gives the second approval")
    if change.type is ChangeType.STANDARD:
        raise ConflictError(f"change {change.id} is a standard change, pre-approved by "
                            f"policy {change.policy}", hint="nothing to approve")
    if change.approved:
        raise ConflictError(f"change {change.id} already has its {change.approvals_needed} "
                            "approval(s)", hint="nothing to approve")
    if change.state in (ChangeState.REJECTED, ChangeState.CANCELLED):
        raise ConflictError(f"change {change.id} is {change.state.value}",
                            hint="submit a new change")
    if change.type is ChangeType.NORMAL and change.state is not ChangeState.SUBMITTED:
        raise ConflictError(f"change {change.id} is {change.state.value}, not waiting for "
                            "approval", hint="only a submitted change is approved")
    if change.in_freeze and not change.approvals and principal.role is not Role.BUREAU_ADMIN:
        raise Forbidden(f"change {change.id} is an emergency change during a freeze: only a "
                        f"bureau-admin approves it, not {principal.name} ({principal.role})",
                        hint="ask a bureau-admin")


def state_after_approval(change: Change, calendar: Calendar | None, sites: Sequence[str],
                         now: dt.datetime) -> ChangeState:
    """The state once one more approval is added (``change`` as it was before it). A
    normal change's window is checked against the calendar again (a freeze may have been
    declared since it was submitted), and must not be over."""
    complete = len(change.approvals) + 1 >= change.approvals_needed
    if change.type is ChangeType.NORMAL:
        if now >= change.end:
            raise ChangeRefused(f"change {change.id}'s window ended at "
                                f"{change.end.isoformat()}",
                                hint="reject it and submit a new change with a new window")
        _check_calendar(calendar, change.departments, sites, change.start, change.end,
                        need_window=True, what=f"change {change.id}'s window")
        return ChangeState.APPROVED if complete else ChangeState.SUBMITTED
    # emergency: after the first approval it may run; once complete it is approved
    if change.state in (ChangeState.SUBMITTED, ChangeState.FLAGGED):
        return ChangeState.APPROVED if complete else ChangeState.FLAGGED
    return change.state  # approved after the fact: it already ran (or runs)


def check_reject(change: Change, principal: Principal) -> None:
    decision = may_approve(principal, change.requester_person)
    if not decision:
        raise Forbidden(decision.reason.replace("this request", f"change {change.id}"),
                        hint="another person of the bureau decides on it; you may cancel it")
    if change.state not in (ChangeState.SUBMITTED, ChangeState.FLAGGED):
        raise ConflictError(f"change {change.id} is {change.state.value}; only a change that "
                            "has not run is rejected", hint="nothing to reject")


def check_cancel(change: Change) -> None:
    if change.state not in OPEN:
        raise ConflictError(f"change {change.id} is {change.state.value}; only a change that "
                            "has not run is cancelled", hint="nothing to cancel")


CLOSABLE = frozenset({ChangeState.APPROVED, ChangeState.FLAGGED, ChangeState.IN_PROGRESS})


def close_outcome(change: Change) -> ChangeState:
    """How a change closed by hand ends (``govcloud change close``: its work ended, or was
    abandoned, and nothing closed it): done when operations ran under it and every one that
    ended ended done, none left waiting; failed otherwise. Refused while one of its
    operations runs, and for a change that is not approved or in progress."""
    if change.state not in CLOSABLE:
        hint = "cancel it instead (`govcloud change cancel`)" \
            if change.state is ChangeState.SUBMITTED else "it is closed already"
        raise ConflictError(f"change {change.id} is {change.state.value}; only an approved or "
                            "in-progress change is closed", hint=hint)
    running = [k for k in change.links if k.state == "running"]
    if running:
        raise ConflictError(f"change {change.id} still runs {running[0].kind} "
                            f"{running[0].ref!r}; a change is closed once its operations "
                            "have ended", hint="wait for it to end (`govcloud change show "
                                               f"{change.id}`), or stop it first")
    ended = [k.state for k in change.links]
    return ChangeState.DONE if ended and all(state == "done" for state in ended) \
        else ChangeState.FAILED


# --- the gate ----------------------------------------------------------------------------------

def require_change(change: Change | None, kind: OperationKind | str,
                   departments: Collection[str], now: dt.datetime, *,
                   calendar: Calendar | None = None, sites: Sequence[str] = (),
                   quota_deltas: Sequence[QuotaDelta] | None = None) -> tuple[Freeze, ...]:
    """May an operation of ``kind`` on ``departments`` (at ``sites``: those it touches) run
    now under ``change``? Raises :class:`ChangeRefused` naming the first thing missing: no
    change; the wrong kind; not approved (or rejected, cancelled, done); a department or a
    site it does not cover; outside its window; in a freeze that touches its departments
    (an emergency change approved by a bureau-admin excepted); for a standard change, a
    quota change its policy does not cover (``quota_deltas``, when the operation has them).
    Returns the freezes an emergency change passes through (empty otherwise): the caller
    marks the change ``in_freeze`` for the reports.
    """
    kind = OperationKind(kind)
    if change is None:
        raise ChangeRefused(f"{kind.value} needs an approved change, and none was given",
                            hint="submit one (`govcloud change submit --kind "
                                 f"{kind.value} ...`), have it approved, then pass --change ID")
    cid = f"change {change.id}"
    if change.kind is not kind:
        raise ChangeRefused(f"{cid} is for {change.kind.value}, not {kind.value}",
                            hint=f"submit a change of kind {kind.value}")
    _require_state(change, cid)
    missing = sorted(set(departments) - set(change.departments))
    if missing:
        raise ChangeRefused(f"{cid} does not cover department(s) {', '.join(missing[:10])}",
                            hint=f"it covers {', '.join(change.departments[:10])}; submit a "
                                 "change that names every department the operation touches")
    uncovered = sorted(set(sites) - set(change.sites)) if change.sites else []
    if uncovered:
        raise ChangeRefused(f"{cid} does not cover site(s) {', '.join(uncovered)}",
                            hint=f"it covers {', '.join(change.sites)}")
    if not change.start <= now < change.end:
        when = "has not opened yet" if now < change.start else "is over"
        raise ChangeRefused(f"{cid}'s window ({change.start.isoformat()} to "
                            f"{change.end.isoformat()}) {when}; it is {now.isoformat()}",
                            hint="run it inside the window, or submit a change with a new "
                                 "window")
    passed = _require_no_freeze(change, cid, calendar, departments or change.departments, now)
    if change.type is ChangeType.STANDARD and quota_deltas is not None:
        policy = standard_policy(change.kind)
        beyond = outside_policy(policy, quota_deltas) if policy else ["no policy"]
        if beyond:
            raise ChangeRefused(f"{cid} is a standard change ({change.policy}); this "
                                f"{kind.value} goes beyond it: " + "; ".join(beyond[:5]),
                                hint="submit a normal change for the bureau to approve")
    return passed


def _require_state(change: Change, cid: str) -> None:
    if change.state in RUNNABLE and (change.approved or change.type is ChangeType.EMERGENCY):
        return  # an emergency change runs before its (full) approval
    if change.state is ChangeState.SUBMITTED:
        who = "a bureau-admin (it is an emergency change during a freeze)" \
            if change.in_freeze else "another person of the bureau"
        raise ChangeRefused(f"{cid} is not approved yet ({len(change.approvals)} of "
                            f"{change.approvals_needed} approvals)",
                            hint=f"{who} approves it: `govcloud change approve {change.id}`")
    if change.state is ChangeState.DONE:
        raise ChangeRefused(f"{cid} is done", hint="submit a new change for more work")
    raise ChangeRefused(f"{cid} is {change.state.value}", hint="submit a new change")


def _require_no_freeze(change: Change, cid: str, calendar: Calendar | None,
                       departments: Collection[str], now: dt.datetime) -> tuple[Freeze, ...]:
    if calendar is None:
        return ()
    frozen = freezes_touching(calendar, sorted(departments), now,
                              now + dt.timedelta(microseconds=1))
    if not frozen:
        return ()
    if change.type is ChangeType.EMERGENCY and any(a.role == Role.BUREAU_ADMIN.value
                                                   for a in change.approvals):
        return tuple(frozen)  # allowed, and flagged in the reports (``in_freeze``)
    raise ChangeRefused(f"{cid} would run during {frozen[0].describe()}",
                        hint="wait for the freeze to end; an emergency change approved by a "
                             "bureau-admin is the only way through a freeze")
