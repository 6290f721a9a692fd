"""The HTTP API through the local runtime, as a client app sees it (API.md sections 1, 2, 4, 5)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from local import template as cfn
from tests.e2e.conftest import (
    ADMIN,
    UNLOGINED,
    Http,
    expired_sig,
    user_sig,
)

ROUTES = sorted(route.path for route in cfn.http_routes(cfn.load_template()))


# --- auth (section 1) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 70003),
        ({"Authorization": "Bearer not-a-usersig"}, 70003),
        ({"Authorization": f"Basic {user_sig('alice')}"}, 70003),
        ({"Authorization": f"Bearer {expired_sig('alice')}"}, 70001),
        ({"Authorization": f"Bearer {user_sig('alice', key='some-other-key')}"}, 70009),
        ({"Authorization": f"Bearer {user_sig('alice')}", "X-User-ID": "bob"}, 70013),
        ({"Authorization": f"Bearer {user_sig('alice', sdkappid=1400000001)}"}, 70014),
    ],
    ids=["missing", "garbage", "not-bearer", "expired", "wrong-key", "other-user", "sdkappid"],
)
def test_every_auth_failure_is_401_with_its_code(
    http: Http, headers: dict[str, str], code: int
) -> None:
    reply = http.call("/v1/setSelfStatus", {"customStatus": "x"}, headers=headers)
    assert (reply.status, reply.code) == (401, code), reply.body
    assert reply.body["message"]


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_of_the_template_is_served_and_checks_the_usersig(
    http: Http, path: str
) -> None:
    reply = http.call(path, {})
    if path.startswith("/v4/"):  # Tencent's REST API: its failures are HTTP 200 (section 10)
        assert reply.status == 200, reply.body
        assert (reply.body["ActionStatus"], reply.body["ErrorCode"]) == ("FAIL", 70003)
    else:
        assert (reply.status, reply.code) == (401, 70003), reply.body
    assert reply.headers["content-type"] == "application/json"


def test_a_user_who_is_not_the_admin_gets_403_on_admin_routes(http: Http, uid: Any) -> None:
    for path in [p for p in ROUTES if p.startswith("/v1/admin/")]:
        reply = http.call(path, {}, user=uid("mallory"))
        assert (reply.status, reply.code) == (403, 60010), (path, reply.body)


# --- API Gateway's own answers ------------------------------------------------------------------


def test_an_unknown_route_or_method_gets_api_gateways_404(http: Http) -> None:
    for method, path in [
        ("POST", "/v1/noSuchRoute"),
        ("POST", "/"),
        ("GET", "/v1/setSelfStatus"),
        ("POST", "/v1/setSelfStatus/extra"),
    ]:
        reply = http.call(path, {}, user="alice", method=method)
        assert (reply.status, reply.body) == (404, {"message": "Not Found"}), (method, path)


def test_a_cors_preflight_is_answered_from_the_templates_configuration(http: Http) -> None:
    response = http.client.options(
        "/v1/setSelfStatus",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"]
    assert response.headers["access-control-max-age"] == "600"
    # and the real request carries the allowed origin too
    reply = http.call(
        "/v1/setSelfStatus",
        {"customStatus": ""},
        user="alice",
        headers={"Origin": "https://app.example.com"},
    )
    assert reply.headers["access-control-allow-origin"] == "*"


# --- each route: a success and an error (sections 2, 4, 5) -------------------------------------


def test_set_self_status(http: Http, uid: Callable[[str], str]) -> None:
    alice = uid("alice")
    reply = http.set_self_status(alice, "in a meeting")
    assert reply.data["version"] > 0
    assert reply.data == {
        "userID": alice,
        "statusType": UNLOGINED,
        "customStatus": "in a meeting",
        "lastActiveTime": 0,
        "version": reply.data["version"],
        "customStatusExpiresAt": 0,
    }
    assert http.status_of(alice) == (UNLOGINED, "in a meeting")
    bad = http.set_self_status(alice, 42)
    assert (bad.status, bad.code) == (400, 6017)
    assert "customStatus" in bad.body["message"]


def test_get_user_status(http: Http, uid: Callable[[str], str]) -> None:
    alice, bob = uid("alice"), uid("bob")
    data = http.get_user_status(alice, [bob, "", bob]).data
    assert data["successUserList"] == [
        {
            "userID": bob,
            "statusType": UNLOGINED,
            "customStatus": "",
            "lastActiveTime": 0,
            "version": 0,
            "customStatusExpiresAt": 0,
        }
    ]
    assert [(f["userID"], f["code"]) for f in data["failureUserList"]] == [("", 7003)]
    bad = http.get_user_status(alice, [])
    assert (bad.status, bad.code) == (400, 6017)


def test_subscribe_and_get_subscriptions(http: Http, uid: Callable[[str], str]) -> None:
    alice, bob, carol = uid("alice"), uid("bob"), uid("carol")
    data = http.subscribe(alice, [bob, carol, alice]).data
    assert [(f["userID"], f["code"]) for f in data["failureUserList"]] == [(alice, 6017)]
    listed = http.call("/v1/getSubscriptions", {}, user=alice).data
    assert listed == {"userIDList": [bob, carol]}
    bad = http.call("/v1/subscribeUserStatus", content="{not json", user=alice)
    assert (bad.status, bad.code) == (400, 6027)
    bad = http.call("/v1/getSubscriptions", content="[]", user=alice)
    assert (bad.status, bad.code) == (400, 6027)


def test_unsubscribe(http: Http, uid: Callable[[str], str]) -> None:
    alice, bob, carol = uid("alice"), uid("bob"), uid("carol")
    http.subscribe(alice, [bob, carol]).ok()
    http.call("/v1/unsubscribeUserStatus", {"userIDList": [bob]}, user=alice).ok()
    assert http.call("/v1/getSubscriptions", {}, user=alice).data == {"userIDList": [carol]}
    http.call("/v1/unsubscribeUserStatus", user=alice).ok()  # no body: all of them
    assert http.call("/v1/getSubscriptions", {}, user=alice).data == {"userIDList": []}
    bad = http.call("/v1/unsubscribeUserStatus", {"userIDList": "bob"}, user=alice)
    assert (bad.status, bad.code) == (400, 6017)


def test_admin_settings(
    http: Http, settings_patch: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    settings = http.settings()
    assert settings["adminUserID"] == ADMIN
    updated = settings_patch({"maxCustomStatusBytes": 64})
    assert updated["maxCustomStatusBytes"] == 64
    assert http.settings()["maxCustomStatusBytes"] == 64
    bad = http.call("/v1/admin/updateSettings", {"maxQueryUserIDs": 0}, user=ADMIN)
    assert (bad.status, bad.code) == (400, 6017)
    assert http.settings()["maxQueryUserIDs"] == settings["maxQueryUserIDs"]


# --- gates and rate limit (section 2, "Rate limit") ---------------------------------------------


def test_edition_and_switch_gates(
    http: Http, uid: Callable[[str], str], settings_patch: Callable[[dict[str, Any]], Any]
) -> None:
    alice, bob = uid("alice"), uid("bob")
    settings_patch({"edition": "standard"})
    for reply in (http.get_user_status(alice, [bob]), http.subscribe(alice, [bob])):
        assert (reply.status, reply.code) == (403, 7013), reply.body
    # never gated: your own status, and setting it
    assert http.get_user_status(alice, [alice]).status == 200
    assert http.set_self_status(alice, "here").status == 200

    settings_patch({"edition": "ultimate", "statusQueryAndNotify": False})
    for reply in (http.get_user_status(alice, [bob]), http.subscribe(alice, [bob])):
        assert (reply.status, reply.code) == (403, 72001), reply.body
    settings_patch({"statusQueryAndNotify": True})
    assert http.get_user_status(alice, [bob]).status == 200


def test_rate_limit(
    http: Http, uid: Callable[[str], str], settings_patch: Callable[[dict[str, Any]], Any]
) -> None:
    alice, bob = uid("alice"), uid("bob")
    window = 60
    settings_patch({"rateLimit": {"requests": 3, "windowSeconds": window}})
    if time.time() % window > window - 5:  # keep the calls inside one fixed window
        time.sleep(window - time.time() % window + 0.1)
    codes = [http.get_user_status(alice, [bob]).status for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = http.get_user_status(alice, [bob])
    assert (limited.status, limited.code) == (429, 7008)
    # counted per API: subscribing still works, and your own status is never limited
    assert http.subscribe(alice, [bob]).status == 200
    assert http.get_user_status(alice, [alice]).status == 200
