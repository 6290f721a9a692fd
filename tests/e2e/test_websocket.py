"""The WebSocket API and pushes through the local runtime (API.md sections 3 and 6): real sockets,
the real stream fan-out and the real timers queue."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.e2e.conftest import (
    GRACE_SECONDS,
    OFFLINE,
    ONLINE,
    UNLOGINED,
    Http,
    Runtime,
    Sockets,
    expired_sig,
    statuses,
    user_sig,
)

Uid = Callable[[str], str]
Patch = Callable[[dict[str, Any]], dict[str, Any]]


# --- handshake ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({}, 401, 70003),
        ({"userSig": "not-a-usersig"}, 401, 70003),
        ({"userSig": expired_sig("alice")}, 401, 70001),
        ({"userSig": user_sig("alice", key="some-other-key")}, 401, 70009),
        ({"userSig": user_sig("alice"), "userID": "bob"}, 401, 70013),
        ({"userSig": user_sig("alice", sdkappid=1400000001)}, 401, 70014),
        ({"userSig": user_sig("alice"), "platform": "gameboy"}, 400, 6017),
    ],
    ids=["missing", "garbage", "expired", "wrong-key", "other-user", "sdkappid", "platform"],
)
def test_a_refused_handshake_opens_no_socket(
    sockets: Sockets, http: Http, query: dict[str, str], status: int, code: int
) -> None:
    got_status, body = sockets.refused(query)
    assert (got_status, body.get("code")) == (status, code), body
    assert body["message"]


def test_a_refused_handshake_leaves_the_user_logged_out(
    sockets: Sockets, http: Http, uid: Uid
) -> None:
    alice = uid("alice")
    status, body = sockets.refused({"userSig": expired_sig(alice)})
    assert (status, body["code"]) == (401, 70001)
    assert http.status_of(alice) == (UNLOGINED, "")


# --- client frames ------------------------------------------------------------------------------


def test_ping_gets_pong(sockets: Sockets, uid: Uid) -> None:
    ws = sockets.open(uid("alice"))
    ws.send('{"action": "ping"}')
    assert ws.wait_for(lambda f: f.get("event") == "pong")


def test_an_unknown_frame_gets_an_error_frame_and_the_socket_stays_open(
    sockets: Sockets, uid: Uid
) -> None:
    ws = sockets.open(uid("alice"))
    for text in ("hello", '{"action": "dance"}', "[1, 2]", '{"action": 7}'):
        ws.send(text)
        frame = ws.wait_for(lambda f: f.get("event") == "error")
        assert frame["code"] == 6017 and frame["message"], frame
    ws.send('{"action": "ping"}')
    assert ws.wait_for(lambda f: f.get("event") == "pong")


def test_logout_answers_logged_out_then_closes(sockets: Sockets, http: Http, uid: Uid) -> None:
    alice = uid("alice")
    ws = sockets.open(alice, "ios")
    ws.wait_status(alice, ONLINE)
    ws.send('{"action": "logout"}')
    assert ws.wait_for(lambda f: f.get("event") == "loggedOut")
    assert ws.closed_by_server()
    # logout takes effect at once: no grace, no OFFLINE even for a native app
    assert http.status_of(alice) == (UNLOGINED, "")


# --- pushes -------------------------------------------------------------------------------------


def test_set_self_status_is_pushed_to_all_of_the_users_devices(
    sockets: Sockets, http: Http, uid: Uid
) -> None:
    alice = uid("alice")
    phone, browser = sockets.open(alice, "ios"), sockets.open(alice, "web")
    phone.wait_status(alice, ONLINE)
    http.set_self_status(alice, "listening to music").ok()
    for ws in (phone, browser):
        pushed = ws.wait_status(alice, custom_status="listening to music")
        assert pushed == {
            "userID": alice,
            "statusType": ONLINE,
            "customStatus": "listening to music",
            "lastActiveTime": 0,  # ONLINE
            "version": pushed["version"],
            "customStatusExpiresAt": 0,
        }
        assert pushed["version"] >= 3  # two connects and the custom status


def test_a_change_is_pushed_to_a_subscriber(sockets: Sockets, http: Http, uid: Uid) -> None:
    alice, bob = uid("alice"), uid("bob")
    watcher = sockets.open(bob)
    http.subscribe(bob, [alice]).ok()
    sockets.open(alice)
    online = watcher.wait_status(alice, ONLINE)
    assert online == {
        "userID": alice,
        "statusType": ONLINE,
        "customStatus": "",
        "lastActiveTime": 0,
        "version": online["version"],
        "customStatusExpiresAt": 0,
    }
    http.set_self_status(alice, "busy").ok()
    assert watcher.wait_status(alice, ONLINE, "busy")["version"] > online["version"]


def test_a_web_disconnect_is_unlogined_after_the_grace(
    sockets: Sockets, http: Http, uid: Uid
) -> None:
    alice, bob = uid("alice"), uid("bob")
    watcher = sockets.open(bob)
    http.subscribe(bob, [alice]).ok()
    browser = sockets.open(alice, "web")
    watcher.wait_status(alice, ONLINE)
    closed_at = time.monotonic()
    browser.close()
    watcher.wait_status(alice, UNLOGINED, timeout=GRACE_SECONDS + 8)
    assert time.monotonic() - closed_at >= GRACE_SECONDS * 0.9
    assert http.status_of(alice) == (UNLOGINED, "")


def test_a_native_disconnect_is_offline_after_the_grace(
    sockets: Sockets, http: Http, uid: Uid
) -> None:
    alice, bob = uid("alice"), uid("bob")
    watcher = sockets.open(bob)
    http.subscribe(bob, [alice]).ok()
    phone = sockets.open(alice, "android")
    watcher.wait_status(alice, ONLINE)
    phone.close()
    watcher.wait_status(alice, OFFLINE, timeout=GRACE_SECONDS + 8)
    assert http.status_of(alice) == (OFFLINE, "")


def test_a_reconnect_within_the_grace_pushes_nothing(
    sockets: Sockets, http: Http, uid: Uid
) -> None:
    alice, bob = uid("alice"), uid("bob")
    watcher = sockets.open(bob)
    http.subscribe(bob, [alice]).ok()
    first = sockets.open(alice)
    watcher.wait_status(alice, ONLINE)
    first.close()
    again = sockets.open(alice)  # well within the grace
    # past the grace (its timer fires and finds the user still ONLINE): still no push
    assert watcher.pushes_about(alice, during=GRACE_SECONDS + 2.5) == []
    assert http.status_of(alice) == (ONLINE, "")
    again.send('{"action": "ping"}')
    assert again.wait_for(lambda f: f.get("event") == "pong")


def test_custom_status_is_cleared_after_the_user_goes_away(
    sockets: Sockets, http: Http, uid: Uid, settings_patch: Patch
) -> None:
    settings_patch({"customStatusClearSeconds": 2})
    alice, bob = uid("alice"), uid("bob")
    watcher = sockets.open(bob)
    http.subscribe(bob, [alice]).ok()
    browser = sockets.open(alice)
    http.set_self_status(alice, "in a call").ok()
    watcher.wait_status(alice, ONLINE, "in a call")
    browser.close()
    watcher.wait_status(alice, UNLOGINED, "in a call", timeout=GRACE_SECONDS + 8)
    gone_at = time.monotonic()
    watcher.wait_status(alice, UNLOGINED, "", timeout=2 + 8)
    assert time.monotonic() - gone_at >= 2 * 0.8
    assert http.status_of(alice) == (UNLOGINED, "")


def test_coming_back_before_the_clear_keeps_the_custom_status(
    sockets: Sockets, http: Http, uid: Uid, settings_patch: Patch
) -> None:
    settings_patch({"customStatusClearSeconds": 2})
    alice, bob = uid("alice"), uid("bob")
    watcher = sockets.open(bob)
    http.subscribe(bob, [alice]).ok()
    browser = sockets.open(alice)
    http.set_self_status(alice, "in a call").ok()
    watcher.wait_status(alice, ONLINE, "in a call")
    browser.close()
    watcher.wait_status(alice, UNLOGINED, "in a call", timeout=GRACE_SECONDS + 8)
    sockets.open(alice)  # back before the 2 s clear
    watcher.wait_status(alice, ONLINE, "in a call")
    pushed = watcher.pushes_about(alice, during=2 + 1.5)
    assert [s for s in pushed if s["customStatus"] == ""] == []
    assert http.status_of(alice) == (ONLINE, "in a call")


def test_fifty_subscribers_all_receive_one_change(sockets: Sockets, http: Http, uid: Uid) -> None:
    target = uid("star")
    fans = [uid(f"fan{i}") for i in range(50)]
    watchers = []
    for fan in fans:
        http.subscribe(fan, [target]).ok()
        watchers.append(sockets.open(fan))
    version = http.set_self_status(target, "live now").data["version"]
    for watcher in watchers:
        assert watcher.wait_status(target, custom_status="live now", timeout=15) == {
            "userID": target,
            "statusType": UNLOGINED,
            "customStatus": "live now",
            "lastActiveTime": 0,
            "version": version,
            "customStatusExpiresAt": 0,
        }
    # each of them exactly once
    for watcher in watchers:
        pushes = [
            s
            for frame in watcher.frames
            for s in statuses(frame)
            if s["userID"] == target and s["customStatus"] == "live now"
        ]
        assert len(pushes) == 1


def test_an_admin_kick_tells_each_device_and_closes_it(
    sockets: Sockets, http: Http, uid: Uid
) -> None:
    alice = uid("alice")
    devices = [sockets.open(alice, "web"), sockets.open(alice, "mac")]
    devices[0].wait_status(alice, ONLINE)
    http.call("/v1/admin/kickUser", {"userID": alice}, user="administrator").ok()
    for ws in devices:
        assert ws.wait_for(lambda f: f.get("event") == "kickedOut")
        assert ws.closed_by_server()
    assert http.status_of(alice) == (UNLOGINED, "")


# --- the @connections API the functions post through -------------------------------------------


def test_posting_to_an_unknown_connection_is_gone_exception(runtime: Runtime) -> None:
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=runtime.ws_url.replace("ws://", "http://"),
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="NoSuchConnId0=", Data=b"{}")
    with pytest.raises(client.exceptions.GoneException):
        client.get_connection(ConnectionId="NoSuchConnId0=")
    with pytest.raises(client.exceptions.GoneException):
        client.delete_connection(ConnectionId="NoSuchConnId0=")


def test_friends_are_told_when_friend_status_notify_is_on(
    sockets: Sockets, http: Http, uid: Uid, settings_patch: Patch
) -> None:
    alice, carol = uid("alice"), uid("carol")
    pairs = {"pairs": [{"userID": alice, "friendID": carol}]}
    assert http.call("/v1/admin/importFriends", pairs, user="administrator").ok() == {
        "failureList": []
    }
    settings_patch({"friendStatusNotify": True})
    friend = sockets.open(carol)  # no subscription: friendship alone
    http.set_self_status(alice, "friends only").ok()
    friend.wait_status(alice, custom_status="friends only")


def test_the_admin_sees_each_live_device(sockets: Sockets, http: Http, uid: Uid) -> None:
    alice = uid("alice")
    phone = sockets.open(alice, "android")
    sockets.open(alice, "web")
    phone.wait_status(alice, ONLINE)
    body = {"userIDList": [alice], "includeDevices": True}
    data = http.call("/v1/admin/queryOnlineStatus", body, user="administrator").ok()
    (entry,) = data["successUserList"]
    assert entry["statusType"] == ONLINE
    assert sorted(d["platform"] for d in entry["devices"]) == ["android", "web"]


def test_last_seen_is_when_the_grace_ended_and_can_be_hidden_from_others(
    sockets: Sockets, http: Http, uid: Uid, settings_patch: Patch
) -> None:
    alice, bob = uid("alice"), uid("bob")
    watcher = sockets.open(bob)
    http.subscribe(bob, [alice]).ok()
    browser = sockets.open(alice, "web")
    assert watcher.wait_status(alice, ONLINE)["lastActiveTime"] == 0  # ONLINE: 0
    closed_ms = time.time() * 1000
    browser.close()
    gone = watcher.wait_status(alice, UNLOGINED, timeout=GRACE_SECONDS + 8)
    # the push tells when the ONLINE period ended: the grace's end, a second after the close
    assert closed_ms <= gone["lastActiveTime"] <= closed_ms + GRACE_SECONDS * 1000 + 2000
    read = http.get_user_status(bob, [alice]).data["successUserList"][0]
    assert read["lastActiveTime"] == gone["lastActiveTime"]

    settings_patch({"lastActiveTimeVisible": False})
    assert http.get_user_status(bob, [alice]).data["successUserList"][0]["lastActiveTime"] == 0
    own = http.get_user_status(alice, [alice]).data["successUserList"][0]
    assert own["lastActiveTime"] == gone["lastActiveTime"]  # the user still sees their own
