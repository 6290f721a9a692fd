"""What each reader is told about a user's status (API.md section 3): the user itself, and
everyone else. The one place that applies invisibility, so no path (getUserStatus, the stream
consumer's own posts, post jobs, page jobs) can tell others more than "logged out at T".

Pure functions of a stored PresenceState, no I/O.
"""

from __future__ import annotations

from presence.lifecycle import PresenceState
from presence.models import StatusType, UserStatus


def own(state: PresenceState) -> UserStatus:
    """A stored state as the user's own devices are told it: the truth, with `invisible`."""
    return UserStatus(
        state.user_id,
        state.status_type,
        state.custom_status,
        state.last_active_time,
        state.version,
        (state.custom_status_expires_at or 0) if state.custom_status else 0,
        state.invisible,
    )


def for_others(state: PresenceState, status: UserStatus, last_active_visible: bool) -> UserStatus:
    """What everyone but the user sees of `status` (the user's own view of `state`, as a read
    or a push tells it): an invisible user as logged out at the moment it hid, with the
    version of that moment; lastActiveTime 0 when the setting hides it."""
    if state.invisible:
        status = UserStatus(
            state.user_id,
            StatusType.UNLOGINED,
            "",
            state.hidden_last_active_time,
            state.hidden_version,
        )
    else:
        status = status._replace(invisible=False)
    return status if last_active_visible else status._replace(last_active_time=0)


def own_key(state: PresenceState) -> tuple[StatusType, str, int, bool]:
    """What a push tells the user about itself, without the counters: two states with the same
    key need no push to the user's own devices."""
    status = own(state)
    return (
        status.status_type,
        status.custom_status,
        status.custom_status_expires_at,
        status.invisible,
    )


def public_key(state: PresenceState) -> tuple[StatusType, str, int]:
    """What a push tells others, without the counters: two states with the same key need no
    push to subscribers or friends (a change made while invisible reaches only the user)."""
    if state.invisible:
        return StatusType.UNLOGINED, "", 0
    status = own(state)
    return status.status_type, status.custom_status, status.custom_status_expires_at
