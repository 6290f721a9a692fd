"""What users see when invocations race and calls fail (issue: correct under real concurrency and
faults). Each test is one of the failures measured on the first version, run the way AWS runs
the handlers: many invocations at once (threads, with moto's DynamoDB made atomic per request,
as DynamoDB is), at-least-once stream and queue deliveries, and faults injected between calls.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from presence import messages, sessions, store
from presence.auth import gen_user_sig
from presence.lifecycle import TimerKind
from tests.integration.conftest import (
    SDKAPPID,
    SECRET_KEY,
    Api,
    World,
    concurrently,
    handler_module,
    lambda_context,
)

ONLINE, OFFLINE, UNLOGINED = 1, 2, 3


def status_of(api: Api, user: str) -> tuple[int, str]:
    entry = api.get_user_status([user], user=user).data["successUserList"][0]
    return entry["statusType"], entry["customStatus"]


def stored(user: str) -> tuple[int, str]:
    state = store.get_presence(user)
    return int(state.status_type), state.custom_status


@pytest.fixture
def racing(api: Api, world: World, atomic_dynamodb: None) -> World:
    """The World, ready for concurrent invocations (caches warm, as in running functions)."""
    api.set_self_status("", user="warm-up")
    return world


def fail_once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, *, after: bool) -> list[int]:
    """Make owner.name raise once, before or after doing its work; returns a call counter."""
    original = getattr(owner, name)
    calls = [0]

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1 and not after:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, name)
        result = original(*args, **kwargs)
        if calls[0] == 1:
            raise TimeoutError(f"the invocation died after {name}")
        return result

    monkeypatch.setattr(owner, name, flaky)
    return calls


# --- 1. many sockets of one user closing at once ---------------------------------------------


@pytest.mark.parametrize(("users", "sockets"), [(1, 30), (5, 25)])
def test_sockets_closing_at_once_all_count_and_nobody_stays_online(
    api: Api, racing: World, users: int, sockets: int
) -> None:
    api.update_settings({"maxConnectionsPerUser": 100})
    names = [f"many{u}" for u in range(users)]
    opened = [racing.online(name) for name in names for _ in range(sockets)]
    answers = concurrently(lambda i: racing.disconnect(opened[i], pump=False), len(opened))
    assert [a["statusCode"] for a in answers] == [200] * len(opened)  # never a 7012
    racing.pump()
    racing.advance(6)  # past the 5 s grace
    for name in names:
        assert stored(name) == (UNLOGINED, "")
        assert store.get_presence(name).connections == {}


def test_sockets_opening_at_once_are_all_counted(api: Api, racing: World) -> None:
    api.update_settings({"maxConnectionsPerUser": 100})
    results = concurrently(lambda i: racing.connect("crowd", pump=False), 30)
    assert [answer["statusCode"] for _, answer in results] == [200] * 30
    assert set(store.get_presence("crowd").connections) == {cid for cid, _ in results}


def test_devices_logging_out_at_once_all_leave(api: Api, racing: World) -> None:
    api.update_settings({"maxConnectionsPerUser": 100})
    opened = [racing.online("leaver", "ios") for _ in range(15)]
    logout = json.dumps({"action": "logout"})
    answers = concurrently(lambda i: racing.send(opened[i], logout), len(opened))
    assert [a["statusCode"] for a in answers] == [200] * len(opened)
    assert stored("leaver") == (UNLOGINED, "")  # logout: at once, no OFFLINE


# --- 2. the subscription quota under concurrent subscribes -----------------------------------


@pytest.mark.parametrize("callers", [3, 10])
def test_concurrent_subscribes_hold_exactly_the_quota(
    api: Api, atomic_dynamodb: None, callers: int
) -> None:
    api.update_settings({"rateLimit": {"requests": 100}})
    api.subscribe(["warm"], user="fan")
    api.unsubscribe(None, user="fan")
    replies = concurrently(
        lambda i: api.subscribe([f"star{i:02d}-{n:03d}" for n in range(100)], user="fan"),
        callers,
    )
    assert [r.status for r in replies] == [200] * callers
    held = api.subscriptions(user="fan")
    assert len(held) == 200
    assert len(set(held)) == 200


# --- 3. a $connect that fails after its write ----------------------------------------------------


def test_connect_failing_after_its_write_leaves_no_ghost(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_once(monkeypatch, store, "add_connection", after=True)
    connection_id, answer = world.connect("ghost")
    assert answer["statusCode"] == 500  # API Gateway refuses the handshake: no socket
    assert status_of(api, "ghost") == (UNLOGINED, "")
    assert connection_id not in store.get_presence("ghost").connections


def test_connect_dying_after_its_write_is_forgotten_within_a_minute(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    watcher = world.online("watcher")
    api.subscribe(["ghost"], user="watcher")
    # the invocation dies (timeout, crash) right after the write: no cleanup runs at all
    original = store.add_connection

    def write_then_die(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)
        raise SystemExit("Task timed out")

    monkeypatch.setattr(store, "add_connection", write_then_die)
    with pytest.raises(SystemExit):
        world.connect("ghost")
    monkeypatch.setattr(store, "add_connection", original)
    world.pump()
    assert status_of(api, "ghost") == (ONLINE, "")  # the ghost, for now
    world.advance(59)
    assert status_of(api, "ghost") == (UNLOGINED, "")
    assert stored("ghost") == (UNLOGINED, "")
    assert [s["statusType"] for s in world.pushes(watcher) if s["userID"] == "ghost"] == [
        ONLINE,
        UNLOGINED,
    ]


def test_a_real_connection_survives_its_check(api: Api, world: World) -> None:
    world.online("real")
    world.advance(120)
    assert status_of(api, "real") == (ONLINE, "")


# --- 4. the queue failing after a status write ---------------------------------------------------


def test_timers_are_not_lost_when_the_queue_fails_after_a_disconnect(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    watcher = world.online("watcher")
    api.subscribe(["alice"], user="watcher")
    alice = world.online("alice")
    api.set_self_status("busy", user="alice")
    world.pump()
    world.stream_retries = 3  # Lambda retries a batch that reports failures
    fail_once(monkeypatch, store, "send_timers", after=False)

    world.disconnect(alice)
    world.advance(6)  # the grace ends
    assert stored("alice") == (UNLOGINED, "busy")
    world.advance(30)  # ... and the custom status is cleared
    assert stored("alice") == (UNLOGINED, "")
    pushed = [(s["statusType"], s["customStatus"]) for s in world.pushes(watcher)]
    assert pushed[-2:] == [(UNLOGINED, "busy"), (UNLOGINED, "")]
    drops = [t for t in world.queued if t.kind is TimerKind.DROP_SUBSCRIPTIONS]
    assert len(drops) == 1 and drops[0].user_id == "alice"


def test_a_timer_redelivered_after_its_write_still_leads_to_what_follows(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = world.online("alice")
    api.set_self_status("busy", user="alice")
    api.subscribe(["bob"], user="alice")
    world.disconnect(alice)
    (tick,) = [t for t in world.queued if t.kind is TimerKind.TICK]
    world.queued.remove(tick)
    world.now = tick.due_at
    # the timers function writes the grace's end, then dies before SQS hears back
    fail_once(monkeypatch, store, "save_presence", after=True)
    event = json.loads(
        json.dumps({"Records": [{"messageId": "m1", "body": messages.encode_timer(tick)}]})
    )
    run = handler_module("status_timers").lambda_handler
    assert run(event, lambda_context("status_timers")) == {
        "batchItemFailures": [{"itemIdentifier": "m1"}]
    }
    assert run(event, lambda_context("status_timers")) == {"batchItemFailures": []}  # again
    world.advance(3600 + 60)
    assert stored("alice") == (UNLOGINED, "")  # cleared after 30 s
    assert api.subscriptions(user="alice") == []  # dropped after an hour


# --- 5. timers: bounded, and no chains -----------------------------------------------------------


def test_a_native_drop_and_reconnect_costs_two_timer_messages_over_a_week(
    api: Api, world: World
) -> None:
    first = world.online("phone", "ios")
    world.sent_timers.clear()
    world.disconnect(first)
    world.advance(2)
    world.online("phone", "ios")
    world.advance(3600)
    assert status_of(api, "phone") == (ONLINE, "")
    kinds = Counter(t.kind for t in world.sent_timers if t.kind is not TimerKind.CHECK_LIVENESS)
    assert kinds == {TimerKind.TICK: 1, TimerKind.VERIFY_CONNECTION: 1}
    # nothing waits for the week of OFFLINE retention; only the live connection is watched
    assert [(t.kind, t.subject) for t in world.queued] == [
        (TimerKind.CHECK_LIVENESS, c) for c in store.get_presence("phone").connections
    ]


def count_timers_of_a_day(world: World, platform: str) -> tuple[int, int]:
    """A user connected 8 hours, reconnecting every 2 hours (API Gateway's limit), then away:
    (lifecycle timer messages, liveness check messages)."""
    world.sent_timers.clear()
    connection = world.online("daily", platform)
    for _ in range(3):
        world.advance(2 * 3600)
        world.disconnect(connection)
        world.advance(1)
        connection = world.online("daily", platform)
    world.advance(2 * 3600)
    world.disconnect(connection)
    world.advance(16 * 3600)
    checks = [t for t in world.sent_timers if t.kind is TimerKind.CHECK_LIVENESS]
    return len(world.sent_timers) - len(checks), len(checks)


@pytest.mark.parametrize(("platform", "most"), [("web", 12), ("ios", 13)])
def test_timer_messages_per_user_day_are_bounded(
    api: Api, world: World, platform: str, most: int
) -> None:
    api.set_self_status("at work", user="daily")
    # 4 connects (a check each), 4 drops (a grace end each), then going away: the drop of the
    # subscriptions, the custom-status clear, and for a native app the end of OFFLINE
    lifecycle_timers, liveness_checks = count_timers_of_a_day(world, platform)
    assert lifecycle_timers <= most
    # liveness (90 s): one check per timeout while connected, 8 hours a day
    assert liveness_checks <= 8 * 3600 // 90 + 4


def test_every_status_change_needs_at_most_three_timer_messages(api: Api, world: World) -> None:
    api.set_self_status("busy", user="u")
    phone = world.online("u", "ios")
    world.disconnect(phone)
    world.sent_timers.clear()
    world.advance(6)  # ONLINE -> OFFLINE: clear, subscriptions drop, end of OFFLINE
    assert len(world.sent_timers) <= 3
    assert status_of(api, "u")[0] == OFFLINE


def test_long_timers_are_one_schedule_each(api: Api, aws: dict[str, str]) -> None:
    from presence.lifecycle import Timer

    week = Timer(1_900_000_000_000, TimerKind.TICK, "u")
    store.send_timers([week, week], now_ms=1_800_000_000_000)  # the same timer twice
    store.send_timers([week], now_ms=1_800_000_000_000)  # and once more (a retried record)
    import boto3

    scheduler = boto3.client("scheduler", region_name="us-east-1")
    schedules = scheduler.list_schedules(GroupName=aws["TIMERS_SCHEDULE_GROUP"])["Schedules"]
    assert len(schedules) == 1
    detail = scheduler.get_schedule(
        GroupName=aws["TIMERS_SCHEDULE_GROUP"], Name=schedules[0]["Name"]
    )
    # two minutes ahead of the timer (the Scheduler fires within its minute; SQS does the rest)
    assert detail["ScheduleExpression"] == "at(2030-03-17T17:44:40)"
    assert json.loads(detail["Target"]["Input"]) == json.loads(messages.encode_timer(week))
    assert detail["Target"]["Arn"] == aws["TIMERS_QUEUE_ARN"]


# --- 6. kickUser ---------------------------------------------------------------------------


def kick(api: Api, user: str) -> Any:
    return api.call("admin_kick_user", {"userID": user}, user="administrator")


def test_kick_closes_every_connection_even_when_a_post_fails(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = [world.online("kicked", p) for p in ("web", "ios", "android", "mac", "web", "ipad")]
    post = store.post_to_connection

    def post_failing_on_one(connection_id: str, data: bytes) -> bool:
        if connection_id == opened[2]:
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "PostToConnection")
        return post(connection_id, data)

    monkeypatch.setattr(store, "post_to_connection", post_failing_on_one)
    assert kick(api, "kicked").status == 200
    assert set(world.closed) == set(opened)
    for connection_id in opened:
        if connection_id != opened[2]:
            assert world.control_frames(connection_id) == [
                {"event": "kickedOut", "reason": "REST_API_Kick"}
            ]
    assert status_of(api, "kicked") == (UNLOGINED, "")


def test_kick_that_could_not_close_one_is_finished_by_calling_again(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = [world.online("kicked") for _ in range(6)]
    close = store.close_connection
    broken = {opened[4]}

    def close_failing(connection_id: str) -> None:
        if connection_id in broken:
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "DeleteConnection")
        close(connection_id)

    monkeypatch.setattr(store, "close_connection", close_failing)
    first = kick(api, "kicked")
    assert (first.status, first.code) == (500, 7012)
    assert "call kickUser again" in first.body["message"]
    assert set(world.closed) == set(opened) - broken
    assert status_of(api, "kicked") == (UNLOGINED, "")  # logged out from the first call on

    broken.clear()  # API Gateway recovers
    assert kick(api, "kicked").status == 200
    assert set(world.closed) == set(opened)
    assert store.get_presence("kicked").closing == frozenset()
    assert kick(api, "kicked").status == 200  # and again: nothing left, still fine


def test_kick_closes_a_hundred_sockets_in_parallel(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.update_settings({"maxConnectionsPerUser": 100})
    opened = [world.connect("popular", pump=False)[0] for _ in range(100)]
    world.pump()
    import threading

    running, most = [0], [0]
    lock = threading.Lock()
    close = store.close_connection

    def slow_close(connection_id: str) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        import time

        time.sleep(0.01)
        close(connection_id)
        with lock:
            running[0] -= 1

    monkeypatch.setattr(store, "close_connection", slow_close)
    assert kick(api, "popular").status == 200
    assert set(world.closed) == set(opened)
    assert most[0] > 1  # not one after the other


# --- 7. the connection cap ---------------------------------------------------------------


def test_the_eleventh_connection_closes_the_oldest_with_multiple_account(
    api: Api, world: World
) -> None:
    watcher = world.online("watcher")
    api.subscribe(["busy"], user="watcher")
    opened = []
    for _ in range(10):
        opened.append(world.online("busy", "web"))
        world.advance(0.01)
    newest = world.online("busy", "ios")
    assert world.control_frames(opened[0]) == [{"event": "kickedOut", "reason": "multipleAccount"}]
    assert opened[0] in world.closed
    assert all(c not in world.closed for c in opened[1:]) and newest not in world.closed
    live = store.get_presence("busy").connections
    assert set(live) == {*opened[1:], newest}
    # the user's status did not change: the watcher heard ONLINE once, nothing after
    assert [s["statusType"] for s in world.pushes(watcher) if s["userID"] == "busy"] == [ONLINE]
    # the closed socket's $disconnect changes nothing
    world.disconnect(opened[0])
    world.advance(10)
    assert status_of(api, "busy") == (ONLINE, "")


def test_connect_and_disconnect_cost_the_same_whatever_the_number_of_connections(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.responses import DynamoHandler

    api.update_settings({"maxConnectionsPerUser": 100})
    counts: Counter[str] = Counter()
    original = DynamoHandler.call_action

    def counting(self: DynamoHandler) -> Any:
        # (reads of the settings, cached for 3 s, come and go with the machine's speed)
        if json.loads(self.body or "{}").get("TableName") != os.environ["SETTINGS_TABLE"]:
            counts[self.headers.get("X-Amz-Target", "").split(".")[-1]] += 1
        return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", counting)

    def cost(action: Callable[[], Any]) -> Counter[str]:
        counts.clear()
        action()
        return Counter(counts)

    world.connect("big", pump=False)  # (the very first one also creates the user's maps)
    second = cost(lambda: world.connect("big", pump=False))
    for _ in range(40):
        world.connect("big", pump=False)
    later = cost(lambda: world.connect("big", pump=False))
    # the Connections item, the connection's own entry in the Status item; no read, no retry
    assert later == second == {"PutItem": 1, "UpdateItem": 1}
    some = next(iter(store.get_presence("big").connections))
    assert cost(lambda: world.disconnect(some, pump=False)) == {"GetItem": 1, "UpdateItem": 1}


# --- UserSig expiry -----------------------------------------------------------------------------


def test_a_connection_is_closed_within_a_minute_of_its_usersig_expiring(
    api: Api, world: World
) -> None:
    issued = world.now // 1000 - 60
    token = gen_user_sig(SDKAPPID, SECRET_KEY, "brief", expire=180, now=issued)  # 2 min left
    connection_id, answer = world.connect("brief", token=token)
    assert answer["statusCode"] == 200
    world.advance(110)
    assert status_of(api, "brief") == (ONLINE, "")
    world.advance(60)
    assert world.control_frames(connection_id) == [
        {"event": "kickedOut", "reason": "userSigExpired"}
    ]
    assert connection_id in world.closed
    assert status_of(api, "brief") == (UNLOGINED, "")  # a logout of that device: no grace


def test_sessions_expose_the_reasons_tim_js_sdk_names() -> None:
    assert (sessions.REST_API_KICK, sessions.MULTIPLE_ACCOUNT, sessions.USERSIG_EXPIRED) == (
        "REST_API_Kick",
        "multipleAccount",
        "userSigExpired",
    )


# --- DynamoDB throttling -----------------------------------------------------------------------


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data

    def read(self, *_: Any) -> bytes:
        return self.data


def test_throttled_dynamodb_writes_are_retried_and_the_drop_still_lands(
    api: Api, world: World
) -> None:
    from botocore.awsrequest import AWSResponse, HTTPHeaders

    connection_id = world.online("throttled")
    throttled = [0]

    def throttle(request: Any, **_: Any) -> Any:
        if throttled[0] >= 2:
            return None
        throttled[0] += 1
        body = (
            b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",'
            b'"message":"The level of configured provisioned throughput was exceeded."}'
        )
        headers = HTTPHeaders()
        headers["content-type"] = "application/x-amz-json-1.0"
        return AWSResponse(request.url, 400, headers, _Body(body))

    store.dynamodb().meta.events.register_first("before-send.dynamodb.UpdateItem", throttle)
    try:
        assert world.disconnect(connection_id)["statusCode"] == 200
    finally:
        store.dynamodb().meta.events.unregister("before-send.dynamodb.UpdateItem", throttle)
    assert throttled[0] == 2  # two throttled attempts, then the SDK's retry went through
    world.advance(6)
    assert status_of(api, "throttled") == (UNLOGINED, "")
