"""DR drills, pure: the plan's checks, approval (requester ≠ approver, as persons), what may
run, the shared step machine's resume point, and the evidence record — its digest, its round
trip through JSON and its Markdown report with every user string inert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from govcloud.domain.drill_evidence import (
    Checksum,
    DrillEvidence,
    StepEvidence,
    SystemEvidence,
    evidence_from_json,
    md,
    render_markdown,
)
from govcloud.domain.drills import (
    DRILL_STEPS,
    NO_ARTIFACT_HINT,
    RUNNING_COPY_HINT,
    SNAPSHOT_HINT,
    DrillPlan,
    DrillState,
    DrillStep,
    check_approver,
    check_runnable,
    check_site,
    made_by,
    not_drillable,
    resource_name,
)
from govcloud.domain.rbac import Principal, Role
from govcloud.domain.recovery import Artifact, ArtifactKind, PointKind, PointRecord
from govcloud.domain.sites import default_sites
from govcloud.domain.steps import StepStatus, first_unfinished
from govcloud.domain.waves import STEPS, Step, next_step
from govcloud.errors import ConflictError, Forbidden, InvalidInput

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
HOSTILE = "evil|*_`<script>alert(1)</script>\x1b[2J](http://x)#"


def test_the_step_machine_resumes_at_the_first_step_not_succeeded() -> None:
    done = {DrillStep.SNAPSHOT_PROD: StepStatus.SUCCEEDED,
            DrillStep.ISOLATED_NETWORK: StepStatus.SUCCEEDED,
            DrillStep.BRING_UP: StepStatus.INTERRUPTED}
    assert first_unfinished(DRILL_STEPS, done) is DrillStep.BRING_UP
    assert first_unfinished(DRILL_STEPS, dict.fromkeys(DRILL_STEPS, StepStatus.SUCCEEDED)) \
        is None
    # the waves' next_step is the same machine
    assert next_step({Step.PRECHECK: StepStatus.SUCCEEDED}) is STEPS[1]


def test_a_plan_goes_into_a_dr_site_only() -> None:
    sites = default_sites()
    assert check_site("DR-REMOTE", sites).name == "DR-REMOTE"
    with pytest.raises(InvalidInput, match="DR site") as exc:
        check_site("PROD", sites)
    assert exc.value.hint is not None and "DR-LOCAL" in exc.value.hint
    with pytest.raises(InvalidInput):
        DrillPlan("gd-psd", "a/../b", "DR-LOCAL", "ops", "ops")
    assert DrillPlan("gd-psd", None, "DR-LOCAL", "ops", "ops").scope == \
        "every system of gd-psd into DR-LOCAL"


def test_the_requester_may_not_approve_with_any_principal() -> None:
    boss = Principal("boss", Role.BUREAU_ADMIN, person="Li Wei")
    with pytest.raises(Forbidden, match="requester and approver must differ"):
        check_approver(boss, "li wei", DrillState.PLANNED)  # the same person, another spelling
    check_approver(boss, "Zhang San", DrillState.PLANNED)
    with pytest.raises(ConflictError, match="not waiting for approval"):
        check_approver(boss, "Zhang San", DrillState.APPROVED)


def test_only_an_approved_drill_runs_and_only_once() -> None:
    with pytest.raises(ConflictError, match="not approved") as exc:
        check_runnable(DrillState.PLANNED, None)
    assert exc.value.hint is not None and "dr drill approve" in exc.value.hint
    check_runnable(DrillState.APPROVED, "boss")
    check_runnable(DrillState.INTERRUPTED, "boss")  # resumed
    for done in (DrillState.PASSED, DrillState.FAILED):
        with pytest.raises(ConflictError, match="already ran"):
            check_runnable(done, "boss")


def test_resources_are_named_for_their_drill_only() -> None:
    name = resource_name(12, "net")
    assert made_by(12, name) and not made_by(1, name) and not made_by(120, name)
    assert not made_by(12, None) and not made_by(12, "ledger-app-1")


def evidence(system: str = "ledger", output: str = "ok") -> DrillEvidence:
    return DrillEvidence(
        drill_id=7, department="gd-agri", system=system, site="DR-REMOTE", result="passed",
        requester="ops", approver="boss", runner="ops", started_at=T0,
        finished_at=T0 + timedelta(minutes=3),
        steps=(StepEvidence("snapshot_prod", "succeeded", T0, T0 + timedelta(seconds=1),
                            output),),
        systems=(SystemEvidence(system, ("ledger-app-1",), T0 - timedelta(minutes=10),
                                1800, 3600, 600, 95, True,
                                (Checksum("ledger-app-1", "/srv/a", "sha256:" + "a" * 64,
                                          "sha256:" + "a" * 64),
                                 Checksum("ledger-app-1", "/srv/b", "sha256:" + "b" * 64,
                                          None))),),
        leftovers_checked=True, prod_compared=True)


def test_the_evidence_digest_is_stable_and_survives_storage() -> None:
    e = evidence()
    assert e.digest().startswith("sha256:") and len(e.digest()) == 71
    back = evidence_from_json(e.as_json())
    assert back.digest() == e.digest() and back == e
    assert evidence(output="other").digest() != e.digest()


def test_the_markdown_report_says_what_happened() -> None:
    text = render_markdown(evidence())
    assert text.startswith("# DR drill 7: system ledger of gd\\-agri into DR\\-REMOTE\n")
    assert "1 of 2 checksums matched" in text and "MISMATCH" in text and "missing" in text
    assert "| ledger | 2026-12-07 08:50:00 UTC | 30m | 10m (met) | 1h | 1m35s (met) | yes |" \
        in text
    assert "Nothing the drill made is left in any region." in text
    assert "Production is unchanged" in text
    assert evidence().digest() in text


def test_every_user_string_is_inert_markdown() -> None:
    text = render_markdown(evidence(system=HOSTILE, output="```\n# not a heading\n```"))
    assert "<script>" not in text and "\x1b" not in text
    assert "\\<script\\>" in text and "\\|" in text and "\\\\x1b" in text
    # a step's output cannot close its fence
    assert "````text\n```\n# not a heading\n```\n````" in text
    assert md("a|b") == "a\\|b" and md(None) == ""


def _point(*artifacts: Artifact, kind: PointKind = PointKind.FILE_SYNC) -> PointRecord:
    return PointRecord("gd-psd", "case", "DR-LOCAL", "copy-1",
                       datetime(2026, 12, 1, tzinfo=UTC), kind, 1, "sha256:" + "0" * 64, id=7,
                       artifacts=artifacts)


def test_why_a_point_without_image_or_backup_cannot_be_drilled() -> None:
    running = _point(Artifact(ArtifactKind.SERVER, "DR-LOCAL", "copy-1"))
    reason, hint = not_drillable("case-vm-1", running, "DR-LOCAL")
    assert reason == ("case-vm-1: its recovery point #7 (file-sync) is the running copy's own "
                      "disk in DR-LOCAL (a hot or warm copy's file sync), not an image or "
                      "backup a drill could boot apart from it")
    assert hint == RUNNING_COPY_HINT and "dr_protect_volumes = always" in hint
    snap = _point(Artifact(ArtifactKind.VOLUME_SNAPSHOT, "DR-LOCAL", "snap-1"),
                  kind=PointKind.VOLUME_SNAPSHOT)
    reason, hint = not_drillable("case-vm-1", snap, "DR-LOCAL")
    assert "holds Cinder volume snapshots in DR-LOCAL" in reason and hint == SNAPSHOT_HINT
    away = _point(Artifact(ArtifactKind.BACKUP, "DR-REMOTE", "b-1"),
                  kind=PointKind.VOLUME_BACKUP)
    reason, hint = not_drillable("case-vm-1", away, "DR-LOCAL")
    assert reason == ("case-vm-1: its recovery point #7 (volume-backup) holds no image or "
                      "backup in DR-LOCAL (it holds backup in DR-REMOTE)")
    assert hint == NO_ARTIFACT_HINT
