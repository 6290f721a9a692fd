"""Every queued, scheduled, posted or published message (presence.messages): each decodes to
what was encoded, and each encoding is byte for byte the one clients, queued messages and
existing EventBridge schedules already hold. No AWS."""

from __future__ import annotations

import json

import pytest

from presence import messages
from presence.lifecycle import Timer, TimerKind
from presence.messages import (
    DeliveryJob,
    ErrorReply,
    KickedOut,
    LoggedOut,
    PageJob,
    PostJob,
    Recipient,
    StatusChange,
    StatusUpdate,
)
from presence.models import StatusType, UserStatus

ONLINE, OFFLINE, UNLOGINED = StatusType.ONLINE, StatusType.OFFLINE, StatusType.UNLOGINED


# --- timers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "timer",
    [
        Timer(1_795_667_119_000, TimerKind.TICK, "alice"),
        Timer(1_795_667_119_000, TimerKind.CHECK_LIVENESS, "bob", "conn-1=="),
        Timer(5, TimerKind.CLEAR_CUSTOM_STATUS, "名前"),
        *(Timer(1, kind, "u", "c") for kind in TimerKind),
    ],
)
def test_a_timer_round_trips(timer: Timer) -> None:
    assert messages.decode_timer(messages.encode_timer(timer)) == timer


def test_a_timer_body_is_the_one_queued_and_scheduled_so_far() -> None:
    # (a one-time schedule's name is a hash of this body: the same timer, the same schedule)
    assert messages.encode_timer(Timer(1_795_667_119_000, TimerKind.TICK, "alice")) == (
        '{"kind": "tick", "userID": "alice", "dueAt": 1795667119000}'
    )
    assert messages.encode_timer(Timer(7, TimerKind.VERIFY_CONNECTION, "a", "c1")) == (
        '{"kind": "verifyConnection", "userID": "a", "dueAt": 7, "subject": "c1"}'
    )


def test_the_sample_timer_event_decodes() -> None:
    from local.template import ROOT

    event = json.loads((ROOT / "events" / "status_timers.json").read_text())
    body = event["Records"][0]["body"]
    assert messages.decode_timer(body) == Timer(1_795_667_119_000, TimerKind.TICK, "alice")


@pytest.mark.parametrize(
    "body", ["", "{}", '{"kind": "nap", "userID": "a", "dueAt": 1}', '{"kind": "tick"}']
)
def test_anything_else_is_not_a_timer(body: str) -> None:
    with pytest.raises((ValueError, KeyError)):
        messages.decode_timer(body)


# --- delivery jobs --------------------------------------------------------------------------------

FRAME = '{"event":"onUserStatusUpdated","data":[{"userID":"alice"}]}'


def test_a_post_job_round_trips_with_its_recipients_in_order() -> None:
    to = (Recipient("c2", "bob", 20), Recipient("c1", "alice", 10), Recipient("ü", "名", 0))
    job = PostJob("alice", 1_700_000_000_000_001, FRAME, FRAME.replace("alice", "Alice"), to)
    assert messages.decode_job(job.encode()) == job


def test_a_post_job_body_is_compact_utf8_json() -> None:
    job = PostJob("ü", 3, "own", "others", (Recipient("c", "ü", 1),))
    assert job.encode() == (
        '{"kind":"post","userID":"ü","version":3,"frames":{"own":"own","others":"others"},'
        '"to":[["c","ü",1]]}'
    )


@pytest.mark.parametrize(
    "cursor",
    [None, {"targetID": {"S": "alice"}, "subscriberID": {"S": "w0100"}}, {"friendID": {"S": "x"}}],
)
def test_a_page_job_round_trips_with_its_cursor(cursor: object) -> None:
    job = PageJob("alice", 42, "subscribers", cursor, 3)
    assert messages.decode_job(job.encode()) == job
    assert json.loads(job.encode())["kind"] == "page"


def test_a_job_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown delivery job kind"):
        messages.decode_job('{"kind":"shout","userID":"a","version":1}')


def test_a_queued_job_carries_its_group_and_deduplication_id() -> None:
    job = DeliveryJob("{}", group="p3", dedup="d" * 64)
    assert (job.body, job.group, job.dedup) == ("{}", "p3", "d" * 64)


# --- frames -----------------------------------------------------------------------------------


def test_a_status_frame_is_the_documented_push() -> None:
    status = UserStatus("alice", ONLINE, "at lunch ☕", 0, 12)
    frame = messages.status_frame([messages.encode_status(status)])
    assert json.loads(frame) == {
        "event": "onUserStatusUpdated",
        "data": [
            {
                "userID": "alice",
                "statusType": 1,
                "customStatus": "at lunch ☕",
                "lastActiveTime": 0,
                "version": 12,
                "customStatusExpiresAt": 0,
            }
        ],
    }
    assert "☕".encode() in frame  # UTF-8, not \\u escapes: more statuses fit in 32 KB
    assert messages.decode_frame(frame) == StatusUpdate((status,))


def test_a_frame_of_several_statuses_keeps_their_order() -> None:
    statuses = [UserStatus(f"u{i}", OFFLINE, "", 1_000 + i, i) for i in range(3)]
    frame = messages.status_frame([messages.encode_status(s) for s in statuses])
    assert messages.decode_frame(frame) == StatusUpdate(tuple(statuses))


def test_control_frames_are_the_ones_clients_know() -> None:
    assert messages.kicked_out("REST_API_Kick") == (
        b'{"event": "kickedOut", "reason": "REST_API_Kick"}'
    )
    assert messages.decode_frame(messages.kicked_out("multipleAccount")) == KickedOut(
        "multipleAccount"
    )
    assert json.loads(messages.LOGGED_OUT) == {"event": "loggedOut"}
    assert messages.decode_frame(messages.LOGGED_OUT) == LoggedOut()


def test_the_error_reply_names_6017_and_the_reason() -> None:
    reply = messages.error_reply("unknown action 'x'")
    assert reply == {"event": "error", "code": 6017, "message": "unknown action 'x'"}
    assert messages.decode_frame(json.dumps(reply)) == ErrorReply(6017, "unknown action 'x'")


def test_an_unknown_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown frame event"):
        messages.decode_frame('{"event": "pong"}')


# --- status-change events -------------------------------------------------------------------------

EVENT = StatusChange(
    user_id="alice",
    status_type=OFFLINE,
    custom_status="away",
    last_active_time=1_700_000_000_000,
    version=9,
    previous_status_type=ONLINE,
    reason="disconnect",
    platform="ios",
    time=1_700_000_005_000,
)


def test_an_event_detail_has_the_documented_fields() -> None:
    assert EVENT.detail() == {
        "userID": "alice",
        "statusType": 2,
        "customStatus": "away",
        "lastActiveTime": 1_700_000_000_000,
        "version": 9,
        "previousStatusType": 1,
        "reason": "disconnect",
        "platform": "ios",
        "time": 1_700_000_005_000,
        "invisible": False,
        "customStatusExpiresAt": 0,
    }
    assert json.loads(EVENT.encode()) == EVENT.detail()


def test_an_event_round_trips_from_its_detail_string_and_object() -> None:
    assert StatusChange.decode(EVENT.encode()) == EVENT
    assert StatusChange.decode(EVENT.detail()) == EVENT  # as a rule delivers it to a queue
    assert messages.EVENT_SOURCE == "presence"
    assert messages.EVENT_DETAIL_TYPE == "UserStatusChanged"
