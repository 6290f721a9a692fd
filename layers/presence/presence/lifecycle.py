"""How a user's statusType follows their devices (API.md section 3): a pure state machine.

No I/O here. `sessions` reads a PresenceState from the Status table, applies one of these
transitions, and writes the result back with one conditional write; the timers it returns are
sent to the delay queue. The same `settle` decides what a read shows, so a status never looks
ONLINE past its grace just because a timer has not fired yet.

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


class Timing(NamedTuple):
    """The settings that drive the lifecycle, in milliseconds."""

    grace_ms: int = 5_000
    offline_retention_ms: int = 604_800_000
    custom_status_clear_ms: int = 30_000
    subscription_retention_ms: int = 3_600_000


class Connection(NamedTuple):
    """One WebSocket connection of a user."""

    platform: str
    connected_at: int
    dropped_at: int | None = None  # dropped without logout; live until the grace ends


@dataclass(frozen=True)
class PresenceState:
    user_id: str
    status_type: StatusType = StatusType.UNLOGINED
    custom_status: str = ""
    custom_status_set_at: int | None = None
    connections: dict[str, Connection] = field(default_factory=dict)
    # native platforms logged in but not connected (app in background): platform -> until
    background: dict[str, int] = field(default_factory=dict)
    not_online_since: int | None = None
    version: int = 0


class TimerKind(StrEnum):
    TICK = "tick"  # finish drops after the grace, end OFFLINE after the retention
    CLEAR_CUSTOM_STATUS = "clearCustomStatus"
    DROP_SUBSCRIPTIONS = "dropSubscriptions"


class Timer(NamedTuple):
    """Work for the delay queue (timers sort by `due_at` first)."""

    due_at: int
    kind: TimerKind
    user_id: str


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
    state: PresenceState, connection_id: str, platform: str, now: int, timing: Timing
) -> Transition:
    connections = {**state.connections, connection_id: Connection(platform, now)}
    background = {p: t for p, t in state.background.items() if p != platform}
    return settle(
        replace(state, connections=connections, background=background), now, timing, state
    )


def drop(state: PresenceState, connection_id: str, now: int, timing: Timing) -> Transition:
    """The socket closed without a logout ($disconnect, or a 410 when pushing)."""
    current = state.connections.get(connection_id)
    if current is None or current.dropped_at is not None:
        return settle(state, now, timing)
    connections = {**state.connections, connection_id: current._replace(dropped_at=now)}
    return settle(replace(state, connections=connections), now, timing, state)


def logout(state: PresenceState, connection_id: str, now: int, timing: Timing) -> Transition:
    """This device logs out: it stops counting at once, with no grace and no OFFLINE."""
    current = state.connections.get(connection_id)
    if current is None:
        return settle(state, now, timing)
    connections = {k: v for k, v in state.connections.items() if k != connection_id}
    background = {p: t for p, t in state.background.items() if p != current.platform}
    return settle(
        replace(state, connections=connections, background=background), now, timing, state
    )


def kick(state: PresenceState, now: int, timing: Timing) -> Transition:
    """Every device is logged out at once."""
    return settle(replace(state, connections={}, background={}), now, timing, state)


def tick(state: PresenceState, now: int, timing: Timing) -> Transition:
    """Apply what time alone changes (a timer fired)."""
    return settle(state, now, timing)


# --- the rules -----------------------------------------------------------------------------------


def settle(
    state: PresenceState, now: int, timing: Timing, before: PresenceState | None = None
) -> Transition:
    """Finish what time has finished, derive statusType, and list the timers now needed.

    `state` may already carry an event's edit; `before` is what was stored (default: `state`).
    """
    before = state if before is None else before
    connections: dict[str, Connection] = {}
    background = dict(state.background)
    for connection_id, conn in state.connections.items():
        ended_at = _end_of(conn, timing)
        if ended_at > now:
            connections[connection_id] = conn
        elif conn.platform in NATIVE_PLATFORMS:
            # a native app that went away without logging out stays logged in (OFFLINE)
            until = ended_at + timing.offline_retention_ms
            background[conn.platform] = max(background.get(conn.platform, 0), until)
    background = {p: until for p, until in background.items() if until > now}

    if connections:
        status = StatusType.ONLINE
    elif background:
        status = StatusType.OFFLINE
    else:
        status = StatusType.UNLOGINED

    was_online = before.status_type == StatusType.ONLINE
    not_online_since = before.not_online_since
    if status == StatusType.ONLINE:
        not_online_since = None
    elif was_online:
        not_online_since = now

    new = replace(
        state,
        status_type=status,
        connections=connections,
        background=background,
        not_online_since=not_online_since,
    )
    user = state.user_id
    timers: set[Timer] = set()
    for connection_id, conn in connections.items():
        earlier = before.connections.get(connection_id)
        if conn.dropped_at is not None and (earlier is None or earlier.dropped_at is None):
            timers.add(Timer(_end_of(conn, timing), TimerKind.TICK, user))
    if background and background != before.background:
        timers.add(Timer(min(background.values()), TimerKind.TICK, user))
    if was_online and status != StatusType.ONLINE:
        if new.custom_status:
            due = now + timing.custom_status_clear_ms
            timers.add(Timer(due, TimerKind.CLEAR_CUSTOM_STATUS, user))
        due = now + timing.subscription_retention_ms
        timers.add(Timer(due, TimerKind.DROP_SUBSCRIPTIONS, user))
    return Transition(before, new, tuple(sorted(timers)))


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


def subscriptions_drop_due(state: PresenceState, timing: Timing) -> int | None:
    """When the user's subscriptions are to be dropped, or None while they are kept."""
    if state.status_type == StatusType.ONLINE or state.not_online_since is None:
        return None
    return state.not_online_since + timing.subscription_retention_ms


def is_live(conn: Connection) -> bool:
    """Whether a push can reach this connection (it has not dropped)."""
    return conn.dropped_at is None
