"""The per-user, per-API rate limit as a client sees it (API.md section 4, "Rate limit").

The window is driven by a fake clock in `presence.ratelimit`, so no test depends on where in a
real window it happens to run.

The concurrency test runs under `atomic_dynamodb` (tests/integration/conftest.py): moto's
conditional writes are not atomic under threads (measured with moto 5.2.5: 20 threads against a
limit of 5 went wrong in about 1 round in 5 in-process), DynamoDB's are.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import pytest

from presence import clock as presence_clock
from tests.integration.conftest import Api, Reply, concurrently

WINDOW = 60
LIMIT = 3
# A window start (divisible by every window length used here) taken from the real clock, so no
# test depends on the date; the clock starts mid-window.
T0 = presence_clock.now_ms() // 3_600_000 * 3600


def assert_refused(reply: Reply, status: int, code: int) -> None:
    assert (reply.status, reply.code) == (status, code), reply.body
    message = reply.body["message"]
    assert isinstance(message, str) and message.strip(), reply.body
    assert "Traceback" not in message and 'File "' not in message, message


class Clock:
    """What the service's clock answers, in epoch seconds."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Time as the rate limit (and the rest of the service) sees it."""
    fake = Clock(T0 + 10.0)
    monkeypatch.setattr(presence_clock, "now_ms", lambda: int(fake.now * 1000))
    return fake


@pytest.fixture
def limited(api: Api, clock: Clock) -> Api:
    assert (
        api.update_settings({"rateLimit": {"requests": LIMIT, "windowSeconds": WINDOW}}).status
        == 200
    )
    return api


# The three limited APIs, each called about other users (a fresh target per call).
LIMITED_CALLS: dict[str, Callable[[Api, str, int], Reply]] = {
    "getUserStatus": lambda api, user, i: api.get_user_status([f"other{i}"], user=user),
    "subscribeUserStatus": lambda api, user, i: api.subscribe([f"other{i}"], user=user),
    "unsubscribeUserStatus": lambda api, user, i: api.unsubscribe([f"other{i}"], user=user),
}


def call_n(api: Api, name: str, user: str, n: int, start: int = 0) -> list[int]:
    return [LIMITED_CALLS[name](api, user, start + i).status for i in range(n)]


@pytest.mark.parametrize("name", list(LIMITED_CALLS))
def test_exactly_the_allowed_number_pass_then_429(limited: Api, name: str) -> None:
    assert call_n(limited, name, "alice", LIMIT) == [200] * LIMIT
    for i in range(3):
        assert_refused(LIMITED_CALLS[name](limited, "alice", 100 + i), 429, 7008)


def test_unsubscribe_all_is_limited_too(limited: Api) -> None:
    for _ in range(LIMIT):
        assert limited.unsubscribe(None).status == 200
    assert_refused(limited.unsubscribe(None), 429, 7008)
    assert_refused(limited.call("unsubscribe_user_status", {"userIDList": []}), 429, 7008)


def test_a_refused_subscribe_changes_nothing(limited: Api) -> None:
    assert call_n(limited, "subscribeUserStatus", "alice", LIMIT) == [200] * LIMIT
    assert_refused(limited.subscribe(["zed"]), 429, 7008)
    assert limited.subscriptions() == ["other0", "other1", "other2"]


def test_a_refused_unsubscribe_changes_nothing(limited: Api) -> None:
    assert limited.subscribe(["bob", "carol"]).status == 200
    for _ in range(LIMIT):
        assert limited.unsubscribe(["dave"]).status == 200
    assert_refused(limited.unsubscribe(["bob"]), 429, 7008)
    assert_refused(limited.unsubscribe(None), 429, 7008)
    assert limited.subscriptions() == ["bob", "carol"]


def test_each_api_has_its_own_count(limited: Api) -> None:
    assert call_n(limited, "getUserStatus", "alice", LIMIT + 1) == [200] * LIMIT + [429]
    assert call_n(limited, "subscribeUserStatus", "alice", LIMIT + 1) == [200] * LIMIT + [429]
    assert call_n(limited, "unsubscribeUserStatus", "alice", LIMIT + 1) == [200] * LIMIT + [429]


def test_each_user_has_their_own_count(limited: Api) -> None:
    for name in LIMITED_CALLS:
        assert call_n(limited, name, "alice", LIMIT + 1) == [200] * LIMIT + [429]
    for name in LIMITED_CALLS:
        assert call_n(limited, name, "bob", LIMIT + 1) == [200] * LIMIT + [429]


def test_own_status_and_set_self_status_are_never_limited(limited: Api) -> None:
    assert call_n(limited, "getUserStatus", "alice", LIMIT + 1) == [200] * LIMIT + [429]
    for i in range(12):
        assert limited.get_user_status(["alice"]).status == 200
        assert limited.get_user_status(["alice", "alice"]).status == 200
        assert limited.set_self_status(f"busy {i}").status == 200
    assert (
        limited.get_user_status(["alice"]).data["successUserList"][0]["customStatus"] == "busy 11"
    )


def test_asking_only_about_yourself_does_not_use_up_the_budget(limited: Api) -> None:
    for i in range(12):
        assert limited.get_user_status(["bob"], user="bob").status == 200
        assert limited.set_self_status(f"x{i}", user="bob").status == 200
    assert call_n(limited, "getUserStatus", "bob", LIMIT + 1) == [200] * LIMIT + [429]


def test_yourself_plus_anyone_else_is_limited(limited: Api) -> None:
    for _ in range(LIMIT):
        assert limited.get_user_status(["alice", "bob"]).status == 200
    assert_refused(limited.get_user_status(["alice", "bob"]), 429, 7008)
    # an invalid userID is still someone else: it does not make the request "only yourself"
    assert_refused(limited.get_user_status(["alice", ""]), 429, 7008)


def test_a_new_window_admits_again(limited: Api, clock: Clock) -> None:
    assert call_n(limited, "subscribeUserStatus", "alice", LIMIT + 1) == [200] * LIMIT + [429]
    clock.now = T0 + WINDOW - 0.5  # still the same window
    assert_refused(limited.subscribe(["late"]), 429, 7008)
    clock.now = T0 + WINDOW  # the next window starts
    assert call_n(limited, "subscribeUserStatus", "alice", LIMIT + 1, 10) == [200] * LIMIT + [429]


def test_the_default_limit_is_20_per_5_seconds(api: Api, clock: Clock) -> None:
    clock.now = T0
    statuses = [api.get_user_status([f"u{i}"]).status for i in range(21)]
    assert statuses == [200] * 20 + [429]
    clock.now = T0 + 5
    assert api.get_user_status(["u0"]).status == 200


def test_raising_the_limit_applies_within_the_window(
    limited: Api, fresh_settings: Callable[[], None]
) -> None:
    assert call_n(limited, "getUserStatus", "alice", LIMIT + 1) == [200] * LIMIT + [429]
    assert limited.update_settings({"rateLimit": {"requests": LIMIT + 2}}).status == 200
    fresh_settings()
    assert call_n(limited, "getUserStatus", "alice", 3) == [200, 200, 429]


# --- concurrency --------------------------------------------------------------------------------


@pytest.fixture
def concurrent_api(
    api: Api, clock: Clock, atomic_dynamodb: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Api]:
    assert (
        api.update_settings({"rateLimit": {"requests": 5, "windowSeconds": WINDOW}}).status == 200
    )
    # warm the caches (clients, settings, secret) as a running function would have them
    assert api.set_self_status("warm").status == 200
    yield api


@pytest.mark.parametrize("name", list(LIMITED_CALLS))
def test_concurrent_calls_pass_exactly_the_limit(concurrent_api: Api, name: str) -> None:
    threads, allowed = 20, 5
    call = LIMITED_CALLS[name]
    for round_ in range(5):  # several rounds, each a fresh user: a race shows up as a miscount
        user = f"racer{round_}"
        replies = concurrently(functools.partial(call, concurrent_api, user), threads)
        outcomes = sorted((r.status, r.code) for r in replies)
        assert outcomes == [(200, 0)] * allowed + [(429, 7008)] * (threads - allowed), round_
        # and the counter is really spent: one more call is refused
        assert_refused(LIMITED_CALLS[name](concurrent_api, user, 99), 429, 7008)
