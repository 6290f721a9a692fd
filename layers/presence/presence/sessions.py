"""WebSocket sessions drive statusType: connect, disconnect, logout, kick, a push that found the
socket gone, and timers. Each is a read of the user's Status item, a pure lifecycle transition,
and one conditional write (retried when another device of the same user wrote first); the
stream of that write is what pushes the change.
"""

from __future__ import annotations

from collections.abc import Callable

from presence import clock, lifecycle, settings, store
from presence.errors import Code, PresenceError
from presence.lifecycle import PresenceState, Timing, Transition
from presence.observability import logger

_ATTEMPTS = 10

Change = Callable[[PresenceState, int, Timing], Transition]


def apply(user_id: str, change: Change) -> Transition:
    """Apply `change` to the user's stored state with optimistic concurrency; queue its timers."""
    timing = settings.current().timing()
    for _attempt in range(_ATTEMPTS):
        state = store.get_presence(user_id)
        now = clock.now_ms()
        transition = change(state, now, timing)
        if not transition.changed:
            return transition
        if store.save_presence(transition.before, transition.state):
            if transition.timers:
                store.send_timers(transition.timers, now)
            return transition
    raise PresenceError(Code.SERVER_FAULT, f"status of {user_id!r} is changing too fast; try again")


def on_connect(user_id: str, connection_id: str, platform: str) -> Transition:
    store.put_connection(connection_id, user_id, platform, clock.now_ms())
    return apply(
        user_id,
        lambda state, now, timing: lifecycle.connect(state, connection_id, platform, now, timing),
    )


def on_disconnect(connection_id: str) -> Transition | None:
    """API Gateway's $disconnect: a drop without logout (the grace applies). Idempotent."""
    user_id = store.get_connection_user(connection_id)
    if user_id is None:
        logger.info(
            "disconnect of an unknown or finished connection", extra={"connectionId": connection_id}
        )
        return None
    # The Connections item stays: nothing reads it after this but a repeated $disconnect (which
    # then changes nothing), and its TTL deletes it for free.
    return on_gone(user_id, connection_id)


def on_gone(user_id: str, connection_id: str) -> Transition:
    """A connection that vanished without logging out (a $disconnect, or a 410 on push)."""
    return apply(
        user_id, lambda state, now, timing: lifecycle.drop(state, connection_id, now, timing)
    )


def on_logout(connection_id: str) -> Transition | None:
    """The `logout` action: this device stops counting at once; it is told, then closed."""
    user_id = store.get_connection_user(connection_id)
    transition = None
    if user_id is not None:
        transition = apply(
            user_id, lambda state, now, timing: lifecycle.logout(state, connection_id, now, timing)
        )
        store.delete_connection(connection_id)
    store.post_to_connection(connection_id, b'{"event": "loggedOut"}')
    store.close_connection(connection_id)
    return transition


def on_tick(user_id: str) -> Transition:
    return apply(user_id, lifecycle.tick)


def kick(user_id: str) -> Transition:
    """Every device of the user is logged out at once: each socket is told, then closed."""
    transition = apply(user_id, lifecycle.kick)
    for connection_id in transition.before.connections:
        store.post_to_connection(connection_id, b'{"event": "kickedOut"}')
        store.close_connection(connection_id)
        store.delete_connection(connection_id)
    return transition
