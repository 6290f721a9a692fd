"""Liveness (API.md section 6): a device that stops sending frames stops counting within the
liveness timeout (90 s by default, the template's LivenessTimeoutSeconds), whether or not the
server keeps sending to it; then the grace, then OFFLINE or UNLOGINED, pushed like any drop, and
its socket is closed. A device that keeps sending frames, even a whole interval late, never is.
A connection past API Gateway's 2 hours whose $disconnect never came is written as dropped.

`World` makes every open connection beat as the SDKs do; `world.silent` holds the devices that
went quiet (network lost, laptop asleep) without closing their sockets."""

from __future__ import annotations

import json

import pytest

from presence import store
from presence.lifecycle import MAX_CONNECTION_AGE_MS, TimerKind
from tests.integration.conftest import Api, World
from tests.integration.test_events import Backend, reasons

ONLINE, OFFLINE, UNLOGINED = 1, 2, 3
TIMEOUT, GRACE = 90, 5
BEAT = json.dumps({"action": "beat"})


def watched_by_bob(api: Api, world: World, user: str = "alice") -> str:
    bob = world.online("bob")  # bob's device keeps beating
    assert api.subscribe([user], user="bob").status == 200
    return bob


def seen_by(world: World, connection_id: str, user: str) -> list[int]:
    """The statusTypes of `user` pushed to a connection, in order."""
    return [s["statusType"] for s in world.pushes(connection_id) if s["userID"] == user]


def test_a_silent_web_device_stops_counting_and_its_watchers_are_told(
    api: Api, world: World
) -> None:
    bob = watched_by_bob(api, world)
    alice = world.online("alice", "web")
    connected_at = world.now
    world.silent.add(alice)  # the laptop sleeps: no frame, no close
    world.advance(TIMEOUT - 1)
    assert seen_by(world, bob, "alice") == [ONLINE]
    assert alice not in world.closed
    world.advance(2 + GRACE)  # past the timeout, then the grace
    assert seen_by(world, bob, "alice") == [ONLINE, UNLOGINED]
    assert alice in world.closed  # its socket is closed too
    (entry,) = api.get_user_status(["alice"], user="bob").data["successUserList"]
    # the device stopped counting at its timeout; the grace ran from there
    assert entry["lastActiveTime"] == connected_at + (TIMEOUT + GRACE) * 1000


def test_a_silent_device_that_keeps_receiving_pushes_is_timed_out_all_the_same(
    api: Api, world: World
) -> None:
    """On AWS a socket that the server keeps posting to is never idle: only the device's own
    frames count."""
    bob = watched_by_bob(api, world)
    alice = world.online("alice", "ios")
    assert api.subscribe(["carol"], user="alice").status == 200
    world.silent.add(alice)
    for i in range(12):  # carol changes every 10 s: alice's socket gets a push each time
        world.advance(10)
        assert api.set_self_status(f"step {i}", user="carol").status == 200
        world.pump()
    # carol's pushes reached the silent socket until its timeout at 90 s (8 of them)
    assert len([s for s in world.pushes(alice) if s["userID"] == "carol"]) == 8
    assert seen_by(world, bob, "alice") == [ONLINE, OFFLINE]  # a native app: OFFLINE
    assert alice in world.closed


def test_a_device_that_beats_never_times_out_even_a_whole_interval_late(
    api: Api, world: World
) -> None:
    bob = watched_by_bob(api, world)
    alice = world.online("alice", "web")
    world.silent.add(alice)  # beats by hand below, each a whole interval (30 s) late
    for _ in range(15):  # 15 minutes: ten times the timeout
        world.advance(60)
        world.send(alice, BEAT)
    assert seen_by(world, bob, "alice") == [ONLINE]
    assert alice not in world.closed
    assert store.get_presence("alice").connections[alice].dropped_at is None


def test_any_frame_counts_not_only_beats(api: Api, world: World) -> None:
    alice = world.online("alice", "web")
    world.silent.add(alice)
    for frame in ('{"action": "ping"}', "not json", '{"action": "dance"}', BEAT):
        world.advance(TIMEOUT - 10)
        world.send(alice, frame)
    world.advance(TIMEOUT - 10)
    assert alice not in world.closed
    world.advance(11 + GRACE)
    assert alice in world.closed
    assert int(store.get_presence("alice").status_type) == UNLOGINED


def test_the_timeout_is_an_event_with_reason_timeout(api: Api, world: World) -> None:
    assert api.update_settings({"statusChangeEvents": True}).status == 200
    backend = Backend()
    alice = world.online("alice", "android")
    world.silent.add(alice)
    world.advance(TIMEOUT + GRACE + 1)
    assert reasons(backend.take()) == [
        ("login", UNLOGINED, ONLINE, "android"),
        ("timeout", ONLINE, OFFLINE, "android"),
    ]


def test_one_silent_device_of_two_changes_nothing(api: Api, world: World) -> None:
    bob = watched_by_bob(api, world)
    phone = world.online("alice", "ios")
    laptop = world.online("alice", "web")
    world.silent.add(laptop)
    world.advance(TIMEOUT + GRACE + 1)
    assert laptop in world.closed and phone not in world.closed
    assert seen_by(world, bob, "alice") == [ONLINE]


def test_a_device_that_comes_back_within_the_grace_causes_no_push(api: Api, world: World) -> None:
    bob = watched_by_bob(api, world)
    alice = world.online("alice", "web")
    world.silent.add(alice)
    world.advance(TIMEOUT + 1)
    assert alice in world.closed  # timed out: its grace runs
    world.online("alice", "web")  # the SDK reconnects at once
    world.advance(60)
    assert seen_by(world, bob, "alice") == [ONLINE]


def test_the_check_stops_with_the_connection(api: Api, world: World) -> None:
    alice = world.online("alice", "web")
    world.send(alice, '{"action": "logout"}')
    world.advance(TIMEOUT * 3)
    checks = [t for t in world.sent_timers if t.kind is TimerKind.CHECK_LIVENESS]
    assert len(checks) == 1  # derived at connect; the logged-out connection is not looked at again
    assert not [t for t in world.queued if t.kind is TimerKind.CHECK_LIVENESS]


@pytest.mark.parametrize("liveness", ["90", "0"])
def test_a_connection_past_api_gateways_two_hours_is_written_as_dropped(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch, liveness: str
) -> None:
    """API Gateway closed it, but its $disconnect never arrived: the check writes the drop and
    watchers are told (with liveness off too, by 15-minute hops)."""
    monkeypatch.setenv("LIVENESS_TIMEOUT_SECONDS", liveness)
    alice = world.online("alice", "web")  # keeps beating: only the 2 hours end it
    world.advance(3600)
    bob = watched_by_bob(api, world)  # (an hour later, so that bob's own 2 hours do not end)
    world.advance(MAX_CONNECTION_AGE_MS / 1000 - 3600 - 60)
    assert seen_by(world, bob, "alice") == []
    world.open.discard(alice)  # API Gateway closed it; no $disconnect
    world.advance(60 + 15 * 60)
    assert seen_by(world, bob, "alice") == [UNLOGINED]
    hops = [t for t in world.sent_timers if t.kind is TimerKind.CHECK_LIVENESS]
    hops = [t for t in hops if t.subject == alice]
    # one check per timeout (90 s) while the device beats; off: one per 15 minutes
    per_connection = MAX_CONNECTION_AGE_MS // (900_000 if liveness == "0" else TIMEOUT * 1000)
    assert per_connection <= len(hops) <= per_connection + 1
