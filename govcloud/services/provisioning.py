"""Provisioning requests as use cases: submit, approve (reserving capacity and quota),
reject, cancel, show and list; and the state changes the job worker makes.

Every accepted transition is audited (``request.<verb>``, target ``department:<code>``) in the
same transaction as the change, with who did it and why. RBAC: submitting and cancelling need
``request.submit`` / ``request.cancel`` on the request's department, deciding needs
``request.approve`` / ``request.reject`` there and ``may_approve`` (the requester never decides
on their own request — nor does any other principal of the same person: a request records its
requester's person). A department's auto-approval policy (setting ``auto_approve``) approves
a request at submission when it allows it; the request then shows the policy as its approver.

Approval places the request (``govcloud.domain.placement``) against the stored inventory
snapshot minus what other approved requests hold, and records the reservation in the same
locked transaction (``govcloud.store.provisioning`` explains the locking). A request that does
not fit gets ``InsufficientCapacity`` with the placement's explanation and stays submitted.

Where each part lives (this module is their entry point; ``govcloud.services.plane`` builds
the API's context):
``provisioning_requests`` (submit, show, list, cancel, ``submit_approved``),
``provisioning_approval`` (approve, reject: the batch engine), ``provisioning_lifecycle`` (the
job worker's state changes, ``wait_for``), ``provisioning_common`` (``ProvisioningContext``,
visibility, a request as the API shows it), over one repository,
``govcloud.store.provisioning_repo.ProvisioningStore``.

For other capabilities (the migration engineer provisions migration targets through here):
``submit_approved(ctx, actor=..., data=..., approver=...)`` submits a request for a system and
approves it at once in the name of ``approver`` (no RBAC: the caller has checked its own);
the job worker then provisions it like any other approved request, and
``wait_for(ctx, request_id, timeout_s)`` waits for it to finish.
"""

from __future__ import annotations

from govcloud.errors import InsufficientCapacity
from govcloud.services.provisioning_approval import (
    APPROVAL_GATHER_S,
    APPROVAL_IDLE_S,
    _Approval,
    _approve,
    _approve_batch,
    approve,
    reject,
)
from govcloud.services.provisioning_common import (
    Clock,
    ProvisioningContext,
    Validator,
    request_json,
)
from govcloud.services.provisioning_lifecycle import (
    WORKER,
    complete,
    event,
    fail,
    ledger_check,
    pending,
    project_of,
    record_server,
    request_spec,
    start,
    system_in_progress,
    wait_for,
    write_inventory,
)
from govcloud.services.provisioning_requests import (
    cancel,
    list_requests,
    show,
    submit,
    submit_approved,
)

__all__ = [
    "APPROVAL_GATHER_S", "APPROVAL_IDLE_S", "WORKER", "Clock", "InsufficientCapacity",
    "ProvisioningContext", "Validator", "_Approval", "_approve", "_approve_batch", "approve",
    "cancel", "complete", "event", "fail", "ledger_check", "list_requests",
    "pending", "project_of", "record_server", "reject", "request_json", "request_spec", "show",
    "start", "submit", "submit_approved", "system_in_progress", "wait_for", "write_inventory",
]

