"""How statusType follows a user's devices (presence.lifecycle, API.md sections 3 and 6).

Every test drives the pure state machine with explicit times (epoch ms) and checks what a user
would observe: the statusType, the timers handed to the delay queue, and which native platforms
are kept logged in the background.
"""

from __future__ import annotations

import pytest

from presence.lifecycle import (
    LIVENESS_HOP_MS,
    MAX_CONNECTION_AGE_MS,
    NATIVE_PLATFORMS,
    VERIFY_AFTER_MS,
    WEB_PLATFORMS,
    Connection,
    PresenceState,
    Timer,
    TimerKind,
    Timing,
    Transition,
    aged_out,
    connect,
    custom_status_clear_due,
    drop,
    kick,
    liveness_deadline,
    logout,
    next_liveness_check,
    subscriptions_drop_due,
    tick,
)
from presence.models import StatusType

ONLINE = StatusType.ONLINE
OFFLINE = StatusType.OFFLINE
UNLOGINED = StatusType.UNLOGINED

GRACE = 5_000
RETENTION = 60_000  # offline retention
CLEAR = 30_000  # custom status clear
SUBS = 3_600_000  # subscription retention
TIMING = Timing(
    grace_ms=GRACE,
    offline_retention_ms=RETENTION,
    custom_status_clear_ms=CLEAR,
    subscription_retention_ms=SUBS,
)
NO_GRACE = Timing(
    grace_ms=0,
    offline_retention_ms=RETENTION,
    custom_status_clear_ms=CLEAR,
    subscription_retention_ms=SUBS,
)
USER = "alice"


# ---------------------------------------------------------------- helpers


def fresh(custom_status: str = "", set_at: int | None = None) -> PresenceState:
    return PresenceState(USER, custom_status=custom_status, custom_status_set_at=set_at)


def online(platform: str = "web", at: int = 1_000, custom_status: str = "") -> PresenceState:
    """A user with one live connection `c1` on `platform`, connected at `at`."""
    return connect(
        fresh(custom_status, set_at=0 if custom_status else None), "c1", platform, at, TIMING
    ).state


def in_background(background: dict[str, int]) -> PresenceState:
    """A user with no connection whose native apps are logged in, in the background (OFFLINE)."""
    return PresenceState(USER, status_type=OFFLINE, background=background, not_online_since=1_000)


def due(transition: Transition, kind: TimerKind) -> list[int]:
    """The due times of the timers of one kind that the transition emitted."""
    return [t.due_at for t in transition.timers if t.kind == kind]


def kinds(transition: Transition) -> set[TimerKind]:
    return {t.kind for t in transition.timers}


# ---------------------------------------------------------------- connecting


def test_a_user_who_never_connected_is_unlogined() -> None:
    state = fresh()
    assert state.status_type == UNLOGINED
    assert tick(state, 1_000, TIMING).state.status_type == UNLOGINED
    assert not tick(state, 1_000, TIMING).changed


@pytest.mark.parametrize("platform", ["web", "ios"])
def test_connecting_makes_the_user_online(platform: str) -> None:
    t = connect(fresh(), "c1", platform, 1_000, TIMING)
    assert t.state.status_type == ONLINE
    assert t.state.connections == {"c1": Connection(platform, 1_000)}
    assert t.state.not_online_since is None
    assert t.changed
    # the check that API Gateway really opened the connection, and the first liveness check
    # (liveness off in TIMING: it hops every 15 minutes towards API Gateway's 2 hours)
    assert t.timers == (
        Timer(1_000 + VERIFY_AFTER_MS, TimerKind.VERIFY_CONNECTION, USER, "c1"),
        Timer(1_000 + LIVENESS_HOP_MS, TimerKind.CHECK_LIVENESS, USER, "c1"),
    )


def test_the_first_liveness_check_is_due_at_the_timeout() -> None:
    t = connect(fresh(), "c1", "web", 1_000, TIMING._replace(liveness_ms=90_000))
    assert Timer(91_000, TimerKind.CHECK_LIVENESS, USER, "c1") in t.timers


def test_a_liveness_deadline_is_the_last_frame_plus_the_timeout_within_two_hours() -> None:
    on = TIMING._replace(liveness_ms=90_000)
    assert liveness_deadline(1_000, 50_000, on) == 140_000
    aged = 1_000 + MAX_CONNECTION_AGE_MS
    assert liveness_deadline(1_000, aged, on) == aged  # API Gateway's 2 hours come first
    assert liveness_deadline(1_000, 50_000, TIMING) == aged  # liveness off
    assert aged_out(1_000, aged) and not aged_out(1_000, 140_000)
    assert next_liveness_check(aged, 1_000) == 1_000 + LIVENESS_HOP_MS  # SQS hops, no schedule
    assert next_liveness_check(140_000, 100_000) == 140_000


def test_a_connection_keeps_when_its_usersig_expires_and_is_closed_then() -> None:
    t = connect(fresh(), "c1", "web", 1_000, TIMING, sig_expires_at=600_000)
    assert t.state.connections == {"c1": Connection("web", 1_000, sig_expires_at=600_000)}
    assert Timer(600_000, TimerKind.USERSIG_EXPIRED, USER, "c1") in t.timers
    # a UserSig that outlives API Gateway's 2 hours needs no timer
    later = connect(fresh(), "c1", "web", 1_000, TIMING, sig_expires_at=MAX_CONNECTION_AGE_MS * 2)
    assert TimerKind.USERSIG_EXPIRED not in kinds(later)


def test_a_device_gone_silent_is_dropped_as_timed_out_with_the_same_grace() -> None:
    silent = drop(online("ios"), "c1", 2_000, TIMING, timed_out=True)
    closed = drop(online("ios"), "c1", 2_000, TIMING)
    assert silent.state.connections["c1"] == Connection("ios", 1_000, 2_000, timed_out=True)
    assert closed.state.connections["c1"] == Connection("ios", 1_000, 2_000)
    assert silent.timers == closed.timers
    assert silent.state.status_type == closed.state.status_type == ONLINE  # in its grace


def test_connect_removes_that_platforms_background_entry_only() -> None:
    state = in_background({"ios": 90_000, "android": 95_000})
    t = connect(state, "c9", "ios", 10_000, TIMING)
    assert t.state.status_type == ONLINE
    assert t.state.background == {"android": 95_000}


# ---------------------------------------------------------------- web drop and grace


@pytest.mark.parametrize("platform", sorted(WEB_PLATFORMS))
def test_web_drop_stays_online_during_grace_then_becomes_unlogined(platform: str) -> None:
    dropped = drop(online(platform), "c1", 2_000, TIMING)
    assert dropped.state.status_type == ONLINE
    assert dropped.state.connections["c1"].dropped_at == 2_000

    before_end = tick(dropped.state, 2_000 + GRACE - 1, TIMING)
    assert before_end.state.status_type == ONLINE
    assert not before_end.changed

    after = tick(dropped.state, 2_000 + GRACE + 500, TIMING)
    assert after.state.status_type == UNLOGINED  # web never produces OFFLINE
    assert after.state.connections == {}
    assert after.state.background == {}
    # lastActiveTime is when the grace ended, not when the (late) timer ran
    assert after.state.not_online_since == 2_000 + GRACE
    assert after.state.last_active_time == 2_000 + GRACE
    assert after.changed


def test_grace_ends_exactly_at_drop_plus_grace() -> None:
    dropped = drop(online("web"), "c1", 2_000, TIMING).state
    assert tick(dropped, 2_000 + GRACE, TIMING).state.status_type == UNLOGINED


def test_web_drop_schedules_a_tick_when_the_grace_ends() -> None:
    dropped = drop(online("web"), "c1", 2_000, TIMING)
    assert dropped.timers == (Timer(2_000 + GRACE, TimerKind.TICK, USER),)


def test_web_grace_end_schedules_subscription_drop_but_no_clear_without_custom_status() -> None:
    dropped = drop(online("web"), "c1", 2_000, TIMING).state
    after = tick(dropped, 7_000, TIMING)
    assert after.timers == (Timer(7_000 + SUBS, TimerKind.DROP_SUBSCRIPTIONS, USER),)


def test_web_grace_end_schedules_custom_status_clear_when_one_is_set() -> None:
    dropped = drop(online("web", custom_status="at lunch"), "c1", 2_000, TIMING).state
    after = tick(dropped, 7_000, TIMING)
    assert after.state.status_type == UNLOGINED
    assert after.timers == (
        Timer(7_000 + CLEAR, TimerKind.CLEAR_CUSTOM_STATUS, USER),
        Timer(7_000 + SUBS, TimerKind.DROP_SUBSCRIPTIONS, USER),
    )


# ---------------------------------------------------------------- native drop, OFFLINE


@pytest.mark.parametrize("platform", sorted(NATIVE_PLATFORMS))
def test_native_drop_goes_offline_after_grace_then_unlogined_after_retention(
    platform: str,
) -> None:
    dropped = drop(online(platform), "c1", 2_000, TIMING)
    assert dropped.state.status_type == ONLINE

    end = 2_000 + GRACE
    assert tick(dropped.state, end - 1, TIMING).state.status_type == ONLINE

    offline = tick(dropped.state, end, TIMING)
    assert offline.state.status_type == OFFLINE
    assert offline.state.connections == {}
    assert offline.state.background == {platform: end + RETENTION}
    assert offline.state.not_online_since == end
    assert due(offline, TimerKind.TICK) == [end + RETENTION]
    assert due(offline, TimerKind.DROP_SUBSCRIPTIONS) == [end + SUBS]

    still = tick(offline.state, end + RETENTION - 1, TIMING)
    assert still.state.status_type == OFFLINE
    assert not still.changed

    gone = tick(offline.state, end + RETENTION, TIMING)
    assert gone.state.status_type == UNLOGINED
    assert gone.state.background == {}
    assert gone.state.not_online_since == end  # stopped being ONLINE at the grace end
    assert gone.timers == ()


# ---------------------------------------------------------------- reconnect within grace


@pytest.mark.parametrize("platform", ["web", "ios"])
def test_reconnect_within_grace_never_leaves_online(platform: str) -> None:
    steps = [connect(fresh("busy", set_at=0), "c1", platform, 1_000, TIMING)]
    steps.append(drop(steps[-1].state, "c1", 2_000, TIMING))
    steps.append(connect(steps[-1].state, "c2", platform, 4_000, TIMING))  # before 7_000
    steps.append(tick(steps[-1].state, 2_000 + GRACE, TIMING))  # the old grace end
    steps.append(tick(steps[-1].state, 2_000 + GRACE + 60_000, TIMING))

    assert [s.state.status_type for s in steps] == [ONLINE] * len(steps)
    assert all(s.state.not_online_since is None for s in steps)
    emitted = {k for s in steps for k in kinds(s)}
    assert TimerKind.CLEAR_CUSTOM_STATUS not in emitted
    assert TimerKind.DROP_SUBSCRIPTIONS not in emitted
    assert list(steps[-1].state.connections) == ["c2"]


def test_native_reconnect_on_the_same_platform_starts_no_offline_retention() -> None:
    # the app's socket drops and it reconnects (API Gateway closes every socket after 2 hours):
    # the old connection's end puts nothing in the background and needs no 7-day timer
    state = drop(online("ios"), "c1", 2_000, TIMING).state
    state = connect(state, "c2", "ios", 3_000, TIMING).state
    t = tick(state, 2_000 + GRACE, TIMING)
    assert t.state.status_type == ONLINE
    assert t.state.background == {}
    assert t.timers == ()


# ---------------------------------------------------------------- grace 0


@pytest.mark.parametrize("platform", sorted(WEB_PLATFORMS))
def test_no_grace_web_drop_is_unlogined_at_once(platform: str) -> None:
    state = connect(fresh(), "c1", platform, 1_000, NO_GRACE).state
    t = drop(state, "c1", 2_000, NO_GRACE)
    assert t.state.status_type == UNLOGINED
    assert t.state.connections == {}
    assert t.state.not_online_since == 2_000
    assert t.timers == (Timer(2_000 + SUBS, TimerKind.DROP_SUBSCRIPTIONS, USER),)


@pytest.mark.parametrize("platform", sorted(NATIVE_PLATFORMS))
def test_no_grace_native_drop_is_offline_at_once(platform: str) -> None:
    state = connect(fresh(), "c1", platform, 1_000, NO_GRACE).state
    t = drop(state, "c1", 2_000, NO_GRACE)
    assert t.state.status_type == OFFLINE
    assert t.state.background == {platform: 2_000 + RETENTION}
    assert due(t, TimerKind.TICK) == [2_000 + RETENTION]


# ---------------------------------------------------------------- logout


@pytest.mark.parametrize("platform", sorted(NATIVE_PLATFORMS | WEB_PLATFORMS))
def test_logout_of_the_last_device_is_unlogined_at_once(platform: str) -> None:
    t = logout(online(platform, custom_status="busy"), "c1", 2_000, TIMING)
    assert t.state.status_type == UNLOGINED  # no grace, and no OFFLINE even for native
    assert t.state.connections == {}
    assert t.state.background == {}
    assert t.state.not_online_since == 2_000
    assert t.timers == (
        Timer(2_000 + CLEAR, TimerKind.CLEAR_CUSTOM_STATUS, USER),
        Timer(2_000 + SUBS, TimerKind.DROP_SUBSCRIPTIONS, USER),
    )


def test_logout_of_one_device_while_another_is_connected_stays_online() -> None:
    state = connect(online("web"), "c2", "ios", 1_500, TIMING).state
    t = logout(state, "c2", 2_000, TIMING)
    assert t.state.status_type == ONLINE
    assert list(t.state.connections) == ["c1"]
    assert t.timers == ()


def test_logout_on_ios_forgets_ios_background_but_keeps_android() -> None:
    # two ios sessions and one android; ios c1 and android c3 go to the background
    state = connect(online("ios"), "c2", "ios", 1_000, TIMING).state
    state = connect(state, "c3", "android", 1_000, TIMING).state
    state = drop(state, "c1", 2_000, TIMING).state
    state = drop(state, "c3", 2_000, TIMING).state
    state = tick(state, 2_000 + GRACE, TIMING).state
    assert state.status_type == ONLINE  # ios c2 still connected
    # ios is connected (c2), so it is not in the background; android is
    assert state.background == {"android": 7_000 + RETENTION}

    t = logout(state, "c2", 8_000, TIMING)
    assert t.state.background == {"android": 7_000 + RETENTION}
    assert t.state.status_type == OFFLINE  # android is still logged in, in the background


# ---------------------------------------------------------------- several devices


def test_web_logout_while_ios_is_in_grace_goes_offline_when_the_ios_grace_ends() -> None:
    state = connect(online("web"), "c2", "ios", 1_000, TIMING).state
    ios_dropped = drop(state, "c2", 2_000, TIMING)
    assert ios_dropped.state.status_type == ONLINE  # web still live

    web_out = logout(ios_dropped.state, "c1", 3_000, TIMING)
    assert web_out.state.status_type == ONLINE  # ios still counts as live during its grace
    assert web_out.timers == ()

    grace_end = tick(web_out.state, 2_000 + GRACE, TIMING)
    assert grace_end.state.status_type == OFFLINE  # the ios app is logged in, in background
    assert grace_end.state.background == {"ios": 7_000 + RETENTION}
    assert grace_end.state.not_online_since == 7_000
    assert due(grace_end, TimerKind.TICK) == [7_000 + RETENTION]


def test_web_logout_after_the_ios_grace_ended_is_offline_at_once() -> None:
    state = connect(online("web"), "c2", "ios", 1_000, TIMING).state
    state = drop(state, "c2", 2_000, TIMING).state
    state = tick(state, 7_000, TIMING).state
    assert state.status_type == ONLINE
    assert state.background == {"ios": 7_000 + RETENTION}

    t = logout(state, "c1", 8_000, TIMING)
    assert t.state.status_type == OFFLINE
    assert t.state.not_online_since == 8_000


# ---------------------------------------------------------------- kick


def test_kick_logs_out_every_device_at_once() -> None:
    state = connect(online("web"), "c2", "ios", 1_000, TIMING).state
    state = connect(state, "c3", "android", 1_000, TIMING).state
    state = tick(drop(state, "c3", 2_000, TIMING).state, 7_000, TIMING).state
    assert state.background == {"android": 7_000 + RETENTION}

    t = kick(state, 8_000, TIMING)
    assert t.state.status_type == UNLOGINED
    assert t.state.connections == {}
    assert t.state.background == {}
    assert t.state.not_online_since == 8_000
    assert t.changed


# ---------------------------------------------------------------- idempotence


def test_duplicate_drop_changes_nothing() -> None:
    once = drop(online("web"), "c1", 2_000, TIMING).state
    twice = drop(once, "c1", 2_500, TIMING)
    assert twice.state == once
    assert twice.state.connections["c1"].dropped_at == 2_000  # the grace is not extended
    assert not twice.changed
    assert twice.timers == ()


def test_drop_of_an_unknown_connection_changes_nothing() -> None:
    state = online("ios")
    t = drop(state, "nope", 2_000, TIMING)
    assert t.state == state
    assert not t.changed
    assert t.timers == ()


def test_logout_of_an_unknown_connection_changes_nothing() -> None:
    state = online("ios")
    t = logout(state, "nope", 2_000, TIMING)
    assert t.state == state
    assert not t.changed
    assert t.timers == ()


def test_drop_after_logout_changes_nothing() -> None:
    state = logout(online("web"), "c1", 2_000, TIMING).state
    t = drop(state, "c1", 2_001, TIMING)  # the $disconnect that follows a logout
    assert t.state == state
    assert not t.changed


# ---------------------------------------------------------------- API Gateway's 2-hour limit


@pytest.mark.parametrize(("platform", "expected"), [("web", UNLOGINED), ("ios", OFFLINE)])
def test_connection_older_than_api_gateway_limit_counts_as_dropped(
    platform: str, expected: StatusType
) -> None:
    state = online(platform, at=0)
    assert tick(state, MAX_CONNECTION_AGE_MS - 1, TIMING).state.status_type == ONLINE

    t = tick(state, MAX_CONNECTION_AGE_MS, TIMING)
    assert t.state.status_type == expected
    assert t.state.connections == {}
    assert t.state.not_online_since == MAX_CONNECTION_AGE_MS
    if expected == OFFLINE:
        assert t.state.background == {platform: MAX_CONNECTION_AGE_MS + RETENTION}


def test_dropped_connection_near_the_age_limit_ends_at_the_limit() -> None:
    state = drop(online("web", at=0), "c1", MAX_CONNECTION_AGE_MS - 1_000, TIMING).state
    assert tick(state, MAX_CONNECTION_AGE_MS, TIMING).state.status_type == UNLOGINED


# ---------------------------------------------------------------- clear / drop due times


def test_custom_status_clear_due_is_none_while_online_or_empty() -> None:
    assert custom_status_clear_due(online("web", custom_status="busy"), TIMING) is None
    gone = PresenceState(USER, status_type=UNLOGINED, not_online_since=5_000)
    assert custom_status_clear_due(gone, TIMING) is None


def test_custom_status_clear_due_uses_the_later_of_going_offline_and_setting() -> None:
    set_before = PresenceState(
        USER, custom_status="busy", custom_status_set_at=1_000, not_online_since=5_000
    )
    assert custom_status_clear_due(set_before, TIMING) == 5_000 + CLEAR
    set_after = PresenceState(
        USER, custom_status="busy", custom_status_set_at=9_000, not_online_since=5_000
    )
    assert custom_status_clear_due(set_after, TIMING) == 9_000 + CLEAR
    offline = PresenceState(
        USER,
        status_type=OFFLINE,
        custom_status="busy",
        custom_status_set_at=1_000,
        background={"ios": 99_000},
        not_online_since=5_000,
    )
    assert custom_status_clear_due(offline, TIMING) == 5_000 + CLEAR


def test_custom_status_clear_due_for_a_never_online_user_uses_the_set_time() -> None:
    never = PresenceState(USER, custom_status="busy", custom_status_set_at=4_000)
    assert never.not_online_since is None
    assert custom_status_clear_due(never, TIMING) == 4_000 + CLEAR


def test_subscriptions_drop_due() -> None:
    assert subscriptions_drop_due(online("web"), TIMING) is None
    assert subscriptions_drop_due(fresh(), TIMING) is None  # never online: nothing to time
    gone = PresenceState(USER, status_type=UNLOGINED, not_online_since=5_000)
    assert subscriptions_drop_due(gone, TIMING) == 5_000 + SUBS
    offline = PresenceState(
        USER, status_type=OFFLINE, background={"ios": 99_000}, not_online_since=5_000
    )
    assert subscriptions_drop_due(offline, TIMING) == 5_000 + SUBS


def test_due_times_match_the_timers_emitted_when_going_offline() -> None:
    dropped = drop(online("web", custom_status="busy"), "c1", 2_000, TIMING).state
    after = tick(dropped, 7_000, TIMING)
    assert due(after, TimerKind.CLEAR_CUSTOM_STATUS) == [
        custom_status_clear_due(after.state, TIMING)
    ]
    assert due(after, TimerKind.DROP_SUBSCRIPTIONS) == [subscriptions_drop_due(after.state, TIMING)]


# ---------------------------------------------------------------- Transition.changed and timers


def test_tick_that_changes_nothing_is_not_a_change() -> None:
    state = online("web")
    t = tick(state, 50_000, TIMING)
    assert not t.changed
    assert t.timers == ()


def test_tick_that_ends_a_grace_is_a_change() -> None:
    state = drop(online("web"), "c1", 2_000, TIMING).state
    assert tick(state, 7_000, TIMING).changed


@pytest.mark.parametrize("event", ["second connect", "drop in grace", "logout of one device"])
def test_every_real_event_is_a_change(event: str) -> None:
    state = connect(online("web"), "c2", "ios", 1_500, TIMING).state
    if event == "second connect":
        t = connect(state, "c3", "android", 2_000, TIMING)
    elif event == "drop in grace":
        t = drop(state, "c2", 2_000, TIMING)
    else:
        t = logout(state, "c2", 2_000, TIMING)
    assert t.state != state  # what is stored does differ ...
    assert t.changed  # ... so the transition must say so
    assert t.before == state  # and `before` is the state that was read


def test_timers_are_sorted_by_due_time() -> None:
    state = connect(fresh("busy", set_at=0), "c1", "ios", 1_000, NO_GRACE).state
    t = drop(state, "c1", 2_000, NO_GRACE)
    assert [(x.kind, x.due_at) for x in t.timers] == [
        (TimerKind.CLEAR_CUSTOM_STATUS, 2_000 + CLEAR),
        (TimerKind.TICK, 2_000 + RETENTION),
        (TimerKind.DROP_SUBSCRIPTIONS, 2_000 + SUBS),
    ]
    assert list(t.timers) == sorted(t.timers)


def test_two_platforms_going_to_background_together_get_one_tick() -> None:
    state = connect(online("ios"), "c2", "android", 1_000, TIMING).state
    state = drop(state, "c1", 2_000, TIMING).state
    state = drop(state, "c2", 2_000, TIMING).state
    t = tick(state, 7_000, TIMING)
    assert t.state.status_type == OFFLINE
    assert due(t, TimerKind.TICK) == [7_000 + RETENTION]


def test_every_transition_of_a_busy_day_has_sorted_unique_timers() -> None:
    steps: list[Transition] = [connect(fresh("busy", set_at=0), "c1", "web", 1_000, TIMING)]
    steps.append(connect(steps[-1].state, "c2", "ios", 1_000, TIMING))
    steps.append(connect(steps[-1].state, "c3", "android", 1_000, TIMING))
    steps.append(drop(steps[-1].state, "c2", 2_000, TIMING))
    steps.append(drop(steps[-1].state, "c3", 2_000, TIMING))
    steps.append(tick(steps[-1].state, 7_000, TIMING))
    steps.append(logout(steps[-1].state, "c1", 8_000, TIMING))
    steps.append(tick(steps[-1].state, 7_000 + RETENTION, TIMING))
    for step in steps:
        assert list(step.timers) == sorted(step.timers)
        assert len(set(step.timers)) == len(step.timers)
    assert steps[-2].state.status_type == OFFLINE
    assert steps[-1].state.status_type == UNLOGINED
