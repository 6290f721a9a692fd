"""statusType following devices over the WebSocket API (API.md sections 3 and 6), through the
real ws_* and status_timers handlers, with the clock under test control."""

from __future__ import annotations

import json
import time

import pytest

from presence import store
from presence.auth import gen_user_sig
from tests.integration.conftest import SDKAPPID, SECRET_KEY, Api, World, user_sig

ONLINE, OFFLINE, UNLOGINED = 1, 2, 3


def status_of(api: Api, user: str) -> tuple[int, str]:
    """What the user sees of their own status (never gated)."""
    entry = api.get_user_status([user], user=user).data["successUserList"][0]
    return entry["statusType"], entry["customStatus"]


def stored_status(user: str) -> int:
    """The statusType written in the Status table (what the stream pushes)."""
    return int(store.get_presence(user).status_type)


# --- connect ------------------------------------------------------------------------------------


def test_connect_makes_the_user_online(api: Api, world: World) -> None:
    assert status_of(api, "alice") == (UNLOGINED, "")
    world.online("alice")
    assert status_of(api, "alice") == (ONLINE, "")
    assert stored_status("alice") == ONLINE


def expired_sig(user: str) -> str:
    return gen_user_sig(SDKAPPID, SECRET_KEY, user, expire=60, now=int(time.time()) - 3600)


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("", 70003),
        ("not-a-usersig", 70003),
        (user_sig("alice", key="another-key"), 70009),
        (user_sig("alice", sdkappid=1400000001), 70014),
        (expired_sig("alice"), 70001),
    ],
)
def test_a_bad_usersig_refuses_the_handshake(api: Api, world: World, token: str, code: int) -> None:
    connection_id, answer = world.connect("alice", token=token)
    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["code"] == code
    assert status_of(api, "alice") == (UNLOGINED, "")
    assert store.get_connection_user(connection_id) is None


def test_claimed_user_id_must_match_the_usersig(api: Api, world: World) -> None:
    _, answer = world.connect("alice", claimed_user="bob")
    assert (answer["statusCode"], json.loads(answer["body"])["code"]) == (401, 70013)
    _, answer = world.connect("alice", claimed_user="alice")
    assert answer["statusCode"] == 200


def test_unknown_platform_is_refused_with_6017(api: Api, world: World) -> None:
    _, answer = world.connect("alice", platform="playstation")
    assert answer["statusCode"] == 400
    body = json.loads(answer["body"])
    assert body["code"] == 6017 and "platform" in body["message"]
    assert status_of(api, "alice") == (UNLOGINED, "")


def test_platform_defaults_to_web(api: Api, world: World) -> None:
    connection_id, answer = world.connect("alice", platform=None)
    assert answer["statusCode"] == 200
    world.disconnect(connection_id)
    world.advance(6)
    assert status_of(api, "alice") == (UNLOGINED, "")  # web never leaves OFFLINE


# --- disconnect, grace, web versus native -------------------------------------------------------


@pytest.mark.parametrize("platform", ["web", "miniprogram"])
def test_web_disconnect_ends_unlogined_after_the_grace(
    api: Api, world: World, platform: str
) -> None:
    connection_id = world.online("alice", platform)
    world.disconnect(connection_id)
    assert status_of(api, "alice") == (ONLINE, "")  # within the 5 s grace
    world.advance(4)
    assert status_of(api, "alice") == (ONLINE, "")
    world.advance(2)
    assert status_of(api, "alice") == (UNLOGINED, "")
    assert stored_status("alice") == UNLOGINED


@pytest.mark.parametrize(
    "platform", ["ios", "android", "ipad", "windows", "mac", "linux", "harmony"]
)
def test_native_disconnect_leaves_offline_then_unlogined_after_retention(
    api: Api, world: World, platform: str
) -> None:
    api.update_settings({"offlineRetentionSeconds": 600})
    connection_id = world.online("alice", platform)
    world.disconnect(connection_id)
    world.advance(6)
    assert status_of(api, "alice") == (OFFLINE, "")
    assert stored_status("alice") == OFFLINE
    world.advance(590)  # 596 s after the drop: retention counts from the grace's end (5 s)
    assert status_of(api, "alice") == (OFFLINE, "")
    world.advance(10)
    assert status_of(api, "alice") == (UNLOGINED, "")
    assert stored_status("alice") == UNLOGINED


def test_offline_retention_longer_than_sqs_delay_still_expires(api: Api, world: World) -> None:
    connection_id = world.online("alice", "ios")  # default retention: 7 days
    world.disconnect(connection_id)
    world.advance(6 * 86400)
    assert status_of(api, "alice") == (OFFLINE, "")
    world.advance(86400 + 10)
    assert stored_status("alice") == UNLOGINED


def test_reconnect_within_the_grace_changes_nothing(api: Api, world: World) -> None:
    first = world.online("alice", "ios")
    before = store.get_presence("alice")
    world.disconnect(first)
    world.advance(2)
    world.online("alice", "ios")
    world.advance(10)
    assert status_of(api, "alice") == (ONLINE, "")
    after = store.get_presence("alice")
    assert (after.status_type, after.custom_status) == (before.status_type, before.custom_status)


def test_grace_zero_acts_at_once(api: Api, world: World) -> None:
    api.update_settings({"reconnectGraceSeconds": 0})
    connection_id = world.online("alice", "android")
    world.disconnect(connection_id)
    assert status_of(api, "alice") == (OFFLINE, "")


def test_duplicate_and_late_disconnects_change_nothing(api: Api, world: World) -> None:
    web = world.online("alice", "web")
    phone = world.online("alice", "ios")
    world.disconnect(web)
    world.disconnect(web)  # API Gateway may deliver $disconnect twice
    world.advance(10)
    assert status_of(api, "alice") == (ONLINE, "")
    world.disconnect("never-existed")
    assert status_of(api, "alice") == (ONLINE, "")
    world.disconnect(phone)
    world.advance(10)
    assert status_of(api, "alice") == (OFFLINE, "")


def test_status_is_per_user_not_per_device(api: Api, world: World) -> None:
    web = world.online("alice", "web")
    mac = world.online("alice", "mac")
    world.disconnect(web)
    world.advance(10)
    assert status_of(api, "alice") == (ONLINE, "")  # mac still connected
    world.disconnect(mac)
    world.advance(10)
    assert status_of(api, "alice") == (OFFLINE, "")


# --- logout -------------------------------------------------------------------------------------


def test_logout_is_immediate_unlogined_even_on_native(api: Api, world: World) -> None:
    connection_id = world.online("alice", "ios")
    answer = world.send(connection_id, json.dumps(ensure_ascii=False, obj={"action": "logout"}))
    assert answer["statusCode"] == 200
    assert world.control_frames(connection_id) == [{"event": "loggedOut"}]
    assert connection_id in world.closed
    assert status_of(api, "alice") == (UNLOGINED, "")
    # the $disconnect API Gateway sends after the close changes nothing
    world.disconnect(connection_id)
    world.advance(10)
    assert status_of(api, "alice") == (UNLOGINED, "")


def test_logout_of_one_device_keeps_the_other_online(api: Api, world: World) -> None:
    web = world.online("alice", "web")
    world.online("alice", "android")
    world.send(web, json.dumps(ensure_ascii=False, obj={"action": "logout"}))
    assert status_of(api, "alice") == (ONLINE, "")


# --- frames ---------------------------------------------------------------------------------------


def test_ping_answers_pong(world: World) -> None:
    connection_id = world.online("alice")
    answer = world.send(connection_id, json.dumps(ensure_ascii=False, obj={"action": "ping"}))
    pong = {"event": "pong", "heartbeatSeconds": 30}  # a third of the default 90 s timeout
    assert (answer["statusCode"], json.loads(answer["body"])) == (200, pong)


def test_beat_gets_no_answer(world: World) -> None:
    connection_id = world.online("alice")
    answer = world.send(connection_id, json.dumps({"action": "beat"}))
    assert answer == {"statusCode": 200}  # one-way: the client gets no frame back
    assert world.control_frames(connection_id) == []


@pytest.mark.parametrize(
    "body", ["not json", "[1, 2]", "{}", '{"action": "dance"}', '{"action": 5}', ""]
)
def test_unknown_frames_get_an_error_frame_and_the_socket_stays(
    api: Api, world: World, body: str
) -> None:
    connection_id = world.online("alice")
    answer = world.send(connection_id, body)
    assert answer["statusCode"] == 200
    frame = json.loads(answer["body"])
    assert frame["event"] == "error" and frame["code"] == 6017 and frame["message"]
    assert connection_id not in world.closed
    assert status_of(api, "alice") == (ONLINE, "")


HUGE = 100_000  # characters: far beyond what any error frame may quote


def as_text(value: object) -> str:
    """A JSON text frame as a client sends it (UTF-8, characters not escaped)."""
    return json.dumps(value, ensure_ascii=False)


# Each frame repeats a letter that appears nowhere in the service's own wording.
@pytest.mark.parametrize(
    ("body", "sent"),
    [
        pytest.param(as_text({"action": "\u00e9" * HUGE}), "\u00e9", id="100KB-action"),
        pytest.param("\u00df" * HUGE, "\u00df", id="100KB-non-JSON"),
        pytest.param("\U0001f600" * HUGE, "\U0001f600", id="100K-emoji-non-JSON"),
        pytest.param(as_text({"action": ["\u00f8" * HUGE]}), "\u00f8", id="100KB-list-action"),
        pytest.param(as_text({"data": "\u00fe" * HUGE}), "\u00fe", id="100KB-no-action"),
        pytest.param(as_text(["\u00fc" * HUGE]), "\u00fc", id="100KB-JSON-array"),
    ],
)
def test_an_error_frame_quotes_at_most_64_characters_of_a_huge_frame(
    api: Api, world: World, body: str, sent: str
) -> None:
    connection_id = world.online("alice")
    answer = world.send(connection_id, body)
    assert answer["statusCode"] == 200
    # 64 characters of any kind, even escaped as JSON surrogate pairs, and the wording: < 1 KB
    assert len(answer["body"]) < 1024, len(answer["body"])
    frame = json.loads(answer["body"])
    assert frame["event"] == "error" and frame["code"] == 6017
    message = frame["message"]
    # some of what was sent is quoted (a letter that appears nowhere else), at most 64 characters
    assert 50 <= message.count(sent) <= 64, message
    assert "\u2026" in message  # says it was cut
    assert connection_id not in world.closed
    assert status_of(api, "alice") == (ONLINE, "")


@pytest.mark.parametrize(
    ("body", "quoted"),
    [('{"action": "dance"}', "'dance'"), ("hello", "'hello'"), ('{"action": 5}', "'5'")],
)
def test_an_error_frame_quotes_a_short_frame_whole(world: World, body: str, quoted: str) -> None:
    connection_id = world.online("alice")
    message = json.loads(world.send(connection_id, body)["body"])["message"]
    assert quoted in message and "\u2026" not in message, message


# --- custom status clearing ---------------------------------------------------------------------


def test_custom_status_is_cleared_30s_after_the_user_stops_being_online(
    api: Api, world: World
) -> None:
    connection_id = world.online("alice", "web")
    api.set_self_status("in a call")
    world.disconnect(connection_id)
    world.advance(5 + 29)
    assert status_of(api, "alice") == (UNLOGINED, "in a call")
    world.advance(2)
    assert status_of(api, "alice") == (UNLOGINED, "")
    assert store.get_presence("alice").custom_status == ""  # written, so it is pushed


def test_custom_status_set_while_not_online_is_cleared_after_30s(api: Api, world: World) -> None:
    api.set_self_status("away")
    world.advance(29)
    assert status_of(api, "alice") == (UNLOGINED, "away")
    world.advance(2)
    assert status_of(api, "alice") == (UNLOGINED, "")
    assert store.get_presence("alice").custom_status == ""


def test_reconnecting_before_the_clear_keeps_the_custom_status(api: Api, world: World) -> None:
    connection_id = world.online("alice", "web")
    api.set_self_status("in a call")
    world.disconnect(connection_id)
    world.advance(20)
    world.online("alice", "web")
    world.advance(60)
    assert status_of(api, "alice") == (ONLINE, "in a call")


def test_setting_a_new_custom_status_restarts_the_clock(api: Api, world: World) -> None:
    api.set_self_status("first")
    world.advance(20)
    api.set_self_status("second")
    world.advance(20)  # the first timer fires now and must not clear "second"
    assert status_of(api, "alice") == (UNLOGINED, "second")
    world.advance(11)
    assert status_of(api, "alice") == (UNLOGINED, "")


def test_custom_status_set_while_online_stays(api: Api, world: World) -> None:
    world.online("alice")
    api.set_self_status("here")
    world.advance(3600)
    assert status_of(api, "alice") == (ONLINE, "here")


# --- subscriptions retention --------------------------------------------------------------------


def test_subscriptions_are_dropped_after_retention_unless_the_user_returns(
    api: Api, world: World
) -> None:
    api.update_settings({"subscriptionRetentionSeconds": 120})
    connection_id = world.online("alice")
    api.subscribe(["bob", "carol"])
    world.disconnect(connection_id)
    world.advance(5 + 100)
    assert api.subscriptions() == ["bob", "carol"]
    world.advance(30)
    assert api.subscriptions() == []


def test_subscriptions_survive_when_the_subscriber_comes_back(api: Api, world: World) -> None:
    api.update_settings({"subscriptionRetentionSeconds": 120})
    connection_id = world.online("alice")
    api.subscribe(["bob"])
    world.disconnect(connection_id)
    world.advance(60)
    world.online("alice")
    world.advance(600)
    assert api.subscriptions() == ["bob"]
