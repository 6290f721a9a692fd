"""How a user's statusType follows their devices (API.md section 3): a pure state machine.

No I/O here. `connect` and `drop` below are the rules of a connect and a drop; the store writes
each as one write of that connection's own entry (store.add_connection, store.mark_dropped), so
they never contend with the user's other devices, and the settle that reads apply finishes the
rest. tests/integration/test_store_lifecycle.py applies each rule and its write to the same
stored states and holds the results equal. The other events (logout, kick, a timer) are applied
by `sessions`: read the PresenceState, apply one of these transitions, write it back with one
conditional write. The same `settle` decides what a read shows, so a status never looks ONLINE
past its grace just because a timer has not fired yet.

What follows a change (the timers it implies) is `followups(before, after)`: a function of the
two stored states alone, so the Status table's stream, which carries both images of every
write, derives the timers durably (a crash after a write loses none).

Times are epoch milliseconds.

The immutable value types are NamedTuples rather than frozen dataclasses: the same equality,
hashing, ordering and immutability, but a dataclass generates and compiles its methods when the
module is imported (about 0.5 ms each, in every function's cold start). PresenceState stays a
dataclass (mutable defaults, `replace`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import NamedTuple

from presence.models import StatusType

NATIVE_PLATFORMS = frozenset({"ios", "android", "ipad", "windows", "mac", "linux", "harmony"})
WEB_PLATFORMS = frozenset({"web", "miniprogram"})
PLATFORMS = NATIVE_PLATFORMS | WEB_PLATFORMS

# API Gateway closes every WebSocket after 2 hours. A connection older than that whose
# $disconnect never arrived is gone; a few minutes' slack covers clock differences.
MAX_CONNECTION_AGE_MS = (2 * 3600 + 300) * 1000
# A connection is checked this long after its $connect: if API Gateway does not know it (the
# handshake failed after the connection was stored), it is forgotten. Ghosts live < 60 s.
VERIFY_AFTER_MS = 30_000
# A liveness check never waits longer than SQS's longest delay: with liveness off it hops every
# 15 minutes until the connection's 2 hours are over (no Scheduler schedule per connection).
LIVENESS_HOP_MS = 900_000


class Timing(NamedTuple):
    """The settings that drive the lifecycle, in milliseconds."""

    grace_ms: int = 5_000
    offline_retention_ms: int = 604_800_000
    custom_status_clear_ms: int = 30_000
    subscription_retention_ms: int = 3_600_000
    liveness_ms: int = 0  # the deployment's liveness timeout (0: off); not a setting


class Connection(NamedTuple):
    """One WebSocket connection of a user."""

    platform: str
    connected_at: int
    dropped_at: int | None = None  # dropped without logout; live until the grace ends
    sig_expires_at: int | None = None  # when the UserSig it was opened with expires
    timed_out: bool = False  # dropped because its device went silent (liveness), not closed
    client_ip: str = ""  # the device's IP at $connect (the State.StateChange callback's ClientIP)
    # closed by a newer login past maxConnectionsPerUser (multipleAccount): its leaving is told
    # as that login's KickedDevice, not as a logout of its own (presence.callbacks)
    evicted: bool = False


@dataclass(frozen=True)
class PresenceState:
    user_id: str
    status_type: StatusType = StatusType.UNLOGINED
    custom_status: str = ""
    custom_status_set_at: int | None = None
    # when the custom status clears itself (customStatusExpiresIn); kept after that clear,
    # with the custom status "", as the mark of it (events.describe: customStatusExpired)
    custom_status_expires_at: int | None = None
    # appear offline (API.md section 3): others see `hidden_last_active_time` and
    # `hidden_version` (what they could see when the user went invisible), statusType
    # UNLOGINED and no custom status; the user's own devices see the rest
    invisible: bool = False
    hidden_last_active_time: int = 0
    hidden_version: int = 0
    connections: dict[str, Connection] = field(default_factory=dict)
    # native platforms logged in but not connected (app in background): platform -> until
    background: dict[str, int] = field(default_factory=dict)
    not_online_since: int | None = None  # when the latest ONLINE period ended (lastActiveTime)
    version: int = 0
    # connections a kick took away that may still be open (closed, then removed from here)
    closing: frozenset[str] = frozenset()
    # the newest version the fan-out has pushed ahead of its own stream record (it found that
    # record's change already stored when an older record overtaken by it was handled): the
    # fan-out's bookkeeping, not part of the status. Left out of equality, so no transition
    # counts it as a change; no transition writes it (store.save_presence names what it sets).
    pushed_version: int = field(default=0, compare=False)

    @property
    def last_active_time(self) -> int:
        """API.md section 3: when the latest ONLINE period ended; 0 while ONLINE or never."""
        if self.status_type == StatusType.ONLINE:
            return 0
        return self.not_online_since or 0


class TimerKind(StrEnum):
    TICK = "tick"  # finish drops after the grace, end OFFLINE after the retention
    CLEAR_CUSTOM_STATUS = "clearCustomStatus"
    DROP_SUBSCRIPTIONS = "dropSubscriptions"
    VERIFY_CONNECTION = "verifyConnection"  # forget a connection API Gateway never opened
    USERSIG_EXPIRED = "userSigExpired"  # close a connection whose UserSig has expired
    CHECK_LIVENESS = "checkLiveness"  # drop a connection whose device went silent, or aged out
    EXPIRE_CUSTOM_STATUS = "expireCustomStatus"  # clear a custom status set to expire


class Timer(NamedTuple):
    """Work for the delay queue (timers sort by `due_at` first)."""

    due_at: int
    kind: TimerKind
    user_id: str
    subject: str = ""  # the connection a per-connection timer is about


class Transition(NamedTuple):
    """What was stored, what to store, and the timers the change needs."""

    before: PresenceState
    state: PresenceState
    timers: tuple[Timer, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether anything stored differs (the caller writes only then)."""
        return self.state != self.before


# --- transitions ---------------------------------------------------------------------------------


def connect(
    state: PresenceState,
    connection_id: str,
    platform: str,
    now: int,
    timing: Timing,
    *,
    sig_expires_at: int | None = None,
) -> Transition:
    """A new live connection (opened with a UserSig that expires at `sig_expires_at`): the
    user is ONLINE, and no longer in the background on that platform."""
    connection = Connection(platform, now, sig_expires_at=sig_expires_at)
    connections = {**state.connections, connection_id: connection}
    background = {p: t for p, t in state.background.items() if p != platform}
    return settle(
        replace(state, connections=connections, background=background), now, timing, state
    )


def drop(
    state: PresenceState, connection_id: str, now: int, timing: Timing, *, timed_out: bool = False
) -> Transition:
    """The socket closed without a logout ($disconnect, or a 410 when pushing), or its device
    went silent (`timed_out`, liveness): its grace starts now. An unknown or already dropped
    connection changes nothing."""
    current = state.connections.get(connection_id)
    if current is None or current.dropped_at is not None:
        return settle(state, now, timing)
    dropped = current._replace(dropped_at=now, timed_out=current.timed_out or timed_out)
    connections = {**state.connections, connection_id: dropped}
    return settle(replace(state, connections=connections), now, timing, state)


def logout(state: PresenceState, connection_id: str, now: int, timing: Timing) -> Transition:
    """This device logs out: it stops counting at once, with no grace and no OFFLINE.

    Also how a connection evicted by `maxConnectionsPerUser` (multipleAccount) leaves."""
    current = state.connections.get(connection_id)
    if current is None:
        return settle(state, now, timing)
    connections = {k: v for k, v in state.connections.items() if k != connection_id}
    background = {p: t for p, t in state.background.items() if p != current.platform}
    return settle(
        replace(state, connections=connections, background=background),
        now,
        timing,
        state,
        stopped_at=now,
    )


def forget(state: PresenceState, connection_id: str, now: int, timing: Timing) -> Transition:
    """A connection API Gateway never opened (its $connect failed after storing it)."""
    if connection_id not in state.connections:
        return settle(state, now, timing)
    connections = {k: v for k, v in state.connections.items() if k != connection_id}
    return settle(replace(state, connections=connections), now, timing, state, stopped_at=now)


def kick(state: PresenceState, now: int, timing: Timing) -> Transition:
    """Every device is logged out at once; its connections are to be closed (`closing`)."""
    closing = state.closing | frozenset(state.connections)
    return settle(
        replace(state, connections={}, background={}, closing=closing),
        now,
        timing,
        state,
        stopped_at=now,
    )


def tick(state: PresenceState, now: int, timing: Timing) -> Transition:
    """Apply what time alone changes (a timer fired)."""
    return settle(state, now, timing)


# --- the rules -----------------------------------------------------------------------------------


def settle(
    state: PresenceState,
    now: int,
    timing: Timing,
    before: PresenceState | None = None,
    *,
    stopped_at: int | None = None,
) -> Transition:
    """Finish what time has finished, derive statusType, and list the timers now needed.

    `state` may already carry an event's edit; `before` is what was stored (default: `state`).
    `stopped_at` is when an event ended the user's ONLINE period (a logout or kick: now); by
    default it is when the last connection that ended stopped counting (its grace end), so a
    timer that runs late does not move lastActiveTime.
    """
    before = state if before is None else before
    connections: dict[str, Connection] = {}
    background = dict(state.background)
    ended: list[int] = []
    for connection_id, conn in state.connections.items():
        ended_at = _end_of(conn, timing)
        if ended_at > now:
            connections[connection_id] = conn
        else:
            ended.append(ended_at)
    live_platforms = {conn.platform for conn in connections.values()}
    for conn in state.connections.values():
        ended_at = _end_of(conn, timing)
        if ended_at <= now and conn.platform in NATIVE_PLATFORMS - live_platforms:
            # a native app that went away without logging out stays logged in (OFFLINE); not
            # when the same platform is connected again (a reconnect): it is not in background
            until = ended_at + timing.offline_retention_ms
            background[conn.platform] = max(background.get(conn.platform, 0), until)
    background = {p: until for p, until in background.items() if until > now}

    if connections:
        status = StatusType.ONLINE
    elif background:
        status = StatusType.OFFLINE
    else:
        status = StatusType.UNLOGINED

    not_online_since = before.not_online_since
    if status == StatusType.ONLINE:
        not_online_since = None
    elif before.status_type == StatusType.ONLINE:
        not_online_since = stopped_at if stopped_at is not None else max(ended, default=now)

    new = replace(
        state,
        status_type=status,
        connections=connections,
        background=background,
        not_online_since=not_online_since,
    )
    return Transition(before, new, followups(before, new, timing))


def followups(before: PresenceState, after: PresenceState, timing: Timing) -> tuple[Timer, ...]:
    """The timers a stored change from `before` to `after` needs (sorted, no repeats).

    A function of the two states only, so the stream consumer derives the same timers from a
    record's old and new images as the transition that wrote it. Each timer re-reads the state
    when it fires, so a timer made twice (a retried record) does its work once.
    """
    user = after.user_id
    timers: set[Timer] = set()
    for connection_id, conn in after.connections.items():
        earlier = before.connections.get(connection_id)
        if earlier is None and conn.dropped_at is None:
            due = conn.connected_at + VERIFY_AFTER_MS
            timers.add(Timer(due, TimerKind.VERIFY_CONNECTION, user, connection_id))
            deadline = liveness_deadline(conn.connected_at, conn.connected_at, timing)
            due = next_liveness_check(deadline, conn.connected_at)
            timers.add(Timer(due, TimerKind.CHECK_LIVENESS, user, connection_id))
            expiry = conn.sig_expires_at
            if expiry is not None and expiry < conn.connected_at + MAX_CONNECTION_AGE_MS:
                # (a UserSig that outlives API Gateway's 2 hours needs no timer)
                timers.add(Timer(expiry, TimerKind.USERSIG_EXPIRED, user, connection_id))
        if conn.dropped_at is not None and (earlier is None or earlier.dropped_at is None):
            timers.add(Timer(_end_of(conn, timing), TimerKind.TICK, user))
    if after.background and after.background != before.background:
        timers.add(Timer(min(after.background.values()), TimerKind.TICK, user))
    expiry = custom_status_expiry_due(after)
    if expiry is not None and expiry != before.custom_status_expires_at:
        timers.add(Timer(expiry, TimerKind.EXPIRE_CUSTOM_STATUS, user))
    online = StatusType.ONLINE
    if before.status_type == online and after.status_type != online:
        since = after.not_online_since if after.not_online_since is not None else 0
        if after.custom_status:
            timers.add(
                Timer(since + timing.custom_status_clear_ms, TimerKind.CLEAR_CUSTOM_STATUS, user)
            )
        timers.add(
            Timer(since + timing.subscription_retention_ms, TimerKind.DROP_SUBSCRIPTIONS, user)
        )
    elif (
        after.status_type != online
        and after.custom_status
        and after.custom_status_set_at is not None
        and after.custom_status_set_at != before.custom_status_set_at
    ):
        # set while not ONLINE: it lives customStatusClearSeconds unless a connection comes
        due = after.custom_status_set_at + timing.custom_status_clear_ms
        timers.add(Timer(due, TimerKind.CLEAR_CUSTOM_STATUS, user))
    return tuple(sorted(timers))


def _end_of(conn: Connection, timing: Timing) -> int:
    """When a connection stops counting as live: its grace ends, or API Gateway's 2 hours."""
    end = conn.connected_at + MAX_CONNECTION_AGE_MS
    if conn.dropped_at is not None:
        end = min(end, conn.dropped_at + timing.grace_ms)
    return end


# --- decisions for timers and reads --------------------------------------------------------------


def custom_status_clear_due(state: PresenceState, timing: Timing) -> int | None:
    """When the custom status is to be cleared, or None if it is not (empty, or user ONLINE)."""
    if not state.custom_status or state.status_type == StatusType.ONLINE:
        return None
    if state.not_online_since is None and state.custom_status_set_at is None:
        return None  # nothing says when it started (an item written by other means)
    due = 0
    if state.not_online_since is not None:
        due = state.not_online_since + timing.custom_status_clear_ms
    if state.custom_status_set_at is not None:
        due = max(due, state.custom_status_set_at + timing.custom_status_clear_ms)
    return due


def custom_status_expiry_due(state: PresenceState) -> int | None:
    """When the custom status clears itself (customStatusExpiresIn), or None if it does not."""
    if not state.custom_status:
        return None
    return state.custom_status_expires_at


def liveness_deadline(connected_at: int, seen_at: int, timing: Timing) -> int:
    """When a live connection stops counting unless its device sends another frame: its last
    frame (`seen_at`) plus the liveness timeout, or API Gateway's 2 hours, whichever is first
    (a connection whose $disconnect never came is written as dropped then)."""
    two_hours = connected_at + MAX_CONNECTION_AGE_MS
    if timing.liveness_ms <= 0:
        return two_hours
    return min(seen_at + timing.liveness_ms, two_hours)


def aged_out(connected_at: int, deadline: int) -> bool:
    """Whether a liveness deadline is API Gateway's 2 hours rather than the device's silence."""
    return deadline >= connected_at + MAX_CONNECTION_AGE_MS


def next_liveness_check(deadline: int, now: int) -> int:
    """When to look at a connection next: its deadline, at most a 15-minute SQS hop away."""
    return min(deadline, now + LIVENESS_HOP_MS)


def subscriptions_drop_due(state: PresenceState, timing: Timing) -> int | None:
    """When the user's subscriptions are to be dropped, or None while they are kept."""
    if state.status_type == StatusType.ONLINE or state.not_online_since is None:
        return None
    return state.not_online_since + timing.subscription_retention_ms


def is_live(conn: Connection) -> bool:
    """Whether a push can reach this connection (it has not dropped)."""
    return conn.dropped_at is None


def next_change_due(state: PresenceState, timing: Timing) -> int | None:
    """When time alone next changes the stored state (a grace or the OFFLINE retention ends),
    or None if nothing is waiting: a TICK that finds None has nothing left to do."""
    ends = [_end_of(conn, timing) for conn in state.connections.values()]
    return min([*ends, *state.background.values()], default=None)


def live_connections(state: PresenceState, now: int, timing: Timing) -> list[str]:
    """The connections that count and have not dropped, oldest first (what the cap counts)."""
    live = [
        (conn.connected_at, connection_id)
        for connection_id, conn in state.connections.items()
        if conn.dropped_at is None and _end_of(conn, timing) > now
    ]
    return [connection_id for _, connection_id in sorted(live)]
