"""Custom statuses that clear themselves (API.md section 4, `customStatusExpiresIn`): the clear
comes at the time (a timer derived from the Status stream), is pushed once, and is an event
with reason `customStatusExpired`; a newer status without expiry replaces the expiry; long
expiries go through the scheduler, which fires up to two minutes early and is taken the rest of
the way by the delay queue; every bad value is 6017 and changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from presence import store, timers
from presence.lifecycle import Timer, TimerKind
from tests.integration.conftest import Api, World
from tests.integration.test_events import Backend

ONLINE, UNLOGINED = 1, 3


def set_status(api: Api, user: str = "alice", **body: Any) -> dict[str, Any]:
    return api.call("set_self_status", body, user=user).data


def of(world: World, connection_id: str, user: str = "alice") -> list[tuple[str, int]]:
    """(customStatus, customStatusExpiresAt) of each push about `user`."""
    return [
        (s["customStatus"], s["customStatusExpiresAt"])
        for s in world.pushes(connection_id)
        if s["userID"] == user
    ]


@pytest.fixture
def backend(api: Api, world: World) -> Backend:
    assert api.update_settings({"statusChangeEvents": True}).status == 200
    return Backend()


def test_an_expiring_status_clears_on_time_and_is_pushed_once(
    api: Api, world: World, backend: Backend
) -> None:
    bob = world.online("bob")
    assert api.subscribe(["alice"], user="bob").status == 200
    world.online("alice")
    world.pump()
    backend.take()
    mine = set_status(api, customStatus="in a meeting", customStatusExpiresIn=60)
    expires_at = world.now + 60_000
    assert (mine["customStatus"], mine["customStatusExpiresAt"]) == ("in a meeting", expires_at)
    world.pump()
    assert of(world, bob)[-1] == ("in a meeting", expires_at)
    (entry,) = api.get_user_status(["alice"], user="bob").data["successUserList"]
    assert entry["customStatusExpiresAt"] == expires_at

    world.advance(59)
    assert of(world, bob)[-1] == ("in a meeting", expires_at)
    world.advance(1)  # the expiry: cleared at once (the timer is due exactly then)
    assert of(world, bob)[-2:] == [("in a meeting", expires_at), ("", 0)]
    world.advance(120)
    # alice's login, her status, its clear: each pushed once
    assert of(world, bob) == [("", 0), ("in a meeting", expires_at), ("", 0)]
    (entry,) = api.get_user_status(["alice"], user="bob").data["successUserList"]
    assert (entry["statusType"], entry["customStatus"], entry["customStatusExpiresAt"]) == (
        ONLINE,
        "",
        0,
    )
    events = backend.take()
    assert [(e["reason"], e["customStatus"], e["customStatusExpiresAt"]) for e in events] == [
        ("setSelfStatus", "in a meeting", expires_at),
        ("customStatusExpired", "", 0),
    ]


def test_a_newer_status_without_expiry_replaces_the_expiry(api: Api, world: World) -> None:
    bob = world.online("bob")
    assert api.subscribe(["alice"], user="bob").status == 200
    world.online("alice")
    set_status(api, customStatus="back in 5", customStatusExpiresIn=300)
    world.advance(10)
    assert set_status(api, customStatus="working")["customStatusExpiresAt"] == 0
    world.advance(600)  # the first expiry's timer fires and finds nothing to clear
    assert of(world, bob)[-1] == ("working", 0)
    set_status(api, customStatus="working", customStatusExpiresIn=30)  # the same text, now
    world.advance(31)  # with an expiry: that is a change, and it clears
    assert of(world, bob)[-1] == ("", 0)


def test_a_later_expiry_replaces_an_earlier_one(api: Api, world: World) -> None:
    bob = world.online("bob")
    assert api.subscribe(["alice"], user="bob").status == 200
    world.online("alice")
    set_status(api, customStatus="lunch", customStatusExpiresIn=60)
    world.advance(30)
    set_status(api, customStatus="lunch", customStatusExpiresIn=120)
    world.advance(60)  # the first expiry passes: still lunch
    assert of(world, bob)[-1][0] == "lunch"
    world.advance(61)
    assert of(world, bob)[-1] == ("", 0)


def test_a_read_past_the_expiry_shows_it_cleared_before_the_timer_runs(
    api: Api, world: World
) -> None:
    world.online("alice")
    set_status(api, customStatus="brb", customStatusExpiresIn=5)
    world.now += 6_000  # the clock moves, the timer has not run yet
    (entry,) = api.get_user_status(["alice"], user="bob").data["successUserList"]
    assert (entry["customStatus"], entry["customStatusExpiresAt"]) == ("", 0)
    assert store.get_presence("alice").custom_status == "brb"  # not written yet


def test_an_expiry_while_invisible_reaches_only_alices_devices(api: Api, world: World) -> None:
    bob = world.online("bob")
    assert api.subscribe(["alice"], user="bob").status == 200
    alice = world.online("alice")
    set_status(api, invisible=True, customStatus="deep work", customStatusExpiresIn=60)
    world.advance(61)
    assert of(world, alice)[-1] == ("", 0)
    assert ("deep work", world.now) not in of(world, bob)
    assert all(text == "" for text, _ in of(world, bob))


def test_an_early_timer_is_queued_again_for_its_own_time(api: Api, world: World) -> None:
    """A schedule fires up to two minutes before its timer (the Scheduler's minute precision
    plus the lead): nothing happens until the timer's own time."""
    world.online("alice")
    set_status(api, customStatus="on leave", customStatusExpiresIn=7 * 86400)
    world.pump()
    (timer,) = [t for t in world.queued if t.kind is TimerKind.EXPIRE_CUSTOM_STATUS]
    world.queued.remove(timer)
    world.now = timer.due_at - 90_000
    timers.run(timer)
    assert store.get_presence("alice").custom_status == "on leave"
    assert timer in world.queued  # on the delay queue, due at its own time
    world.advance(90)
    assert store.get_presence("alice").custom_status == ""


def test_a_week_long_expiry_is_scheduled_two_minutes_ahead(api: Api, aws: dict[str, str]) -> None:
    import boto3

    due = 1_900_000_000_000
    store.send_timers([Timer(due, TimerKind.EXPIRE_CUSTOM_STATUS, "alice")], due - 7 * 86_400_000)
    scheduler = boto3.client("scheduler", region_name="us-east-1")
    (summary,) = scheduler.list_schedules(GroupName=aws["TIMERS_SCHEDULE_GROUP"])["Schedules"]
    detail = scheduler.get_schedule(GroupName=aws["TIMERS_SCHEDULE_GROUP"], Name=summary["Name"])
    assert detail["ScheduleExpression"] == "at(2030-03-17T17:44:40)"  # 17:46:40 less 2 min
    assert json.loads(detail["Target"]["Input"])["kind"] == "expireCustomStatus"


@pytest.mark.parametrize(
    "body",
    [
        {"customStatus": "x", "customStatusExpiresIn": 0},
        {"customStatus": "x", "customStatusExpiresIn": -5},
        {"customStatus": "x", "customStatusExpiresIn": 604_801},
        {"customStatus": "x", "customStatusExpiresIn": "60"},
        {"customStatus": "x", "customStatusExpiresIn": 1.5},
        {"customStatus": "x", "customStatusExpiresIn": True},
        {"customStatus": "x", "customStatusExpiresIn": None},
        {"customStatus": "", "customStatusExpiresIn": 60},
        {"customStatusExpiresIn": 60},
        {"invisible": False, "customStatusExpiresIn": 60},
    ],
)
def test_bad_expiries_are_6017_name_the_field_and_change_nothing(
    api: Api, world: World, body: dict[str, Any]
) -> None:
    world.online("alice")
    set_status(api, customStatus="kept", customStatusExpiresIn=600)
    before = store.get_presence("alice")
    reply = api.call("set_self_status", body)
    assert (reply.status, reply.code) == (400, 6017), reply.body
    assert "customStatus" in reply.body["message"]
    assert store.get_presence("alice") == before


def test_the_longest_and_shortest_expiries_are_accepted(api: Api, world: World) -> None:
    world.online("alice")
    for seconds in (1, 604_800):
        data = set_status(api, customStatus="ok", customStatusExpiresIn=seconds)
        assert data["customStatusExpiresAt"] == world.now + seconds * 1000
