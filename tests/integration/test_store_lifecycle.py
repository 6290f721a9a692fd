"""lifecycle.connect and lifecycle.drop are the rules; store.add_connection and store.mark_dropped
are how production applies them, as one write of the connection's own entry each (no read, no
contention). Here both are applied to the same stored states, and the store's result, settled
as every read settles it, is the rule's result: the rules the unit tests check are the ones
production runs. (Only `version` differs: the write counter is the store's.)"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace

import pytest

from local.harness import moto_account
from presence import lifecycle, store
from presence.lifecycle import MAX_CONNECTION_AGE_MS, PresenceState, Timing
from presence.models import StatusType

TIMING = Timing(grace_ms=5_000, offline_retention_ms=60_000)
T0 = 1_800_000_000_000  # a connection's 2 hours end at T0 + MAX_CONNECTION_AGE_MS
_users = itertools.count()


@pytest.fixture(scope="module")
def account() -> Iterator[None]:
    """One moto account for the module: each case is a user of its own."""
    with moto_account():
        yield


@pytest.fixture
def user(account: None) -> str:
    return f"user{next(_users)}"


def built(user: str, *steps: str) -> PresenceState:
    """A state reached through the rules: `op:connection:platform@seconds` steps from T0."""
    state = PresenceState(user)
    for step in steps:
        op, connection_id, rest = step.split(":")
        platform, at_s = rest.split("@")
        at = T0 + int(float(at_s) * 1000)
        if op == "connect":
            state = lifecycle.connect(state, connection_id, platform, at, TIMING).state
        elif op == "drop":
            state = lifecycle.drop(state, connection_id, at, TIMING).state
        elif op == "logout":
            state = lifecycle.logout(state, connection_id, at, TIMING).state
        elif op == "kick":
            state = lifecycle.kick(state, at, TIMING).state
        elif op == "tick":
            state = lifecycle.tick(state, at, TIMING).state
    return state


STATES: dict[str, tuple[str, ...]] = {
    "nothing stored": (),
    "online on the web": ("connect:c1:web@0",),
    "online on two devices": ("connect:c1:web@0", "connect:c2:ios@1"),
    "a phone in its grace": ("connect:c1:web@0", "connect:c2:ios@1", "drop:c2:ios@2"),
    "a phone in the background": ("connect:c2:ios@0", "drop:c2:ios@1", "tick:-:ios@7"),
    "two apps in the background": (
        "connect:c2:ios@0",
        "connect:c3:mac@0",
        "drop:c2:ios@1",
        "drop:c3:mac@1",
        "tick:-:x@7",
    ),
    "logged out": ("connect:c1:web@0", "logout:c1:web@1"),
    "kicked, closing": ("connect:c1:web@0", "connect:c2:android@0", "kick:-:x@1"),
}


def stored(user: str, name: str, custom_status: str) -> PresenceState:
    """The state STATES names, written with the store's own writes, as read back (with its
    version)."""
    state = built(user, *STATES[name])
    if state.version or state.connections or state.background or state.not_online_since:
        assert store.save_presence(PresenceState(user), state)
    if custom_status:
        store.set_custom_status(user, custom_status, T0)
    return store.get_presence(user)


def same(a: PresenceState, b: PresenceState) -> None:
    assert replace(a, version=0) == replace(b, version=0)


@pytest.mark.parametrize("name", list(STATES))
@pytest.mark.parametrize(
    ("connection_id", "platform", "sig_expires_at"),
    [("new", "web", None), ("new", "ios", T0 + 3_600_000), ("c2", "ios", None)],
)
@pytest.mark.parametrize("at_s", [3, 10, MAX_CONNECTION_AGE_MS // 1000 + 5])
def test_add_connection_is_lifecycle_connect(
    user: str, name: str, connection_id: str, platform: str, sig_expires_at: int | None, at_s: int
) -> None:
    before = stored(user, name, custom_status="busy" if "phone" in name else "")
    at = T0 + at_s * 1000
    rule = lifecycle.connect(
        before, connection_id, platform, at, TIMING, sig_expires_at=sig_expires_at
    )
    conn = lifecycle.Connection(platform, at, sig_expires_at=sig_expires_at)
    written = store.add_connection(user, connection_id, conn)
    assert written == store.get_presence(user)
    assert written.version == (before.version or store.first_version(at)) + 1
    same(lifecycle.settle(written, at, TIMING).state, rule.state)
    assert rule.state.status_type is StatusType.ONLINE


@pytest.mark.parametrize("name", list(STATES))
@pytest.mark.parametrize("connection_id", ["c1", "c2", "unknown"])
@pytest.mark.parametrize("timed_out", [False, True])
@pytest.mark.parametrize("at_s", [3, 4.5, MAX_CONNECTION_AGE_MS // 1000 + 5])
def test_mark_dropped_is_lifecycle_drop(
    user: str, name: str, connection_id: str, timed_out: bool, at_s: float
) -> None:
    before = stored(user, name, custom_status="")
    at = T0 + int(at_s * 1000)
    rule = lifecycle.drop(before, connection_id, at, TIMING, timed_out=timed_out)
    changed = store.mark_dropped(user, connection_id, at, timed_out=timed_out)
    after = store.get_presence(user)
    # the write is made exactly when the rule drops a connection: one it knows, not dropped yet
    assert changed == (
        connection_id in before.connections and before.connections[connection_id].dropped_at is None
    )
    assert after.version == before.version + (1 if changed else 0)
    if changed:
        assert after.connections[connection_id].dropped_at == at
        assert after.connections[connection_id].timed_out == timed_out
    same(lifecycle.settle(after, at, TIMING).state, rule.state)
