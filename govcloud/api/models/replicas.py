"""``/status/replicas``: the ``govcloud serve`` replicas, their workers and the database."""

from __future__ import annotations

from govcloud.api.models.common import ApiModel, Number, Time


class LeaseTimingModel(ApiModel):
    """The workers' lease timing: a dead replica's workers run elsewhere within
    ``takeover_bound_s``; a replica cut off from the database stops its workers after
    ``fence_after_s``."""

    ttl_s: Number
    renew_s: Number
    takeover_bound_s: Number
    fence_after_s: Number


class ReplicaModel(ApiModel):
    id: str
    host: str
    pid: int
    url: str | None
    version: str
    state: str  # up, stopped or lost
    started_at: Time | None
    last_seen: Time | None
    workers: list[str]  # whose lease it holds now


class WorkerLeaseModel(ApiModel):
    name: str
    state: str  # held, free (expired or never taken) or off (turned off in the settings)
    holder: str | None
    last_holder: str | None
    acquired_at: Time | None
    expires_at: Time | None
    takeovers: int


class StandbyModel(ApiModel):
    name: str
    address: str | None
    state: str | None
    sync_state: str | None  # sync, async, potential, quorum
    lag_bytes: int | None  # null without the pg_monitor role
    replay_lag_s: Number | None


class DatabaseModel(ApiModel):
    backend: str  # postgresql or sqlite
    role: str  # primary, standby or single process
    server: str | None  # the address:port this replica is connected to
    version: str | None
    synchronous_standby_names: str | None
    standbys: list[StandbyModel]
    replay_delay_s: Number | None  # on a standby: how far its replay is behind


class WorkerProcessModel(ApiModel):
    """The worker process of the replica that answered (``govcloud serve`` runs its
    background workers there; docs/operator-guide.md)."""

    mode: str  # process (inline: the field is null)
    pid: int | None  # null while it is being started again
    alive: bool
    restarts: int  # how often it died and was started again
    last_exit: int | None  # its last exit status (negative: the signal that ended it)
    up_s: Number | None


class ControlPlaneStatus(ApiModel):
    replica: str  # the replica that answered
    lease: LeaseTimingModel
    mode: str  # replicated or single process
    running_here: list[str]  # the workers running in the replica that answered
    replicas: list[ReplicaModel]
    workers: list[WorkerLeaseModel]
    database: DatabaseModel
    # the worker process of the replica that answered; null: its workers run inline, in the
    # API process (``govcloud serve --workers inline``, or a plane built in a test)
    worker_process: WorkerProcessModel | None = None
