"""Legacy hosts (``/hosts``), the dynamic inventory (``/inventory``) and waves
(``/migrate/...``)."""

from __future__ import annotations

from typing import Any

from pydantic import RootModel

from govcloud.api.models.common import ApiModel, Number, Time


class Endpoint(ApiModel):
    address: str
    port: int
    user: str
    root: str


class LegacyHost(ApiModel):
    name: str
    department: str
    system: str
    endpoint: Endpoint
    data_paths: list[str]
    service: str | None
    service_stop: str | None
    service_start: str | None
    health_check: str | None
    dr_level: int | None
    target: Endpoint | None
    groups: list[str]
    target_host_key: str | None = None  # the declared target's pinned SHA256 fingerprint
    surveyed_at: Time | None
    reachable: bool | None
    wave: str | None
    live: str | None  # which side serves: legacy or target (None: in no wave)


class HostList(ApiModel):
    hosts: list[LegacyHost]


class Imported(ApiModel):
    hosts: int
    created: int
    updated: int
    departments: list[str]


class HostKey(ApiModel):
    host: str
    address: str
    key_type: str
    fingerprint: str
    recorded: list[str]
    changed: bool


class TrustedKey(ApiModel):
    host: str
    address: str
    fingerprint: str


class InventoryGroup(ApiModel):
    """One key of Ansible's JSON inventory: a group (``hosts``), ``all`` (``children``) or
    ``_meta`` (``hostvars``)."""

    hosts: list[str] | None = None
    children: list[str] | None = None
    hostvars: dict[str, dict[str, Any]] | None = None  # host → Ansible variables (open)


class AnsibleInventory(RootModel[dict[str, InventoryGroup]]):
    """Ansible's dynamic inventory JSON: ``_meta``, ``all`` and one key per group."""


class Disk(ApiModel):
    mount: str
    size_kb: int
    used_kb: int


class SeenConnection(ApiModel):
    local: str
    local_port: int
    peer: str
    peer_port: int


class SurveyedHost(ApiModel):
    host: str
    reachable: bool
    error: str | None
    os_id: str | None
    os_version: str | None
    os_name: str | None
    kernel: str | None
    cpus: int | None
    ram_mb: int | None
    disks: list[Disk]
    data_kb: dict[str, int]
    data_bytes: int
    listening: list[int]
    connections: list[SeenConnection]
    services: list[str]
    cron: list[str]
    mounts: list[str]


class SurveyAnswer(ApiModel):
    department: str
    at: Time
    hosts: list[SurveyedHost]


class Window(ApiModel):
    start: Time
    end: Time


class PlannedWave(ApiModel):
    wave: str
    number: int
    hosts: list[str]
    rehearsal: bool
    dr_level: int
    data_bytes: int
    window: Window
    groups: list[list[str]]


class PlanAnswer(ApiModel):
    department: str
    waves: list[PlannedWave]


class SignedOff(ApiModel):
    department: str
    by: str


class Override(ApiModel):
    by: str
    reason: str | None


class WaveFields(ApiModel):
    wave: str
    department: str
    number: int
    rehearsal: bool
    dr_level: int
    status: str
    window: Window
    override: Override | None
    rolled_back_at: Time | None


class WaveSummary(WaveFields):
    hosts: list[str]


class WaveList(ApiModel):
    waves: list[WaveSummary]


class TargetCopy(ApiModel):
    site: str
    kind: str
    server: str | None
    address: str
    port: int
    user: str
    root: str


class StepState(ApiModel):
    status: str
    attempts: int
    seconds: Number | None
    error: str | None


class Criterion(ApiModel):
    name: str
    ok: bool
    weight: int
    reason: str | None


class Readiness(ApiModel):
    host: str
    score: int
    flavor: str | None
    criteria: list[Criterion]
    blocking: list[str]


class WaveHost(ApiModel):
    host: str
    live: str  # which side serves: legacy or target
    target: Endpoint | None
    copies: list[TargetCopy]
    steps: dict[str, StepState]  # step → its state
    readiness: Readiness


class Gate(ApiModel):
    passed: bool
    reasons: list[str]


class WaveDetail(WaveFields):
    hosts: list[WaveHost]
    gate: int
    entry_gate: Gate
    exit_gate: Gate


class Overridden(ApiModel):
    wave: str
    override_by: str


class RunStarted(ApiModel):
    wave: str
    action: str  # run, rollback, or wait (planned for its change's window)
    run_id: str | None  # None when it waits for its change's window
    after: int  # the wave's last event id when it started: follow its events after it
    change: int | None = None  # the change it runs under (docs/changes.md)
    opens: Time | None = None  # with wait: when the change's window opens


class WaveCancelled(ApiModel):
    wave: str
    cancelled: bool  # a run of this control plane was told to stop
    stopped: bool  # it stopped within the wait (its job and what it left on the hosts ended)
    ended: list[str]  # per host and side: the processes ended there, or that none was left


class WaveEvent(ApiModel):
    id: int
    at: Time
    step: str | None
    host: str | None
    event: str
    task: str | None
    message: str | None
    ident: str | None


class WaveEvents(ApiModel):
    wave: str
    status: str
    running: bool
    events: list[WaveEvent]
