"""Per-user, per-API fixed-window rate limit (API.md section 4, "Rate limit").

Each window is one counter item keyed by user, API and window start, bumped with one atomic
conditional write: exactly `requests` calls pass per window, even when they arrive together.
The item expires by TTL; its key names its window, so an old counter is never read again.
"""

from __future__ import annotations

from presence import clock, store
from presence.errors import Code, PresenceError
from presence.settings import Settings

GET_USER_STATUS = "getUserStatus"
SUBSCRIBE = "subscribeUserStatus"
UNSUBSCRIBE = "unsubscribeUserStatus"

# Keep counters a while after their window ends; DynamoDB's TTL deletes lazily anyway.
_EXPIRY_SLACK_SECONDS = 60


def enforce(user_id: str, api: str, settings: Settings, *, now: float | None = None) -> None:
    limit = settings.rateLimit
    current = clock.now_s() if now is None else now
    window_start = int(current // limit.windowSeconds) * limit.windowSeconds
    key = f"{api}#{limit.windowSeconds}#{window_start}#{user_id}"
    expires_at = window_start + limit.windowSeconds + _EXPIRY_SLACK_SECONDS
    if not store.take_rate_limit_slot(key, limit.requests, expires_at):
        retry_after = window_start + limit.windowSeconds - current
        raise PresenceError(
            Code.RATE_LIMITED,
            f"{api} is limited to {limit.requests} calls per {limit.windowSeconds} s per user;"
            f" retry in {retry_after:.1f} s",
        )
