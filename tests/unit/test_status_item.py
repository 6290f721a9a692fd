"""The Status item's shape, to and from PresenceState (presence.store.status_item): what reads,
the stream's images and the lifecycle writes agree on. No AWS."""

from __future__ import annotations

import json

import pytest

from presence.lifecycle import Connection, PresenceState
from presence.models import StatusType
from presence.store import status_item
from presence.store.status_item import first_version, presence_from_item, to_item

ONLINE, OFFLINE, UNLOGINED = StatusType.ONLINE, StatusType.OFFLINE, StatusType.UNLOGINED

STATES = [
    PresenceState("nobody"),
    PresenceState(
        "alice",
        ONLINE,
        "at lunch ☕",
        custom_status_set_at=1_700_000_000_000,
        connections={
            "c1=": Connection("web", 1_000),
            "c2=": Connection("ios", 2_000, dropped_at=3_000, sig_expires_at=9_000),
            "c3=": Connection("android", 2_500, dropped_at=4_000, timed_out=True),
        },
        background={"mac": 90_000},
        version=first_version(1_000) + 7,
        pushed_version=first_version(1_000) + 5,
    ),
    PresenceState(
        "bob",
        OFFLINE,
        background={"ios": 700_000, "android": 800_000},
        not_online_since=100_000,
        version=12,
    ),
    PresenceState("kicked", UNLOGINED, closing=frozenset({"x", "y"}), not_online_since=5),
    PresenceState("cleared", UNLOGINED, "", custom_status_set_at=5, version=3),
    PresenceState("expiring", ONLINE, "brb", custom_status_set_at=5, custom_status_expires_at=9),
    PresenceState(
        "hiding",
        ONLINE,
        "secret",
        invisible=True,
        hidden_last_active_time=7,
        hidden_version=12,
        version=15,
    ),
]


@pytest.mark.parametrize("state", STATES, ids=lambda s: s.user_id)
def test_an_item_reads_back_as_the_state_it_was_written_from(state: PresenceState) -> None:
    back = presence_from_item(state.user_id, to_item(state))
    assert back == state
    assert back.pushed_version == state.pushed_version  # (left out of equality)


@pytest.mark.parametrize("state", STATES, ids=lambda s: s.user_id)
def test_a_read_fetches_every_attribute_an_item_has(state: PresenceState) -> None:
    fetched = {name.strip() for name in status_item.ATTRIBUTES.split(",")}
    assert set(to_item(state)) <= fetched
    assert set(status_item.LIFECYCLE) <= fetched


def test_no_item_is_a_user_who_never_connected() -> None:
    assert presence_from_item("u", None) == PresenceState("u")
    assert presence_from_item("u", {}) == PresenceState("u", UNLOGINED)


def test_an_item_written_by_setself_status_alone_has_no_maps() -> None:
    item = {
        "userID": {"S": "u"},
        "customStatus": {"S": "hi"},
        "customStatusSetAt": {"N": "10"},
        "statusType": {"N": "3"},
        "version": {"N": "10001"},
    }
    assert presence_from_item("u", item) == PresenceState(
        "u", UNLOGINED, "hi", custom_status_set_at=10, version=10001
    )


def test_the_lifecycle_attributes_absent_from_an_item_are_the_ones_a_write_removes() -> None:
    online = to_item(PresenceState("u", ONLINE, connections={"c": Connection("web", 1)}))
    assert {"statusType", "conns", "background"} <= online.keys()
    assert "notOnlineSince" not in online and "closing" not in online


def test_the_sample_stream_event_images_read_as_states() -> None:
    from local.template import ROOT

    event = json.loads((ROOT / "events" / "status_fanout.json").read_text())
    images = event["Records"][0]["dynamodb"]
    old = presence_from_item("alice", images["OldImage"])
    new = presence_from_item("alice", images["NewImage"])
    assert old.user_id == new.user_id == "alice"
    assert new.custom_status != old.custom_status


def test_a_connection_entry_carries_only_what_it_has() -> None:
    assert status_item.connection_value(Connection("web", 5)) == {
        "M": {"platform": {"S": "web"}, "connectedAt": {"N": "5"}}
    }
    full = Connection("ios", 5, dropped_at=6, sig_expires_at=7, timed_out=True)
    assert status_item.connection_from_value(status_item.connection_value(full)) == full


def test_versions_start_from_the_creation_time_in_microseconds() -> None:
    assert first_version(1_700_000_000_000) == 1_700_000_000_000_000
    assert first_version(4_102_444_800_000) < 2**53  # still exact in JavaScript in 2100
