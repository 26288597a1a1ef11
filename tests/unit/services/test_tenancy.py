"""What applying the department catalogue decides, against a fake cloud: a plan with a refusal
changes nothing anywhere, a matching cloud is left alone, changes are made and audited site by
site, a project made for one site of a shared Keystone serves the others, and a failing site
stops the sites after it. (The planning itself: tests/unit/test_tenancy_plan.py; against the
simulator: tests/integration/test_tenancy_sim.py.)"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from govcloud.domain.catalogue import Catalogue
from govcloud.domain.tenancy import ObservedSite, ProjectCreate, ProjectRecord, QuotaFigure
from govcloud.errors import InvalidInput, PermanentError, TemporaryError
from govcloud.services import tenancy as svc
from govcloud.services.tenancy import TenancyRefused, apply_tenancy
from tests.unit.tenancy_fixtures import BIG, SITES, SMALL, applied_cloud, catalogue, dept

CODE = "gd-x"


@dataclass
class FakeCloud:
    """govcloud.cloud.tenancy over observations fixed per site; one Keystone for all sites
    unless the observations say otherwise. Records every write."""

    observed: Mapping[str, ObservedSite]
    fail_in: str | None = None  # set_quotas raises in this site
    made: dict[str, ProjectRecord] = field(default_factory=dict)
    writes: list[tuple[str, str, Any]] = field(default_factory=list)

    def observe_site(self, conn: Any, *, site: str, codes: Iterable[str]) -> ObservedSite:
        return self.observed[site]

    def create_project(self, conn: Any, create: ProjectCreate, *,
                       site: str) -> tuple[ProjectRecord, bool]:
        if create.code in self.made:  # the shared Keystone has it already: adopted
            return self.made[create.code], False
        self.made[create.code] = ProjectRecord(f"new-{create.code}", create.name,
                                               create.description, create.tags)
        self.writes.append((site, "create", create.code))
        return self.made[create.code], True

    def find_project(self, conn: Any, code: str, *, site: str) -> ProjectRecord | None:
        return self.made.get(code)

    def set_quotas(self, conn: Any, project_id: str, values: Mapping[str, int], *,
                   site: str) -> None:
        if site == self.fail_in:
            raise TemporaryError(f"site {site}: cannot connect")
        self.writes.append((site, "quotas", (project_id, dict(values))))

    def update_project(self, conn: Any, project_id: str, *, site: str, record: str | None,
                       **kwargs: Any) -> tuple[ProjectRecord, ProjectRecord]:
        self.writes.append((site, "update", record))
        return (ProjectRecord(project_id, CODE, "", ()),
                ProjectRecord(project_id, CODE, "", (record or "",)))


@pytest.fixture
def audited() -> list[tuple[str, str]]:
    return []


def run(cat: Catalogue, fake: FakeCloud, audited: list[tuple[str, str]],
        monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> svc.TenancyResult:
    for name in ("observe_site", "create_project", "find_project", "set_quotas",
                 "update_project"):
        monkeypatch.setattr(svc.cloud, name, getattr(fake, name))
    return apply_tenancy(cat, connections={s: object() for s in SITES},
                         audit=lambda action, target, before, after:
                         audited.append((action, target)), **kwargs)


def cloud_of(observed: list[ObservedSite], **kwargs: Any) -> FakeCloud:
    return FakeCloud({o.site: o for o in observed}, **kwargs)


def test_a_cloud_that_matches_the_catalogue_is_left_alone(
        monkeypatch: pytest.MonkeyPatch, audited: list[tuple[str, str]]) -> None:
    cat = catalogue(dept(CODE, dict.fromkeys(SITES, SMALL)))
    fake = cloud_of(applied_cloud(cat))
    result = run(cat, fake, audited, monkeypatch)
    assert not result.changed and fake.writes == [] and audited == []
    assert result.summary() == "no changes: 1 departments already match the catalogue in 3 sites"
    assert result.projects == {(s, CODE): (f"id-{CODE}", CODE) for s in SITES}


def test_a_quota_below_usage_refuses_the_whole_apply_and_changes_nothing(
        monkeypatch: pytest.MonkeyPatch, audited: list[tuple[str, str]]) -> None:
    before = catalogue(dept(CODE, dict.fromkeys(SITES, BIG)))
    fake = cloud_of(applied_cloud(before, used={(CODE, "DR-REMOTE"): {"cores": 100}}))
    smaller = catalogue(dept(CODE, dict.fromkeys(SITES, SMALL)))  # PROD alone would be fine
    with pytest.raises(TenancyRefused) as caught:
        run(smaller, fake, audited, monkeypatch)
    assert fake.writes == [] and audited == []
    assert "nothing was changed in any site" in caught.value.message
    assert f"DR-REMOTE {CODE} cores" in caught.value.message
    assert "PROD" not in caught.value.message
    assert isinstance(caught.value, InvalidInput)  # the caller's to fix, not retried


def test_raised_quotas_are_set_recorded_and_audited_in_every_site(
        monkeypatch: pytest.MonkeyPatch, audited: list[tuple[str, str]]) -> None:
    fake = cloud_of(applied_cloud(catalogue(dept(CODE, dict.fromkeys(SITES, SMALL)))))
    recorded: list[tuple[str, str, str, dict[str, QuotaFigure]]] = []
    result = run(catalogue(dept(CODE, dict.fromkeys(SITES, BIG))), fake, audited, monkeypatch,
                 quotas_set=lambda site, code, pid, figures:
                 recorded.append((site, code, pid, dict(figures))))
    quota_writes = [(site, values) for site, kind, values in fake.writes if kind == "quotas"]
    assert [site for site, _ in quota_writes] == list(SITES)  # production first, in order
    assert all(values == (f"id-{CODE}", BIG.as_dict()) for _, values in quota_writes)
    assert [(r[0], r[2]) for r in recorded] == [(s, f"id-{CODE}") for s in SITES]
    assert recorded[0][3]["cores"] == QuotaFigure(400, 0)
    assert audited == [(action, f"department:{CODE}@{s}") for s in SITES
                       for action in ("tenancy.quota.set", "tenancy.project.update")]
    assert result.per_site() == {s: {"tenancy.quota.set": 1, "tenancy.project.update": 1}
                                 for s in SITES}
    assert result.summary().startswith(
        "applied: PROD: 0 projects created, 1 quota set changed, 1 project updated; DR-LOCAL")


def test_a_project_made_for_one_site_of_a_shared_keystone_serves_the_others(
        monkeypatch: pytest.MonkeyPatch, audited: list[tuple[str, str]]) -> None:
    cat = catalogue(dept(CODE, dict.fromkeys(SITES, SMALL)))
    empty = [ObservedSite(site=o.site, identity=o.identity) for o in applied_cloud(cat)]
    fake = cloud_of(empty)
    result = run(cat, fake, audited, monkeypatch)
    assert [w for w in fake.writes if w[1] == "create"] == [("PROD", "create", CODE)]
    assert audited.count(("tenancy.project.create", f"department:{CODE}@PROD")) == 1
    assert not any(a == "tenancy.project.create" and "PROD" not in t for a, t in audited)
    assert result.projects == {(s, CODE): (f"new-{CODE}", CODE) for s in SITES}
    assert {v[0] for _, kind, v in fake.writes if kind == "quotas"} == {f"new-{CODE}"}


def test_a_failing_site_stops_the_apply_there_and_what_was_done_stays_audited(
        monkeypatch: pytest.MonkeyPatch, audited: list[tuple[str, str]]) -> None:
    fake = cloud_of(applied_cloud(catalogue(dept(CODE, dict.fromkeys(SITES, SMALL)))),
                    fail_in="DR-LOCAL")
    with pytest.raises(TemporaryError, match="DR-LOCAL"):
        run(catalogue(dept(CODE, dict.fromkeys(SITES, BIG))), fake, audited, monkeypatch)
    assert {site for site, _, _ in fake.writes} == {"PROD"}  # DR-REMOTE never touched
    assert {t for _, t in audited} == {f"department:{CODE}@PROD"}


def test_sites_without_a_connection_or_no_sites_at_all_are_refused() -> None:
    cat = catalogue(dept(CODE, dict.fromkeys(SITES, SMALL)))
    with pytest.raises(InvalidInput, match="no connection for site.*DR-REMOTE") as caught:
        svc.observe(cat, connections={"PROD": object()}, sites=["PROD", "DR-REMOTE"])
    assert "connected sites: PROD" in (caught.value.hint or "")
    with pytest.raises(InvalidInput, match="no sites to work on"):
        svc.observe(cat, connections={})


def test_the_first_failing_site_is_raised_after_every_read_finished(
        monkeypatch: pytest.MonkeyPatch) -> None:
    finished: list[str] = []

    def read(conn: Any, *, site: str, codes: Iterable[str]) -> ObservedSite:
        finished.append(site)
        if site != "PROD":
            raise TemporaryError(f"site {site}: down")
        return ObservedSite(site=site, identity="k")

    monkeypatch.setattr(svc.cloud, "observe_site", read)
    cat = catalogue(dept(CODE, dict.fromkeys(SITES, SMALL)))
    with pytest.raises(TemporaryError, match="site DR-LOCAL: down"):
        svc.observe(cat, connections={s: object() for s in SITES})
    assert sorted(finished) == sorted(SITES)


def test_a_project_already_there_on_a_retry_is_adopted_not_created_again(
        monkeypatch: pytest.MonkeyPatch, audited: list[tuple[str, str]]) -> None:
    cat = catalogue(dept(CODE, dict.fromkeys(SITES, SMALL)))
    empty = [ObservedSite(site=o.site, identity=o.identity) for o in applied_cloud(cat)]
    fake = cloud_of(empty)  # the read saw nothing, but a crashed apply had made it since
    fake.made[CODE] = ProjectRecord(f"old-{CODE}", CODE)
    result = run(cat, fake, audited, monkeypatch)
    assert not any(action == "tenancy.project.create" for action, _ in audited)
    assert result.projects == {(s, CODE): (f"old-{CODE}", CODE) for s in SITES}


def test_changes_are_counted_per_site_and_action(
        monkeypatch: pytest.MonkeyPatch, audited: list[tuple[str, str]]) -> None:
    codes = (CODE, "gd-y")
    fake = cloud_of(applied_cloud(catalogue(*(dept(c, dict.fromkeys(SITES, SMALL))
                                              for c in codes))))
    result = run(catalogue(*(dept(c, dict.fromkeys(SITES, BIG)) for c in codes)), fake,
                 audited, monkeypatch)
    assert result.per_site() == {s: {"tenancy.quota.set": 2, "tenancy.project.update": 2}
                                 for s in SITES}
    assert "PROD: 0 projects created, 2 quota sets changed, 2 projects updated" in \
        result.summary()


def test_a_project_to_be_created_that_cannot_be_found_is_a_permanent_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    found: dict[str, ProjectRecord] = {}
    monkeypatch.setattr(svc.cloud, "find_project",
                        lambda conn, code, site: found.get(code))
    applier = svc._Applier("DR-LOCAL", object(), "keystone-2", None, threading.Lock(), {})
    assert applier.project_id(CODE, "planned-id") == "planned-id"
    with pytest.raises(PermanentError, match="cannot be found") as caught:
        applier.project_id(CODE, None)
    assert "run plan again" in (caught.value.hint or "")
    found[CODE] = ProjectRecord("made-elsewhere", CODE)
    assert applier.project_id(CODE, None) == "made-elsewhere"
