"""``/alerts``: what a post of Alertmanager or Prometheus recorded (docs/reports.md, "Alert
history")."""

from __future__ import annotations

from govcloud.api.models.common import ApiModel


class AlertsRecorded(ApiModel):
    """``received``: the episodes in the post (repeats of one in it counted once); ``new``:
    those govcloud had not been told of; ``ended``: those whose end it learnt now;
    ``repeated``: those it knew already, unchanged."""

    received: int
    new: int
    ended: int
    repeated: int
