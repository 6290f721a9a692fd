"""Tencent's State.StateChange callback (API.md section 10), the handlers under moto: the stream
consumer queues one message per device event, the callback function posts it to a real HTTP
callee (on 127.0.0.1), signed when a token is set, and leaves what the callee did not take on
the queue for its backoff."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from presence import store
from tests.callee import TAKEN, Callee
from tests.integration.conftest import REGION, Api, World, handler_module, lambda_context


@pytest.fixture
def callee(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callee]:
    started = Callee("/im/callback?app=1")
    monkeypatch.setenv("STATE_CHANGE_CALLBACK_URL", started.url)
    yield started
    started.server.shutdown()


class Queue:
    """The StateChangeCallbackQueue, consumed as Lambda's event source does."""

    def __init__(self) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.url = os.environ["STATE_CHANGE_CALLBACK_QUEUE_URL"]

    def receive(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        )
        return [dict(message) for message in response.get("Messages", [])]

    def run(self) -> list[str]:
        """Invoke the callback function on what the queue holds (until it is empty or only
        failed messages are left); the message ids it reported failed."""
        failed: list[str] = []
        while messages := [m for m in self.receive() if m["MessageId"] not in failed]:
            records = [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                }
                for m in messages
            ]
            response = handler_module("state_change_callback").lambda_handler(
                {"Records": records}, lambda_context("state_change_callback")
            )
            now_failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
            failed += sorted(now_failed)
            for m in messages:
                if m["MessageId"] not in now_failed:
                    self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
        return failed


@pytest.fixture
def queue(world: World) -> Queue:
    return Queue()


def test_every_device_event_is_posted_in_tencents_format(
    api: Api, world: World, callee: Callee, queue: Queue
) -> None:
    web = world.online("alice", "web")
    phone = world.online("alice", "android")
    world.disconnect(web)  # closed without logout: LinkClose
    world.send(phone, '{"action": "logout"}')
    tablet = world.online("alice", "ipad")
    api.call("admin_kick_user", {"userID": "alice"}, user="administrator")
    world.pump()
    silent = world.online("bob", "mac")
    world.silent.add(silent)
    world.advance(120)  # past the liveness timeout (90 s): TimeOut
    assert queue.run() == []
    # (a standard queue, posted ten at once: in any order; EventTime tells it)
    assert sorted(callee.events()) == sorted(
        [
            ("alice", "Login", "Register", "Web"),
            ("alice", "Login", "Register", "Android"),
            ("alice", "Disconnect", "LinkClose", "Web"),
            ("alice", "Logout", "Unregister", "Android"),
            ("alice", "Login", "Register", "IPad"),
            ("alice", "Logout", "Unregister", "IPad"),  # the kick
            ("bob", "Login", "Register", "Mac"),
            ("bob", "Disconnect", "TimeOut", "Mac"),
        ]
    )
    first = next(r for r in callee.received if r["query"]["OptPlatform"] == "Web")
    assert first["path"] == "/im/callback"
    assert first["content_type"] == "application/json"
    assert first["query"] == {
        "app": "1",  # the URL's own query string is kept
        "SdkAppid": "1400000000",
        "CallbackCommand": "State.StateChange",
        "contenttype": "json",
        "ClientIP": "203.0.113.10",  # the $connect event's sourceIp
        "OptPlatform": "Web",
    }
    body = first["body"]
    assert set(body) == {"CallbackCommand", "EventTime", "Info", "KickedDevice"}
    assert body["CallbackCommand"] == "State.StateChange" and body["KickedDevice"] == []
    assert isinstance(body["EventTime"], int) and body["EventTime"] > 1_700_000_000_000
    assert tablet and "Sign" not in first["query"]  # no token: unsigned


def test_with_a_token_each_attempt_carries_request_time_and_sign(
    world: World, callee: Callee, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="callback-token", SecretString="xxxxyyyy"
    )
    monkeypatch.setenv("STATE_CHANGE_CALLBACK_TOKEN_SECRET", secret["ARN"])
    world.online("alice", "web")
    assert queue.run() == []
    query = callee.received[0]["query"]
    request_time = query["RequestTime"]
    assert int(request_time) == world.now // 1000  # the attempt's moment, on the service's clock
    assert query["Sign"] == hashlib.sha256(f"xxxxyyyy{request_time}".encode()).hexdigest()


@pytest.mark.parametrize(
    "answer",
    [
        (500, TAKEN, 0),
        (200, {"ActionStatus": "FAIL", "ErrorCode": 1, "ErrorInfo": "busy"}, 0),
        (200, {"ActionStatus": "OK"}, 0),
        (200, "not an object", 0),
        (200, TAKEN, 2.5),  # too late: more than 2 s
    ],
    ids=["http-500", "fail", "no-error-code", "not-json-object", "too-slow"],
)
def test_what_the_callee_does_not_take_waits_for_its_backoff(
    world: World,
    callee: Callee,
    queue: Queue,
    monkeypatch: pytest.MonkeyPatch,
    answer: tuple[int, Any, float],
) -> None:
    delays: list[int] = []
    retry_in = store.retry_callback_in

    def recorded(receipt_handle: str, seconds: int) -> None:
        delays.append(seconds)
        retry_in(receipt_handle, seconds)

    monkeypatch.setattr(store, "retry_callback_in", recorded)
    callee.policies.append(lambda request: answer)
    world.online("alice", "web")
    assert len(queue.run()) == 1
    assert delays == [5]  # the first retry, 5 s later
    assert queue.receive() == []  # invisible until then
    assert len(callee.received) == 1


def test_a_failing_callee_delays_no_other_callback_of_the_batch(
    world: World, callee: Callee, queue: Queue
) -> None:
    callee.policies.append(
        lambda r: (200, TAKEN, 3.0) if r["body"]["Info"]["To_Account"] == "slow" else None
    )
    for user in ("slow", "a", "b", "c"):
        world.online(user, "web")
    started = time.monotonic()
    failed = queue.run()
    assert len(failed) == 1
    assert time.monotonic() - started < 4.5  # posted side by side, not one after the other
    assert sorted(u for u, *_ in callee.events()) == ["a", "b", "c", "slow"]


def test_a_record_whose_callbacks_could_not_be_queued_is_retried_and_none_is_lost(
    world: World, callee: Callee, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    send = store.send_callbacks
    calls = {"n": 0}

    def flaky(bodies: Any) -> int | None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("SQS is unavailable")
        return send(bodies)

    monkeypatch.setattr(store, "send_callbacks", flaky)
    world.stream_retries = 2
    world.online("alice", "web")
    assert calls["n"] == 2
    assert queue.run() == []
    assert callee.events() == [("alice", "Login", "Register", "Web")]


def test_a_login_past_the_cap_lists_the_devices_it_closed_and_they_get_no_callback(
    api: Api, world: World, callee: Callee, queue: Queue
) -> None:
    api.update_settings({"maxConnectionsPerUser": 2})
    first = world.online("alice", "web")
    world.online("alice", "android")
    world.online("alice", "windows")
    assert first in world.closed
    world.disconnect(first)  # the $disconnect API Gateway sends after the close
    world.advance(30)
    assert queue.run() == []
    assert sorted(callee.events()) == [
        ("alice", "Login", "Register", "Android"),
        ("alice", "Login", "Register", "Web"),
        ("alice", "Login", "Register", "Windows"),
    ]
    kicked = {r["query"]["OptPlatform"]: r["body"]["KickedDevice"] for r in callee.received}
    assert kicked == {"Web": [], "Android": [], "Windows": [{"Platform": "Web"}]}


def test_without_a_callback_url_nothing_is_queued(world: World, queue: Queue) -> None:
    world.online("alice", "web")
    world.advance(10)
    assert queue.receive() == []
