"""The stream fan-out (API.md section 6): who receives a status change, in which frames.

Statuses change through the real paths (the setSelfStatus handler, `sessions.on_connect`); the
fan-out handler is fed the records moto's DynamoDB stream really holds, wrapped as Lambda
delivers them. Posts are captured by replacing `store.post_to_connection`, except for the 410
path, which goes through the real post path (presence.store.poster) to a local @connections
endpoint.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest
from botocore.exceptions import ClientError

from presence import delivery, store
from tests.integration.conftest import (
    Api,
    StatusStream,
    drain_delivery_queue,
    handler_module,
    lambda_context,
)

ONLINE, OFFLINE, UNLOGINED = 1, 2, 3
MAX_FRAME = 32768


# --- harness ------------------------------------------------------------------------------------


def lambda_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": records}


def sequence_numbers(records: list[dict[str, Any]]) -> list[str]:
    return [r["dynamodb"]["SequenceNumber"] for r in records]


@dataclass(frozen=True)
class Post:
    connection_id: str
    data: bytes

    @property
    def frame(self) -> dict[str, Any]:
        """The frame as sent, its statuses without `version` and `lastActiveTime`, and without
        `customStatusExpiresAt` when it is 0 (the tests of those look at `raw` frames)."""
        value: dict[str, Any] = self.raw
        if isinstance(value.get("data"), list):
            value["data"] = [
                {
                    k: v
                    for k, v in status.items()
                    if k not in ("version", "lastActiveTime")
                    and (k, v) != ("customStatusExpiresAt", 0)
                }
                for status in value["data"]
            ]
        return value

    @property
    def raw(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.data.decode("utf-8"))
        return value


class Sockets:
    """Stands in for `store.post_to_connection`: records every frame, can fail on demand."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.broken: set[str] = set()
        self._lock = threading.Lock()

    def post(self, connection_id: str, data: bytes) -> bool:
        with self._lock:
            self.posts.append(Post(connection_id, data))
        if connection_id in self.broken:
            raise ClientError(
                {"Error": {"Code": "LimitExceededException", "Message": "slow down"}},
                "PostToConnection",
            )
        return True

    def frames(self, connection_id: str) -> list[dict[str, Any]]:
        return [p.frame for p in self.posts if p.connection_id == connection_id]

    def statuses(self, connection_id: str) -> list[dict[str, Any]]:
        return [status for frame in self.frames(connection_id) for status in frame["data"]]

    def receivers(self) -> set[str]:
        return {p.connection_id for p in self.posts}


class Fanout:
    """Runs the status_fanout handler on the stream's new records."""

    def __init__(self, stream: StatusStream, sockets: Sockets) -> None:
        self.stream = stream
        self.sockets = sockets

    def handle(self, records: list[dict[str, Any]]) -> list[str]:
        """Invoke the handler (and the delivery function on the jobs it queued); the sequence
        numbers it reports as failed."""
        response = handler_module("status_fanout").lambda_handler(
            lambda_event(records), lambda_context("status_fanout")
        )
        assert set(response) == {"batchItemFailures"}
        drain_delivery_queue()
        return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]

    def run(self) -> list[str]:
        """Deliver everything written since the last run, as one batch."""
        return self.handle(self.stream.take())

    def settle(self) -> None:
        """Deliver what is pending and forget its posts (set-up done, the test starts here)."""
        assert self.run() == []
        self.sockets.posts.clear()


@pytest.fixture
def sockets(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Sockets:
    fake = Sockets()
    monkeypatch.setattr(store, "post_to_connection", fake.post)
    return fake


@pytest.fixture
def fanout(aws: dict[str, str], sockets: Sockets) -> Fanout:
    return Fanout(StatusStream(aws["STATUS_TABLE"]), sockets)


def connect(user_id: str, connection_id: str, platform: str = "web") -> None:
    from presence import sessions  # imported after the fixture set the Powertools environment

    sessions.on_connect(user_id, connection_id, platform)


def status(user_id: str, status_type: int, custom_status: str = "") -> dict[str, Any]:
    return {"userID": user_id, "statusType": status_type, "customStatus": custom_status}


# --- who receives a change ----------------------------------------------------------------------


def test_every_device_of_the_user_receives_its_change(
    api: Api, fanout: Fanout, sockets: Sockets
) -> None:
    connect("alice", "alice-web", "web")
    connect("alice", "alice-ios", "ios")
    fanout.settle()

    api.set_self_status("in a meeting", user="alice")  # made on one device, all of them hear it
    assert fanout.run() == []

    expected = [{"event": "onUserStatusUpdated", "data": [status("alice", ONLINE, "in a meeting")]}]
    assert sockets.frames("alice-web") == expected
    assert sockets.frames("alice-ios") == expected


def test_first_connection_pushes_online_to_the_device_itself(
    fanout: Fanout, sockets: Sockets
) -> None:
    connect("alice", "alice-web")
    assert fanout.run() == []
    assert sockets.statuses("alice-web") == [status("alice", ONLINE)]


def test_subscribers_receive_the_change_and_others_do_not(
    api: Api, fanout: Fanout, sockets: Sockets
) -> None:
    connect("alice", "alice-web")
    connect("bob", "bob-web")
    connect("bob", "bob-mac", "mac")
    connect("carol", "carol-web")
    assert api.subscribe(["alice"], user="bob").data == {"failureUserList": []}
    fanout.settle()

    api.set_self_status("lunch", user="alice")
    assert fanout.run() == []

    assert sockets.statuses("bob-web") == [status("alice", ONLINE, "lunch")]
    assert sockets.statuses("bob-mac") == [status("alice", ONLINE, "lunch")]
    assert sockets.receivers() == {"alice-web", "bob-web", "bob-mac"}  # carol did not subscribe


def test_a_subscriber_hears_a_user_who_has_no_connection(
    api: Api, fanout: Fanout, sockets: Sockets
) -> None:
    connect("bob", "bob-web")
    api.subscribe(["alice"], user="bob")
    fanout.settle()

    api.set_self_status("away", user="alice")  # alice never connected: UNLOGINED
    assert fanout.run() == []
    assert sockets.frames("bob-web") == [
        {"event": "onUserStatusUpdated", "data": [status("alice", UNLOGINED, "away")]}
    ]


def test_a_dropped_connection_in_its_grace_is_not_pushed_to(
    api: Api, fanout: Fanout, sockets: Sockets
) -> None:
    from presence import sessions

    connect("alice", "alice-web")
    connect("alice", "alice-ios", "ios")
    sessions.on_gone("alice", "alice-ios")  # still counts for the grace, but cannot be reached
    fanout.settle()

    api.set_self_status("back soon", user="alice")
    assert fanout.run() == []
    assert sockets.receivers() == {"alice-web"}


def test_a_connection_that_qualifies_twice_receives_the_change_once(
    api: Api, fanout: Fanout, sockets: Sockets, monkeypatch: pytest.MonkeyPatch
) -> None:
    from presence import fanout as fanout_module
    from presence.settings import Settings

    connect("alice", "alice-web")
    connect("bob", "bob-web")
    api.subscribe(["alice"], user="bob")
    # bob is also alice's friend; and a stray self-subscription makes alice her own subscriber
    api.update_settings({"friendStatusNotify": True})

    def friends_of(
        user_ids: list[str], current: Settings
    ) -> tuple[dict[str, set[str]], dict[str, Any]]:
        assert current.friendStatusNotify
        return ({"alice": {"bob", "alice"}} if "alice" in user_ids else {}), {}

    monkeypatch.setattr(fanout_module, "_friends_of", friends_of)
    store.write_subscriptions("alice", [store.Subscription("alice", 1)], [])
    fanout.settle()

    api.set_self_status("twice", user="alice")
    assert fanout.run() == []
    assert sockets.statuses("bob-web") == [status("alice", ONLINE, "twice")]
    assert sockets.statuses("alice-web") == [status("alice", ONLINE, "twice")]
    assert len(sockets.posts) == 2


# --- only real changes --------------------------------------------------------------------------


def test_writes_that_change_nothing_visible_push_nothing(
    api: Api, fanout: Fanout, sockets: Sockets
) -> None:
    connect("alice", "alice-web")
    connect("bob", "bob-web")
    api.subscribe(["alice"], user="bob")
    api.set_self_status("same", user="alice")
    fanout.settle()

    connect("alice", "alice-ios", "ios")  # a second device: alice was ONLINE already
    api.set_self_status("same", user="alice")  # the same value again
    records = fanout.stream.take()
    assert records  # the second device did write (its connection), yet
    assert fanout.handle(records) == []
    assert sockets.posts == []


def test_a_change_undone_within_the_batch_pushes_nothing(
    api: Api, fanout: Fanout, sockets: Sockets
) -> None:
    connect("alice", "alice-web")
    api.set_self_status("first", user="alice")
    fanout.settle()

    api.set_self_status("second", user="alice")
    api.set_self_status("first", user="alice")
    assert fanout.run() == []
    assert sockets.posts == []


def test_several_changes_for_one_connection_arrive_in_one_frame(
    api: Api, fanout: Fanout, sockets: Sockets
) -> None:
    connect("bob", "bob-web")
    api.subscribe(["alice", "carol"], user="bob")
    fanout.settle()

    api.set_self_status("one", user="alice")
    api.set_self_status("two", user="alice")  # coalesced: bob hears the last value only
    api.set_self_status("hello", user="carol")
    assert fanout.run() == []

    assert sockets.frames("bob-web") == [
        {
            "event": "onUserStatusUpdated",
            "data": [status("alice", UNLOGINED, "two"), status("carol", UNLOGINED, "hello")],
        }
    ]


def test_a_huge_batch_is_split_into_frames_of_at_most_32_KiB(
    api: Api, fanout: Fanout, sockets: Sockets
) -> None:
    api.update_settings({"maxCustomStatusBytes": 1000})
    users = [f"user-{i:03}" for i in range(150)]
    connect("bob", "bob-web")
    for start in range(0, len(users), 100):
        assert api.subscribe(users[start : start + 100], user="bob").data["failureUserList"] == []
    fanout.settle()

    def custom(i: int) -> str:  # multi-byte text and escapes: the limit is on UTF-8 bytes
        return f"{i:03}" + "漢字" * 99 + '"q"'

    for i, user in enumerate(users):
        api.set_self_status(custom(i), user=user)
    assert fanout.run() == []

    posts = [p for p in sockets.posts if p.connection_id == "bob-web"]
    assert len(posts) > 1
    assert all(len(p.data) <= MAX_FRAME for p in posts)
    assert all(p.frame["event"] == "onUserStatusUpdated" for p in posts)
    received = [s for p in posts for s in p.frame["data"]]
    expected = [status(u, UNLOGINED, custom(i)) for i, u in enumerate(users)]
    assert sorted(received, key=lambda s: s["userID"]) == expected
    # and the frames are filled, not one status each
    assert len(posts) <= 1 + sum(len(p.data) for p in posts) // (MAX_FRAME - 1000)


# --- at-least-once delivery ---------------------------------------------------------------------


def test_a_poison_record_is_reported_and_the_rest_are_delivered(
    api: Api, fanout: Fanout, sockets: Sockets
) -> None:
    connect("bob", "bob-web")
    api.subscribe(["alice", "carol"], user="bob")
    fanout.settle()

    api.set_self_status("fine", user="alice")
    api.set_self_status("also fine", user="carol")
    records = fanout.stream.take()
    poison = json.loads(json.dumps(records[0]))
    poison["dynamodb"]["SequenceNumber"] = str(int(records[0]["dynamodb"]["SequenceNumber"]) - 1)
    poison["dynamodb"]["NewImage"]["statusType"] = {"N": "42"}  # no such status
    malformed = {**poison, "dynamodb": {"SequenceNumber": "1", "Keys": {}}}

    failures = fanout.handle([poison, *records, malformed])
    assert sorted(failures) == sorted([poison["dynamodb"]["SequenceNumber"], "1"])
    assert sockets.statuses("bob-web") == [
        status("alice", UNLOGINED, "fine"),
        status("carol", UNLOGINED, "also fine"),
    ]


def test_a_batch_of_poison_only_is_reported_not_raised(fanout: Fanout) -> None:
    record = {"eventName": "MODIFY", "dynamodb": {"SequenceNumber": "7", "Keys": {}}}
    assert fanout.handle([record]) == ["7"]


def test_a_stale_or_redelivered_record_pushes_nothing_old(
    api: Api, fanout: Fanout, sockets: Sockets
) -> None:
    connect("alice", "alice-web")
    fanout.settle()

    api.set_self_status("older", user="alice")
    older = fanout.stream.take()
    api.set_self_status("newer", user="alice")
    newer = fanout.stream.take()

    assert fanout.handle(newer) == []  # out of order: the newer one first
    assert fanout.handle(older) == []  # then the older one: alice is no longer "older"
    assert fanout.handle(older + newer) == []  # a redelivery of both
    pushed = sockets.statuses("alice-web")
    assert pushed and all(s == status("alice", ONLINE, "newer") for s in pushed)


def test_a_user_changing_faster_than_the_fan_out_is_not_starved(
    api: Api, fanout: Fanout, sockets: Sockets
) -> None:
    connect("alice", "alice-web")
    connect("bob", "bob-web")
    api.subscribe(["alice"], user="bob")
    fanout.settle()

    # every batch the fan-out sees is already superseded when it reads alice's item
    for n in range(3):
        api.set_self_status(f"v{n}", user="alice")
        batch = fanout.stream.take()
        api.set_self_status(f"v{n}-next", user="alice")
        assert fanout.handle(batch) == []
        assert sockets.statuses("bob-web")[-1] == status("alice", ONLINE, f"v{n}-next")
        fanout.stream.take()  # (the "-next" record is delivered in the next round's batch)


def test_a_change_undone_before_the_fan_out_runs_is_not_pushed(
    api: Api, fanout: Fanout, sockets: Sockets
) -> None:
    connect("alice", "alice-web")
    api.set_self_status("steady", user="alice")
    fanout.settle()

    api.set_self_status("blip", user="alice")
    blip = fanout.stream.take()
    api.set_self_status("steady", user="alice")
    assert fanout.handle(blip) == []
    assert sockets.frames("alice-web") == []


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("presence.retry.BASE_SECONDS", 0.0)


def once_each(statuses: list[dict[str, Any]]) -> bool:
    values = [(s["userID"], s["customStatus"]) for s in statuses]
    return len(values) == len(set(values))


@pytest.mark.usefixtures("no_backoff")
def test_a_failing_socket_is_retried_alone_and_everyone_else_gets_each_value_once(
    api: Api, fanout: Fanout, sockets: Sockets
) -> None:
    connect("bob", "bob-web")
    connect("carol", "carol-web")
    api.subscribe(["alice", "erin"], user="bob")
    api.subscribe(["alice", "erin"], user="carol")
    fanout.settle()
    sockets.broken.add("bob-web")  # every post to it fails (API Gateway 429s, say)

    api.set_self_status("first", user="alice")
    api.set_self_status("for carol", user="erin")
    assert fanout.run() == []  # a failed post never makes Lambda retry the batch
    api.set_self_status("second", user="alice")
    assert fanout.run() == []

    assert sockets.statuses("carol-web") == [
        status("alice", UNLOGINED, "first"),
        status("erin", UNLOGINED, "for carol"),
        status("alice", UNLOGINED, "second"),
    ]
    tries = [p for p in sockets.posts if p.connection_id == "bob-web"]
    assert len(tries) == 2 * delivery.POST_ATTEMPTS  # each frame tried, then given up


@pytest.mark.usefixtures("no_backoff")
def test_a_socket_failing_once_gets_its_frame_on_the_retry_and_only_once(
    api: Api, fanout: Fanout, sockets: Sockets, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect("bob", "bob-web")
    api.subscribe(["alice"], user="bob")
    fanout.settle()
    post = sockets.post
    calls = [0]

    def flaky(connection_id: str, data: bytes) -> bool:
        calls[0] += 1
        if calls[0] == 1:
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "PostToConnection")
        return post(connection_id, data)

    monkeypatch.setattr(store, "post_to_connection", flaky)
    api.set_self_status("hello", user="alice")
    assert fanout.run() == []
    assert sockets.statuses("bob-web") == [status("alice", UNLOGINED, "hello")]


def test_a_batch_lambda_retries_posts_nothing_twice(
    api: Api, fanout: Fanout, sockets: Sockets, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect("bob", "bob-web")
    api.subscribe(["alice", "erin"], user="bob")
    fanout.settle()
    api.set_self_status("one", user="alice")
    alice_records = fanout.stream.take()
    api.set_self_status("two", user="erin")
    erin_records = fanout.stream.take()
    send_timers = store.send_timers
    failing = [True]

    def timers_fail_for_erin(timers: Any, now_ms: int) -> None:
        if failing[0] and any(t.user_id == "erin" for t in timers):
            raise ClientError({"Error": {"Code": "ServiceUnavailable"}}, "SendMessageBatch")
        send_timers(timers, now_ms)

    monkeypatch.setattr(store, "send_timers", timers_fail_for_erin)
    batch = alice_records + erin_records
    failed = fanout.handle(batch)
    assert set(sequence_numbers(erin_records)) & set(failed)
    # Lambda retries from the first failed record
    first = min(failed, key=lambda seq: (len(seq), seq))
    failing[0] = False
    assert fanout.handle(batch[sequence_numbers(batch).index(first) :]) == []
    assert sockets.statuses("bob-web") == [
        status("alice", UNLOGINED, "one"),
        status("erin", UNLOGINED, "two"),
    ]  # each once, though part of the batch ran twice


# --- large audiences: delivery jobs ---------------------------------------------------------------


def crowd(api: Api, target: str, size: int) -> list[str]:
    """`size` subscribers of `target`, each with one connection (fans beyond the inline budget
    make the change go through delivery jobs)."""
    fans = [f"fan{i:04d}" for i in range(size)]
    for fan in fans:
        connect(fan, f"{fan}-web")
        store.write_subscriptions(fan, [store.Subscription(target, 1)], [])
    return fans


@pytest.mark.usefixtures("no_backoff")
def test_a_large_audience_goes_through_delivery_jobs_each_value_once(
    api: Api, fanout: Fanout, sockets: Sockets, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("presence.fanout.FIRST_PAGE", 20)  # page jobs too
    monkeypatch.setattr("presence.delivery.PAGE_SIZE", 70)
    monkeypatch.setattr("presence.delivery.JOB_MAX_CONNECTIONS", 30)
    fans = crowd(api, "star", 250)
    fanout.settle()
    sockets.broken.add("fan0007-web")

    api.set_self_status("on stage", user="star")
    assert fanout.run() == []
    api.set_self_status("encore", user="star")
    assert fanout.run() == []

    for fan in fans:
        if fan == "fan0007":
            continue
        assert sockets.statuses(f"{fan}-web") == [
            status("star", UNLOGINED, "on stage"),
            status("star", UNLOGINED, "encore"),
        ], fan


def test_a_retried_batch_queues_no_job_twice(
    api: Api, fanout: Fanout, sockets: Sockets, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("presence.fanout.INLINE_BUDGET", 0)  # everything through jobs
    connect("bob", "bob-web")
    api.subscribe(["alice"], user="bob")
    fanout.settle()
    api.set_self_status("once", user="alice")
    records = fanout.stream.take()
    consumer = handler_module("status_fanout").lambda_handler
    assert consumer(lambda_event(records), lambda_context("f")) == {"batchItemFailures": []}
    # Lambda delivers the batch again. (SQS drops a repeated deduplication id for 5 minutes,
    # delivered or not; moto only while the first copy is still in the queue, so the jobs are
    # delivered after both runs here.)
    assert fanout.handle(records) == []
    assert sockets.statuses("bob-web") == [status("alice", UNLOGINED, "once")]


def test_a_superseded_job_is_skipped_and_the_newest_value_arrives(
    api: Api, fanout: Fanout, sockets: Sockets, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("presence.fanout.INLINE_BUDGET", 0)
    connect("bob", "bob-web")
    api.subscribe(["alice"], user="bob")
    fanout.settle()
    api.set_self_status("old", user="alice")
    old = fanout.stream.take()
    handler_module("status_fanout").lambda_handler(lambda_event(old), lambda_context("f"))
    api.set_self_status("new", user="alice")  # before the old job was delivered
    drain_delivery_queue()
    assert fanout.run() == []
    assert sockets.statuses("bob-web") == [status("alice", UNLOGINED, "new")]


# --- 410 Gone (through the real @connections client) --------------------------------------------


class ConnectionsApi(ThreadingHTTPServer):
    """API Gateway's @connections endpoint for PostToConnection, on 127.0.0.1: each post gets
    the next queued status (200 when none is queued); `posted` lists the ConnectionIds."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ConnectionsHandler)
        self.answers: list[int] = []
        self.posted: list[str] = []

    def answer(self, status: int) -> None:
        self.answers.append(status)


class _ConnectionsHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ConnectionsApi

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posted.append(unquote(self.path.rsplit("/", 1)[1]))
        status = self.server.answers.pop(0) if self.server.answers else 200
        body = b'{"message": "Gone"}' if status == 410 else b""
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stubbed_sockets(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ConnectionsApi]:
    """The real post path (presence.store.poster) against a local @connections endpoint; posts made
    one at a time so the queued answers meet the posts in order."""
    monkeypatch.setattr("presence.delivery.MAX_WORKERS", 1)
    endpoint = ConnectionsApi()
    thread = threading.Thread(
        target=endpoint.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )  # shutdown() waits for a poll interval (0.5 s by default)
    thread.start()
    monkeypatch.setenv("WS_MANAGEMENT_ENDPOINT", f"http://127.0.0.1:{endpoint.server_port}/prod")
    store.poster.cache_clear()
    yield endpoint
    store.poster.cache_clear()
    endpoint.shutdown()
    endpoint.server_close()
    assert endpoint.answers == []  # every queued answer was used


def stored_connections(user_id: str) -> dict[str, Any]:
    return dict(store.get_presence(user_id).connections)


def a_minute_later(monkeypatch: pytest.MonkeyPatch) -> None:
    """Move the service's clock on, so connections are past their opening moments."""
    from presence import clock

    real = clock.now_ms
    monkeypatch.setattr(clock, "now_ms", lambda: real() + 60_000)


def test_gone_drops_the_last_connection_and_its_owner_goes_unlogined(
    aws: dict[str, str], api: Api, stubbed_sockets: ConnectionsApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.update_settings({"reconnectGraceSeconds": 0})
    connect("bob", "bob-web")
    api.subscribe(["alice"], user="bob")
    stream = StatusStream(aws["STATUS_TABLE"])
    stream.take()
    a_minute_later(monkeypatch)

    api.set_self_status("hi bob", user="alice")
    stubbed_sockets.answer(410)
    fanout = Fanout(stream, Sockets())
    assert fanout.run() == []

    assert stubbed_sockets.posted == ["bob-web"]
    # dropped (its grace of 0 already over): bob reads UNLOGINED at once, and the drop's TICK,
    # derived from the stream, writes it
    assert stored_connections("bob")["bob-web"].dropped_at is not None
    bob = api.get_user_status(["bob"], user="bob").data["successUserList"][0]
    assert bob["statusType"] == UNLOGINED
    assert fanout.run() == []


def test_gone_drops_only_that_connection_and_keeps_the_owner_online(
    aws: dict[str, str], api: Api, stubbed_sockets: ConnectionsApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.update_settings({"reconnectGraceSeconds": 0})
    connect("bob", "bob-web")
    connect("bob", "bob-ios", "ios")
    api.subscribe(["alice"], user="bob")
    stream = StatusStream(aws["STATUS_TABLE"])
    stream.take()
    a_minute_later(monkeypatch)

    api.set_self_status("hi bob", user="alice")
    stubbed_sockets.answer(410)
    stubbed_sockets.answer(200)
    assert Fanout(stream, Sockets()).run() == []

    gone, kept = stubbed_sockets.posted
    assert {gone, kept} == {"bob-web", "bob-ios"}
    connections = stored_connections("bob")
    assert connections[gone].dropped_at is not None and connections[kept].dropped_at is None
    assert store.get_presence("bob").status_type == ONLINE


def test_gone_while_the_socket_is_still_opening_does_not_drop_it(
    aws: dict[str, str], api: Api, stubbed_sockets: ConnectionsApi
) -> None:
    # API Gateway answers 410 until $connect has returned; the connection's own ONLINE push can
    # race it. That socket is opening, not gone: it must stay.
    api.update_settings({"reconnectGraceSeconds": 0})
    stream = StatusStream(aws["STATUS_TABLE"])
    connect("bob", "bob-web")
    stubbed_sockets.answer(410)
    assert Fanout(stream, Sockets()).run() == []
    assert stubbed_sockets.posted == ["bob-web"]
    assert set(stored_connections("bob")) == {"bob-web"}
    assert store.get_presence("bob").status_type == ONLINE


# --- friends and the notify switch --------------------------------------------------------------


def befriend(api: Api, a: str, b: str) -> None:
    reply = api.call(
        "admin_import_friends", {"pairs": [{"userID": a, "friendID": b}]}, user="administrator"
    )
    assert reply.data == {"failureList": []}


def test_friends_are_told_only_when_friend_status_notify_is_on(
    api: Api, fanout: Fanout, sockets: Sockets
) -> None:
    connect("alice", "alice-web")
    connect("bob", "bob-web")
    befriend(api, "alice", "bob")
    fanout.settle()

    api.set_self_status("off", user="alice")
    assert fanout.run() == []
    assert sockets.frames("bob-web") == []

    api.update_settings({"friendStatusNotify": True})
    api.set_self_status("on", user="alice")
    assert fanout.run() == []
    assert sockets.statuses("bob-web") == [status("alice", ONLINE, "on")]
    # mutual: bob's change reaches alice
    api.set_self_status("hi", user="bob")
    assert fanout.run() == []
    assert status("bob", ONLINE, "hi") in sockets.statuses("alice-web")


def test_a_friend_who_also_subscribed_hears_each_change_once(
    api: Api, fanout: Fanout, sockets: Sockets
) -> None:
    api.update_settings({"friendStatusNotify": True})
    connect("alice", "alice-web")
    connect("bob", "bob-web")
    befriend(api, "alice", "bob")
    api.subscribe(["alice"], user="bob")
    fanout.settle()

    api.set_self_status("once", user="alice")
    assert fanout.run() == []
    assert sockets.frames("bob-web") == [
        {"event": "onUserStatusUpdated", "data": [status("alice", ONLINE, "once")]}
    ]


@pytest.mark.parametrize(
    "patch", [{"statusQueryAndNotify": False}, {"edition": "standard"}], ids=["switch", "edition"]
)
def test_without_the_notify_feature_only_the_users_own_devices_hear(
    api: Api, fanout: Fanout, sockets: Sockets, patch: dict[str, Any]
) -> None:
    api.update_settings({"friendStatusNotify": True})
    connect("alice", "alice-web")
    connect("bob", "bob-web")
    connect("carol", "carol-web")
    api.subscribe(["alice"], user="bob")
    befriend(api, "alice", "carol")
    fanout.settle()

    api.update_settings(patch)
    api.set_self_status("quiet", user="alice")
    assert fanout.run() == []
    assert sockets.statuses("alice-web") == [status("alice", ONLINE, "quiet")]
    assert sockets.frames("bob-web") == []
    assert sockets.frames("carol-web") == []
