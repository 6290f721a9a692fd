"""Races through the local runtime, whose worker processes run invocations at once as Lambda
does (API.md section 7): many sockets of one user, concurrent subscribes, the connection cap."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.e2e.conftest import ONLINE, UNLOGINED, Http, Sockets

Uid = Callable[[str], str]
Patch = Callable[[dict[str, Any]], dict[str, Any]]


def test_thirty_sockets_of_one_user_closing_at_once_leave_nobody_online(
    sockets: Sockets, http: Http, uid: Uid, settings_patch: Patch
) -> None:
    settings_patch({"maxConnectionsPerUser": 50})
    alice, bob = uid("alice"), uid("bob")
    watcher = sockets.open(bob)
    http.subscribe(bob, [alice]).ok()
    opened = [sockets.open(alice) for _ in range(30)]
    watcher.wait_status(alice, ONLINE)
    with ThreadPoolExecutor(max_workers=30) as pool:
        list(pool.map(lambda s: s.close(), opened))
    watcher.wait_status(alice, UNLOGINED, timeout=15)
    assert http.status_of(alice) == (UNLOGINED, "")
    assert [s["statusType"] for s in watcher.pushes_about(alice, during=2)] == []


def test_concurrent_subscribes_hold_exactly_the_quota(http: Http, uid: Uid) -> None:
    fan = uid("fan")
    stars = [[uid(f"star{i}") for _ in range(100)] for i in range(10)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        replies = list(pool.map(lambda batch: http.subscribe(fan, batch), stars))
    assert [r.status for r in replies] == [200] * 10
    held = http.call("/v1/getSubscriptions", {}, user=fan).data["userIDList"]
    assert len(held) == 200 == len(set(held))


def test_the_eleventh_connection_closes_the_oldest(sockets: Sockets, http: Http, uid: Uid) -> None:
    alice = uid("alice")
    oldest = sockets.open(alice)
    oldest.wait_status(alice, ONLINE)
    others = [sockets.open(alice) for _ in range(10)]
    frame = oldest.wait_for(lambda f: f.get("event") == "kickedOut", timeout=10)
    assert frame == {"event": "kickedOut", "reason": "multipleAccount"}
    assert oldest.closed_by_server()
    assert http.status_of(alice) == (ONLINE, "")
    for socket_ in others:
        socket_.send('{"action": "ping"}')
        assert socket_.wait_for(lambda f: f.get("event") == "pong")["event"] == "pong"


def test_a_large_audience_is_delivered_through_jobs_once_each(
    sockets: Sockets, http: Http, uid: Uid
) -> None:
    # more connections than the stream consumer posts itself (200): the change goes through
    # the delivery queue and the delivery function, as on AWS
    star = uid("star")
    fans = [uid("fan") for _ in range(230)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda fan: http.subscribe(fan, [star]).ok(), fans))
    watchers = [sockets.open(fan) for fan in fans]
    version = http.set_self_status(star, "on stage").data["version"]
    for watcher in watchers:
        assert watcher.wait_status(star, custom_status="on stage", timeout=30)["version"] == version
    for watcher in watchers:
        assert watcher.pushes_about(star, during=0.01) == []  # nothing twice


def test_status_change_events_reach_a_backend_queue(
    sockets: Sockets, http: Http, uid: Uid, settings_patch: Patch, runtime: Any
) -> None:
    import json
    import re
    import time

    import boto3

    found = re.search(r"moto .* at (http://\S+)", runtime.log_text())
    assert found
    sqs = boto3.client(
        "sqs",
        endpoint_url=found.group(1),
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    queue = sqs.get_queue_url(QueueName="presence-local-status-events")["QueueUrl"]
    settings_patch({"statusChangeEvents": True})
    alice = uid("alice")
    sockets.open(alice, "ios").wait_status(alice, ONLINE)
    http.set_self_status(alice, "in a call").ok()
    mine: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while len(mine) < 2 and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            detail = json.loads(message["Body"])["detail"]
            if detail["userID"] == alice:
                mine.append(detail)
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert [(e["reason"], e["platform"]) for e in mine] == [("login", "ios"), ("setSelfStatus", "")]
    assert mine[1]["customStatus"] == "in a call" and mine[1]["version"] > mine[0]["version"]
