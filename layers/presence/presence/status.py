"""Reading and setting user status (API.md sections 3 and 4)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from presence import clock, lifecycle, ratelimit, retry, settings, store, views
from presence.auth import is_valid_user_id
from presence.errors import Code, PresenceError
from presence.lifecycle import PresenceState, Timing
from presence.models import StatusType, UserStatus, dedupe, failure

MAX_EXPIRES_IN_SECONDS = 604_800  # customStatusExpiresIn: at most 7 days


def shown_status(state: PresenceState, now: int, timing: Timing) -> UserStatus:
    """What the user itself (and the admin) is told: the stored state with whatever time has
    already decided applied (a grace that ended, an OFFLINE that expired, a custom status due
    to be cleared or past its expiry), even if the timer that will write it has not fired yet.
    Others see views.for_others of it."""
    settled = lifecycle.settle(state, now, timing).state
    custom_status = settled.custom_status
    due = lifecycle.custom_status_clear_due(settled, timing)
    expiry = lifecycle.custom_status_expiry_due(settled)
    if (due is not None and due <= now) or (expiry is not None and expiry <= now):
        custom_status = ""
    return UserStatus(
        state.user_id,
        settled.status_type,
        custom_status,
        settled.last_active_time,
        state.version,
        (expiry or 0) if custom_status else 0,
        state.invisible,
    )


def set_self_status(
    user_id: str,
    custom_status: str | None,
    *,
    expires_in: int | None = None,
    invisible: bool | None = None,
) -> UserStatus:
    """Set (or with "" clear) the caller's custom status, optionally clearing itself after
    `expires_in` seconds; make the caller invisible or visible again (`invisible`, None:
    as it is). One conditional write. Never gated, never rate limited."""
    _check_self_status(custom_status, expires_in, invisible)
    now = clock.now_ms()
    expires_at = None if expires_in is None else now + expires_in * 1000
    timing = settings.current().timing()
    if invisible is None:
        assert custom_status is not None  # (checked above)
        state, _changed = store.set_custom_status(user_id, custom_status, now, expires_at)
        # (set while not ONLINE, it is cleared after customStatusClearSeconds, and with an
        # expiry at that time: the stream derives those timers from this write)
    else:
        state = _set_visibility(user_id, custom_status, expires_at, invisible, timing)
    shown = shown_status(state, now, timing)
    if custom_status is None:
        return shown
    return shown._replace(custom_status=custom_status, custom_status_expires_at=expires_at or 0)


def _check_self_status(
    custom_status: str | None, expires_in: int | None, invisible: bool | None
) -> None:
    if custom_status is None:
        if invisible is None:
            raise PresenceError(
                Code.INVALID_PARAMETER, "customStatus is required unless invisible is given"
            )
    else:
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
    if expires_in is not None:
        if not custom_status:
            raise PresenceError(
                Code.INVALID_PARAMETER,
                "customStatusExpiresIn is allowed only with a non-empty customStatus",
            )
        if not 1 <= expires_in <= MAX_EXPIRES_IN_SECONDS:
            raise PresenceError(
                Code.INVALID_PARAMETER,
                f"customStatusExpiresIn must be 1-{MAX_EXPIRES_IN_SECONDS} seconds",
            )


def _set_visibility(
    user_id: str,
    custom_status: str | None,
    expires_at: int | None,
    invisible: bool,
    timing: Timing,
) -> PresenceState:
    """setSelfStatus with `invisible`: read the user's item, write what changes in one write
    conditioned on its version (retried when a device wrote in between); the state after."""

    def attempt() -> PresenceState | None:
        before = store.get_presence(user_id)
        now = clock.now_ms()
        after = with_self_status(before, custom_status, expires_at, invisible, now, timing)
        if after == before:
            return before
        if store.save_self_status(before, after):
            return replace(after, version=(before.version or store.first_version(now)) + 1)
        return None

    return retry.until_done(attempt, what=f"the status of {user_id!r}")


def with_self_status(
    before: PresenceState,
    custom_status: str | None,
    expires_at: int | None,
    invisible: bool,
    now: int,
    timing: Timing,
) -> PresenceState:
    """The state setSelfStatus makes of `before` (pure). Going invisible keeps what others could
    see at that moment: logged out now if the user was ONLINE (otherwise the lastActiveTime it
    had), at the version this write makes."""
    after = before
    if custom_status is not None and (
        custom_status != before.custom_status
        or expires_at is not None
        or (custom_status and before.custom_status_expires_at is not None)
    ):
        after = replace(
            after,
            custom_status=custom_status,
            custom_status_set_at=now,
            custom_status_expires_at=expires_at,
        )
    if invisible and not before.invisible:
        seen = lifecycle.settle(before, now, timing).state
        online = seen.status_type == StatusType.ONLINE
        after = replace(
            after,
            invisible=True,
            hidden_last_active_time=now if online else seen.last_active_time,
            hidden_version=(before.version or store.first_version(now)) + 1,
        )
    elif not invisible and before.invisible:
        after = replace(after, invisible=False, hidden_last_active_time=0, hidden_version=0)
    return after


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
                s
                if s.user_id == caller_id
                else views.for_others(states[s.user_id], s, current.lastActiveTimeVisible)
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
