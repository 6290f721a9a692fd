"""The status-change event a stored change makes, and its reason (presence.events.describe,
API.md section 8), read off the two images alone; and which of a batch's events are published
when Lambda will retry part of it. Pure; the integration tests read the events off the bus."""

from __future__ import annotations

from typing import Any

import pytest

from presence import events, settings, store
from presence.events import Change, describe
from presence.lifecycle import Connection, PresenceState, Timing, connect, drop, kick, logout, tick
from presence.messages import StatusChange
from presence.models import StatusType

ONLINE, OFFLINE, UNLOGINED = StatusType.ONLINE, StatusType.OFFLINE, StatusType.UNLOGINED
TIMING = Timing(grace_ms=5_000, offline_retention_ms=60_000)
AT = 99_000


def online(platform: str = "web") -> PresenceState:
    return connect(PresenceState("alice"), "c1", platform, 1_000, TIMING).state


def reason(old: PresenceState, new: PresenceState) -> tuple[str, str] | None:
    event = describe(old, new, AT)
    return None if event is None else (event.reason, event.platform)


def test_a_login_names_its_platform() -> None:
    assert reason(PresenceState("alice"), online("ios")) == ("login", "ios")


def test_a_second_device_or_a_drop_in_its_grace_is_no_event() -> None:
    first = online()
    second = connect(first, "c2", "ios", 2_000, TIMING).state
    assert describe(first, second, AT) is None
    assert describe(second, drop(second, "c2", 3_000, TIMING).state, AT) is None


def test_a_disconnect_after_the_grace_and_a_silent_device() -> None:
    # (the record of the grace's end: its old image has the connection dropped)
    dropped = drop(online("android"), "c1", 2_000, TIMING).state
    assert reason(dropped, tick(dropped, 8_000, TIMING).state) == ("disconnect", "android")
    silent = drop(online("android"), "c1", 2_000, TIMING, timed_out=True).state
    assert reason(silent, tick(silent, 8_000, TIMING).state) == ("timeout", "android")


def test_a_logout_names_the_device_and_a_kick_names_none() -> None:
    two = connect(online("web"), "c2", "mac", 1_500, TIMING).state
    one = logout(two, "c2", 2_000, TIMING).state
    assert describe(two, one, AT) is None  # still ONLINE on the web
    assert reason(one, logout(one, "c1", 3_000, TIMING).state) == ("logout", "web")
    assert reason(two, kick(two, 3_000, TIMING).state) == ("kick", "")


def test_the_background_running_out_is_expired() -> None:
    phone = tick(drop(online("ios"), "c1", 2_000, TIMING).state, 8_000, TIMING).state
    assert phone.status_type is OFFLINE
    assert reason(phone, tick(phone, 70_000, TIMING).state) == ("expired", "ios")


def test_a_custom_status_set_or_cleared() -> None:
    before = online()
    busy = PresenceState(**{**before.__dict__, "custom_status": "busy", "custom_status_set_at": 5})
    assert reason(before, busy) == ("setSelfStatus", "")
    cleared = PresenceState(**{**busy.__dict__, "custom_status": ""})
    assert reason(busy, cleared) == ("customStatusCleared", "")


def test_the_event_carries_the_new_status_and_the_one_before() -> None:
    old = online("web")  # its connection taken away live: a logout of that device
    new = PresenceState(
        "alice", OFFLINE, "away", not_online_since=7_000, background={"ios": 1}, version=9
    )
    assert describe(old, new, AT) == StatusChange(
        user_id="alice",
        status_type=OFFLINE,
        custom_status="away",
        last_active_time=7_000,
        version=9,
        previous_status_type=ONLINE,
        reason="logout",
        platform="web",
        time=AT,
    )


def test_the_reasons_are_the_contracts() -> None:
    # API.md section 8
    assert events.REASONS == (
        "login",
        "logout",
        "disconnect",
        "kick",
        "setSelfStatus",
        "customStatusCleared",
        "expired",
        "timeout",
        "customStatusExpired",
        "invisible",
    )


# --- publishing a batch ---------------------------------------------------------------------------


@pytest.fixture
def bus(monkeypatch: pytest.MonkeyPatch) -> list[list[dict[str, Any]]]:
    sent: list[list[dict[str, Any]]] = []

    def put_events(entries: list[dict[str, Any]]) -> int | None:
        sent.append(entries)
        return None

    monkeypatch.setattr(store, "put_events", put_events)
    monkeypatch.setattr(settings, "current", lambda: settings.Settings(statusChangeEvents=True))
    return sent


def changes(n: int) -> list[Change]:
    found = []
    for i in range(n):
        user = f"u{i:02d}"
        new = connect(PresenceState(user), "c", "web", 1_000, TIMING).state
        found.append(Change(user, PresenceState(user), new, str(100 + i)))
    return found


def test_events_go_in_order_ten_per_call(bus: list[list[dict[str, Any]]]) -> None:
    assert events.publish(changes(23), set()) == set()
    assert [len(call) for call in bus] == [10, 10, 3]
    details = [StatusChange.decode(e["Detail"]) for call in bus for e in call]
    assert [d.user_id for d in details] == [f"u{i:02d}" for i in range(23)]
    assert {(e["Source"], e["DetailType"]) for call in bus for e in call} == {
        ("presence", "UserStatusChanged")
    }


def test_nothing_from_the_first_retried_record_on(bus: list[list[dict[str, Any]]]) -> None:
    assert events.publish(changes(5), {"103", "104"}) == set()
    assert [StatusChange.decode(e["Detail"]).user_id for e in bus[0]] == ["u00", "u01", "u02"]


def test_a_refused_event_retries_it_and_every_later_record(
    bus: list[list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "put_events", lambda entries: 4)  # the 5th was not accepted
    assert events.publish(changes(7), set()) == {"104", "105", "106"}


def test_nothing_is_published_while_the_setting_is_off(
    bus: list[list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "current", settings.Settings)
    assert events.publish(changes(3), set()) == set()
    assert bus == []


def test_a_connection_entry_alone_changes_no_status() -> None:
    state = online()
    moved = PresenceState(
        **{**state.__dict__, "connections": {"c1": Connection("web", 1_000, sig_expires_at=5)}}
    )
    assert describe(state, moved, AT) is None
