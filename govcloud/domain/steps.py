"""The resumable step machine's pure part, shared by migration waves and DR drills: a run is
an ordered sequence of steps, each with a recorded status; a run resumes at the first step
that has not succeeded (``first_unfinished``). The services' half — claiming a run with a
heartbeat so that a crashed run is taken over, and the runs of one process — is
``govcloud.services.step_machine``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TypeVar


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"   # timed out, cancelled or the control plane died mid-step
    ROLLED_BACK = "rolled_back"
    SKIPPED = "skipped"           # not needed by this run (its output says why); counts as done


DONE = frozenset({StepStatus.SUCCEEDED, StepStatus.SKIPPED})


S = TypeVar("S")


def first_unfinished(order: Sequence[S], statuses: Mapping[S, StepStatus]) -> S | None:
    """The first step of ``order`` that has not succeeded nor been skipped (where a run
    resumes); None when all are done."""
    for step in order:
        if statuses.get(step) not in DONE:
            return step
    return None
