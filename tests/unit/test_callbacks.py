"""Which State.StateChange callbacks a stored change makes (presence.callbacks.derive, a pure
function of a Status record's two images), how each attempt is signed, and the retry schedule
(API.md section 10)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from local import template as cfn
from presence import callbacks, lifecycle
from presence.lifecycle import PresenceState, Timing

T0 = 1_800_000_000_000
TIMING = Timing(grace_ms=5_000)
SDKAPPID = 1400000000


def derive(old: PresenceState, new: PresenceState, now: int = T0, cap: int = 10) -> list[Any]:
    return callbacks.derive(
        old, new, now=now, timing=TIMING, max_connections=cap, sdkappid=SDKAPPID
    )


def told(found: list[dict[str, Any]]) -> list[tuple[str, str, str, int, list[str]]]:
    """(Action, Reason, OptPlatform, EventTime, KickedDevice platforms) of each callback."""
    return [
        (
            m["body"]["Info"]["Action"],
            m["body"]["Info"]["Reason"],
            m["query"]["OptPlatform"],
            m["body"]["EventTime"],
            [d["Platform"] for d in m["body"]["KickedDevice"]],
        )
        for m in found
    ]


def connected(
    state: PresenceState, cid: str, platform: str, at: int, ip: str = ""
) -> PresenceState:
    after = lifecycle.connect(state, cid, platform, at, TIMING).state
    conn = after.connections[cid]._replace(client_ip=ip)
    return replace(after, connections={**after.connections, cid: conn})


def test_a_login_is_tencents_message_with_the_devices_ip_and_platform() -> None:
    old = PresenceState("alice")
    new = connected(old, "c1", "ios", T0, "198.51.100.7")
    (found,) = derive(old, new)
    assert found == {
        "query": {
            "SdkAppid": "1400000000",
            "CallbackCommand": "State.StateChange",
            "contenttype": "json",
            "ClientIP": "198.51.100.7",
            "OptPlatform": "IPhone",
        },
        "body": {
            "CallbackCommand": "State.StateChange",
            "EventTime": T0,
            "Info": {"Action": "Login", "To_Account": "alice", "Reason": "Register"},
            "KickedDevice": [],
        },
    }


def test_a_second_device_is_its_own_login_and_the_first_is_not_told_again() -> None:
    one = connected(PresenceState("alice"), "c1", "web", T0)
    two = connected(one, "c2", "miniprogram", T0 + 10)
    assert told(derive(one, two)) == [("Login", "Register", "MiniProgram", T0 + 10, [])]


def test_a_login_past_the_cap_lists_the_devices_it_closes() -> None:
    state = PresenceState("alice")
    for i, platform in enumerate(["android", "web", "mac"]):
        state = connected(state, f"c{i}", platform, T0 + i)
    new = connected(state, "c3", "windows", T0 + 10)
    assert told(derive(state, new, cap=2)) == [
        ("Login", "Register", "Windows", T0 + 10, ["Android", "Web"])
    ]


def test_a_drop_is_a_disconnect_linkclose_and_a_liveness_timeout_a_timeout() -> None:
    two = connected(connected(PresenceState("alice"), "c1", "web", T0), "c2", "android", T0)
    dropped = lifecycle.drop(two, "c1", T0 + 500, TIMING).state
    assert told(derive(two, dropped)) == [("Disconnect", "LinkClose", "Web", T0 + 500, [])]
    conn = two.connections["c2"]._replace(dropped_at=T0 + 900, timed_out=True)
    silent = replace(two, connections={**two.connections, "c2": conn})
    assert told(derive(two, silent)) == [("Disconnect", "TimeOut", "Android", T0 + 900, [])]


def test_the_end_of_a_grace_tells_nothing_more() -> None:
    one = connected(PresenceState("alice"), "c1", "web", T0)
    dropped = lifecycle.drop(one, "c1", T0 + 100, TIMING).state
    ended = lifecycle.tick(dropped, T0 + 100 + TIMING.grace_ms, TIMING).state
    assert "c1" not in ended.connections
    assert derive(dropped, ended, now=T0 + 6_000) == []


def test_a_logout_is_a_logout_unregister() -> None:
    one = connected(PresenceState("alice"), "c1", "harmony", T0, "10.0.0.1")
    out = lifecycle.logout(one, "c1", T0 + 2_000, TIMING).state
    (found,) = derive(one, out, now=T0 + 2_000)
    assert told([found]) == [("Logout", "Unregister", "Harmony", T0 + 2_000, [])]
    assert found["query"]["ClientIP"] == "10.0.0.1"


def test_a_kick_logs_out_each_live_device_once() -> None:
    state = connected(connected(PresenceState("alice"), "c1", "web", T0), "c2", "ipad", T0 + 1)
    state = connected(state, "c3", "linux", T0 + 2)
    state = lifecycle.drop(state, "c3", T0 + 3, TIMING).state  # told already, in its grace
    kicked = lifecycle.kick(state, T0 + 50, TIMING).state
    assert told(derive(state, kicked, now=T0 + 50)) == [
        ("Logout", "Unregister", "Web", T0 + 50, []),
        ("Logout", "Unregister", "IPad", T0 + 50, []),
    ]


def test_an_evicted_device_is_told_only_as_the_logins_kicked_device() -> None:
    state = connected(connected(PresenceState("alice"), "c1", "web", T0), "c2", "web", T0 + 1)
    marked = replace(
        state,
        connections={**state.connections, "c1": state.connections["c1"]._replace(evicted=True)},
    )
    assert derive(state, marked) == []  # the mark itself
    assert derive(marked, lifecycle.logout(marked, "c1", T0 + 5, TIMING).state) == []
    assert derive(marked, lifecycle.drop(marked, "c1", T0 + 5, TIMING).state) == []


def test_a_connection_past_api_gateways_two_hours_that_leaves_is_a_disconnect() -> None:
    one = connected(PresenceState("alice"), "c1", "web", T0)
    later = T0 + lifecycle.MAX_CONNECTION_AGE_MS + 1_000
    gone = lifecycle.tick(one, later, TIMING).state
    end = T0 + lifecycle.MAX_CONNECTION_AGE_MS
    assert told(derive(one, gone, now=later)) == [("Disconnect", "LinkClose", "Web", end, [])]


def test_status_changes_that_are_no_device_event_tell_nothing() -> None:
    one = connected(PresenceState("alice"), "c1", "web", T0)
    assert derive(one, replace(one, custom_status="busy", version=one.version + 1)) == []
    assert derive(PresenceState("bob"), PresenceState("bob")) == []


def test_each_attempt_is_signed_with_sha256_of_token_and_request_time() -> None:
    query = {"SdkAppid": "1400000000", "CallbackCommand": "State.StateChange"}
    assert callbacks.signed_query(query, "", 1669872112) == query
    signed = callbacks.signed_query(query, "xxxxyyyy", 1669872112)
    # the example of Tencent's callback docs: Sign = sha256("xxxxyyyy" + "1669872112")
    assert signed == {
        **query,
        "RequestTime": "1669872112",
        "Sign": hashlib.sha256(b"xxxxyyyy1669872112").hexdigest(),
    }
    assert signed["Sign"] == "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"


def test_retries_start_within_30_seconds_and_go_on_for_more_than_an_hour() -> None:
    template = cfn.load_template()
    queue = template["Resources"]["StateChangeCallbackQueue"]["Properties"]
    receives = int(queue["RedrivePolicy"]["maxReceiveCount"])
    waits = [callbacks.backoff_seconds(n) for n in range(1, receives)]
    assert waits[0] <= 30
    assert waits == sorted(waits) and max(waits) <= 900  # SQS's longest visibility, 12 h
    assert sum(waits) >= 3600
    assert int(queue["MessageRetentionPeriod"]) > sum(waits) + receives * 60
