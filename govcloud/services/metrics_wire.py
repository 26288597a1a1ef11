"""The metrics snapshot as JSON, for the worker process that builds it to send to the API
process that serves it (``govcloud.workers.process``): samples only, no code and no objects
(never pickle across processes). What the API process gets back is a :class:`Snapshot` as the
builder made it, but for its fingerprint (the API process does not compare it with the store:
it holds what it is sent)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from govcloud.domain.metrics import BY_NAME
from govcloud.services.metrics import Labels, Samples, Snapshot

FED = ("fed",)  # the fingerprint of a snapshot built in another process


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"not a number: {type(value).__name__}")
    return float(value)


def _labels(value: Any, size: int) -> Labels:
    if not isinstance(value, list) or len(value) != size or \
            not all(isinstance(v, str) for v in value):
        raise ValueError("labels that do not fit their family")
    return tuple(value)


def snapshot_json(snap: Snapshot) -> dict[str, Any]:
    """``snap`` as JSON-able values (NaN and infinities as JSON's extensions, which Python's
    json module writes and reads)."""
    return {"built_at": snap.built_at, "build_s": snap.build_s,
            "families": {name: [[list(labels), value] for labels, value in samples]
                         for name, samples in snap.families.items()},
            "last_success": dict(snap.last_success),
            "dr_points": [[list(labels), point] for labels, point in snap.dr_points]}


def snapshot_from_json(data: Any) -> Snapshot:
    """The snapshot ``snapshot_json`` made; anything else — a family the exporter does not
    know, labels that do not fit it — is a ``ValueError``."""
    if not isinstance(data, dict):
        raise ValueError("not a snapshot")
    built_at = _number(data.get("built_at"))
    if not math.isfinite(built_at):
        raise ValueError("a snapshot built at no time")
    families: dict[str, Samples] = defaultdict(list)
    for name, samples in dict(data.get("families") or {}).items():
        spec = BY_NAME.get(name)
        if spec is None or not isinstance(samples, list):
            raise ValueError(f"an unknown family {name[:80]!r}")
        families[name] = [(_labels(labels, len(spec.labels)), _number(value))
                          for labels, value in samples]
    last_success = {str(site)[:100]: None if at is None else _number(at)
                    for site, at in dict(data.get("last_success") or {}).items()}
    points = [(_labels(labels, len(labels) if isinstance(labels, list) else -1),
               None if point is None else _number(point))
              for labels, point in list(data.get("dr_points") or [])]
    return Snapshot(built_at=built_at, build_s=_number(data.get("build_s", 0.0)),
                    families=families, last_success=last_success, fingerprint=FED,
                    dr_points=points)
