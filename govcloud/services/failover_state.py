"""A DR failover's context and stored state, shared by its use cases (``services.failover``),
its run (``services.failover_run``) and its steps (``services.failover_steps``).

The final protection cycle is the protection worker's: a failover calls it through
``FinalCycle`` (the API wires in ``services.protection.ProtectorFinalCycle``, the plane's
protector); ``NoWorker``, the default of a context built without one, records the step as
skipped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from govcloud.domain.steps import StepStatus
from govcloud.services import dr_runs
from govcloud.services.drill_state import DrillContext
from govcloud.store import failover_repo as repo
from govcloud.store.tables_failover import FailoverRow


@dataclass(frozen=True, slots=True)
class CycleResult:
    """What the final cycle did: ``skipped`` says why it did not run (the step is then
    recorded as skipped), else ``output`` says what it copied."""

    output: str = ""
    skipped: str | None = None


class FinalCycle(Protocol):
    """One protection cycle of each of the system's copy servers in ``site`` (their ids),
    now; raises a govcloud error when a cycle fails (the failover stops there)."""

    def __call__(self, department: str, system: str, site: str,
                 server_ids: Sequence[str]) -> CycleResult: ...


class NoWorker:
    """The final cycle when no protection worker is wired in: skipped, saying so."""

    def __call__(self, department: str, system: str, site: str,
                 server_ids: Sequence[str]) -> CycleResult:
        return CycleResult(skipped="no protection worker: the copy holds its latest "
                                   "recovery point")


@dataclass
class FailoverContext(DrillContext):
    """What failovers need: the drills' context (store, settings, connections, clock,
    playbooks, run timings) and the final protection cycle."""

    final_cycle: FinalCycle = field(default_factory=NoWorker)


def state_of(row: FailoverRow) -> dict[str, Any]:
    return dr_runs.state_of(row)


def update_state(ctx: FailoverContext, failover_id: int, **changes: Any) -> dict[str, Any]:
    """Merge ``changes`` into the failover's stored state, now (committed)."""
    return dr_runs.update_state(ctx.engine, repo.get, failover_id, **changes)


def read(ctx: FailoverContext, failover_id: int) -> tuple[FailoverRow, dict[str, StepStatus]]:
    return dr_runs.read(ctx.engine, repo.get, repo.steps, failover_id)
