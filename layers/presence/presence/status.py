"""Reading and setting user status (API.md sections 3 and 4)."""

from __future__ import annotations

from typing import Any

from presence import clock, lifecycle, ratelimit, settings, store
from presence.auth import is_valid_user_id
from presence.errors import Code, PresenceError
from presence.lifecycle import PresenceState, Timing
from presence.models import UserStatus, dedupe, failure


def shown_status(state: PresenceState, now: int, timing: Timing) -> UserStatus:
    """What a reader sees: the stored state with whatever time has already decided applied
    (a grace that ended, an OFFLINE that expired, a custom status due to be cleared), even
    if the timer that will write it has not fired yet."""
    settled = lifecycle.settle(state, now, timing).state
    custom_status = settled.custom_status
    due = lifecycle.custom_status_clear_due(settled, timing)
    if due is not None and due <= now:
        custom_status = ""
    return UserStatus(
        state.user_id,
        settled.status_type,
        custom_status,
        settled.last_active_time,
        state.version,
    )


def set_self_status(user_id: str, custom_status: str) -> UserStatus:
    """Set (or with "" clear) the caller's custom status. Never gated, never rate limited."""
    limit = settings.current().maxCustomStatusBytes
    try:
        size = len(custom_status.encode("utf-8"))
    except UnicodeEncodeError:
        raise PresenceError(
            Code.INVALID_PARAMETER, "customStatus is not valid Unicode text"
        ) from None
    if size > limit:
        raise PresenceError(
            Code.INVALID_PARAMETER,
            f"customStatus is {size} UTF-8 bytes; at most {limit} are allowed",
        )
    now = clock.now_ms()
    state, _changed = store.set_custom_status(user_id, custom_status, now)
    # (set while not ONLINE, it is cleared after customStatusClearSeconds: the stream derives
    # that timer from this write)
    shown = shown_status(state, now, settings.current().timing())
    return shown._replace(custom_status=custom_status)


def get_user_status(caller_id: str, user_ids: list[str]) -> dict[str, Any]:
    """Statuses of up to maxQueryUserIDs users; asking only about yourself is never gated."""
    current = settings.current()
    check_list_length("userIDList", user_ids, current.maxQueryUserIDs)
    wanted = dedupe(user_ids)
    if wanted != [caller_id]:
        current.require_status_query()
        ratelimit.enforce(caller_id, ratelimit.GET_USER_STATUS, current)
    valid, failures = split_user_ids(wanted)
    states = store.get_presences(valid)
    now, timing = clock.now_ms(), current.timing()
    shown = [shown_status(states[u], now, timing) for u in valid]
    return {
        "successUserList": [
            (
                s if s.user_id == caller_id else s.as_seen_by_others(current.lastActiveTimeVisible)
            ).to_wire()
            for s in shown
        ],
        "failureUserList": failures,
    }


def check_list_length(field: str, values: list[str], most: int) -> None:
    if len(values) > most:
        raise PresenceError(
            Code.INVALID_PARAMETER,
            f"{field} has {len(values)} entries; at most {most} are allowed",
        )


def split_user_ids(user_ids: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """Valid userIDs, and a failureUserList entry (7003) for each invalid one."""
    valid: list[str] = []
    failures: list[dict[str, Any]] = []
    for user_id in user_ids:
        if is_valid_user_id(user_id):
            valid.append(user_id)
        else:
            failures.append(
                failure(
                    user_id,
                    Code.INVALID_USER_ID,
                    "userID must be 1-32 printable ASCII characters",
                )
            )
    return valid, failures
