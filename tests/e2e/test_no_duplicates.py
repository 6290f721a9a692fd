"""Latest-value delivery under a burst, through the local runtime (API.md section 6; issue 20,
item 4): 30 setSelfStatus of one user at once, 8 connections watching. The runtime's stream
poller hands the fan-out batches while the writes land, so most records it sees are overtaken
by newer ones; each connection still gets each version at most once, in order, and the final
value exactly once."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tests.e2e.conftest import ONLINE, Http, Socket, Sockets, statuses

Uid = Callable[[str], str]
ROUNDS = 5  # before the fix a duplicate showed in 1 to 4 bursts of 6: 5 catch it mostly


def test_a_burst_of_thirty_changes_reaches_eight_connections_without_duplicates(
    sockets: Sockets, http: Http, uid: Uid
) -> None:
    alice = uid("alice")
    watchers: list[Socket] = [sockets.open(alice) for _ in range(4)]
    for name in ("bob", "carol", "dave", "erin"):
        user = uid(name)
        http.subscribe(user, [alice]).ok()
        watchers.append(sockets.open(user))
    watchers[0].wait_status(alice, ONLINE)
    for watcher in watchers:
        watcher.pushes_about(alice, during=0.5)  # whatever came before the bursts
    for burst in range(ROUNDS):
        values = [f"b{burst}-{i:02d}" for i in range(30)]
        with ThreadPoolExecutor(max_workers=30) as pool:
            replies = list(pool.map(lambda v: http.set_self_status(alice, v), values))
        latest = max((r.data for r in replies), key=lambda data: int(data["version"]))
        for watcher in watchers:
            watcher.wait_status(alice, custom_status=latest["customStatus"], timeout=15)
        watchers[0].pushes_about(alice, during=2.0)  # time for a duplicate to come
        for n, watcher in enumerate(watchers):
            watcher.pushes_about(alice, during=0.05)
            versions = [
                s["version"]
                for frame in watcher.frames
                for s in statuses(frame)
                if s["userID"] == alice and str(s["customStatus"]).startswith(f"b{burst}-")
            ]
            assert len(versions) == len(set(versions)), (burst, n, versions)
            assert versions == sorted(versions), (burst, n, versions)
            assert versions[-1] == latest["version"], (burst, n, versions, latest)
