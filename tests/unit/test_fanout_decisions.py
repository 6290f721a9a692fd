"""What the stream consumer pushes for a user's net change in a batch (presence.fanout.to_push),
how a batch's records coalesce per user (_coalesce), which changes it posts itself (_split)
and which it leaves to a batch Lambda retries (_before): pure decisions, no AWS. The
integration tests (tests/integration/test_no_duplicates.py) check what connections receive."""

from __future__ import annotations

from presence.events import Change
from presence.fanout import _before, _coalesce, _NetChange, _split, to_push
from presence.lifecycle import Connection, PresenceState, Timing, connect, kick, logout, tick
from presence.models import StatusType

ONLINE = StatusType.ONLINE


def alice(custom_status: str, version: int, pushed_version: int = 0) -> PresenceState:
    return PresenceState(
        "alice",
        ONLINE,
        custom_status,
        custom_status_set_at=version,
        connections={"c1": Connection("web", 1)},
        version=version,
        pushed_version=pushed_version,
    )


def test_a_current_change_pushes_its_record_value() -> None:
    new = alice("B", 2)
    assert to_push(alice("A", 1), new, alice("B", 2)) is new


def test_an_overtaken_change_pushes_the_stored_newer_value() -> None:
    stored = alice("C", 3)
    assert to_push(alice("A", 1), alice("B", 2), stored) is stored


def test_a_change_undone_meanwhile_pushes_nothing() -> None:
    assert to_push(alice("A", 1), alice("B", 2), alice("A", 3)) is None


def test_a_record_already_pushed_ahead_of_it_pushes_nothing() -> None:
    # B (version 2) was pushed by the batch of an older, overtaken record
    assert to_push(alice("A", 1), alice("B", 2), alice("B", 2, pushed_version=2)) is None
    # ... and C (version 3) was, after that: B's record is older still
    assert to_push(alice("A", 1), alice("B", 2), alice("C", 3, pushed_version=3)) is None


def test_a_record_newer_than_the_marker_is_pushed() -> None:
    new = alice("C", 3)
    assert to_push(alice("B", 2), new, alice("C", 3, pushed_version=2)) is new
    stored = alice("D", 4, pushed_version=2)
    assert to_push(alice("B", 2), new, stored) is stored


def test_an_older_value_is_never_pushed_after_the_marker() -> None:
    # A -> B -> A: the first A's record arrives after the second A (version 3) was pushed
    assert to_push(alice("B", 2), alice("A", 1), alice("A", 3, pushed_version=3)) is None


def test_the_marker_is_no_change_of_status() -> None:
    """States that differ only in the marker are equal: no transition writes because of it."""
    assert alice("A", 1) == alice("A", 1, pushed_version=7)
    timing = Timing()
    stored = alice("A", 1, pushed_version=7)
    for transition in (
        logout(stored, "unknown", 10, timing),
        tick(stored, 10, timing),
        kick(PresenceState("bob", pushed_version=7), 10, timing),
    ):
        assert not transition.changed
    after = connect(stored, "c2", "web", 10, timing).state
    assert after.pushed_version == 7  # carried along, never reset by a transition


def net(user: str, *records: str) -> _NetChange:
    return _NetChange(user, PresenceState(user), PresenceState(user), list(records))


def test_changes_from_the_first_retried_record_on_are_left_to_the_retry() -> None:
    pushes = {"a": net("a", "100"), "b": net("b", "200", "900"), "c": net("c", "300")}
    users = ["a", "b", "c"]
    assert _before(users, pushes, set()) == users
    assert _before(users, pushes, {"300"}) == ["a"]  # b has a record after 300
    assert _before(users, pushes, {"1000"}) == users  # numeric order, not text order
    assert _before(users, pushes, {"150", "300"}) == ["a"]


def change(user: str, old: str, new: str, seq: int) -> Change:
    def state(custom: str) -> PresenceState:
        return PresenceState(user, ONLINE, custom, connections={"c": Connection("web", 1)})

    return Change(user, state(old), state(new), str(seq))


def test_a_batch_coalesces_per_user_from_the_first_old_to_the_last_new() -> None:
    nets = _coalesce(
        [
            change("a", "", "x", 1),
            change("b", "", "y", 2),
            change("a", "x", "z", 3),
            change("c", "", "w", 4),
            change("c", "w", "", 5),  # undone within the batch: nothing to push
        ]
    )
    assert list(nets) == ["a", "b"]  # in batch order
    assert (nets["a"].old.custom_status, nets["a"].new.custom_status) == ("", "z")
    assert nets["a"].records == ["1", "3"]
    assert nets["b"].records == ["2"]


def test_a_change_no_one_is_shown_is_no_net_change() -> None:
    old = PresenceState("a", ONLINE, "", connections={"c1": Connection("web", 1)}, version=1)
    new = PresenceState("a", ONLINE, "", connections={"c2": Connection("ios", 2)}, version=2)
    assert _coalesce([Change("a", old, new, "7")]) == {}


def test_small_audiences_are_posted_here_within_the_budget_and_long_lists_queued() -> None:
    pushes = {u: net(u, "1") for u in ("a", "b", "c", "d")}
    plan = {"a": [None] * 150, "b": [None] * 100, "c": [None] * 50, "d": [None] * 1}
    inline, queued = _split(pushes, plan, {"d": [("subscribers", {"k": 1})]})  # type: ignore[arg-type]
    assert inline == ["a", "c"]  # 150 + 50 of the 200; b would pass the budget
    assert queued == ["b", "d"]  # d's subscribers go on past the first page
