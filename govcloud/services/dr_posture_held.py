"""The province's DR posture kept in memory, as the metrics snapshot is (``HeldSnapshots``):
judging every system reads and compares the whole store (seconds at province scale), so
``GET /dr/posture`` serves the posture held, narrowed to the caller's departments.

It is rebuilt in the background when a read finds the store changed — a cheap *fingerprint*
of what the verdicts are judged from: the newest sync attempt (servers), the provisioning
requests (systems, members), the recovery points and the drills, and the catalogue's cities —
or the posture older than ``max_age_s`` (verdicts age: a copy's RPO grows, a drill falls due).
Only the first read waits for a build; the answer's ``at`` says when it was judged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from govcloud.domain.protection import ProtectionPolicy
from govcloud.domain.sites import Site
from govcloud.services.dr_posture import Posture, dr_posture, narrowed
from govcloud.services.metrics import HeldSnapshots
from govcloud.store import protection_repo  # noqa: F401  (registers the protection tables)
from govcloud.store.inventory import table

MAX_AGE_S = 60.0
Cities = Callable[[], Mapping[str, str | None]]


@dataclass(frozen=True, slots=True)
class HeldPosture:
    posture: Posture
    built_at: float
    fingerprint: tuple[Any, ...]


class PostureBuilder:
    """Judges every system of the store (``cities``: the catalogue's department → city)."""

    def __init__(self, *, engine: Engine, policy: ProtectionPolicy, sites: Sequence[Site],
                 clock: Callable[[], datetime], cities: Cities) -> None:
        self.engine = engine
        self.policy = policy
        self.sites = tuple(sites)
        self.clock = clock
        self.cities = cities

    def _store(self, conn: Connection) -> tuple[Any, ...]:
        """Indexed look-ups: a new recovery point shows as a new highest id (the history's
        size is not counted: pruning old points changes no verdict), a copy server's latest
        point gone as one row fewer in the latest table."""
        sync, req = table("site_sync"), table("provision_request")
        point, latest = table("recovery_point"), table("recovery_point_latest")
        drill, adopted, role = table("dr_drill"), table("dr_adopted_system"), \
            table("dr_system_role")
        check = table("dr_replication_check")
        parts = [select(func.max(sync.c.last_attempt)).scalar_subquery(),
                 select(func.count()).select_from(sync).scalar_subquery(),
                 select(func.max(req.c.updated_at)).scalar_subquery(),
                 select(func.count()).select_from(req).scalar_subquery(),
                 select(func.max(point.c.id)).scalar_subquery(),
                 select(func.count()).select_from(latest).scalar_subquery(),
                 select(func.max(drill.c.id)).scalar_subquery(),
                 select(func.count()).select_from(drill).scalar_subquery(),
                 # an adoption, a failover's roles (reprotect reverses the plan)
                 select(func.sum(func.length(adopted.c.members_json))).scalar_subquery(),
                 select(func.count()).select_from(adopted).scalar_subquery(),
                 select(func.max(role.c.changed_at)).scalar_subquery(),
                 select(func.max(check.c.checked_at)).scalar_subquery()]
        return tuple(conn.execute(select(*parts)).one())

    def fingerprint(self, conn: Connection) -> tuple[Any, ...]:
        """One statement, and the catalogue's cities (re-read only when its files change)."""
        return (*self._store(conn), tuple(sorted(self.cities().items())))

    def build(self) -> HeldPosture:
        cities = self.cities()
        with self.engine.connect() as conn:
            store = self._store(conn)
        posture = dr_posture(self.engine, self.policy, self.sites, self.clock(), cities=cities)
        return HeldPosture(posture, time.time(), (*store, tuple(sorted(cities.items()))))


class HeldPostures(HeldSnapshots[HeldPosture]):
    """The held posture; ``posture(departments)`` narrows it to those (None: all), and
    ``encoded(encode)`` is the whole posture's answer, encoded once per held posture."""

    def __init__(self, builder: PostureBuilder, *, max_age_s: float = MAX_AGE_S) -> None:
        super().__init__(builder, max_age_s=max_age_s, name="dr-posture")
        self.policy = builder.policy
        self._encoded: tuple[HeldPosture, bytes] | None = None
        self._encoding = threading.Lock()

    def encoded(self, encode: Callable[[Posture], bytes]) -> bytes:
        """``encode(posture)`` of the whole held posture, kept until another is held (the
        province's answer is megabytes: encoding it again for every read would cost more than
        the target for the whole answer)."""
        held = self.current()
        with self._encoding:
            if self._encoded is None or self._encoded[0] is not held:
                self._encoded = (held, encode(held.posture))
            return self._encoded[1]

    def held_at(self) -> float | None:
        """When the posture held was built (None: none yet, and none is built now). As a
        read does, it starts a rebuild in the background when the store changed or the
        posture is old: the metrics snapshot's fingerprint reads it at each scrape, so a new
        drill or recovery point reaches ``/metrics`` without a posture read in between."""
        if self._snapshot is None:
            return None
        return self.current().built_at

    def posture_at(self, at: datetime) -> Posture:
        """The whole posture as of ``at``, a moment gone (``dr_posture(past=True)``): judged
        now, not held."""
        b = self.builder
        assert isinstance(b, PostureBuilder)
        return dr_posture(b.engine, b.policy, b.sites, at, cities=b.cities(), past=True)

    def posture(self, departments: Sequence[str] | None = None) -> Posture:
        held = self.current().posture
        return held if departments is None else narrowed(held, departments)
