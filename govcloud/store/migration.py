"""Migration records in the store: legacy hosts, surveys, waves, step runs, events, sign-offs
and endpoints. Functions take a ``Session`` whose transaction the caller owns."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, or_
from sqlalchemy import func as sa_func
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from govcloud.domain.legacy import Endpoint, LegacyHost, Survey, TargetCopy
from govcloud.domain.scorecard import WaveProgress
from govcloud.domain.waves import STEPS, PlannedWave, Step, StepStatus
from govcloud.errors import ConflictError, NotFound
from govcloud.store.inventory import aware
from govcloud.store.tables import utcnow
from govcloud.store.tables_migration import (
    HostSurveyRow,
    LegacyHostRow,
    MigrationEventRow,
    SignoffRow,
    StepRunRow,
    SystemEndpointRow,
    WaveHostRow,
    WaveRow,
)

# --- hosts and surveys ---------------------------------------------------------------------------


def upsert_hosts(session: Session, hosts: Iterable[LegacyHost]) -> tuple[int, int]:
    """Insert or update hosts; (created, updated)."""
    created = updated = 0
    for h in hosts:
        row = session.get(LegacyHostRow, h.name)
        spec = json.dumps(h.to_dict(), sort_keys=True)
        if row is None:
            session.add(LegacyHostRow(name=h.name, department=h.department, system=h.system,
                                      spec_json=spec))
            created += 1
        else:
            if row.department != h.department:
                raise ConflictError(f"host {h.name} is already {row.department}'s, not "
                                    f"{h.department}'s", hint="host names are unique")
            if row.spec_json != spec:
                row.system, row.spec_json, row.imported_at = h.system, spec, utcnow()
                session.add(row)
                updated += 1
    session.flush()
    return created, updated


def list_hosts(session: Session, *, department: str | None = None,
               departments: Sequence[str] | None = None) -> list[LegacyHost]:
    query = select(LegacyHostRow).order_by(col(LegacyHostRow.department),
                                           col(LegacyHostRow.name))
    if department is not None:
        query = query.where(LegacyHostRow.department == department)
    if departments is not None:
        query = query.where(col(LegacyHostRow.department).in_(list(departments)))
    return [LegacyHost.from_dict(json.loads(r.spec_json)) for r in session.exec(query)]


def no_host(name: str) -> NotFound:
    """What asking for a legacy host that is not there answers (``get_host``)."""
    return NotFound(f"no legacy host named {name!r}",
                    hint="`govcloud hosts list`; hosts come from `govcloud hosts import`")


def get_host(session: Session, name: str) -> LegacyHost:
    row = session.get(LegacyHostRow, name)
    if row is None:
        raise no_host(name)
    return LegacyHost.from_dict(json.loads(row.spec_json))


def save_survey(session: Session, host: str, survey: Survey, at: datetime) -> None:
    row = session.get(HostSurveyRow, host) or HostSurveyRow(host=host, at=at, data_json="{}")
    row.at, row.reachable = at, survey.reachable
    row.data_json = json.dumps(survey.to_dict(), sort_keys=True)
    session.add(row)


def surveys(session: Session, hosts: Iterable[str]) -> dict[str, tuple[Survey, datetime]]:
    names = list(hosts)
    rows = session.exec(select(HostSurveyRow).where(col(HostSurveyRow.host).in_(names)))
    return {r.host: (Survey.from_dict(json.loads(r.data_json)), aware(r.at) or r.at)
            for r in rows}


# --- waves ---------------------------------------------------------------------------------------

def waves(session: Session, *, department: str | None = None) -> list[WaveRow]:
    query = select(WaveRow).order_by(col(WaveRow.department), col(WaveRow.number))
    if department is not None:
        query = query.where(WaveRow.department == department)
    return list(session.exec(query))


def no_wave(wave_id: str) -> NotFound:
    """What asking for a wave that is not there answers (``get_wave``)."""
    return NotFound(f"no wave {wave_id!r}",
                    hint="`govcloud migrate waves --department D` lists them")


def get_wave(session: Session, wave_id: str) -> WaveRow:
    row = session.get(WaveRow, wave_id)
    if row is None:
        raise no_wave(wave_id)
    return row


def wave_hosts(session: Session, wave_id: str) -> list[WaveHostRow]:
    return list(session.exec(select(WaveHostRow).where(WaveHostRow.wave == wave_id)
                             .order_by(col(WaveHostRow.host))))


def wave_of_host(session: Session, host: str) -> WaveHostRow | None:
    return session.exec(select(WaveHostRow).where(WaveHostRow.host == host)).first()


def replace_plan(session: Session, department: str, planned: Sequence[PlannedWave]) -> None:
    """Store a new plan; refused once any wave of the department has started."""
    old = waves(session, department=department)
    started = [w.id for w in old if w.status != "planned"]
    if started:
        raise ConflictError(f"waves {', '.join(started)} of {department} already started; "
                            "the plan is kept", hint="finish or roll back those waves first")
    ids = [w.id for w in old]
    for tbl in (WaveHostRow, StepRunRow):
        session.execute(delete(tbl).where(col(tbl.wave).in_(ids)))
    session.execute(delete(WaveRow).where(col(WaveRow.id).in_(ids)))
    for p in planned:
        wid = f"{department}-{p.name}"
        session.add(WaveRow(id=wid, department=department, number=p.number,
                            rehearsal=p.rehearsal, dr_level=p.dr_level,
                            window_start=p.window.start, window_end=p.window.end))
        for host in p.hosts:
            session.add(WaveHostRow(wave=wid, host=host))
            for step in STEPS:
                session.add(StepRunRow(wave=wid, host=host, step=step.value))
    session.flush()


def step_rows(session: Session, wave_id: str) -> list[StepRunRow]:
    return list(session.exec(select(StepRunRow).where(StepRunRow.wave == wave_id)))


def step_statuses(session: Session, wave_id: str) -> dict[str, dict[Step, StepStatus]]:
    out: dict[str, dict[Step, StepStatus]] = {}
    for r in step_rows(session, wave_id):
        out.setdefault(r.host, {})[Step(r.step)] = StepStatus(r.status)
    return out


def set_step(session: Session, wave_id: str, host: str, step: Step, status: StepStatus, *,
             at: datetime, error: str | None = None, ident: str | None = None) -> None:
    row = session.get(StepRunRow, (wave_id, host, step.value))
    if row is None:
        row = StepRunRow(wave=wave_id, host=host, step=step.value)
    row.status = status.value
    if status is StepStatus.RUNNING:
        row.attempts += 1
        row.started_at, row.finished_at, row.error = at, None, None
        row.seconds = None
    else:
        row.finished_at = at
        if row.started_at is not None:
            row.seconds = (at - (aware(row.started_at) or at)).total_seconds()
        row.error = error
    if ident is not None:
        row.ident = ident
    session.add(row)


def set_target(session: Session, wave_id: str, host: str, target: Endpoint,
               server: str | None, *, copies: Sequence[TargetCopy] = (),
               request: int | None = None) -> None:
    """Record the host's target, its DR copies and the provisioning request that made them
    (``target_json``: the target's endpoint, plus ``copies`` and ``request``)."""
    row = session.get(WaveHostRow, (wave_id, host))
    if row is None:
        raise NotFound(f"{host} is not in wave {wave_id}")
    record = {**target.to_dict(), "copies": [c.to_dict() for c in copies],
              "request": request}
    row.target_json, row.target_server = json.dumps(record), server
    session.add(row)


def clear_target(session: Session, wave_id: str, host: str) -> None:
    """Forget the host's target (its servers were deleted): a new run provisions again."""
    row = session.get(WaveHostRow, (wave_id, host))
    if row is not None:
        row.target_json, row.target_server = None, None
        session.add(row)


def target_of(row: WaveHostRow) -> Endpoint | None:
    return Endpoint.from_dict(json.loads(row.target_json), where=row.host) \
        if row.target_json else None


def copies_of(row: WaveHostRow) -> tuple[TargetCopy, ...]:
    """The DR copies of the host's target (none for a declared target)."""
    if not row.target_json:
        return ()
    return tuple(TargetCopy.from_dict(c, where=f"{row.host} copy")
                 for c in json.loads(row.target_json).get("copies") or ())


def request_of(row: WaveHostRow) -> int | None:
    """The provisioning request that built the host's target (None: declared)."""
    if row.target_json:
        found = json.loads(row.target_json).get("request")
        return int(found) if found is not None else None
    if row.target_server and row.target_server.startswith("request:"):
        return int(row.target_server.split(":", 1)[1])
    return None


# --- events --------------------------------------------------------------------------------------

def add_events(session: Session, events: Iterable[Mapping[str, Any]]) -> None:
    for e in events:
        session.add(MigrationEventRow(**e))


def events(session: Session, wave_id: str, *, after: int = 0,
           limit: int = 500) -> list[MigrationEventRow]:
    return list(session.exec(
        select(MigrationEventRow).where(MigrationEventRow.wave == wave_id,
                                        col(MigrationEventRow.id) > after)
        .order_by(col(MigrationEventRow.id)).limit(limit)))


def last_event(session: Session, wave_id: str, event: str) -> MigrationEventRow | None:
    """The wave's newest event of kind ``event``, or None."""
    return session.exec(
        select(MigrationEventRow).where(MigrationEventRow.wave == wave_id,
                                        MigrationEventRow.event == event)
        .order_by(col(MigrationEventRow.id).desc()).limit(1)).first()


def orphaned_waves(session: Session, *, before: datetime) -> list[tuple[str, str]]:
    """(wave, run) of every wave a run still holds whose heartbeat stopped before ``before``:
    the process running it died (``services.run_takeover``)."""
    rows = session.exec(select(WaveRow.id, WaveRow.run_id).where(
        col(WaveRow.run_id).is_not(None), col(WaveRow.heartbeat_at) < before)
        .order_by(col(WaveRow.id)))
    return [(wave, run) for wave, run in rows if run is not None]


def last_event_id(session: Session, wave_id: str) -> int:
    """The id of the wave's newest event (0 when it has none)."""
    found = session.exec(select(sa_func.max(MigrationEventRow.id))
                         .where(MigrationEventRow.wave == wave_id)).one()
    return int(found or 0)


# --- sign-offs and endpoints -----------------------------------------------------------------

def signoff(session: Session, department: str) -> SignoffRow | None:
    return session.get(SignoffRow, department)


def set_signoff(session: Session, department: str, by: str, note: str | None) -> None:
    row = session.get(SignoffRow, department) or SignoffRow(department=department, by=by)
    row.by, row.note, row.at = by, note, utcnow()
    session.add(row)


def set_endpoint(session: Session, host: LegacyHost, side: str, endpoint: Endpoint) -> None:
    row = session.get(SystemEndpointRow, host.name) or SystemEndpointRow(
        host=host.name, department=host.department, system=host.system, side=side,
        address=endpoint.address, port=endpoint.port)
    row.side, row.address, row.port, row.switched_at = side, endpoint.address, \
        endpoint.port, utcnow()
    session.add(row)


def endpoints(session: Session, department: str | None = None) -> list[SystemEndpointRow]:
    query = select(SystemEndpointRow).order_by(col(SystemEndpointRow.host))
    if department is not None:
        query = query.where(SystemEndpointRow.department == department)
    return list(session.exec(query))


# --- the scorecard's reads (Core, on the caller's connection) ------------------------------------

_DONE = (StepStatus.SUCCEEDED.value, StepStatus.SKIPPED.value)
_FAILED_EVENTS = ("job_failed", "run_failed")


def wave_progress(conn: Connection, before: datetime) -> list[WaveProgress]:
    """Every wave whose window opens before ``before``: its systems and hosts, and how many
    had finished (their ``done`` step succeeded or skipped) before ``before``. A wave rolled
    back since counts as it stands now (a rollback rewrites its steps' times)."""
    wave, member = WaveRow.__table__, WaveHostRow.__table__  # type: ignore[attr-defined]
    host, step = LegacyHostRow.__table__, StepRunRow.__table__  # type: ignore[attr-defined]
    waves = conn.execute(core_select(wave.c.id, wave.c.department, wave.c.number,
                                     wave.c.rehearsal, wave.c.window_end, wave.c.status)
                         .where(wave.c.window_start < before)).all()
    ids = [w.id for w in waves]
    systems: dict[str, dict[str, list[str]]] = {i: {} for i in ids}
    for w, h, system in conn.execute(
            core_select(member.c.wave, member.c.host, host.c.system)
            .join(host, host.c.name == member.c.host).where(member.c.wave.in_(ids))):
        systems[w].setdefault(system, []).append(h)
    done = {(w, h) for w, h in conn.execute(
        core_select(step.c.wave, step.c.host).where(and_(
            step.c.wave.in_(ids), step.c.step == Step.DONE.value, step.c.status.in_(_DONE),
            step.c.finished_at < before)))}
    out = []
    for w in waves:
        by_system = systems[w.id]
        hosts = [(w.id, h) for members in by_system.values() for h in members]
        out.append(WaveProgress(
            w.department, int(w.number), bool(w.rehearsal), aware(w.window_end) or before,
            str(w.status), len(by_system),
            sum(1 for members in by_system.values() if all((w.id, h) in done for h in members)),
            len(hosts), sum(1 for key in hosts if key in done)))
    return out


def step_failures(conn: Connection, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
    """Each migration step job or run that failed from ``start`` to ``end``, once (a job's
    failed hosts are one failure), with its department and when: the steps still marked
    failed, and the runs' ``job_failed`` and ``run_failed`` events (kept as history)."""
    wave, step = WaveRow.__table__, StepRunRow.__table__  # type: ignore[attr-defined]
    event = MigrationEventRow.__table__  # type: ignore[attr-defined]
    first: dict[tuple[str, str], tuple[str, datetime]] = {}
    rows = [*conn.execute(
        core_select(wave.c.department, step.c.wave, step.c.ident, step.c.host,
                    step.c.finished_at)
        .join(wave, wave.c.id == step.c.wave)
        .where(and_(step.c.status == StepStatus.FAILED.value, step.c.finished_at >= start,
                    step.c.finished_at < end))),
        *conn.execute(
        core_select(wave.c.department, event.c.wave, event.c.ident, event.c.step, event.c.at)
        .join(wave, wave.c.id == event.c.wave)
        .where(and_(or_(*(event.c.event == e for e in _FAILED_EVENTS)),
                    event.c.at >= start, event.c.at < end)))]
    for department, w, ident, other, at in rows:
        when = aware(at) or start
        key = (w, ident or f"{other}@{when.isoformat()}")
        if key not in first or when < first[key][1]:
            first[key] = (department, when)
    return sorted(first.values(), key=lambda x: (x[0], x[1]))
