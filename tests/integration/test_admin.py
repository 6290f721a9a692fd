"""Admin routes: friends, queryOnlineStatus, kickUser (API.md section 5)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from presence import store
from tests.integration.conftest import Api, World

ONLINE, OFFLINE, UNLOGINED = 1, 2, 3
ADMIN = "administrator"


def admin(api: Api, route: str, body: Any) -> Any:
    return api.call(route, body, user=ADMIN)


def friends(user: str) -> list[str]:
    return sorted(store.watchers_page(user, "friends", None, 1000)[0])


# --- friends ------------------------------------------------------------------------------------


def test_import_friends_is_mutual(api: Api) -> None:
    reply = admin(api, "admin_import_friends", {"pairs": [{"userID": "alice", "friendID": "bob"}]})
    assert reply.data == {"failureList": []}
    assert friends("alice") == ["bob"]
    assert friends("bob") == ["alice"]


def test_import_reports_invalid_pairs_and_applies_the_rest(api: Api) -> None:
    pairs = [
        {"userID": "alice", "friendID": "bob"},
        {"userID": "alice", "friendID": "alice"},
        {"userID": "x" * 33, "friendID": "bob"},
        {"userID": "carol", "friendID": "bad\nid"},
        {"userID": "carol", "friendID": "dave"},
    ]
    failures = admin(api, "admin_import_friends", {"pairs": pairs}).data["failureList"]
    assert [(f["userID"], f["friendID"], f["code"]) for f in failures] == [
        ("alice", "alice", 6017),
        ("x" * 33, "bob", 7003),
        ("carol", "bad\nid", 7003),
    ]
    assert all(f["message"] for f in failures)
    assert friends("alice") == ["bob"]
    assert friends("carol") == ["dave"]
    assert friends("dave") == ["carol"]


def test_import_of_500_pairs_with_repeats_loses_nothing(api: Api) -> None:
    pairs = [{"userID": "hub", "friendID": f"f{i:03d}"} for i in range(250)]
    pairs += [{"userID": f"f{i:03d}", "friendID": "hub"} for i in range(250)]  # same, reversed
    assert admin(api, "admin_import_friends", {"pairs": pairs}).data == {"failureList": []}
    assert friends("hub") == [f"f{i:03d}" for i in range(250)]
    assert friends("f123") == ["hub"]


def test_more_than_500_pairs_is_refused_and_nothing_written(api: Api) -> None:
    pairs = [{"userID": "hub", "friendID": f"f{i}"} for i in range(501)]
    reply = admin(api, "admin_import_friends", {"pairs": pairs})
    assert (reply.status, reply.code) == (400, 6017)
    assert "pairs" in reply.body["message"]
    assert friends("hub") == []


def test_delete_friends_is_mutual_and_leaves_others(api: Api) -> None:
    admin(
        api,
        "admin_import_friends",
        {
            "pairs": [
                {"userID": "alice", "friendID": "bob"},
                {"userID": "alice", "friendID": "carol"},
            ]
        },
    )
    reply = admin(api, "admin_delete_friends", {"pairs": [{"userID": "bob", "friendID": "alice"}]})
    assert reply.data == {"failureList": []}
    assert friends("alice") == ["carol"]
    assert friends("bob") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "pairs"),
        ({"pairs": []}, "pairs"),
        ({"pairs": "alice"}, "pairs"),
        ({"pairs": [{"userID": "alice"}]}, "pairs[0].friendID"),
        ({"pairs": [{"userID": 1, "friendID": "b"}]}, "pairs[0].userID"),
    ],
)
@pytest.mark.parametrize("route", ["admin_import_friends", "admin_delete_friends"])
def test_friend_routes_refuse_malformed_bodies(
    api: Api, route: str, body: dict[str, Any], field: str
) -> None:
    reply = admin(api, route, body)
    assert (reply.status, reply.code) == (400, 6017)
    assert reply.body["message"].startswith(field)


# --- admin only ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("admin_import_friends", {"pairs": [{"userID": "a", "friendID": "b"}]}),
        ("admin_delete_friends", {"pairs": [{"userID": "a", "friendID": "b"}]}),
        ("admin_query_online_status", {"userIDList": ["a"]}),
        ("admin_kick_user", {"userID": "a"}),
    ],
)
def test_admin_routes_refuse_other_users(api: Api, route: str, body: dict[str, Any]) -> None:
    reply = api.call(route, body, user="alice")
    assert (reply.status, reply.code) == (403, 60010)


# --- queryOnlineStatus --------------------------------------------------------------------------


def test_query_online_status_lists_live_devices(api: Api, world: World) -> None:
    world.online("alice", "web")
    world.advance(1)
    world.online("alice", "ios")
    connected_at = world.now
    api.set_self_status("busy", user="alice")
    data = admin(
        api,
        "admin_query_online_status",
        {"userIDList": ["alice", "bob", "", "alice"], "includeDevices": True},
    ).data
    alice, bob = data["successUserList"]
    assert alice["userID"] == "alice" and alice["statusType"] == ONLINE
    assert alice["customStatus"] == "busy"
    assert [d["platform"] for d in alice["devices"]] == ["web", "ios"]
    assert alice["devices"][1]["connectedAt"] == connected_at
    assert bob == {
        "userID": "bob",
        "statusType": UNLOGINED,
        "customStatus": "",
        "lastActiveTime": 0,
        "version": 0,
        "customStatusExpiresAt": 0,
        "devices": [],
    }
    assert [(f["userID"], f["code"]) for f in data["failureUserList"]] == [("", 7003)]


def test_query_online_status_without_devices_is_like_get_user_status(api: Api) -> None:
    data = admin(api, "admin_query_online_status", {"userIDList": ["bob"]}).data
    assert data["successUserList"] == [
        {
            "userID": "bob",
            "statusType": UNLOGINED,
            "customStatus": "",
            "lastActiveTime": 0,
            "version": 0,
            "customStatusExpiresAt": 0,
        }
    ]


def test_query_online_status_is_never_gated_nor_limited(api: Api) -> None:
    api.update_settings(
        {"edition": "standard", "statusQueryAndNotify": False, "rateLimit": {"requests": 1}}
    )
    for _ in range(3):
        assert admin(api, "admin_query_online_status", {"userIDList": ["bob"]}).status == 200


def test_query_online_status_limits(api: Api) -> None:
    assert (
        admin(
            api, "admin_query_online_status", {"userIDList": [f"u{i}" for i in range(500)]}
        ).status
        == 200
    )
    reply = admin(api, "admin_query_online_status", {"userIDList": [f"u{i}" for i in range(501)]})
    assert (reply.status, reply.code) == (400, 6017)
    reply = admin(api, "admin_query_online_status", {"userIDList": ["a"], "includeDevices": "yes"})
    assert (reply.status, reply.code) == (400, 6017)
    assert reply.body["message"].startswith("includeDevices")


# --- kickUser -----------------------------------------------------------------------------------


def test_kick_tells_and_closes_every_connection_and_user_ends_unlogined(
    api: Api, world: World
) -> None:
    web = world.online("alice", "web")
    phone = world.online("alice", "android")
    other = world.online("bob", "web")
    assert admin(api, "admin_kick_user", {"userID": "alice"}).data == {}
    for connection_id in (web, phone):
        assert world.control_frames(connection_id) == [
            {"event": "kickedOut", "reason": "REST_API_Kick"}
        ]
        assert connection_id in world.closed
    assert other not in world.closed
    entry = api.get_user_status(["alice"], user="alice").data["successUserList"][0]
    assert entry["statusType"] == UNLOGINED  # native device too: no OFFLINE, no grace
    # the $disconnects API Gateway then sends change nothing
    world.disconnect(web)
    world.disconnect(phone)
    world.advance(30)
    assert (
        api.get_user_status(["alice"], user="alice").data["successUserList"][0]["statusType"]
        == UNLOGINED
    )


def test_kick_of_a_user_with_no_connections_is_fine(api: Api) -> None:
    assert admin(api, "admin_kick_user", {"userID": "nobody"}).data == {}


@pytest.mark.parametrize("body", [{}, {"userID": 5}, {"userID": ""}, {"userID": "y" * 33}])
def test_kick_refuses_bad_user_ids(api: Api, body: dict[str, Any]) -> None:
    reply = admin(api, "admin_kick_user", body)
    assert (reply.status, reply.code) == (400, 6017)
    assert "userID" in reply.body["message"]


def test_kicked_user_can_log_in_again(api: Api, world: World) -> None:
    world.online("alice", "web")
    admin(api, "admin_kick_user", {"userID": "alice"})
    world.online("alice", "web")
    entry = api.get_user_status(["alice"], user="alice").data["successUserList"][0]
    assert entry["statusType"] == ONLINE
    assert json.dumps(entry)
