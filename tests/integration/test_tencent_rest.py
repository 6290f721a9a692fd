"""Tencent's REST API (API.md section 10): query_online_status and kick, with Tencent's query
string, bodies and answers, every answer HTTP 200 (the handlers under moto)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from presence.auth import gen_user_sig
from tests.integration.conftest import SDKAPPID, SECRET_KEY, Api, World, user_sig

QUERY = "tencent_query_online_status"
KICK = "tencent_kick"
ADMIN = "administrator"
UNLOGINED = 3


def ok(answer: dict[str, Any]) -> dict[str, Any]:
    assert (answer["ActionStatus"], answer["ErrorCode"], answer["ErrorInfo"]) == ("OK", 0, "")
    return answer


def failed(answer: dict[str, Any], code: int) -> str:
    assert answer["ActionStatus"] == "FAIL", answer
    assert answer["ErrorCode"] == code, answer
    assert isinstance(answer["ErrorInfo"], str) and answer["ErrorInfo"]
    assert "QueryResult" not in answer
    return str(answer["ErrorInfo"])


# --- query_online_status ------------------------------------------------------------------------


def test_states_as_tencent_names_them(api: Api, world: World) -> None:
    world.online("alice", "web")
    phone = world.online("bob", "ios")
    world.disconnect(phone)
    world.advance(10)  # past the grace: bob's native app is in the background (OFFLINE)
    answer = ok(api.tencent(QUERY, {"To_Account": ["alice", "bob", "carol"]}))
    assert answer["QueryResult"] == [
        {"To_Account": "alice", "State": "Online", "Status": "Online"},
        {"To_Account": "bob", "State": "PushOnline", "Status": "PushOnline"},
        {"To_Account": "carol", "State": "Offline", "Status": "Offline"},
    ]
    assert answer["ErrorList"] == []


def test_detail_lists_each_device_with_tencents_platform_names(api: Api, world: World) -> None:
    for platform in ("web", "miniprogram", "ipad", "android", "windows", "mac", "linux"):
        world.online("alice", platform)
        world.advance(0.01)
    world.online("alice", "harmony")
    phone = world.online("alice", "ios")
    world.disconnect(phone)
    world.advance(10)  # the iPhone app is in the background now
    answer = ok(api.tencent(QUERY, {"To_Account": ["alice", "dave"], "IsNeedDetail": 1}))
    alice, dave = answer["QueryResult"]
    assert alice["Status"] == alice["State"] == "Online"
    assert alice["Detail"] == [
        {"Platform": "Web", "Status": "Online"},
        {"Platform": "MiniProgram", "Status": "Online"},
        {"Platform": "IPad", "Status": "Online"},
        {"Platform": "Android", "Status": "Online"},
        {"Platform": "Windows", "Status": "Online"},
        {"Platform": "Mac", "Status": "Online"},
        {"Platform": "Linux", "Status": "Online"},
        {"Platform": "Harmony", "Status": "Online"},
        {"Platform": "IPhone", "Status": "PushOnline"},
    ]
    assert dave == {"To_Account": "dave", "State": "Offline", "Status": "Offline", "Detail": []}


def test_custom_status_when_asked(api: Api, world: World) -> None:
    world.online("alice", "web")
    api.set_self_status("in a call", user="alice")
    plain = ok(api.tencent(QUERY, {"To_Account": ["alice"]}))["QueryResult"][0]
    assert "CustomStatus" not in plain and "Detail" not in plain
    asked = ok(api.tencent(QUERY, {"To_Account": ["alice", "bob"], "IsReturnCustomStatus": 1}))
    assert [e["CustomStatus"] for e in asked["QueryResult"]] == ["in a call", ""]


def test_invalid_user_ids_go_to_the_error_list_with_70107(api: Api) -> None:
    bad = ["", "x" * 33, "tab\there"]
    answer = ok(api.tencent(QUERY, {"To_Account": ["alice", *bad, "alice"]}))
    assert [e["To_Account"] for e in answer["QueryResult"]] == ["alice"]  # once
    assert answer["ErrorList"] == [{"To_Account": u, "ErrorCode": 70107} for u in bad]


def test_unknown_fields_are_ignored_and_the_query_is_never_gated_nor_limited(api: Api) -> None:
    api.update_settings(
        {"edition": "standard", "statusQueryAndNotify": False, "rateLimit": {"requests": 1}}
    )
    for _ in range(3):
        body = {"To_Account": ["bob"], "IsReturnInstid": 1, "Extra": "x"}
        assert ok(api.tencent(QUERY, body))["QueryResult"][0]["Status"] == "Offline"


def test_at_most_500_accounts(api: Api) -> None:
    accounts = [f"u{i}" for i in range(500)]
    assert len(ok(api.tencent(QUERY, {"To_Account": accounts}))["QueryResult"]) == 500
    info = failed(api.tencent(QUERY, {"To_Account": [*accounts, "u500"]}), 6017)
    assert info.startswith("To_Account")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "To_Account"),
        ({"To_Account": []}, "To_Account"),
        ({"To_Account": "alice"}, "To_Account"),
        ({"To_Account": ["alice", 5]}, "To_Account[1]"),
        ({"To_Account": ["alice"], "IsNeedDetail": 2}, "IsNeedDetail"),
        ({"To_Account": ["alice"], "IsNeedDetail": True}, "IsNeedDetail"),
        ({"To_Account": ["alice"], "IsReturnCustomStatus": "1"}, "IsReturnCustomStatus"),
    ],
)
def test_malformed_query_bodies_fail_with_6017(api: Api, body: dict[str, Any], field: str) -> None:
    assert failed(api.tencent(QUERY, body), 6017).startswith(field)


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '"text"', "{"])
@pytest.mark.parametrize("route", [QUERY, KICK])
def test_a_body_that_is_not_a_json_object_fails_with_6027(api: Api, route: str, raw: str) -> None:
    failed(api.tencent(route, raw_body=raw), 6027)


# --- the query string (both routes) -------------------------------------------------------------

BODIES = {QUERY: {"To_Account": ["alice"]}, KICK: {"UserID": "alice"}}


@pytest.mark.parametrize("route", [QUERY, KICK])
def test_auth_failures_answer_http_200_with_the_contracts_codes(api: Api, route: str) -> None:
    body = BODIES[route]
    expired = gen_user_sig(SDKAPPID, SECRET_KEY, ADMIN, expire=60, now=int(time.time()) - 3600)
    other_key = user_sig(ADMIN, key="another-key")
    other_app = user_sig(ADMIN, sdkappid=SDKAPPID + 1)
    assert "usersig" in failed(api.tencent(route, body, query={"usersig": None}), 70003).lower()
    failed(api.tencent(route, body, token="garbage"), 70003)
    failed(api.tencent(route, body, token=expired), 70001)
    failed(api.tencent(route, body, token=other_key), 70009)
    failed(api.tencent(route, body, token=other_app), 70014)
    failed(api.tencent(route, body, query={"identifier": "someone"}), 70013)
    failed(api.tencent(route, body, query={"sdkappid": str(SDKAPPID + 1)}), 70014)
    info = failed(api.tencent(route, body, user="alice"), 60010)
    assert "admin" in info
    info = failed(api.tencent(route, body, query={"random": "4294967296"}), 6017)
    assert info.startswith("random")
    failed(api.tencent(route, body, query={"random": "-1"}), 6017)
    assert failed(api.tencent(route, body, query={"contenttype": "xml"}), 6017).startswith(
        "contenttype"
    )


@pytest.mark.parametrize("route", [QUERY, KICK])
def test_optional_parameters_may_be_left_out(api: Api, route: str) -> None:
    """identifier and sdkappid are checked when given; random and contenttype too."""
    query: dict[str, str | None] = {
        "identifier": None,
        "sdkappid": None,
        "random": None,
        "contenttype": None,
    }
    ok(api.tencent(route, BODIES[route], query=query))
    ok(api.tencent(route, BODIES[route], query={"contenttype": "JSON", "random": "0"}))


def test_the_admin_account_follows_the_setting(api: Api) -> None:
    api.update_settings({"adminUserID": "ops"})
    ok(api.tencent(QUERY, BODIES[QUERY], user="ops"))
    failed(api.tencent(QUERY, BODIES[QUERY], user=ADMIN), 60010)


def test_an_unexpected_fault_is_7012_with_http_200(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from presence import store

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(store, "get_presences", broken)
    info = failed(api.tencent(QUERY, BODIES[QUERY]), 7012)
    assert "boom" not in info


# --- kick ---------------------------------------------------------------------------------------


def test_kick_is_what_kick_user_does(api: Api, world: World) -> None:
    web = world.online("alice", "web")
    phone = world.online("alice", "android")
    other = world.online("bob", "web")
    assert ok(api.tencent(KICK, {"UserID": "alice"})) == {
        "ActionStatus": "OK",
        "ErrorCode": 0,
        "ErrorInfo": "",
    }
    for connection_id in (web, phone):
        assert world.control_frames(connection_id) == [
            {"event": "kickedOut", "reason": "REST_API_Kick"}
        ]
        assert connection_id in world.closed
    assert other not in world.closed
    entry = api.get_user_status(["alice"], user="alice").data["successUserList"][0]
    assert entry["statusType"] == UNLOGINED
    ok(api.tencent(KICK, {"UserID": "alice"}))  # again: nothing left to do
    ok(api.tencent(KICK, {"UserID": "nobody"}))


@pytest.mark.parametrize("body", [{}, {"UserID": 5}, {"UserID": ""}, {"UserID": "y" * 33}])
def test_kick_refuses_bad_user_ids(api: Api, body: dict[str, Any]) -> None:
    assert "UserID" in failed(api.tencent(KICK, body), 6017)


def test_a_kick_that_could_not_close_every_socket_fails_with_7012_and_can_be_repeated(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from presence import store

    world.online("alice", "web")
    world.online("alice", "web")
    closed = store.close_connection
    calls = {"n": 0}

    def flaky(connection_id: str) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("API Gateway 500")
        closed(connection_id)

    monkeypatch.setattr(store, "close_connection", flaky)
    assert "kick" in failed(api.tencent(KICK, {"UserID": "alice"}), 7012).lower()
    ok(api.tencent(KICK, {"UserID": "alice"}))
