"""What the provisioning use cases share: their context, who may see a department or a
request, a request as the API shows it, and a stored request's spec and targets.

The slice: ``provisioning_requests`` (submitting, reading, cancelling),
``provisioning_approval`` (deciding: the batch engine), ``provisioning_lifecycle`` (the job
worker's state changes), all over one repository, ``govcloud.store.provisioning_repo``;
``govcloud.services.provisioning`` is their entry point (and builds the context for the API).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from govcloud.domain.catalogue import Catalogue
from govcloud.domain.provisioning import (
    DEFAULT_POLICY,
    AutoApprove,
    CopyKind,
    DrPolicy,
    Installation,
    RequestSpec,
    RequestState,
    SiteTarget,
    parse_request,
)
from govcloud.domain.rbac import Action, Principal
from govcloud.domain.sites import Site
from govcloud.errors import InvalidInput, NotFound
from govcloud.services.access import get_department
from govcloud.services.changes import ChangeContext
from govcloud.services.inventory import SnapshotCache
from govcloud.services.notifications import Notifier
from govcloud.store.group_commit import Batcher
from govcloud.store.installation import get_installation
from govcloud.store.provisioning_repo import ProvisioningStore
from govcloud.store.tables import utcnow
from govcloud.store.tables_provisioning import ProvisionRequestRow, ProvisionServerRow

Clock = Callable[[], dt.datetime]
# checks that images and networks exist in each target site; returns the problems found
Validator = Callable[[RequestSpec, Sequence[SiteTarget]], list[str]]


class Specs:
    """Stored requests' specs by request id, parsed (a spec never changes once submitted):
    submitting puts the spec it parsed, approving takes it instead of parsing the stored JSON
    again. Bounded; a request not here (submitted by another process) is parsed once."""

    def __init__(self, size: int = 4096) -> None:
        self._specs: OrderedDict[int, RequestSpec] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def put(self, request_id: int, spec: RequestSpec) -> None:
        with self._lock:
            self._specs[request_id] = spec
            self._specs.move_to_end(request_id)
            while len(self._specs) > self._size:
                self._specs.popitem(last=False)

    def of(self, request_id: int, spec_json: str) -> RequestSpec:
        """The spec of request ``request_id`` whose stored JSON is ``spec_json``."""
        with self._lock:
            spec = self._specs.get(request_id)
        if spec is None:
            spec = parse_request(json.loads(spec_json))
            self.put(request_id, spec)
        return spec


@dataclass
class ProvisioningContext:
    """What the use cases need; the plane builds it for the API (``Plane.provisioning``)."""

    engine: Engine
    sites: Sequence[Site]
    catalogue: Callable[[], Catalogue]
    policy: DrPolicy = DEFAULT_POLICY
    auto_approve: Mapping[str, AutoApprove] = field(default_factory=dict)
    group_policy: str = "anti-affinity"
    validator: Validator | None = None
    clock: Clock = utcnow
    playbooks: Mapping[str, Any] = field(default_factory=dict)  # name → playbook path
    # the stored snapshot's hosts and fit indexes for placement (the control plane shares
    # its own; a context made without one keeps its own)
    snapshot: SnapshotCache = field(default_factory=SnapshotCache)
    # tells the departments about their requests' outcomes (None: nobody is told)
    notify: Notifier | None = None
    # lifecycle requests need an approved change (``enforce``) or not ("off"): docs/changes.md
    change_control: str = "off"
    # the approvals queued together (``provisioning_approval``), made on first use
    approvals: Batcher | None = field(default=None, init=False, repr=False, compare=False)
    specs: Specs = field(default_factory=Specs, init=False, repr=False, compare=False)
    _repo: ProvisioningStore | None = field(default=None, init=False, repr=False,
                                            compare=False)
    _installation: Installation | None = field(default=None, init=False, repr=False,
                                               compare=False)

    @property
    def repo(self) -> ProvisioningStore:
        """The repository on this context's engine and clock (made on first use)."""
        repo = self._repo
        if repo is None or repo.engine is not self.engine or repo.clock is not self.clock:
            repo = self._repo = ProvisioningStore(self.engine, self.clock)
        return repo

    @property
    def changes(self) -> ChangeContext:
        """The change gate's context on this context's store, clock and notifier (the
        lifecycle requests' changes: docs/lifecycle.md)."""
        return ChangeContext(engine=self.engine, sites=tuple(s.name for s in self.sites),
                             clock=self.clock, enforce=self.change_control == "enforce",
                             notifier=self.notify)

    @property
    def installation(self) -> Installation:
        """This installation (its id goes into every idempotency key), read once."""
        if self._installation is None:
            self._installation = get_installation(self.engine)
        return self._installation


def iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()


_REQUEST_COLUMNS = ("id", "department", "system", "dr_level", "state", "requester", "approver",
                    "reason", "error", "spec_json", "placement_json", "created_at", "updated_at",
                    "kind", "change_id", "phase", "not_before", "plan_json")


def request_json(row: ProvisionRequestRow | Mapping[str, Any], *,
                 placement: dict[str, Any] | None = None) -> dict[str, Any]:
    """A request as the API shows it (``placement``: the stored placement, already loaded).
    A lifecycle request (scale, resize, retire: docs/lifecycle.md) also shows its phase, when
    the worker takes it up next and its plan."""
    r = row if isinstance(row, Mapping) else {c: getattr(row, c) for c in _REQUEST_COLUMNS}
    if placement is None and r["placement_json"]:
        placement = json.loads(r["placement_json"])
    kind = r.get("kind") or "provision"
    out = {"id": r["id"], "department": r["department"], "system": r["system"],
           "dr_level": r["dr_level"], "state": r["state"], "requester": r["requester"],
           "approver": r["approver"], "reason": r["reason"], "error": r["error"],
           "spec": json.loads(r["spec_json"]), "placement": placement,
           "created_at": iso(r["created_at"]), "updated_at": iso(r["updated_at"]),
           "kind": kind, "change": r.get("change_id")}
    if kind != "provision":
        out.update(phase=r.get("phase"), not_before=iso(r.get("not_before")),
                   plan=json.loads(r["plan_json"]) if r.get("plan_json") else None)
    return out


def server_json(row: ProvisionServerRow) -> dict[str, Any]:
    return {"site": row.site, "ordinal": row.ordinal, "name": row.name, "key": row.key,
            "server_id": row.server_id, "status": row.status, "error": row.error}


def targets_of(row: ProvisionRequestRow | Mapping[str, Any]) -> list[SiteTarget]:
    """The sites a stored request targets (recorded at submission)."""
    text = row["placement_json"] if isinstance(row, Mapping) else row.placement_json
    doc = json.loads(text or "{}")
    return [SiteTarget(t["site"], CopyKind(t["kind"])) for t in doc.get("targets", [])]


def no_request(request_id: int) -> NotFound:
    return NotFound(f"no request {request_id}",
                    hint="`govcloud request list` shows the requests you may see")


def visible_request(ctx: ProvisioningContext, principal: Principal, row: ProvisionRequestRow
                    | None, request_id: int, action: Action = Action.VIEW_DEPARTMENT
                    ) -> ProvisionRequestRow:
    """``row`` (request ``request_id``, None: there is none) when the principal may see it
    and ``action`` it; a request they may not see "does not exist"."""
    if row is None:
        raise no_request(request_id)
    try:
        get_department(principal, ctx.catalogue(), row.department, action)
    except NotFound:
        raise no_request(request_id) from None
    return row


def bad_state(value: str) -> None:
    raise InvalidInput(f"unknown state {value!r}",
                       hint="states: " + ", ".join(s.value for s in RequestState))
