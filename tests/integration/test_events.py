"""Status-change events on EventBridge (API.md section 8): one per change, with its reason,
from the stream consumer; none while the setting statusChangeEvents is off. Read the way an app
backend reads them: a rule on the stack's bus sends them to an SQS queue."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import pytest

from local.aws import deliver_events_to_a_queue
from tests.integration.conftest import REGION, Api, World

ONLINE, OFFLINE, UNLOGINED = 1, 2, 3
FIELDS = {
    "userID",
    "statusType",
    "customStatus",
    "lastActiveTime",
    "version",
    "previousStatusType",
    "reason",
    "platform",
    "time",
    "invisible",
    "customStatusExpiresAt",
}


class Backend:
    """An app backend's queue behind a rule on the bus."""

    def __init__(self) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.url = deliver_events_to_a_queue(os.environ["STATUS_EVENT_BUS"])

    def take(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return found
            for message in messages:
                event = json.loads(message["Body"])
                assert event["source"] == "presence"
                assert event["detail-type"] == "UserStatusChanged"
                found.append(event["detail"])
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def backend(api: Api, world: World) -> Backend:
    assert api.update_settings({"statusChangeEvents": True}).status == 200
    return Backend()


def reasons(events: list[dict[str, Any]]) -> list[tuple[str, int, int, str]]:
    return [(e["reason"], e["previousStatusType"], e["statusType"], e["platform"]) for e in events]


def test_a_native_users_day_gives_one_event_per_change_with_its_reason(
    api: Api, world: World, backend: Backend
) -> None:
    world.online("alice", "ios")
    assert reasons(backend.take()) == [("login", UNLOGINED, ONLINE, "ios")]
    world.online("alice", "web")  # a second device: no change, no event
    assert backend.take() == []
    api.set_self_status("busy", user="alice")
    world.pump()
    (event,) = backend.take()
    assert set(event) == FIELDS
    assert (event["reason"], event["customStatus"], event["statusType"]) == (
        "setSelfStatus",
        "busy",
        ONLINE,
    )
    assert (
        event["version"]
        == api.get_user_status(["alice"], user="alice").data["successUserList"][0]["version"]
    )


def test_disconnect_clear_and_expiry(api: Api, world: World, backend: Backend) -> None:
    api.update_settings({"offlineRetentionSeconds": 3600})
    phone = world.online("bob", "ios")
    api.set_self_status("away soon", user="bob")
    world.pump()
    backend.take()
    world.disconnect(phone)
    assert backend.take() == []  # in its grace: nothing changed yet
    world.advance(6)
    (gone,) = backend.take()
    assert reasons([gone]) == [("disconnect", ONLINE, OFFLINE, "ios")]
    assert gone["lastActiveTime"] > 0 and gone["customStatus"] == "away soon"
    world.advance(30)
    assert reasons(backend.take()) == [("customStatusCleared", OFFLINE, OFFLINE, "")]
    world.advance(3600)
    assert reasons(backend.take()) == [("expired", OFFLINE, UNLOGINED, "ios")]


def test_logout_and_kick(api: Api, world: World, backend: Backend) -> None:
    browser = world.online("carol", "web")
    world.send(browser, json.dumps({"action": "logout"}))
    assert reasons(backend.take()) == [
        ("login", UNLOGINED, ONLINE, "web"),
        ("logout", ONLINE, UNLOGINED, "web"),
    ]
    world.online("carol", "android")
    backend.take()
    assert api.call("admin_kick_user", {"userID": "carol"}, user="administrator").status == 200
    world.pump()
    assert reasons(backend.take()) == [("kick", ONLINE, UNLOGINED, "")]


def test_no_events_while_the_setting_is_off(api: Api, world: World) -> None:
    reader = Backend()  # the rule exists; the setting is off by default
    web = world.online("dave", "web")
    api.set_self_status("quiet", user="dave")
    world.disconnect(web)
    world.advance(40)
    assert reader.take() == []
