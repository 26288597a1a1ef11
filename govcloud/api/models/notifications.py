"""``/notifications``: the messages the departments are sent (docs/notifications.md)."""

from __future__ import annotations

from govcloud.api.models.common import ApiModel, Time


class Notification(ApiModel):
    """One message to one recipient: the event it tells (``ref``: the request, drill, change
    or host), the channel and recipient (a webhook's URL without its path), its subject, and
    how delivering it goes."""

    id: int
    event: str  # request.done, drill.failed, change.scheduled, ...
    ref: str
    department: str
    channel: str  # email, webhook
    recipient: str
    subject: str
    state: str  # pending, sent, dead
    attempts: int
    next_attempt_at: Time | None  # when a pending message is tried next
    last_error: str | None
    created_at: Time
    sent_at: Time | None


class NotificationList(ApiModel):
    """Messages newest first; ``counts`` per state (of every message the caller may see);
    ``next_before``: pass it as ``before`` for the next page (None: this was the last)."""

    notifications: list[Notification]
    counts: dict[str, int]
    next_before: int | None
