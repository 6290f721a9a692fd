"""setSelfStatus and getUserStatus as a client sees them (API.md sections 3 and 4)."""

from __future__ import annotations

from tests.integration.conftest import Api

UNLOGINED = 3


def test_set_self_status_returns_the_callers_status(api: Api) -> None:
    reply = api.set_self_status("listening to music")
    assert reply.status == 200
    version = reply.body["data"]["version"]
    assert isinstance(version, int) and version > 0  # the first change of alice's status
    assert reply.body == {
        "code": 0,
        "message": "",
        "data": {
            "userID": "alice",
            "statusType": UNLOGINED,
            "customStatus": "listening to music",
            "lastActiveTime": 0,  # never ONLINE
            "version": version,
            "customStatusExpiresAt": 0,
        },
    }


def test_custom_status_is_what_others_then_read(api: Api) -> None:
    version = api.set_self_status("in a call", user="bob").data["version"]
    data = api.get_user_status(["bob"], user="alice").data
    assert data["successUserList"] == [
        {
            "userID": "bob",
            "statusType": UNLOGINED,
            "customStatus": "in a call",
            "lastActiveTime": 0,
            "version": version,
            "customStatusExpiresAt": 0,
        }
    ]
    assert data["failureUserList"] == []


def test_empty_custom_status_clears_it(api: Api) -> None:
    api.set_self_status("busy")
    assert api.set_self_status("").data["customStatus"] == ""
    assert api.get_user_status(["alice"]).data["successUserList"][0]["customStatus"] == ""


def test_setting_the_same_value_twice_answers_the_same(api: Api) -> None:
    first = api.set_self_status("same").data
    assert api.set_self_status("same").data == first


def test_custom_status_limit_counts_utf8_bytes_not_characters(api: Api) -> None:
    # 33 three-byte characters = 99 bytes: allowed; 34 = 102 bytes: refused.
    assert api.set_self_status("音" * 33).status == 200
    reply = api.set_self_status("音" * 34)
    assert (reply.status, reply.code) == (400, 6017)
    assert "customStatus" in reply.body["message"] and "102" in reply.body["message"]
    # nothing stored was changed by the refused call
    assert api.get_user_status(["alice"]).data["successUserList"][0]["customStatus"] == "音" * 33


def test_custom_status_of_exactly_the_limit_is_allowed(api: Api) -> None:
    assert api.set_self_status("x" * 100).status == 200
    assert api.set_self_status("x" * 101).code == 6017


def test_custom_status_must_be_a_string(api: Api) -> None:
    for value in (None, 5, True, ["a"], {"a": 1}):
        reply = api.set_self_status(value)
        assert (reply.status, reply.code) == (400, 6017), value
        assert "customStatus" in reply.body["message"]


def test_missing_custom_status_names_the_field(api: Api) -> None:
    reply = api.call("set_self_status", {})
    assert (reply.status, reply.code) == (400, 6017)
    assert reply.body["message"] == "customStatus is required unless invisible is given"


def test_lone_surrogate_is_refused_not_a_500(api: Api) -> None:
    reply = api.call("set_self_status", raw_body='{"customStatus": "\\ud800"}')
    assert (reply.status, reply.code) == (400, 6017)


def test_never_logged_in_user_is_unlogined_with_empty_custom_status(api: Api) -> None:
    data = api.get_user_status(["nobody"]).data
    assert data["successUserList"] == [
        {
            "userID": "nobody",
            "statusType": UNLOGINED,
            "customStatus": "",
            "lastActiveTime": 0,
            "version": 0,
            "customStatusExpiresAt": 0,
        }  # nothing stored
    ]


def test_duplicates_are_answered_once_in_request_order(api: Api) -> None:
    data = api.get_user_status(["carol", "bob", "carol", "bob", "dave"]).data
    assert [s["userID"] for s in data["successUserList"]] == ["carol", "bob", "dave"]


def test_invalid_user_ids_go_to_the_failure_list(api: Api) -> None:
    too_long = "u" * 33
    data = api.get_user_status(["bob", "", too_long, "tab\there", "é"]).data
    assert [s["userID"] for s in data["successUserList"]] == ["bob"]
    assert [(f["userID"], f["code"]) for f in data["failureUserList"]] == [
        ("", 7003),
        (too_long, 7003),
        ("tab\there", 7003),
        ("é", 7003),
    ]
    assert all(f["message"] for f in data["failureUserList"])


def test_a_32_byte_printable_user_id_is_valid(api: Api) -> None:
    user_id = "a b~!" + "z" * 27
    data = api.get_user_status([user_id]).data
    assert data["successUserList"][0]["userID"] == user_id


def test_user_id_list_shape_errors(api: Api) -> None:
    for body, field in (
        ({}, "userIDList"),
        ({"userIDList": []}, "userIDList"),
        ({"userIDList": "bob"}, "userIDList"),
        ({"userIDList": ["bob", 7]}, "userIDList[1]"),
    ):
        reply = api.call("get_user_status", body)
        assert (reply.status, reply.code) == (400, 6017), body
        assert reply.body["message"].startswith(field), reply.body


def test_query_list_longer_than_the_setting_is_refused(api: Api) -> None:
    assert api.get_user_status([f"u{i}" for i in range(500)]).status == 200
    reply = api.get_user_status([f"u{i}" for i in range(501)])
    assert (reply.status, reply.code) == (400, 6017)
    assert "userIDList" in reply.body["message"] and "500" in reply.body["message"]
