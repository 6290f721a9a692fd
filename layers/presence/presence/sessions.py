"""WebSocket sessions drive statusType: connect, disconnect, logout, kick, a push that found the
socket gone, and timers.

A connect and a drop each write only their own connection's entry, so a user's devices never
contend. Every other event is a read of the user's Status item, a pure lifecycle transition, and
one conditional write, retried with jittered backoff when another write came first. Nothing is
sent after a write: the Status table's stream pushes the change and derives its timers, so a
crash between two calls loses neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from presence import clock, lifecycle, messages, retry, settings, store
from presence.errors import Code, PresenceError
from presence.lifecycle import Connection, PresenceState, Timing, Transition
from presence.observability import logger

Change = Callable[[PresenceState, int, Timing], Transition]

CLOSE_WORKERS = 32  # sockets closed at once by a kick (one pooled @connections connection each)

# Why a closed connection was closed, in its last frame (API.md section 6, tim-js-sdk's
# KICKED_OUT_* values; presence.messages.kicked_out).
REST_API_KICK = "REST_API_Kick"
MULTIPLE_ACCOUNT = "multipleAccount"
USERSIG_EXPIRED = "userSigExpired"


def apply(user_id: str, change: Change) -> Transition:
    """Apply `change` to the user's stored state, retrying (jittered) when a write came first."""
    timing = settings.current().timing()

    def attempt() -> Transition | None:
        state = store.get_presence(user_id)
        transition = change(state, clock.now_ms(), timing)
        if not transition.changed or store.save_presence(transition.before, transition.state):
            return transition
        return None

    return retry.until_done(attempt, what=f"the status of {user_id!r}")


def on_connect(
    user_id: str,
    connection_id: str,
    platform: str,
    sig_expires_at: int | None = None,
    client_ip: str = "",
) -> PresenceState:
    """$connect: the user is ONLINE on this device. Past `maxConnectionsPerUser` live
    connections, the oldest are closed (kickedOut multipleAccount); the status stays ONLINE.
    Each one closed is marked first (store.mark_evicted): the State.StateChange callback tells
    it as this login's KickedDevice, not as a logout (presence.callbacks).

    If anything fails after the connection was stored, it is forgotten again before the error
    goes back to API Gateway (which then refuses the handshake); if the function dies before
    that, the connection's verify timer forgets it within a minute.
    """
    now = clock.now_ms()
    store.put_connection(connection_id, user_id, platform, now)
    conn = Connection(platform, now, sig_expires_at=sig_expires_at, client_ip=client_ip)
    try:
        state = store.add_connection(user_id, connection_id, conn)
        current = settings.current()
        live = lifecycle.live_connections(state, now, current.timing())
        excess = [c for c in live if c != connection_id][
            : max(0, len(live) - current.maxConnectionsPerUser)
        ]
        if excess:
            store.mark_evicted(user_id, excess)
            _close(excess, MULTIPLE_ACCOUNT)
            apply(user_id, lambda state, at, timing: _log_out_all(state, excess, at, timing))
    except Exception:
        forget(user_id, connection_id)
        raise
    return state


def _log_out_all(
    state: PresenceState, connection_ids: list[str], now: int, timing: Timing
) -> Transition:
    after = state
    for connection_id in connection_ids:
        after = lifecycle.logout(after, connection_id, now, timing).state
    return lifecycle.settle(after, now, timing, state, stopped_at=now)


def on_disconnect(connection_id: str) -> bool:
    """API Gateway's $disconnect: a drop without logout (the grace applies). Idempotent."""
    user_id = store.get_connection_user(connection_id)
    if user_id is None:
        logger.info(
            "disconnect of an unknown or finished connection", extra={"connectionId": connection_id}
        )
        return False
    # The Connections item stays: nothing reads it after this but a repeated $disconnect (which
    # then changes nothing), and its TTL deletes it for free.
    return on_gone(user_id, connection_id)


def on_gone(user_id: str, connection_id: str) -> bool:
    """A connection that vanished without logging out (a $disconnect, or a 410 on push): its
    grace starts now. False if it was not live (already dropped, logged out, kicked)."""
    return store.mark_dropped(user_id, connection_id, clock.now_ms())


def time_out(user_id: str, connection_id: str, at_ms: int, *, silent: bool) -> None:
    """A live connection whose device sent nothing for the liveness timeout (`silent`), or
    that API Gateway's 2 hours ended without a $disconnect: a drop without logout from `at_ms`
    (the grace follows, as for any drop), then its socket is closed. No kickedOut frame: the
    device is presumed gone, and if it is not, its SDK reconnects as after any close."""
    if store.mark_dropped(user_id, connection_id, at_ms, timed_out=silent):
        logger.info(
            "connection timed out" if silent else "connection past API Gateway's 2 hours",
            extra={"connectionId": connection_id, "userID": user_id},
        )
    if silent:
        store.close_connection(connection_id)


def on_logout(connection_id: str) -> Transition | None:
    """The `logout` action: this device stops counting at once; it is told, then closed."""
    user_id = store.get_connection_user(connection_id)
    transition = None
    if user_id is not None:
        transition = apply(
            user_id, lambda state, now, timing: lifecycle.logout(state, connection_id, now, timing)
        )
        store.delete_connection(connection_id)
    store.post_to_connection(connection_id, messages.LOGGED_OUT)
    store.close_connection(connection_id)
    return transition


def on_tick(user_id: str) -> Transition:
    return apply(user_id, lifecycle.tick)


def forget(user_id: str, connection_id: str) -> Transition:
    """A connection API Gateway never opened: it stops counting (no grace, no OFFLINE)."""
    return apply(
        user_id, lambda state, now, timing: lifecycle.forget(state, connection_id, now, timing)
    )


def verify(user_id: str, connection_id: str) -> None:
    """The check after $connect: forget the connection if API Gateway does not know it."""
    state = store.get_presence(user_id)
    conn = state.connections.get(connection_id)
    if conn is None or conn.dropped_at is not None or store.connection_exists(connection_id):
        return
    logger.info("connection never opened; forgotten", extra={"connectionId": connection_id})
    forget(user_id, connection_id)


def expire_user_sig(user_id: str, connection_id: str) -> None:
    """The UserSig a connection was opened with has expired: log that device out."""
    _close([connection_id], USERSIG_EXPIRED)
    apply(user_id, lambda state, now, timing: lifecycle.logout(state, connection_id, now, timing))


def kick(user_id: str) -> Transition:
    """Every device of the user is logged out at once: each socket is told, then closed.

    The write comes first and moves the connections to `closing`; each one closed is taken off
    it. If some could not be closed, the admin gets 7012 and calling kickUser again closes what
    is left (the user is UNLOGINED from the first call on).
    """
    transition = apply(user_id, lifecycle.kick)
    pending = transition.state.closing
    closed = _close(pending, REST_API_KICK)
    store.finish_closing(user_id, closed)
    if len(closed) < len(pending):
        raise PresenceError(
            Code.SERVER_FAULT,
            f"{len(pending) - len(closed)} of {len(pending)} connections of {user_id!r} could not"
            " be closed; call kickUser again to close them",
        )
    return transition


def _close(connection_ids: Iterable[str], reason: str) -> list[str]:
    """Tell each connection why, then close it, in parallel; the ones that are now closed.

    A frame that cannot be posted does not stop the close; a close that fails (not a 410) is
    left out of the result, so the caller can try again."""
    ids = sorted(connection_ids)
    if not ids:
        return []
    frame = messages.kicked_out(reason)

    def close(connection_id: str) -> str | None:
        try:
            store.post_to_connection(connection_id, frame)
        except Exception:
            logger.warning("kickedOut frame not delivered", extra={"connectionId": connection_id})
        try:
            store.close_connection(connection_id)
        except Exception:
            logger.exception("could not close a connection", extra={"connectionId": connection_id})
            return None
        return connection_id

    store.sockets()  # created here, once: boto3 does not create clients safely from threads
    store.poster()
    with ThreadPoolExecutor(max_workers=min(CLOSE_WORKERS, len(ids))) as pool:
        return [c for c in pool.map(close, ids) if c is not None]
