"""Invisible mode and expiring custom statuses as pure logic (API.md sections 3, 4 and 8): what
the user and everyone else are told (presence.views), what setSelfStatus makes of a stored
state (status.with_self_status), the timer an expiry needs (lifecycle.followups) and the
event reasons (events.describe). No AWS."""

from __future__ import annotations

from dataclasses import replace

from presence import views
from presence.events import describe
from presence.lifecycle import PresenceState, Timer, TimerKind, Timing, connect, followups, logout
from presence.models import StatusType
from presence.status import with_self_status

ONLINE, UNLOGINED = StatusType.ONLINE, StatusType.UNLOGINED
TIMING = Timing(grace_ms=5_000)
NOW = 1_000_000


def online(custom_status: str = "") -> PresenceState:
    state = connect(PresenceState("alice", version=40), "c1", "web", 1_000, TIMING).state
    return replace(state, custom_status=custom_status, version=41)


def test_going_invisible_while_online_shows_others_a_logout_now_at_this_writes_version() -> None:
    hidden = with_self_status(online("in a call"), None, None, True, NOW, TIMING)
    assert (hidden.invisible, hidden.hidden_last_active_time, hidden.hidden_version) == (
        True,
        NOW,
        42,
    )
    own = views.own(hidden)
    assert (own.status_type, own.custom_status, own.invisible) == (ONLINE, "in a call", True)
    seen = views.for_others(hidden, own, last_active_visible=True)
    assert seen.to_wire() == {
        "userID": "alice",
        "statusType": 3,
        "customStatus": "",
        "lastActiveTime": NOW,
        "version": 42,
        "customStatusExpiresAt": 0,
    }
    assert views.for_others(hidden, own, last_active_visible=False).last_active_time == 0


def test_going_invisible_while_logged_out_keeps_the_last_active_time_it_had() -> None:
    away = logout(online(), "c1", 50_000, TIMING).state
    hidden = with_self_status(away, None, None, True, NOW, TIMING)
    assert hidden.hidden_last_active_time == 50_000
    assert views.public_key(hidden) == views.public_key(away)  # nothing new to tell others


def test_what_others_see_of_an_invisible_user_never_moves() -> None:
    hidden = with_self_status(online(), None, None, True, NOW, TIMING)
    busy = with_self_status(hidden, "secret", 60_000, True, NOW + 1, TIMING)
    gone = logout(replace(busy, version=50), "c1", NOW + 2, TIMING).state
    for state in (busy, gone):
        assert views.public_key(state) == views.public_key(hidden)
        seen = views.for_others(state, views.own(state), True)
        assert (seen.last_active_time, seen.version) == (NOW, 42)
        assert views.own_key(state) != views.own_key(hidden)  # alice's devices are told


def test_going_visible_again_drops_the_mask() -> None:
    hidden = with_self_status(online("x"), None, None, True, NOW, TIMING)
    shown = with_self_status(hidden, None, None, False, NOW + 1, TIMING)
    assert (shown.invisible, shown.hidden_last_active_time, shown.hidden_version) == (False, 0, 0)
    assert views.public_key(shown) == (ONLINE, "x", 0)
    assert "invisible" not in views.own(shown).to_wire()


def test_setting_what_is_already_set_changes_nothing() -> None:
    state = online("same")
    assert with_self_status(state, "same", None, False, NOW, TIMING) == state
    hidden = with_self_status(state, None, None, True, NOW, TIMING)
    assert with_self_status(hidden, None, None, True, NOW + 5, TIMING) == hidden


def test_an_expiry_is_shown_only_with_its_custom_status() -> None:
    expiring = with_self_status(online(), "brb", NOW + 60_000, False, NOW, TIMING)
    assert views.own(expiring).custom_status_expires_at == NOW + 60_000
    expired = replace(expiring, custom_status="")  # the expiry's clear keeps the mark
    assert views.own(expired).custom_status_expires_at == 0


def test_an_expiry_needs_one_timer_at_its_time_and_a_replaced_one_none() -> None:
    before = online()
    expiring = with_self_status(before, "brb", NOW + 60_000, False, NOW, TIMING)
    timer = Timer(NOW + 60_000, TimerKind.EXPIRE_CUSTOM_STATUS, "alice")
    assert timer in followups(before, expiring, TIMING)
    replaced = with_self_status(expiring, "working", None, False, NOW + 1, TIMING)
    assert replaced.custom_status_expires_at is None
    assert not [t for t in followups(expiring, replaced, TIMING) if t.kind is timer.kind]


def test_the_event_reasons_of_the_two_features() -> None:
    state = online("brb")
    hidden = with_self_status(state, None, None, True, NOW, TIMING)
    event = describe(state, hidden, NOW)
    assert event is not None
    assert (event.reason, event.invisible, event.status_type) == ("invisible", True, ONLINE)
    visible = with_self_status(hidden, None, None, False, NOW, TIMING)
    event = describe(hidden, visible, NOW)
    assert event is not None and (event.reason, event.invisible) == ("invisible", False)

    expiring = with_self_status(state, "lunch", NOW + 5, False, NOW, TIMING)
    expired = replace(expiring, custom_status="")
    event = describe(expiring, expired, NOW + 5)
    assert event is not None and event.reason == "customStatusExpired"
    cleared = replace(expired, custom_status_expires_at=None)  # the 30 s clear removes it
    event = describe(expiring, cleared, NOW + 5)
    assert event is not None and event.reason == "customStatusCleared"
