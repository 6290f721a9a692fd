"""Every refusal of API.md sections 1 and 2, through the real handlers, as a client sees it.

Each failure is checked for its HTTP status, its code, and a message a person can read (not
empty, no stack trace). The order of the checks (auth, JSON/params, edition, switch, rate limit)
is checked by making two of them fail at once.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import zlib
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from presence import auth, store
from presence import clock as presence_clock
from tests.integration.conftest import (
    REGION,
    ROOT,
    SDKAPPID,
    SECRET_KEY,
    Api,
    Reply,
    World,
    handler_module,
    lambda_context,
    user_sig,
)

UNLOGINED = 3

ALL_ROUTES = [
    "set_self_status",
    "get_user_status",
    "subscribe_user_status",
    "unsubscribe_user_status",
    "get_subscriptions",
    "admin_get_settings",
    "admin_update_settings",
]
ADMIN_ROUTES = ["admin_get_settings", "admin_update_settings"]

# A valid body for each route, called as `caller_of(route)`.
VALID_BODY: dict[str, dict[str, Any]] = {
    "set_self_status": {"customStatus": "hello"},
    "get_user_status": {"userIDList": ["bob"]},
    "subscribe_user_status": {"userIDList": ["bob"]},
    "unsubscribe_user_status": {"userIDList": ["bob"]},
    "get_subscriptions": {},
    "admin_get_settings": {},
    "admin_update_settings": {},
}


def caller_of(route: str) -> str:
    return "administrator" if route in ADMIN_ROUTES else "alice"


def assert_refused(reply: Reply, status: int, code: int) -> str:
    """The contract's failure envelope; returns the message."""
    assert (reply.status, reply.code) == (status, code), reply.body
    message = reply.body["message"]
    assert isinstance(message, str) and message.strip(), reply.body
    assert "Traceback" not in message and 'File "' not in message, message
    assert "data" not in reply.body or not reply.body["data"], reply.body
    return message


def status_of(api: Api, user_id: str) -> dict[str, Any]:
    """`user_id`'s status as that user reads it (never gated, never limited)."""
    return dict(api.get_user_status([user_id], user=user_id).data["successUserList"][0])


def call_base64(api: Api, function_dir: str, raw: bytes, user: str = "alice") -> Reply:
    """A request whose body API Gateway delivered base64-encoded (isBase64Encoded: true)."""
    event = json.loads((ROOT / "events" / f"{function_dir}.json").read_text())
    event["headers"] = {**event["headers"], "authorization": f"Bearer {user_sig(user)}"}
    event["body"] = base64.b64encode(raw).decode("ascii")
    event["isBase64Encoded"] = True
    result = handler_module(function_dir).lambda_handler(event, lambda_context(function_dir))
    assert result["headers"]["content-type"] == "application/json"
    return Reply(result["statusCode"], json.loads(result["body"]))


def token_from_doc(doc: dict[str, Any]) -> str:
    """A token in the UserSig wire format carrying exactly `doc` (signed or not)."""
    compressed = zlib.compress(json.dumps(doc).encode("utf-8"))
    return base64.b64encode(compressed).decode("ascii").translate(str.maketrans("+/=", "*-_"))


def expired_token(user_id: str = "alice", *, seconds_ago: int = 100) -> str:
    """Signed with the right key; expired `seconds_ago` seconds ago (TLS.time + TLS.expire)."""
    issued = int(time.time()) - 3600
    return auth.gen_user_sig(SDKAPPID, SECRET_KEY, user_id, 3600 - seconds_ago, now=issued)


def set_settings(api: Api, fresh: Callable[[], None], patch: dict[str, Any]) -> None:
    assert api.update_settings(patch).status == 200
    fresh()


# --- 70001 expired ------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ALL_ROUTES)
def test_expired_usersig_is_70001_on_every_route(api: Api, route: str) -> None:
    token = expired_token(caller_of(route))
    reply = api.call(route, VALID_BODY[route], token=token)
    assert "expire" in assert_refused(reply, 401, 70001).lower()


def test_a_usersig_is_expired_from_the_second_time_plus_expire_is_reached(api: Api) -> None:
    now = int(time.time())
    at_the_limit = auth.gen_user_sig(SDKAPPID, SECRET_KEY, "alice", 100, now=now - 100)
    assert_refused(
        api.call("set_self_status", {"customStatus": "x"}, token=at_the_limit), 401, 70001
    )
    still_valid = auth.gen_user_sig(SDKAPPID, SECRET_KEY, "alice", 160, now=now - 100)
    assert api.call("set_self_status", {"customStatus": "x"}, token=still_valid).status == 200


def test_an_expired_usersig_changes_nothing(api: Api) -> None:
    api.set_self_status("before")
    reply = api.call("set_self_status", {"customStatus": "after"}, token=expired_token())
    assert_refused(reply, 401, 70001)
    assert status_of(api, "alice")["customStatus"] == "before"


# --- 70003 missing or undecodable ---------------------------------------------------------------


@pytest.mark.parametrize("route", ALL_ROUTES)
def test_no_authorization_header_is_70003_on_every_route(api: Api, route: str) -> None:
    reply = api.call(route, VALID_BODY[route], user=None)
    assert_refused(reply, 401, 70003)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer ",
        "Bearer",
        "Bearer    ",
        "",
        "Basic YWxpY2U6c2VjcmV0",
        "Token {token}",
        "{token}",  # the UserSig alone, no scheme
    ],
)
def test_authorization_header_not_bearer_usersig_is_70003(api: Api, authorization: str) -> None:
    header = authorization.format(token=user_sig("alice"))
    reply = api.call(
        "set_self_status", {"customStatus": "x"}, user=None, headers={"Authorization": header}
    )
    assert_refused(reply, 401, 70003)


def test_bearer_scheme_is_case_insensitive_and_a_real_usersig_passes(api: Api) -> None:
    # the control case for the refusals above: the same header shape with a good token works
    for scheme in ("Bearer", "bearer", "BEARER"):
        headers = {"Authorization": f"{scheme} {user_sig('alice')}"}
        reply = api.call("set_self_status", {"customStatus": scheme}, user=None, headers=headers)
        assert reply.data["userID"] == "alice"


GOOD_DOC = {
    "TLS.ver": "2.0",
    "TLS.identifier": "alice",
    "TLS.sdkappid": SDKAPPID,
    "TLS.expire": 3600,
    "TLS.time": 2_000_000_000,
}


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "!!!!not-base64!!!!",
        "e" * 5000,  # longer than any UserSig
        base64.b64encode(b"not zlib at all").decode(),
        base64.b64encode(zlib.compress(b"not json")).decode(),
        base64.b64encode(zlib.compress(b"[1, 2, 3]")).decode(),
        base64.b64encode(zlib.compress(b'{"TLS.identifier": "alice"}')).decode(),
        user_sig("alice")[:-12],  # truncated
        token_from_doc({**GOOD_DOC}),  # no TLS.sig at all
        token_from_doc({**GOOD_DOC, "TLS.sig": 5}),
        token_from_doc({**GOOD_DOC, "TLS.time": "soon", "TLS.sig": "x"}),
        token_from_doc({**GOOD_DOC, "TLS.identifier": "", "TLS.sig": "x"}),
    ],
    ids=lambda t: t[:20],
)
def test_undecodable_usersig_is_70003(api: Api, token: str) -> None:
    reply = api.call("get_user_status", {"userIDList": ["bob"]}, token=token)
    assert_refused(reply, 401, 70003)


def signed_doc_with(field: str, value: Any, user_id: str = "alice") -> dict[str, Any]:
    """A UserSig document signed with the deployment's key (with a userbuf), then `field` set."""
    issued = int(time.time())
    doc: dict[str, Any] = {
        "TLS.ver": "2.0",
        "TLS.identifier": user_id,
        "TLS.sdkappid": SDKAPPID,
        "TLS.expire": 3600,
        "TLS.time": issued,
        "TLS.userbuf": "YWJj",
    }
    doc["TLS.sig"] = auth.sign(user_id, SDKAPPID, issued, 3600, "YWJj", SECRET_KEY)
    doc[field] = value
    return doc


def assert_no_fault_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A refusal is logged as a refusal: no error record, no stack trace."""
    faults = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not faults, [r.getMessage() for r in faults]


# Each string field spelled with a lone surrogate (JSON escape \ud800), which is not valid
# Unicode, and the fields of the wrong type or value: all 70003, naming the field.
BAD_FIELDS = [
    *[(f, "\ud800") for f in ("TLS.sig", "TLS.userbuf", "TLS.identifier", "TLS.ver")],
    ("TLS.sig", "abc\udfffdef"),
    ("TLS.userbuf", ["YWJj"]),
    ("TLS.identifier", 7),
    ("TLS.ver", 2.0),
    ("TLS.ver", "2"),
    ("TLS.ver", "1.0"),
    ("TLS.ver", None),
    ("TLS.time", True),
    ("TLS.expire", "3600.0"),
    ("TLS.sdkappid", "\ud800"),
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS, ids=lambda v: ascii(v))
def test_a_usersig_field_of_the_wrong_type_or_not_unicode_is_70003(
    api: Api, caplog: pytest.LogCaptureFixture, field: str, value: Any
) -> None:
    token = token_from_doc(signed_doc_with(field, value))
    message = assert_refused(
        api.call("set_self_status", {"customStatus": "x"}, token=token), 401, 70003
    )
    assert field in message, message
    assert status_of(api, "alice")["customStatus"] == ""
    assert_no_fault_logged(caplog)


def test_a_usersig_without_tls_ver_is_70003(api: Api) -> None:
    doc = signed_doc_with("TLS.ver", None)
    del doc["TLS.ver"]
    message = assert_refused(
        api.call("get_subscriptions", {}, token=token_from_doc(doc)), 401, 70003
    )
    assert "TLS.ver" in message
    # the same document with "TLS.ver": "2.0" is accepted: only the version was wrong
    assert (
        api.call("get_subscriptions", {}, token=token_from_doc({**doc, "TLS.ver": "2.0"})).status
        == 200
    )


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS, ids=lambda v: ascii(v))
def test_a_websocket_handshake_with_a_bad_usersig_field_is_401_70003(
    api: Api, world: World, caplog: pytest.LogCaptureFixture, field: str, value: Any
) -> None:
    connection_id, answer = world.connect(
        "alice", token=token_from_doc(signed_doc_with(field, value))
    )
    assert answer["statusCode"] == 401, answer
    body = json.loads(answer["body"])
    assert body["code"] == 70003
    assert field in body["message"]
    assert store.get_connection_user(connection_id) is None
    assert status_of(api, "alice")["statusType"] == UNLOGINED
    assert_no_fault_logged(caplog)


def test_tencent_generator_tokens_still_open_a_websocket(api: Api, world: World) -> None:
    _, answer = world.connect("alice", token=user_sig("alice"))
    assert answer["statusCode"] == 200
    assert status_of(api, "alice")["statusType"] == 1


@pytest.mark.parametrize("identifier", ["", "u" * 33, "tab\there", "é"])
def test_usersig_for_an_invalid_user_id_is_70003(api: Api, identifier: str) -> None:
    # correctly signed by the deployment's key, but for a name that is not a userID
    token = user_sig(identifier)
    assert_refused(api.call("set_self_status", {"customStatus": "x"}, token=token), 401, 70003)


# --- 70009 wrong key ----------------------------------------------------------------------------


@pytest.mark.parametrize("route", ALL_ROUTES)
def test_usersig_signed_with_another_key_is_70009(api: Api, route: str) -> None:
    token = user_sig(caller_of(route), key="someone-elses-secret-key")
    assert_refused(api.call(route, VALID_BODY[route], token=token), 401, 70009)


def test_altered_usersig_is_70009(api: Api) -> None:
    # bob's signature on a token that now says "alice"
    bob = auth.decode_user_sig(user_sig("bob"))
    forged = token_from_doc(
        {
            "TLS.ver": "2.0",
            "TLS.identifier": "alice",
            "TLS.sdkappid": bob.sdkappid,
            "TLS.expire": bob.expire,
            "TLS.time": bob.time,
            "TLS.sig": bob.sig,
        }
    )
    assert_refused(api.call("set_self_status", {"customStatus": "x"}, token=forged), 401, 70009)
    assert status_of(api, "alice")["customStatus"] == ""


def test_wrong_key_changes_nothing(api: Api) -> None:
    token = user_sig("alice", key="someone-elses-secret-key")
    assert_refused(api.call("set_self_status", {"customStatus": "forged"}, token=token), 401, 70009)
    assert status_of(api, "alice")["customStatus"] == ""


# --- 70013 X-User-ID ----------------------------------------------------------------------------


@pytest.mark.parametrize("route", ALL_ROUTES)
def test_x_user_id_differing_from_the_usersig_is_70013(api: Api, route: str) -> None:
    reply = api.call(
        route, VALID_BODY[route], user=caller_of(route), headers={"X-User-ID": "mallory"}
    )
    assert_refused(reply, 401, 70013)


@pytest.mark.parametrize("route", ALL_ROUTES)
def test_x_user_id_equal_to_the_usersig_is_accepted(api: Api, route: str) -> None:
    user = caller_of(route)
    reply = api.call(route, VALID_BODY[route], user=user, headers={"X-User-ID": user})
    assert (reply.status, reply.code) == (200, 0), reply.body


def test_x_user_id_cannot_make_alice_act_as_bob(api: Api) -> None:
    reply = api.call(
        "set_self_status", {"customStatus": "pwned"}, user="alice", headers={"X-User-ID": "bob"}
    )
    assert_refused(reply, 401, 70013)
    assert status_of(api, "bob")["customStatus"] == ""
    assert status_of(api, "alice")["customStatus"] == ""


# --- 70014 SDKAppID -----------------------------------------------------------------------------


@pytest.mark.parametrize("route", ALL_ROUTES)
def test_usersig_for_another_sdkappid_is_70014(api: Api, route: str) -> None:
    token = user_sig(caller_of(route), sdkappid=SDKAPPID + 1)
    reply = api.call(route, VALID_BODY[route], token=token)
    assert_refused(reply, 401, 70014)


def test_another_sdkappid_with_its_own_key_is_still_70014(api: Api) -> None:
    # a token that is perfectly valid for another app of the same customer
    token = user_sig("alice", sdkappid=1400999999, key="the-other-apps-key")
    assert_refused(api.call("set_self_status", {"customStatus": "x"}, token=token), 401, 70014)


# --- 60010 admin routes -------------------------------------------------------------------------


@pytest.mark.parametrize("route", ADMIN_ROUTES)
def test_non_admin_on_an_admin_route_is_60010(api: Api, route: str) -> None:
    assert_refused(api.call(route, {}, user="alice"), 403, 60010)


def test_admin_routes_work_for_the_admin(api: Api) -> None:
    settings = api.call("admin_get_settings", {}, user="administrator").data
    assert settings["edition"] == "ultimate" and settings["adminUserID"] == "administrator"
    updated = api.call("admin_update_settings", {"maxQueryUserIDs": 50}, user="administrator")
    assert updated.data["maxQueryUserIDs"] == 50


def test_a_refused_non_admin_update_changes_nothing(api: Api) -> None:
    reply = api.call("admin_update_settings", {"edition": "standard"}, user="alice")
    assert_refused(reply, 403, 60010)
    assert api.call("admin_get_settings", {}, user="administrator").data["edition"] == "ultimate"
    assert api.get_user_status(["bob"]).status == 200


def test_the_admin_is_whoever_the_setting_names(
    api: Api, fresh_settings: Callable[[], None]
) -> None:
    set_settings(api, fresh_settings, {"adminUserID": "root"})
    assert_refused(api.call("admin_get_settings", {}, user="administrator"), 403, 60010)
    assert api.call("admin_get_settings", {}, user="root").data["adminUserID"] == "root"


# --- 6027 body not a JSON object ----------------------------------------------------------------


NOT_JSON_OBJECTS = [
    "not json",
    "{",
    '{"customStatus": "x",}',
    "{'customStatus': 'x'}",
    "[]",
    '["customStatus", "x"]',
    '"customStatus"',
    "42",
    "3.5",
    "true",
    "null",
]


@pytest.mark.parametrize("raw", NOT_JSON_OBJECTS)
def test_body_not_a_json_object_is_6027(api: Api, raw: str) -> None:
    assert_refused(api.call("set_self_status", raw_body=raw), 400, 6027)


@pytest.mark.parametrize("route", ALL_ROUTES)
def test_6027_on_every_route(api: Api, route: str) -> None:
    for raw in ("not json", "[1]", '"x"', "7"):
        reply = api.call(route, raw_body=raw, user=caller_of(route))
        assert_refused(reply, 400, 6027)


def test_base64_body_that_is_not_utf8_is_6027(api: Api) -> None:
    raw = b'{"customStatus": "\xff\xfe"}'
    assert_refused(call_base64(api, "set_self_status", raw), 400, 6027)
    assert_refused(call_base64(api, "get_user_status", b"\xc3\x28"), 400, 6027)


def test_base64_body_that_is_a_json_object_is_accepted(api: Api) -> None:
    # the control case: the same path with a good body works
    reply = call_base64(api, "set_self_status", '{"customStatus": "音"}'.encode())
    assert reply.data["customStatus"] == "音"
    assert_refused(call_base64(api, "set_self_status", b"[1]"), 400, 6027)


# A deeply nested body makes json.loads raise RecursionError, not ValueError: this answered
# 500/7012 until parse_body (presence/http.py) caught it too.
def test_deeply_nested_json_is_a_client_error_not_a_500(api: Api) -> None:
    raw = '{"customStatus": ' + "[" * 100_000 + "]" * 100_000 + "}"  # ~200 KB, far below 10 MB
    reply = api.call("set_self_status", raw_body=raw)
    assert reply.status == 400 and reply.code in (6027, 6017), reply.body


def test_empty_body_is_an_empty_object(api: Api) -> None:
    # not 6027: the route's own parameter check answers
    for raw in ("", "   "):
        reply = api.call("set_self_status", raw_body=raw)
        assert "customStatus" in assert_refused(reply, 400, 6017)


# --- 6017 invalid parameters, route by route ----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "customStatus"),
        ({"customStatus": None}, "customStatus"),
        ({"customStatus": 5}, "customStatus"),
        ({"customStatus": True}, "customStatus"),
        ({"customStatus": ["a"]}, "customStatus"),
        ({"customStatus": {"text": "a"}}, "customStatus"),
        ({"customStatus": "x" * 101}, "customStatus"),
        ({"status": "busy"}, "customStatus"),
    ],
)
def test_set_self_status_6017(api: Api, body: dict[str, Any], field: str) -> None:
    api.set_self_status("kept")
    assert field in assert_refused(api.call("set_self_status", body), 400, 6017)
    assert status_of(api, "alice")["customStatus"] == "kept"


USER_ID_LIST_ERRORS = [
    ({}, "userIDList"),
    ({"userIDList": None}, "userIDList"),
    ({"userIDList": []}, "userIDList"),
    ({"userIDList": "bob"}, "userIDList"),
    ({"userIDList": {"bob": 1}}, "userIDList"),
    ({"userIDList": ["bob", 7]}, "userIDList[1]"),
    ({"userIDList": ["bob", None]}, "userIDList[1]"),
    ({"userIDList": [["bob"]]}, "userIDList[0]"),
    ({"userIDs": ["bob"]}, "userIDList"),
]


@pytest.mark.parametrize(("body", "field"), USER_ID_LIST_ERRORS)
def test_get_user_status_6017(api: Api, body: dict[str, Any], field: str) -> None:
    message = assert_refused(api.call("get_user_status", body), 400, 6017)
    assert message.startswith(field), message


def test_get_user_status_list_too_long_is_6017(api: Api) -> None:
    message = assert_refused(api.get_user_status([f"u{i}" for i in range(501)]), 400, 6017)
    assert "userIDList" in message and "500" in message


@pytest.mark.parametrize(("body", "field"), USER_ID_LIST_ERRORS)
def test_subscribe_6017(api: Api, body: dict[str, Any], field: str) -> None:
    message = assert_refused(api.call("subscribe_user_status", body), 400, 6017)
    assert message.startswith(field), message
    assert api.subscriptions() == []


def test_subscribe_list_too_long_is_6017_and_subscribes_nobody(api: Api) -> None:
    message = assert_refused(api.subscribe([f"u{i}" for i in range(101)]), 400, 6017)
    assert "userIDList" in message and "100" in message
    assert api.subscriptions() == []
    assert api.subscribe([f"u{i}" for i in range(100)]).status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"userIDList": "bob"}, "userIDList"),
        ({"userIDList": {"bob": 1}}, "userIDList"),
        ({"userIDList": ["bob", 7]}, "userIDList[1]"),
        ({"userIDList": [None]}, "userIDList[0]"),
    ],
)
def test_unsubscribe_6017(api: Api, body: dict[str, Any], field: str) -> None:
    api.subscribe(["bob"])
    message = assert_refused(api.call("unsubscribe_user_status", body), 400, 6017)
    assert message.startswith(field), message
    assert api.subscriptions() == ["bob"]  # in particular, not read as "cancel everything"


def test_unsubscribe_list_too_long_is_6017(api: Api) -> None:
    api.subscribe(["u0"])
    message = assert_refused(api.unsubscribe([f"u{i}" for i in range(101)]), 400, 6017)
    assert "userIDList" in message and "100" in message
    assert api.subscriptions() == ["u0"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"edition": "gold"}, "edition"),
        ({"statusQueryAndNotify": "no"}, "statusQueryAndNotify"),
        ({"rateLimit": {"requests": 0}}, "rateLimit.requests"),
        ({"rateLimit": 5}, "rateLimit"),
        ({"maxQueryUserIDs": 501}, "maxQueryUserIDs"),
        ({"maxQueryUserIDs": "5"}, "maxQueryUserIDs"),
        ({"adminUserID": ""}, "adminUserID"),
        ({"noSuchSetting": 1}, "noSuchSetting"),
        ({"maxSubscribeUserIDs": 10, "edition": "gold"}, "edition"),
    ],
)
def test_admin_update_settings_6017_changes_nothing(
    api: Api, patch: dict[str, Any], field: str
) -> None:
    before = api.call("admin_get_settings", {}, user="administrator").data
    message = assert_refused(api.update_settings(patch), 400, 6017)
    assert field in message, message
    assert api.call("admin_get_settings", {}, user="administrator").data == before


# --- 7013 edition and 72001 switch --------------------------------------------------------------


GATED: dict[str, Callable[[Api], Reply]] = {
    "getUserStatus of another user": lambda api: api.get_user_status(["bob"]),
    "getUserStatus of yourself and another": lambda api: api.get_user_status(["alice", "bob"]),
    "subscribeUserStatus": lambda api: api.subscribe(["bob"]),
    "unsubscribeUserStatus": lambda api: api.unsubscribe(["bob"]),
    "unsubscribeUserStatus (all)": lambda api: api.unsubscribe(None),
}


@pytest.mark.parametrize(
    ("patch", "code"),
    [({"edition": "standard"}, 7013), ({"statusQueryAndNotify": False}, 72001)],
    ids=["edition", "switch"],
)
def test_gated_apis_are_refused_and_change_nothing(
    api: Api, fresh_settings: Callable[[], None], patch: dict[str, Any], code: int
) -> None:
    api.subscribe(["carol"])
    set_settings(api, fresh_settings, patch)
    for name, call in GATED.items():
        reply = call(api)
        assert (reply.status, reply.code) == (403, code), name
        assert_refused(reply, 403, code)
    assert api.subscriptions() == ["carol"]  # nothing added, nothing cancelled


@pytest.mark.parametrize(
    "patch", [{"edition": "standard"}, {"statusQueryAndNotify": False}], ids=["edition", "switch"]
)
def test_own_status_and_set_self_status_are_not_gated(
    api: Api, fresh_settings: Callable[[], None], patch: dict[str, Any]
) -> None:
    set_settings(api, fresh_settings, patch)
    assert api.set_self_status("still works").data["customStatus"] == "still works"
    assert api.get_user_status(["alice"]).data["successUserList"] == [
        {
            "userID": "alice",
            "statusType": UNLOGINED,
            "customStatus": "still works",
            "lastActiveTime": 0,
            "version": store.get_presence("alice").version,
            "customStatusExpiresAt": 0,
        }
    ]
    assert api.get_user_status(["alice", "alice"]).status == 200


def test_gates_lift_when_the_settings_are_restored(
    api: Api, fresh_settings: Callable[[], None]
) -> None:
    set_settings(api, fresh_settings, {"edition": "standard", "statusQueryAndNotify": False})
    assert_refused(api.get_user_status(["bob"]), 403, 7013)
    set_settings(api, fresh_settings, {"edition": "ultimate"})
    assert_refused(api.get_user_status(["bob"]), 403, 72001)
    set_settings(api, fresh_settings, {"statusQueryAndNotify": True})
    assert api.get_user_status(["bob"]).status == 200
    assert api.subscribe(["bob"]).status == 200


# --- 7012 unexpected fault ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "operation"),
    [
        ("get_user_status", "BatchGetItem"),
        ("set_self_status", "UpdateItem"),
        ("subscribe_user_status", "Query"),
        ("get_subscriptions", "Query"),
    ],
)
def test_unexpected_fault_is_7012_without_details(
    api: Api, monkeypatch: pytest.MonkeyPatch, route: str, operation: str
) -> None:
    # The fault is injected where the store meets botocore, so it does not depend on the names
    # of the store's own functions: RuntimeError("boom") from the route's main DynamoDB call.
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def make_api_call(self: BaseClient, operation_name: str, params: Any) -> Any:
        if operation_name == operation:
            raise RuntimeError("boom")
        return original(self, operation_name, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
    message = assert_refused(api.call(route, VALID_BODY[route]), 500, 7012)
    assert "boom" not in message and "RuntimeError" not in message


def test_a_store_failure_is_7012_without_details(api: Api, aws: dict[str, str]) -> None:
    assert api.set_self_status("x").status == 200
    table = aws["STATUS_TABLE"]
    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=table)
    for reply in (api.set_self_status("y"), api.get_user_status(["bob"])):
        message = assert_refused(reply, 500, 7012)
        assert table not in message and "ResourceNotFound" not in message


# --- order of the checks (API.md section 2) -----------------------------------------------------


@pytest.fixture
def frozen_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service's clock stands still, so a rate-limit window never ends during a test."""
    frozen = presence_clock.now_ms()
    monkeypatch.setattr(presence_clock, "now_ms", lambda: frozen)


def test_bad_auth_beats_bad_json(api: Api) -> None:
    assert_refused(api.call("set_self_status", raw_body="not json", user=None), 401, 70003)
    reply = api.call("set_self_status", raw_body="not json", token=expired_token())
    assert_refused(reply, 401, 70001)
    reply = api.call("get_user_status", raw_body="[", token=user_sig("alice", key="wrong"))
    assert_refused(reply, 401, 70009)


def test_bad_auth_beats_bad_params(api: Api) -> None:
    reply = api.call("get_user_status", {"userIDList": []}, token=user_sig("a", sdkappid=1))
    assert_refused(reply, 401, 70014)


def test_not_admin_beats_bad_json_on_admin_routes(api: Api) -> None:
    reply = api.call("admin_update_settings", raw_body="not json", user="alice")
    assert_refused(reply, 403, 60010)


@pytest.mark.parametrize(
    "patch",
    [{"edition": "standard"}, {"statusQueryAndNotify": False}],
    ids=["edition", "switch"],
)
def test_bad_json_and_params_beat_the_gates(
    api: Api, fresh_settings: Callable[[], None], patch: dict[str, Any]
) -> None:
    set_settings(api, fresh_settings, patch)
    assert_refused(api.call("get_user_status", raw_body="[1]"), 400, 6027)
    assert_refused(api.call("get_user_status", {"userIDList": []}), 400, 6017)
    assert_refused(api.call("get_user_status", {"userIDList": ["bob", 1]}), 400, 6017)
    assert_refused(api.get_user_status([f"u{i}" for i in range(501)]), 400, 6017)
    assert_refused(api.call("subscribe_user_status", raw_body="nope"), 400, 6027)
    assert_refused(api.call("subscribe_user_status", {"userIDList": "bob"}), 400, 6017)
    assert_refused(api.subscribe([f"u{i}" for i in range(101)]), 400, 6017)
    assert_refused(api.call("unsubscribe_user_status", raw_body="7"), 400, 6027)
    assert_refused(api.call("unsubscribe_user_status", {"userIDList": [1]}), 400, 6017)
    assert_refused(api.unsubscribe([f"u{i}" for i in range(101)]), 400, 6017)


def test_edition_beats_switch(api: Api, fresh_settings: Callable[[], None]) -> None:
    set_settings(api, fresh_settings, {"edition": "standard", "statusQueryAndNotify": False})
    for name, call in GATED.items():
        reply = call(api)
        assert (reply.status, reply.code) == (403, 7013), name
        assert_refused(reply, 403, 7013)


@pytest.mark.usefixtures("frozen_window")
def test_switch_beats_rate_limit(api: Api, fresh_settings: Callable[[], None]) -> None:
    set_settings(api, fresh_settings, {"rateLimit": {"requests": 2, "windowSeconds": 3600}})
    assert [api.subscribe([f"u{i}"]).status for i in range(2)] == [200, 200]
    assert_refused(api.subscribe(["u9"]), 429, 7008)  # the limit is spent
    set_settings(api, fresh_settings, {"statusQueryAndNotify": False})
    assert_refused(api.subscribe(["u9"]), 403, 72001)
    set_settings(api, fresh_settings, {"statusQueryAndNotify": True, "edition": "standard"})
    assert_refused(api.subscribe(["u9"]), 403, 7013)
    set_settings(api, fresh_settings, {"edition": "ultimate"})
    assert_refused(api.subscribe(["u9"]), 429, 7008)  # still spent: the gates did not reset it


@pytest.mark.usefixtures("frozen_window")
def test_refused_by_a_gate_does_not_use_up_the_rate_limit(
    api: Api, fresh_settings: Callable[[], None]
) -> None:
    set_settings(api, fresh_settings, {"rateLimit": {"requests": 2, "windowSeconds": 3600}})
    set_settings(api, fresh_settings, {"statusQueryAndNotify": False})
    for _ in range(5):
        assert_refused(api.get_user_status(["bob"]), 403, 72001)
    set_settings(api, fresh_settings, {"statusQueryAndNotify": True})
    assert [api.get_user_status(["bob"]).status for _ in range(3)] == [200, 200, 429]


@pytest.mark.usefixtures("frozen_window")
def test_bad_params_do_not_use_up_the_rate_limit(
    api: Api, fresh_settings: Callable[[], None]
) -> None:
    set_settings(api, fresh_settings, {"rateLimit": {"requests": 2, "windowSeconds": 3600}})
    for _ in range(5):
        assert_refused(api.subscribe([f"u{i}" for i in range(101)]), 400, 6017)
    assert [api.subscribe(["bob"]).status for _ in range(3)] == [200, 200, 429]


# --- identity is always the UserSig's -----------------------------------------------------------


def test_a_user_id_in_the_body_changes_nothing_of_that_user(api: Api) -> None:
    api.set_self_status("bob's own", user="bob")
    reply = api.call("set_self_status", {"customStatus": "hijack", "userID": "bob"}, user="alice")
    assert reply.data["userID"] == "alice"
    assert (reply.data["statusType"], reply.data["customStatus"]) == (UNLOGINED, "hijack")
    assert status_of(api, "bob")["customStatus"] == "bob's own"
    assert status_of(api, "alice")["customStatus"] == "hijack"


def test_subscription_routes_act_for_the_usersig_identity_only(api: Api) -> None:
    api.subscribe(["carol"], user="bob")
    api.call("subscribe_user_status", {"userIDList": ["dave"], "userID": "bob"}, user="alice")
    api.call("unsubscribe_user_status", {"userID": "bob"}, user="alice")  # cancel "all"
    assert api.subscriptions(user="bob") == ["carol"]
    assert api.subscriptions(user="alice") == []
    other = api.call("get_subscriptions", {"userID": "bob", "subscriberID": "bob"}, user="alice")
    assert other.data["userIDList"] == []
