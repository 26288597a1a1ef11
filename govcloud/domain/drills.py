"""DR drills (pure): the plan, its approval, the steps a run goes through and its states.

A drill proves that a system (or every system of a department) can be recovered in a DR site
without touching production: the bureau approves the plan (another person than the one who
asked for it), then a run goes through ``DRILL_STEPS`` in order — on the resumable step machine
shared with migration waves (``govcloud.domain.steps``) — and leaves an evidence record
(``govcloud.domain.drill_evidence``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from govcloud.domain.rbac import Principal, may_approve
from govcloud.domain.recovery import ArtifactKind, PointRecord
from govcloud.domain.sites import Site, SiteRole
from govcloud.domain.text import check_identifier
from govcloud.errors import ConflictError, Forbidden, InvalidInput

PREFIX = "govcloud-drill"


class DrillStep(StrEnum):
    SNAPSHOT_PROD = "snapshot_prod"          # PROD's servers of the system, before
    ISOLATED_NETWORK = "isolated_network"    # a network + subnet in the DR site, no router
    BRING_UP = "bring_up"                    # a new server per copy from its recovery point
    HEALTH_CHECK = "health_check"            # the playbook: service answers, checksums match
    TEARDOWN = "teardown"                    # delete what the drill made
    VERIFY_LEFTOVERS = "verify_leftovers"    # nothing of the drill left in any region
    COMPARE_PROD = "compare_prod"            # PROD after == PROD before
    RECORD = "record"                        # the summary for the posture, the evidence


DRILL_STEPS: tuple[DrillStep, ...] = tuple(DrillStep)
# the steps a cleanup runs (after a crash or a failure: whatever was made is removed)
CLEANUP_STEPS: tuple[DrillStep, ...] = (DrillStep.TEARDOWN, DrillStep.VERIFY_LEFTOVERS)


class DrillState(StrEnum):
    PLANNED = "planned"        # waits for the bureau's approval
    APPROVED = "approved"      # may run
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # the run ended mid-way (cancelled, crashed): run or clean up
    WAITING = "waiting-window"  # its change's window closed: torn down, it runs again anew


FINISHED = (DrillState.PASSED, DrillState.FAILED)


def resource_name(drill_id: int, what: str) -> str:
    """The name every resource a drill makes carries: ``govcloud-drill-<id>-<what>``, so the
    teardown and the leftover check find them by name in every region, recorded or not."""
    return f"{PREFIX}-{drill_id}-{what}"


def made_by(drill_id: int, name: str | None) -> bool:
    return bool(name) and str(name).startswith(f"{PREFIX}-{drill_id}-")


@dataclass(frozen=True, slots=True)
class DrillPlan:
    """What a drill is asked for: a department's system (None: all its systems) into a DR
    site, by whom (the principal and the person behind it)."""

    department: str
    system: str | None
    site: str
    requester: str
    requester_person: str

    def __post_init__(self) -> None:
        check_identifier(self.department, "department")
        if len(self.department) > 64:
            raise InvalidInput("a department code has at most 64 characters")
        if self.system is not None:
            check_identifier(self.system, "system")
            if len(self.system) > 128:
                raise InvalidInput("a system name has at most 128 characters")
        check_identifier(self.site, "site")

    @property
    def scope(self) -> str:
        what = f"system {self.system}" if self.system else "every system"
        return f"{what} of {self.department} into {self.site}"


def check_site(site: str, sites: Sequence[Site]) -> Site:
    """The configured DR site a drill goes into (same-city or remote DR)."""
    dr = [s for s in sites if s.role in (SiteRole.SAME_CITY_DR, SiteRole.REMOTE_DR)]
    found = next((s for s in dr if s.name == site), None)
    if found is None:
        raise InvalidInput(f"a drill goes into a DR site, not {site[:64]!r}",
                           hint="DR sites: " + (", ".join(s.name for s in dr) or "none"))
    return found


def check_approver(principal: Principal, requester_person: str, state: DrillState) -> None:
    """A planned drill is approved by another person than the one who asked for it (the
    rule of provisioning requests: ``rbac.may_approve``; the role and scope are the caller's
    ``can(principal, Action.REQUEST_APPROVE, department)``, the bureau's)."""
    decision = may_approve(principal, requester_person)
    if not decision:
        raise Forbidden(decision.reason,
                        hint="a bureau-admin who is another person must approve it")
    if state is not DrillState.PLANNED:
        raise ConflictError(f"the drill is {state.value}, not waiting for approval",
                            hint="only a planned drill is approved")


def check_runnable(state: DrillState, approver: str | None) -> None:
    if state is DrillState.PLANNED or approver is None:
        raise ConflictError("the drill is not approved yet",
                            hint="a bureau-admin approves it first: "
                                 "`govcloud dr drill approve ID`")
    if state in FINISHED:
        raise ConflictError(f"the drill already ran ({state.value})",
                            hint="plan a new drill (`govcloud dr drill plan`)")


SNAPSHOT_HINT = ("drills from Cinder volume snapshots are not built yet: protect the copy "
                 "with volume cycles (Cinder backups, `dr_protect_volumes`)")
RUNNING_COPY_HINT = ("a drill brings up a copy's data in an image or Cinder backups and never "
                     "boots the copy itself: protect this copy with volume cycles "
                     "(`dr_protect_volumes = always`, for members with volumes), or drill the "
                     "site of the system's cold copy")
NO_ARTIFACT_HINT = ("the protection worker records recovery points with images or Cinder "
                    "backups")


def not_drillable(member: str, point: PointRecord, site: str) -> tuple[str, str]:
    """Why a drill cannot bring ``member`` up in ``site`` from ``point`` (which holds no image
    and no Cinder backup there), and the hint: (reason, hint)."""
    held = [a for a in point.artifacts if a.site == site]
    kinds = {a.kind for a in held}
    label = f"{member}: its recovery point #{point.id} ({point.kind.value})"
    if ArtifactKind.VOLUME_SNAPSHOT in kinds:
        return (f"{label} holds Cinder volume snapshots in {site}, which a drill does not "
                "restore from yet", SNAPSHOT_HINT)
    if ArtifactKind.SERVER in kinds:
        return (f"{label} is the running copy's own disk in {site} (a hot or warm copy's file "
                "sync), not an image or backup a drill could boot apart from it",
                RUNNING_COPY_HINT)
    elsewhere = ", ".join(sorted({f"{a.kind.value} in {a.site}" for a in point.artifacts}))
    return (f"{label} holds no image or backup in {site}"
            + (f" (it holds {elsewhere})" if elsewhere else ""), NO_ARTIFACT_HINT)
