"""Appear offline (API.md section 3, `invisible` in section 4): everyone else sees an invisible
user as logged out at the moment it hid, with the version of that moment, through every path
(getUserStatus, the stream consumer's own posts, delivery and page jobs, a retried batch);
its own devices and the admin see the truth with `invisible: true`; events carry the truth
with `invisible`; it lasts across logouts until turned off."""

from __future__ import annotations

from typing import Any

import pytest

from local.harness import drain_delivery_queue
from presence import clock, config, store
from presence.lifecycle import Connection
from presence.store._dynamo import batch_write
from presence.store.subscriptions import subscription_item
from tests.integration import test_fanout
from tests.integration.conftest import Api, World, concurrently
from tests.integration.test_events import Backend
from tests.integration.test_fanout import Fanout, Sockets, connect, crowd

# the stream consumer and the captured sockets of test_fanout, as fixtures here too
fanout, sockets, no_backoff = test_fanout.fanout, test_fanout.sockets, test_fanout.no_backoff

ONLINE, OFFLINE, UNLOGINED = 1, 2, 3


def set_status(api: Api, user: str = "alice", **body: Any) -> dict[str, Any]:
    return api.call("set_self_status", body, user=user).data


def read(api: Api, user: str, reader: str) -> dict[str, Any]:
    (entry,) = api.get_user_status([user], user=reader).data["successUserList"]
    return dict(entry)


def of(world: World, connection_id: str, user: str = "alice") -> list[dict[str, Any]]:
    return [s for s in world.pushes(connection_id) if s["userID"] == user]


def logged_out_at(at: int, version: int) -> dict[str, Any]:
    """All a watcher may learn about an invisible user."""
    return {
        "userID": "alice",
        "statusType": UNLOGINED,
        "customStatus": "",
        "lastActiveTime": at,
        "version": version,
        "customStatusExpiresAt": 0,
    }


def test_going_invisible_shows_others_a_logout_and_alice_the_truth(api: Api, world: World) -> None:
    bob = world.online("bob")
    assert api.subscribe(["alice"], user="bob").status == 200
    alice = world.online("alice")
    set_status(api, customStatus="in a call")
    world.pump()
    world.advance(10)
    hid_at = world.now

    mine = set_status(api, invisible=True)
    world.pump()
    assert (mine["statusType"], mine["customStatus"], mine["invisible"]) == (
        ONLINE,
        "in a call",
        True,
    )
    version = mine["version"]
    assert of(world, bob)[-1] == logged_out_at(hid_at, version)
    assert read(api, "alice", "bob") == logged_out_at(hid_at, version)
    own = of(world, alice)[-1]
    assert (own["statusType"], own["customStatus"], own["invisible"]) == (
        ONLINE,
        "in a call",
        True,
    )
    assert read(api, "alice", "alice") == {**own, "lastActiveTime": 0}


def test_changes_while_invisible_reach_only_alices_devices_across_logouts(
    api: Api, world: World
) -> None:
    bob = world.online("bob")
    assert api.subscribe(["alice"], user="bob").status == 200
    alice = world.online("alice", "web")
    hid = set_status(api, invisible=True)
    world.pump()
    seen_by_bob = read(api, "alice", "bob")
    pushed_to_bob = len(of(world, bob))

    set_status(api, customStatus="secret plans")
    world.pump()
    assert of(world, alice)[-1]["customStatus"] == "secret plans"
    tablet = world.online("alice", "ipad")
    world.disconnect(alice)
    world.advance(30)  # web's grace, the 30 s clear: the real status goes on underneath
    world.send(tablet, '{"action": "logout"}')
    world.advance(35)  # logged out everywhere: the custom status is cleared after 30 s
    alice_again = world.online("alice", "web")  # a new login: still invisible
    world.advance(5)

    assert len(of(world, bob)) == pushed_to_bob  # bob heard nothing of any of it
    assert read(api, "alice", "bob") == seen_by_bob
    assert read(api, "alice", "alice")["invisible"] is True
    assert of(world, alice_again)[-1]["invisible"] is True

    back = set_status(api, invisible=False)
    world.pump()
    assert "invisible" not in back
    told = of(world, bob)[-1]
    assert (told["statusType"], told["customStatus"]) == (ONLINE, "")
    assert told["version"] > hid["version"]  # newer than the logout bob was shown
    assert read(api, "alice", "bob") == told


def test_going_invisible_while_logged_out_tells_watchers_nothing_new(
    api: Api, world: World
) -> None:
    bob = world.online("bob")
    assert api.subscribe(["alice"], user="bob").status == 200
    alice = world.online("alice")
    world.disconnect(alice)
    world.advance(10)
    before = read(api, "alice", "bob")
    pushed = len(of(world, bob))

    set_status(api, invisible=True)
    world.pump()
    assert len(of(world, bob)) == pushed  # what bob sees did not change
    after = read(api, "alice", "bob")
    assert after["lastActiveTime"] == before["lastActiveTime"] > 0
    assert (after["statusType"], after["customStatus"]) == (UNLOGINED, "")


def test_a_friend_is_told_the_same_logout_and_nothing_after(api: Api, world: World) -> None:
    assert api.update_settings({"friendStatusNotify": True}).status == 200
    pairs = {"pairs": [{"userID": "alice", "friendID": "carol"}]}
    assert api.call("admin_import_friends", pairs, user="administrator").status == 200
    carol = world.online("carol")
    world.online("alice")
    set_status(api, customStatus="at lunch")
    world.pump()
    hid = set_status(api, invisible=True)
    world.pump()
    told = of(world, carol)
    assert told[-1] == logged_out_at(told[-1]["lastActiveTime"], hid["version"])
    set_status(api, customStatus="still here")
    world.pump()
    assert of(world, carol) == told


def test_a_silent_device_times_out_underneath_and_watchers_hear_nothing(
    api: Api, world: World
) -> None:
    """A phone that loses signal while its user is invisible: liveness still ends it (the real
    status goes on underneath), and a watcher learns nothing of it."""
    bob = world.online("bob")
    assert api.subscribe(["alice"], user="bob").status == 200
    phone = world.online("alice", "ios")
    laptop = world.online("alice", "web")
    set_status(api, invisible=True)
    world.pump()
    seen_by_bob, pushed = read(api, "alice", "bob"), len(of(world, bob))
    world.silent.add(phone)  # no frame, no close; pushes still reach it
    world.advance(90 + 5 + 1)  # the liveness timeout and the grace
    assert phone in world.closed
    assert set(store.get_presence("alice").connections) == {laptop}  # timed out underneath
    assert of(world, laptop)[-1]["invisible"] is True
    assert len(of(world, bob)) == pushed
    assert read(api, "alice", "bob") == seen_by_bob


def test_going_invisible_while_devices_come_and_go_at_once(
    api: Api, world: World, atomic_dynamodb: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent invocations on one item, and an invocation that dies after its write: the
    retried call changes nothing, watchers see one logout."""
    assert api.update_settings({"maxConnectionsPerUser": 100}).status == 200
    bob = world.online("bob")
    assert api.subscribe(["alice"], user="bob").status == 200
    opened = [world.online("alice") for _ in range(8)]
    world.pump()
    written: list[Any] = []
    save = store.save_self_status

    def dies_after_writing(before: Any, after: Any) -> bool:
        done = save(before, after)
        if done and not written:
            written.append(after)
            raise TimeoutError("the invocation died after its write")
        return done

    monkeypatch.setattr(store, "save_self_status", dies_after_writing)

    def work(i: int) -> int:
        if i == 0:
            return api.call("set_self_status", {"invisible": True}).status
        if i % 2:
            return int(world.disconnect(opened[i], pump=False)["statusCode"])
        return int(world.connect("alice", pump=False)[1]["statusCode"])

    answers = concurrently(work, 9)
    assert answers[0] == 500 and answers[1:] == [200] * 8  # 7012: the client tries again
    assert set_status(api, invisible=True)["invisible"] is True
    world.pump()
    world.advance(6)
    state = store.get_presence("alice")
    assert state.invisible and state.hidden_version == written[0].hidden_version
    told = [s for s in of(world, bob) if s["version"] >= state.hidden_version]
    assert told == [logged_out_at(state.hidden_last_active_time, state.hidden_version)]


def test_last_active_time_stays_hidden_when_the_setting_hides_it(api: Api, world: World) -> None:
    assert api.update_settings({"lastActiveTimeVisible": False}).status == 200
    world.online("alice")
    set_status(api, invisible=True)
    assert read(api, "alice", "bob")["lastActiveTime"] == 0


def test_the_admin_and_events_see_the_truth_with_invisible(
    api: Api, world: World, backend: Backend
) -> None:
    world.online("alice", "ios")
    backend.take()
    set_status(api, invisible=True)
    world.pump()
    (event,) = backend.take()
    assert (event["reason"], event["statusType"], event["invisible"]) == (
        "invisible",
        ONLINE,
        True,
    )
    set_status(api, customStatus="hidden", user="alice")
    world.pump()
    (event,) = backend.take()
    assert (event["reason"], event["customStatus"], event["invisible"]) == (
        "setSelfStatus",
        "hidden",
        True,
    )

    reply = api.call("admin_query_online_status", {"userIDList": ["alice"]}, user="administrator")
    (entry,) = reply.data["successUserList"]
    assert (entry["statusType"], entry["customStatus"], entry["invisible"]) == (
        ONLINE,
        "hidden",
        True,
    )
    tencent = api.tencent(
        "tencent_query_online_status", {"To_Account": ["alice"], "IsReturnCustomStatus": 1}
    )
    assert tencent["QueryResult"][0]["Status"] == "Online"
    assert tencent["QueryResult"][0]["CustomStatus"] == "hidden"

    set_status(api, invisible=False)
    world.pump()
    (event,) = backend.take()
    assert (event["reason"], event["invisible"]) == ("invisible", False)


@pytest.fixture
def backend(api: Api, world: World) -> Backend:
    assert api.update_settings({"statusChangeEvents": True}).status == 200
    return Backend()


def test_bad_invisible_values_are_6017_and_change_nothing(api: Api, world: World) -> None:
    world.online("alice")
    set_status(api, customStatus="kept")
    before = store.get_presence("alice")
    for body in (
        {"invisible": "yes"},
        {"invisible": 1},
        {"invisible": None},
        {"invisible": True, "customStatus": None},
        {},
    ):
        reply = api.call("set_self_status", body)
        assert (reply.status, reply.code) == (400, 6017), body
        assert "invisible" in reply.body["message"] or "customStatus" in reply.body["message"]
    assert store.get_presence("alice") == before


# --- large audiences: delivery jobs, page jobs, a retried batch ---------------------------------


def masked(statuses: list[dict[str, Any]]) -> bool:
    """Whether every status is what a watcher may see of an invisible star."""
    return all((s["statusType"], s["customStatus"]) == (UNLOGINED, "") for s in statuses)


def thousand_fans_of(target: str) -> list[str]:
    """1,000 subscribers of `target`, each with one live connection, written straight to the
    tables (the connect path is not under test here; its stream records are skipped)."""
    fans = [f"fan{i:04d}" for i in range(1000)]
    now = clock.now_ms()
    for fan in fans:
        store.add_connection(fan, f"{fan}-web", Connection("web", now))
    batch_write(
        config.subscriptions_table(),
        [
            {
                "PutRequest": {
                    "Item": subscription_item(fan, store.Subscription(target, 1), now // 1000)
                }
            }
            for fan in fans
        ],
    )
    return fans


@pytest.mark.usefixtures("no_backoff")
def test_an_invisible_user_with_1000_subscribers_is_only_ever_logged_out_to_them(
    api: Api, fanout: Fanout, sockets: Sockets, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("presence.fanout.FIRST_PAGE", 100)  # page jobs for the rest
    monkeypatch.setattr("presence.delivery.PAGE_SIZE", 300)
    fans = thousand_fans_of("star")
    fanout.stream.skip()
    connect("star", "star-web")
    set_status(api, user="star", customStatus="on stage")
    fanout.settle()

    set_status(api, user="star", invisible=True)
    assert fanout.run() == []
    for fan in fans:
        (told,) = sockets.statuses(f"{fan}-web")
        assert (told["statusType"], told["customStatus"]) == (UNLOGINED, ""), fan
    (own,) = sockets.statuses("star-web")
    assert (own["statusType"], own["customStatus"]) == (ONLINE, "on stage")

    sockets.posts.clear()
    set_status(api, user="star", customStatus="backstage")  # only star's own device hears it
    assert fanout.run() == []
    assert sockets.receivers() == {"star-web"}


@pytest.mark.usefixtures("no_backoff")
def test_a_retried_batch_never_tells_watchers_the_invisible_users_status(
    api: Api, fanout: Fanout, sockets: Sockets, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("presence.fanout.INLINE_BUDGET", 0)  # everything through jobs
    fans = crowd(api, "star", 30)
    connect("star", "star-web")
    fanout.settle()
    set_status(api, user="star", invisible=True)
    set_status(api, user="star", customStatus="secret")
    records = fanout.stream.take()
    calls = 0
    send_jobs = store.send_delivery_jobs

    def fail_first(jobs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("SQS unavailable")
        send_jobs(jobs)

    monkeypatch.setattr(store, "send_delivery_jobs", fail_first)
    failed = fanout.handle(records)
    assert failed  # Lambda retries the batch from the first failed record
    first = min(failed, key=lambda seq: (len(seq), seq))
    retry = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) >= int(first)]
    assert fanout.handle(retry) == []
    drain_delivery_queue()
    for fan in fans:
        statuses = sockets.statuses(f"{fan}-web")
        assert statuses and masked(statuses), (fan, statuses)
        assert len(statuses) == 1, fan
    assert sockets.statuses("star-web")[-1]["customStatus"] == "secret"
