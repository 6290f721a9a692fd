"""Latest-value delivery without duplicates (API.md section 6; issue 20, item 4).

A change is pushed at most once per connection, even when the fan-out meets a record that a
newer write has overtaken (it pushes the newest value then) and the newer write's own record
follows in a later batch, and even when Lambda retries a batch. Unlike test_fanout.py's tests of
the overtaken case, these process every follow-up batch (also the stream records the fan-out's
own bookkeeping writes): what a user would see is each connection's full list of frames.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from presence import store
from tests.integration.conftest import (
    Api,
    World,
    concurrently,
    drain_delivery_queue,
    stream_consumer,
)


def seq(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def consume(world: World, records: list[dict[str, Any]], *, retries: int = 0) -> int:
    """Feed one batch to the stream consumer as Lambda's event source mapping does: a batch
    that reports failures is retried from its first failed record. Returns the retries made."""
    attempts = 0
    while records:
        failed = stream_consumer(records)
        drain_delivery_queue()
        if not failed:
            break
        attempts += 1
        assert attempts <= retries, f"stream records failed: {failed}"
        records = records[min([seq(r) for r in records].index(f) for f in failed) :]
    return attempts


def follow_up(world: World, *, split: int = 0) -> None:
    """Process every batch the stream still holds, until nothing is left (the fan-out's own
    writes make records too); `split` > 0: at most that many records per batch."""
    while records := world.stream.take():
        size = split or len(records)
        for start in range(0, len(records), size):
            consume(world, records[start : start + size])


def pushes_of(world: World, connection_id: str, user: str) -> list[dict[str, Any]]:
    return [s for s in world.pushes(connection_id) if s["userID"] == user]


def assert_latest_value_once(
    world: World, connections: list[str], user: str, final: str, *, earlier: tuple[str, ...] = ()
) -> None:
    """What each connection saw of `user`: `final` exactly once and last, no value twice,
    versions strictly growing, nothing but `earlier` values besides."""
    for connection_id in connections:
        seen = pushes_of(world, connection_id, user)
        values = [s["customStatus"] for s in seen]
        versions = [s["version"] for s in seen]
        assert values.count(final) == 1, (connection_id, values)
        assert values[-1] == final, (connection_id, values)
        assert len(versions) == len(set(versions)), (connection_id, versions)
        assert versions == sorted(versions), (connection_id, versions)
        assert set(values) <= {final, *earlier}, (connection_id, values)


@pytest.fixture
def watched(api: Api, world: World) -> list[str]:
    """alice on three devices, bob (two devices) and carol subscribed to her: six connections
    that watch alice, every earlier frame forgotten."""
    connections = [world.online("alice") for _ in range(3)]
    connections += [world.online("bob"), world.online("bob", "ios"), world.online("carol")]
    api.subscribe(["alice"], user="bob")
    api.subscribe(["alice"], user="carol")
    world.pump()
    world.frames.clear()
    return connections


@pytest.fixture(params=["inline", "jobs"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Posted by the stream consumer itself, or through delivery jobs."""
    if request.param == "jobs":
        monkeypatch.setattr("presence.fanout.INLINE_BUDGET", 0)
    return str(request.param)


@pytest.mark.parametrize("split", [0, 1])
def test_an_overtaken_record_and_the_record_that_overtook_it_push_the_newest_value_once(
    api: Api, world: World, watched: list[str], path: str, split: int
) -> None:
    api.set_self_status("A", user="alice")
    change_a = world.stream.take()
    api.set_self_status("B", user="alice")  # before the fan-out has read alice's item
    consume(world, change_a)  # overtaken: pushes B, the newest value
    follow_up(world, split=split)  # B's own record, and every record after it
    assert_latest_value_once(world, watched, "alice", "B", earlier=("A",))


def test_a_user_changing_faster_than_the_fan_out_hears_each_value_once(
    api: Api, world: World, watched: list[str]
) -> None:
    for n in range(3):
        api.set_self_status(f"v{n}", user="alice")
        batch = world.stream.take()
        api.set_self_status(f"v{n}-next", user="alice")
        consume(world, batch)
    follow_up(world, split=1)
    values = [f"v{n}" for n in range(3)] + [f"v{n}-next" for n in range(2)]
    assert_latest_value_once(world, watched, "alice", "v2-next", earlier=tuple(values))


def timers_failing_once_for(world: World, monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    """The timers queue fails once for a batch holding `user`'s record: Lambda retries the
    batch from that record."""
    send_timers = store.send_timers  # (the World's capture)
    failing = [True]

    def flaky(timers: Any, now_ms: int) -> None:
        if failing[0] and any(t.user_id == user for t in timers):
            failing[0] = False
            raise ClientError({"Error": {"Code": "ServiceUnavailable"}}, "SendMessageBatch")
        send_timers(timers, now_ms)

    monkeypatch.setattr(store, "send_timers", flaky)


@pytest.mark.parametrize("fault_first", [True, False])
def test_a_retried_batch_with_an_overtaken_record_pushes_the_newest_value_once(
    api: Api,
    world: World,
    watched: list[str],
    path: str,
    fault_first: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """erin's record fails (its timers could not be queued) before or after alice's overtaken
    one: the retry runs from erin's record (with or without alice's), then every follow-up."""
    dave = world.online("dave")
    api.subscribe(["erin"], user="dave")
    world.pump()
    world.frames.clear()
    # erin sets a status while not ONLINE: its record needs a timer (the custom status clear)
    writes = [("erin", "E"), ("alice", "A")]
    for user, value in writes if fault_first else writes[::-1]:
        api.set_self_status(value, user=user)
    batch = world.stream.take()
    api.set_self_status("B", user="alice")
    timers_failing_once_for(world, monkeypatch, "erin")
    assert consume(world, batch, retries=1) == 1
    follow_up(world)
    assert_latest_value_once(world, watched, "alice", "B", earlier=("A",))
    assert [s["customStatus"] for s in pushes_of(world, dave, "erin")] == ["E"]


def test_a_batch_delivered_again_whole_pushes_nothing_twice(
    api: Api, world: World, watched: list[str]
) -> None:
    """Lambda runs the overtaken batch again from the start (its invocation timed out after
    posting, say): the overtaken record's value was pushed, it is not pushed again."""
    api.set_self_status("A", user="alice")
    change_a = world.stream.take()
    api.set_self_status("B", user="alice")
    consume(world, change_a)
    consume(world, change_a)
    follow_up(world)
    assert_latest_value_once(world, watched, "alice", "B", earlier=("A",))


def test_a_failed_marker_write_fails_nothing_and_costs_at_most_one_duplicate(
    api: Api, world: World, watched: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unavailable(*args: Any, **kwargs: Any) -> bool:
        raise ClientError({"Error": {"Code": "InternalServerError"}}, "UpdateItem")

    monkeypatch.setattr(store, "mark_pushed", unavailable)
    api.set_self_status("A", user="alice")
    change_a = world.stream.take()
    api.set_self_status("B", user="alice")
    consume(world, change_a)  # no failure reported: Lambda does not retry it
    follow_up(world)
    for connection_id in watched:
        values = [s["customStatus"] for s in pushes_of(world, connection_id, "alice")]
        assert values == ["B", "B"], (connection_id, values)


def test_the_marker_record_pushes_nothing_publishes_nothing_and_queues_no_timer(
    api: Api, world: World, watched: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.update_settings({"statusChangeEvents": True}).status == 200
    published: list[dict[str, Any]] = []
    put_events = store.put_events

    def capture(entries: Any) -> int | None:
        published.extend(json.loads(entry["Detail"]) for entry in entries)
        return put_events(entries)

    monkeypatch.setattr(store, "put_events", capture)
    api.set_self_status("A", user="alice")
    change_a = world.stream.take()
    api.set_self_status("B", user="alice")
    consume(world, change_a)
    change_b, *marker = world.stream.take()  # the marker was written after B
    consume(world, [change_b])  # pushes nothing: B was pushed
    assert [e["customStatus"] for e in published] == ["A", "B"]  # one per record
    timers = len(world.sent_timers)
    assert [r["eventName"] for r in marker] == ["MODIFY"]
    images = marker[0]["dynamodb"]
    assert set(images["NewImage"]) - set(images["OldImage"]) == {"pushedVersion"}
    assert images["NewImage"]["version"] == images["OldImage"]["version"]  # not a change
    consume(world, marker)
    assert world.stream.take() == []
    assert_latest_value_once(world, watched, "alice", "B")
    assert len(world.sent_timers) == timers
    assert len(published) == 2
    assert store.get_presence("alice").custom_status == "B"


# --- under concurrency --------------------------------------------------------------------------


@pytest.fixture
def crowd(api: Api, world: World, atomic_dynamodb: None) -> list[str]:
    """alice on four devices; bob, carol, dave and erin subscribed to her, one device each:
    eight connections watching alice."""
    connections = [world.online("alice") for _ in range(4)]
    for user in ("bob", "carol", "dave", "erin"):
        connections.append(world.online(user))
        api.subscribe(["alice"], user=user)
    world.pump()
    world.frames.clear()
    return connections


@pytest.mark.parametrize("split", [1, 4, 7])
def test_thirty_concurrent_status_changes_reach_eight_connections_without_duplicates(
    api: Api, world: World, crowd: list[str], split: int
) -> None:
    values = [f"s{i:02d}" for i in range(30)]
    concurrently(lambda i: api.set_self_status(values[i], user="alice"), len(values))
    final = store.get_presence("alice").custom_status
    follow_up(world, split=split)  # every record is overtaken but the last
    assert_latest_value_once(world, crowd, "alice", final, earlier=tuple(values))


class Fanning:
    """The stream consumer on its own thread while the test writes, as Lambda's poller runs it
    (one batch at a time, each holding what the stream had when it was read)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.done = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.done.is_set():
                if records := self.world.stream.take():
                    consume(self.world, records)
                else:
                    self.done.wait(0.01)
            follow_up(self.world)
        except BaseException as exc:  # the test reports it
            self.errors.append(exc)

    def finish(self) -> None:
        """Let it finish what the stream holds, and wait for that."""
        self.done.set()
        self.thread.join()
        assert not self.errors, self.errors


@pytest.fixture
def fanning(world: World) -> Iterator[Fanning]:
    running = Fanning(world)
    try:
        yield running
    finally:
        running.done.set()
        running.thread.join()


def test_thirty_concurrent_changes_fanned_out_while_they_are_written_arrive_once(
    api: Api, world: World, crowd: list[str], fanning: Fanning
) -> None:
    values = [f"s{i:02d}" for i in range(30)]
    concurrently(lambda i: api.set_self_status(values[i], user="alice"), len(values))
    final = store.get_presence("alice").custom_status
    fanning.finish()
    assert world.stream.take() == []
    assert_latest_value_once(world, crowd, "alice", final, earlier=tuple(values))


# --- delivery jobs --------------------------------------------------------------------------------


def test_a_page_job_overtaken_while_it_runs_leaves_the_newest_value_to_its_own_jobs(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The star changes again while a page job of the previous change is reading its page of
    subscribers: the job posts neither value (the newer one has its own jobs), so each fan gets
    the newest value once."""
    monkeypatch.setattr("presence.fanout.FIRST_PAGE", 4)  # the rest through page jobs
    monkeypatch.setattr("presence.delivery.PAGE_SIZE", 4)
    fans = [f"fan{i:02d}" for i in range(12)]
    connections = [world.online(fan) for fan in fans]
    for fan in fans:
        api.subscribe(["star"], user=fan)
    world.pump()
    world.frames.clear()
    watchers_page = store.watchers_page
    overtaken = [False]

    def page_then_a_new_status(user_id: str, source: str, cursor: Any, limit: int) -> Any:
        found = watchers_page(user_id, source, cursor, limit)
        if cursor is not None and not overtaken[0]:  # a page job of "one"
            overtaken[0] = True
            api.set_self_status("two", user="star")
        return found

    monkeypatch.setattr(store, "watchers_page", page_then_a_new_status)
    api.set_self_status("one", user="star")
    follow_up(world)
    assert overtaken[0]
    assert_latest_value_once(world, connections, "star", "two", earlier=("one",))


def test_the_marker_only_grows_and_is_no_status_change(api: Api, world: World) -> None:
    world.online("alice")
    api.set_self_status("A", user="alice")
    before = store.get_presence("alice")
    assert store.mark_pushed("alice", before.version)
    assert not store.mark_pushed("alice", before.version)  # as high already
    assert not store.mark_pushed("alice", before.version - 1)
    after = store.get_presence("alice")
    assert after.pushed_version == before.version
    assert after.version == before.version and after == before
    assert not store.mark_pushed("nobody", 5)  # no item is made for it
    assert store.get_presences(["nobody"])["nobody"].version == 0
    world.disconnect(world.online("alice"))  # a lifecycle write keeps the marker
    assert store.get_presence("alice").pushed_version == before.version
