"""Who may do what: roles, principals, actions, targets and the one decision function ``can``.

The rules (PRODUCT.md, "Governance"):

- **bureau-admin** may do everything, on every department.
- **bureau-auditor** reads, reads the audit log and exports, on every department; never writes.
- **operator** reads, exports, runs every operation (tenancy apply, sync, provisioning,
  migrations, drills, host maintenance) and submits or cancels requests, on every
  department; it does not approve or reject requests (the bureau decides) and does not
  manage principals.
- **city-operator** has the operator's rights, but only for tenants whose city is its own; a
  target outside that city, or one that belongs to no city (provincial departments, the whole
  cloud), is refused.
- **department-viewer** reads its own department, nothing else.
- **ci** (a service account) reads, submits requests, provisions, scales and resizes systems;
  it never approves and never retires a system.

A scoped principal never sees another department's data: single objects are checked with
``can(principal, action, Target.of(code, city))``; lists, counts, search and exports are
filtered with ``visible_departments``. Approving also needs ``may_approve`` (requester ≠
approver), a separate check because it depends on the request, not only on the role.

Separation of duties is between **persons**, not tokens: every principal names the person
behind it (``person``; for a ``ci`` account the person accountable for the pipeline), one
person may hold several principals, and ``may_approve`` / ``may_approve_principal`` compare
persons (``same_person``). A token of a principal with a privileged role (``PRIVILEGED``:
bureau-admin, operator, ci) only works once a bureau-admin who is another person than the one
who issued it (added the principal, or rotated its token) approves it
(``may_approve_principal``), so that one person cannot mint a second admin token and approve
their own requests with it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

from govcloud.errors import Forbidden, InvalidInput

_NAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MAX_PERSON = 128
# Letters of any script, digits, spaces and the punctuation of names ("O'Brien", "Li Wei-ming",
# "张伟", "zhang.wei@gd.gov.cn"); no control or format characters, no markup.
_PERSON_BAD = re.compile(r"[^\w .,'@()\-·]")


class Role(StrEnum):
    """The six roles, as PRODUCT.md names them."""

    BUREAU_ADMIN = "bureau-admin"
    BUREAU_AUDITOR = "bureau-auditor"
    OPERATOR = "operator"
    CITY_OPERATOR = "city-operator"
    DEPARTMENT_VIEWER = "department-viewer"
    CI = "ci"

    @property
    def privileged(self) -> bool:
        """True for the roles whose new principals need a second person's approval."""
        return self in PRIVILEGED


PRIVILEGED = frozenset({Role.BUREAU_ADMIN, Role.OPERATOR, Role.CI})


class Kind(StrEnum):
    """What an action does, which is what the roles are granted."""

    READ = "read"        # views, and the tenancy plan (a dry run that changes nothing)
    AUDIT = "audit"      # reading the audit log
    EXPORT = "export"    # reports and CSV exports
    OPERATE = "operate"  # changes to the cloud: tenancy apply, sync, provision, migrations, drills
    REQUEST = "request"  # submitting and cancelling requests
    DECIDE = "decide"    # approving and rejecting requests
    ADMIN = "admin"      # managing principals


class Action(StrEnum):
    """Every read and write the control plane has or will have."""

    VIEW_DEPARTMENT = "department.view"
    VIEW_SERVERS = "servers.view"
    VIEW_CAPACITY = "capacity.view"
    VIEW_AUDIT = "audit.view"
    EXPORT = "report.export"
    TENANCY_PLAN = "tenancy.plan"
    TENANCY_APPLY = "tenancy.apply"
    PRINCIPAL_MANAGE = "principal.manage"
    SYNC_RUN = "sync.run"
    REQUEST_SUBMIT = "request.submit"
    REQUEST_APPROVE = "request.approve"
    REQUEST_REJECT = "request.reject"
    REQUEST_CANCEL = "request.cancel"
    PROVISION = "provision"
    MIGRATION_RUN = "migration.run"
    MIGRATION_OVERRIDE = "migration.override"
    DRILL_RUN = "drill.run"
    DR_PROTECT = "dr.protect"
    PRICES_VIEW = "prices.view"
    PRICES_PROPOSE = "prices.propose"
    PRICES_APPROVE = "prices.approve"
    FAILOVER_RUN = "dr.failover"
    STATEMENT_VIEW = "statement.view"
    STATEMENT_CLOSE = "statement.close"
    NOTIFICATION_VIEW = "notification.view"
    NOTIFICATION_RETRY = "notification.retry"
    HOST_MAINTAIN = "host.maintain"
    CHANGE_VIEW = "change.view"
    CHANGE_SUBMIT = "change.submit"
    CHANGE_CANCEL = "change.cancel"
    CHANGE_CLOSE = "change.close"  # a stuck change closed by hand (docs/changes.md)
    CHANGE_APPROVE = "change.approve"
    CHANGE_REJECT = "change.reject"
    CALENDAR_VIEW = "calendar.view"
    CALENDAR_PROPOSE = "calendar.propose"
    CALENDAR_APPROVE = "calendar.approve"
    METERING_BACKFILL = "metering.backfill"
    SYSTEM_SCALE = "system.scale"
    SYSTEM_RESIZE = "system.resize"
    SYSTEM_RETIRE = "system.retire"
    RECLAIM_VIEW = "reclaim.view"
    PLANE_VIEW = "plane.view"  # the control plane's replicas, worker leases, database role
    ALERT_RECORD = "alert.record"  # Alertmanager (or Prometheus) posting its alerts

    @property
    def kind(self) -> Kind:
        return _KIND[self]

    @property
    def writes(self) -> bool:
        """True when the action changes something (the cloud, the store or a request)."""
        return self.kind not in (Kind.READ, Kind.AUDIT, Kind.EXPORT)


_KIND: dict[Action, Kind] = {
    Action.VIEW_DEPARTMENT: Kind.READ,
    Action.VIEW_SERVERS: Kind.READ,
    Action.VIEW_CAPACITY: Kind.READ,
    Action.TENANCY_PLAN: Kind.READ,
    Action.VIEW_AUDIT: Kind.AUDIT,
    Action.EXPORT: Kind.EXPORT,
    Action.TENANCY_APPLY: Kind.OPERATE,
    Action.SYNC_RUN: Kind.OPERATE,
    Action.PROVISION: Kind.OPERATE,
    Action.MIGRATION_RUN: Kind.OPERATE,
    Action.MIGRATION_OVERRIDE: Kind.OPERATE,
    Action.DRILL_RUN: Kind.OPERATE,
    Action.DR_PROTECT: Kind.OPERATE,
    Action.PRICES_VIEW: Kind.READ,
    Action.PRICES_PROPOSE: Kind.REQUEST,  # the operator proposes prices, the bureau decides
    Action.PRICES_APPROVE: Kind.DECIDE,
    Action.FAILOVER_RUN: Kind.OPERATE,
    Action.STATEMENT_VIEW: Kind.READ,  # scoped: a department's own, a city's own
    Action.STATEMENT_CLOSE: Kind.DECIDE,  # the bureau closes a month
    Action.NOTIFICATION_VIEW: Kind.READ,  # scoped: a department's own messages
    Action.NOTIFICATION_RETRY: Kind.OPERATE,
    Action.HOST_MAINTAIN: Kind.OPERATE,  # drain and restore compute hosts (whole cloud)
    Action.CHANGE_VIEW: Kind.READ,  # scoped: changes affecting one's own departments
    Action.CHANGE_SUBMIT: Kind.REQUEST,  # the operator asks for a change, the bureau decides
    Action.CHANGE_CANCEL: Kind.REQUEST,
    Action.CHANGE_CLOSE: Kind.REQUEST,
    Action.CHANGE_APPROVE: Kind.DECIDE,
    Action.CHANGE_REJECT: Kind.DECIDE,
    Action.CALENDAR_VIEW: Kind.READ,
    Action.CALENDAR_PROPOSE: Kind.REQUEST,
    Action.CALENDAR_APPROVE: Kind.DECIDE,
    Action.METERING_BACKFILL: Kind.DECIDE,  # the bureau fills what it is billed by
    # a system's lifecycle: requested (the bureau approves, as provisioning), docs/lifecycle.md
    Action.SYSTEM_SCALE: Kind.REQUEST,
    Action.SYSTEM_RESIZE: Kind.REQUEST,
    Action.SYSTEM_RETIRE: Kind.REQUEST,
    Action.RECLAIM_VIEW: Kind.READ,  # scoped: a department's own candidates
    Action.PLANE_VIEW: Kind.READ,  # on the whole cloud only: scoped roles never see it
    # the operator's monitoring tells govcloud of the alerts it fired (the scorecard's alert
    # history, docs/reports.md); on the whole cloud only
    Action.ALERT_RECORD: Kind.OPERATE,
    Action.REQUEST_SUBMIT: Kind.REQUEST,
    Action.REQUEST_CANCEL: Kind.REQUEST,
    Action.REQUEST_APPROVE: Kind.DECIDE,
    Action.REQUEST_REJECT: Kind.DECIDE,
    Action.PRINCIPAL_MANAGE: Kind.ADMIN,
}

_OPERATOR_KINDS = frozenset({Kind.READ, Kind.AUDIT, Kind.EXPORT, Kind.OPERATE, Kind.REQUEST})

# Reads of the whole cloud's own machinery, which no department or city owns: never granted
# to the scoped roles.
_WHOLE_CLOUD = frozenset({Action.PLANE_VIEW, Action.ALERT_RECORD})

# What each role may do, before scope is considered.
_GRANTS: dict[Role, frozenset[Action]] = {
    Role.BUREAU_ADMIN: frozenset(Action),
    Role.BUREAU_AUDITOR: frozenset(a for a in Action if not a.writes),
    Role.OPERATOR: frozenset(a for a in Action if a.kind in _OPERATOR_KINDS),
    Role.CITY_OPERATOR: frozenset(a for a in Action if a.kind in _OPERATOR_KINDS) - _WHOLE_CLOUD,
    Role.DEPARTMENT_VIEWER: frozenset(a for a in Action if a.kind is Kind.READ) - _WHOLE_CLOUD,
    Role.CI: frozenset({a for a in Action if a.kind is Kind.READ}
                       | {Action.REQUEST_SUBMIT, Action.PROVISION, Action.SYSTEM_SCALE,
                          Action.SYSTEM_RESIZE}),
}

_WHY_NOT: dict[Role, str] = {
    Role.BUREAU_ADMIN: "",
    Role.BUREAU_AUDITOR: "the auditor reads, audits and exports, and never changes anything",
    Role.OPERATOR: "approving requests and managing principals are the bureau's",
    Role.CITY_OPERATOR: "approving requests and managing principals are the bureau's",
    Role.DEPARTMENT_VIEWER: "a department viewer only reads its own department",
    Role.CI: "a CI account reads, submits requests, provisions, scales and resizes, and "
             "never retires a system",
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Someone (or some pipeline) acting on the control plane.

    ``city`` is set exactly for a city-operator, ``department`` exactly for a
    department-viewer; names are lower-case so that two spellings can never be two principals.
    ``person`` is the human behind it (several principals may share one); it defaults to the
    principal's name and is kept as given, with its white space collapsed.
    """

    name: str
    role: Role
    city: str | None = None
    department: str | None = None
    person: str = ""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "role", Role(self.role))
        except ValueError:
            raise InvalidInput(f"unknown role {self.role!r}",
                               hint="roles: " + ", ".join(r.value for r in Role)) from None
        if not _NAME.fullmatch(self.name):
            raise InvalidInput(
                f"invalid principal name {self.name!r}",
                hint="use lower-case letters, digits, '.', '_', '@' or '-', "
                     "at most 64 characters (e.g. ci-pipeline or li.wei)")
        if (self.role is Role.CITY_OPERATOR) != (self.city is not None):
            raise InvalidInput(
                f"principal {self.name}: a city is given for, and only for, a city-operator",
                hint="use --city CITY with --role city-operator, and not with other roles")
        if (self.role is Role.DEPARTMENT_VIEWER) != (self.department is not None):
            raise InvalidInput(
                f"principal {self.name}: a department is given for, and only for, "
                "a department-viewer",
                hint="use --department CODE with --role department-viewer, "
                     "and not with other roles")
        for label, value in (("city", self.city), ("department", self.department)):
            if value is not None and not _CODE.fullmatch(value):
                raise InvalidInput(f"principal {self.name}: invalid {label} code {value!r}",
                                   hint="codes are lower-case, e.g. guangzhou or gd-psd")
        object.__setattr__(self, "person", person_name(self.person or self.name))

    @property
    def scope(self) -> str:
        """The principal's reach in words: 'all', 'city guangzhou' or 'department gd-psd'."""
        if self.city is not None:
            return f"city {self.city}"
        if self.department is not None:
            return f"department {self.department}"
        return "all"


@dataclass(frozen=True, slots=True)
class Target:
    """What an action is aimed at: one department (with its city), every tenant of a city,
    or — with neither — the whole cloud (sites, the full catalogue, principals, the audit log).

    A department's ``city`` is None for a provincial department that belongs to no city.
    """

    department: str | None = None
    city: str | None = None

    @classmethod
    def of(cls, department: str, city: str | None) -> Target:
        return cls(department=department, city=city)

    @property
    def is_global(self) -> bool:
        return self.department is None and self.city is None

    def __str__(self) -> str:
        if self.department is not None:
            where = f"city {self.city}" if self.city else "no city"
            return f"department {self.department} ({where})"
        if self.city is not None:
            return f"the tenants of city {self.city}"
        return "the whole cloud"


GLOBAL = Target()


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to "may this principal do this?", with the reason either way."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def _in_scope(principal: Principal, target: Target) -> bool:
    if principal.role is Role.CITY_OPERATOR:
        return target.city is not None and target.city == principal.city
    if principal.role is Role.DEPARTMENT_VIEWER:
        return target.department is not None and target.department == principal.department
    return True


def can(principal: Principal, action: Action, target: Target) -> Decision:
    """May ``principal`` do ``action`` on ``target``? The reason names the rule either way."""
    who = f"{principal.name} ({principal.role})"
    if action not in _GRANTS[principal.role]:
        why = "the control plane's own machinery is for roles over the whole cloud" \
            if action in _WHOLE_CLOUD else _WHY_NOT[principal.role]
        return Decision(False, f"{who} may not {action}: {why}")
    if not _in_scope(principal, target):
        return Decision(False, f"{who} may {action} only within {principal.scope}, "
                               f"not on {target}")
    return Decision(True, f"{who} may {action} on {target}")


def require(principal: Principal, action: Action, target: Target) -> None:
    """``can``, raising Forbidden (with the reason) when the answer is no."""
    decision = can(principal, action, target)
    if not decision:
        raise Forbidden(decision.reason,
                        hint="ask a bureau-admin for a principal with the right role or scope")


def person_name(value: str) -> str:
    """A person's name as kept: Unicode NFC, white space collapsed; 1 to 128 characters of
    letters, digits, spaces and ``.,'@()-·``. Raises InvalidInput otherwise."""
    if not isinstance(value, str):
        raise InvalidInput("a person's name must be text", hint='e.g. --person "Li Wei"')
    name = " ".join(unicodedata.normalize("NFC", value).split())
    bad = _PERSON_BAD.search(name)
    if not name or len(name) > MAX_PERSON or bad is not None:
        shown = repr(name[:MAX_PERSON]) if bad is None else f"character {bad.group()!r}"
        raise InvalidInput(
            f"invalid person name ({'empty' if not name else shown})",
            hint=f"the human behind the principal, at most {MAX_PERSON} characters of "
                 "letters, digits, spaces and .,'@()-· (e.g. \"Li Wei\" or 李伟)")
    return name


def person_key(name: str) -> str:
    """What compares equal for two spellings of one person's name (``same_person``)."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def same_person(a: str, b: str) -> bool:
    """Do ``a`` and ``b`` name the same person (case, white space and Unicode composition
    aside)?"""
    return person_key(a) == person_key(b)


def may_approve(principal: Principal, requester_person: str) -> Decision:
    """Requester ≠ approver: nobody decides on a request they submitted themselves — with
    any of their principals (``requester_person`` is the person behind the submitting one).

    This is the separation check only; the caller also asks ``can(principal,
    Action.REQUEST_APPROVE, target)`` for the role and scope.
    """
    if same_person(principal.person, requester_person):
        return Decision(False, f"{principal.name} ({principal.person}) submitted this request, "
                               "with this or another principal, and so may not decide on it "
                               "(requester and approver must differ, as persons)")
    return Decision(True, f"{principal.person} did not submit this request "
                          f"(it was {requester_person.strip()})")


def may_approve_principal(approver: Principal, issued_by_person: str | None) -> Decision:
    """Four eyes on privileged principals: the bureau-admin approving one's token is another
    person than the one who issued it (``issued_by_person``: who added the principal or
    rotated its token; None when that was done with direct database access)."""
    if approver.role is not Role.BUREAU_ADMIN:
        return Decision(False, f"{approver.name} ({approver.role}) may not approve principals: "
                               "only a bureau-admin may")
    if issued_by_person is not None and same_person(approver.person, issued_by_person):
        return Decision(False, f"{approver.name} ({approver.person}) issued this principal's "
                               "token, with this or another principal, and so may not approve "
                               "it (issuer and approver must differ, as persons)")
    return Decision(True, f"{approver.person} did not issue this principal's token")


class DepartmentRef(Protocol):
    """Anything with a department code and its city (None for a provincial department)."""

    @property
    def code(self) -> str: ...

    @property
    def city(self) -> str | None: ...


D = TypeVar("D", bound=DepartmentRef)


def visible_departments(principal: Principal, all_departments: Iterable[D],
                        action: Action = Action.VIEW_DEPARTMENT) -> list[D]:
    """The departments ``principal`` may ``action``, in the order given.

    Use it to filter every list, count, search and export, so that a scoped principal never
    learns of another department (not even how many there are).
    """
    return [d for d in all_departments if can(principal, action, Target.of(d.code, d.city))]


# --- the permission table, for docs/security.md (a test keeps the two equal) ------------------

_SAMPLE_CITY = "sample-city"
_SAMPLE_DEPARTMENT = "sample-department"


def _sample_principal(role: Role) -> Principal:
    return Principal(
        name=f"sample-{role.value}",
        role=role,
        city=_SAMPLE_CITY if role is Role.CITY_OPERATOR else None,
        department=_SAMPLE_DEPARTMENT if role is Role.DEPARTMENT_VIEWER else None,
    )


def reach(role: Role, action: Action) -> str:
    """How far ``role`` may ``action``: 'all', 'own city', 'own department' or '—'."""
    principal = _sample_principal(role)
    if can(principal, action, GLOBAL):
        return "all"
    if can(principal, action, Target.of("other-department", _SAMPLE_CITY)):
        return "own city"
    if can(principal, action, Target.of(_SAMPLE_DEPARTMENT, None)):
        return "own department"
    return "—"


def permissions_markdown() -> str:
    """The role × action table as Markdown (the block between the markers in security.md)."""
    roles = list(Role)
    lines = ["| action | " + " | ".join(r.value for r in roles) + " |",
             "| --- | " + " | ".join("---" for _ in roles) + " |"]
    for action in Action:
        cells = " | ".join(reach(r, action) for r in roles)
        lines.append(f"| `{action.value}` ({action.kind}) | {cells} |")
    return "\n".join(lines) + "\n"
