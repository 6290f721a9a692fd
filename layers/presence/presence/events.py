"""Status-change events for app backends (API.md section 8; Tencent's State.StateChange).

When the setting `statusChangeEvents` is on, every change of a user's status (statusType,
customStatus, or lastActiveTime with them) is published to the stack's EventBridge bus, source
`presence`, detail-type `UserStatusChanged`, by the stream consumer: from the same durable record
as the pushes, never by a request handler after its write. The reason is read off the record's
old and new images (`describe`, a pure function).

Delivery is at least once: a stream batch that Lambda retries publishes the records it retries
again, so a backend that must count each change once keys on (userID, version).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from presence import clock, settings, store, views
from presence.lifecycle import PresenceState
from presence.messages import EVENT_DETAIL_TYPE, EVENT_SOURCE, StatusChange
from presence.models import StatusType
from presence.observability import logger

SOURCE = EVENT_SOURCE
DETAIL_TYPE = EVENT_DETAIL_TYPE
REASONS = (
    "login",
    "logout",
    "disconnect",
    "kick",
    "setSelfStatus",
    "customStatusCleared",
    "expired",
    "timeout",
    "customStatusExpired",
    "invisible",
)


def sequence_order(sequence_number: str) -> tuple[int, str]:
    """Stream sequence numbers are decimal strings: order them as numbers."""
    return len(sequence_number), sequence_number


class Change(NamedTuple):
    """One Status stream record: user `user_id` went from `old` to `new` (what the fan-out
    pushes and what an event tells)."""

    user_id: str
    old: PresenceState
    new: PresenceState
    sequence_number: str


def describe(old: PresenceState, new: PresenceState, at_ms: int) -> StatusChange | None:
    """The event for a stored change from `old` to `new`; None when the user's status did not
    change (a second device, a drop in its grace, a timer with nothing to do)."""
    if views.own_key(old) == views.own_key(new):
        return None
    reason, platform = _reason(old, new)
    own = views.own(new)
    return StatusChange(
        user_id=new.user_id,
        status_type=new.status_type,
        custom_status=new.custom_status,
        last_active_time=new.last_active_time,
        version=new.version,
        previous_status_type=old.status_type,
        reason=reason,
        platform=platform,
        time=at_ms,
        invisible=new.invisible,
        custom_status_expires_at=own.custom_status_expires_at,
    )


def _reason(old: PresenceState, new: PresenceState) -> tuple[str, str]:
    online = StatusType.ONLINE
    added = [new.connections[c] for c in new.connections if c not in old.connections]
    removed = [old.connections[c] for c in old.connections if c not in new.connections]
    if new.status_type == online and old.status_type != online:
        return "login", added[0].platform if added else ""
    if new.invisible != old.invisible:
        return "invisible", ""
    if new.status_type == old.status_type:
        if new.custom_status_set_at != old.custom_status_set_at:
            return "setSelfStatus", ""
        if old.custom_status and new.custom_status_expires_at is not None:
            return "customStatusExpired", ""  # (its clear keeps the expiry: status_item)
        return "customStatusCleared", ""
    if new.closing - old.closing:
        return "kick", ""
    logged_out = [c for c in removed if c.dropped_at is None]
    if logged_out:
        return "logout", logged_out[0].platform
    if removed:
        # a device that went silent (liveness) rather than closing its socket: `timeout`
        reason = "timeout" if all(c.timed_out for c in removed) else "disconnect"
        return reason, removed[0].platform
    if old.background and not new.background:
        return "expired", next(iter(old.background))
    return "logout", ""


def publish(records: Sequence[Change], retried: set[str]) -> set[str]:
    """Publish the events of these records (in order, when the setting is on), up to the first
    record already to be retried; the sequence numbers of records to retry because their event
    (or an earlier one) was not published."""
    if not records or not settings.current().statusChangeEvents:
        return set()
    stop = min(retried, key=sequence_order) if retried else None
    entries: list[tuple[str, StatusChange]] = []
    now = clock.now_ms()
    for record in records:
        if stop is not None and sequence_order(record.sequence_number) >= sequence_order(stop):
            break
        event = describe(record.old, record.new, now)
        if event is not None:
            entries.append((record.sequence_number, event))
    published = 0
    try:
        for start in range(0, len(entries), 10):
            chunk = entries[start : start + 10]
            failed_at = store.put_events(
                [
                    {"Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": event.encode()}
                    for _, event in chunk
                ]
            )
            if failed_at is not None:
                published += failed_at
                break
            published += len(chunk)
    except Exception:
        logger.exception("could not publish status-change events")
    if published == len(entries):
        return set()
    first = entries[published][0]
    start = next(i for i, r in enumerate(records) if r.sequence_number == first)
    # Lambda retries from there: every later event is published again then, none is lost
    return {r.sequence_number for r in records[start:]}
