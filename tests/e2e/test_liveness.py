"""Liveness through the local runtime (API.md sections 6 and 7), with a 3 s timeout so the tests
are short: a socket whose client went silent is timed out even while the server keeps pushing
to it (as on AWS, where such a socket is never idle), its watchers are told, and it is closed;
a client that beats (raw frames, or the Python SDK adopting the announced interval) never is.

A runtime of its own (PRESENCE_LIVENESS_TIMEOUT_SECONDS=3): the session's runtime keeps the
default 90 s."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from presence_client import PresenceClient
from presence_client.models import NetState

from tests.e2e.conftest import (
    ADMIN,
    ONLINE,
    UNLOGINED,
    Http,
    Runtime,
    Sockets,
    start_runtime,
    statuses,
    stop_runtime,
    user_sig,
)

TIMEOUT = 3  # seconds
GRACE = 1
HEARTBEAT = TIMEOUT // 3
SLACK = 10  # the bound: timeout + grace + 10 s


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    log = Path(tmp_path_factory.mktemp("liveness")) / "runtime.log"
    started = start_runtime(log, PRESENCE_LIVENESS_TIMEOUT_SECONDS=str(TIMEOUT))
    http = Http(started.http_url)
    http.update_settings({"reconnectGraceSeconds": GRACE})
    yield started
    stop_runtime(started)


@pytest.fixture
def q_http(quick: Runtime) -> Http:
    return Http(quick.http_url)


@pytest.fixture
def q_sockets(quick: Runtime) -> Iterator[Sockets]:
    opened = Sockets(quick.ws_url)
    yield opened
    opened.close_all()


def test_pong_announces_a_third_of_the_timeout(
    q_sockets: Sockets, uid: Callable[[str], str]
) -> None:
    socket_ = q_sockets.open(uid("alice"))
    socket_.send(json.dumps({"action": "ping"}))
    pong = socket_.wait_for(lambda f: f.get("event") == "pong")
    assert pong == {"event": "pong", "heartbeatSeconds": HEARTBEAT}
    socket_.send(json.dumps({"action": "beat"}))  # no answer
    assert socket_.pushes_about("nobody", 1.0) == []
    assert all(f.get("event") != "error" for f in socket_.frames)


def test_a_silent_client_that_keeps_receiving_pushes_is_timed_out(
    q_http: Http, q_sockets: Sockets, uid: Callable[[str], str]
) -> None:
    alice, bob, carol = uid("alice"), uid("bob"), uid("carol")
    watcher = q_sockets.open(bob)
    q_http.subscribe(bob, [alice]).ok()
    silent = q_sockets.open(alice)  # never sends a frame after the handshake
    q_http.subscribe(alice, [carol]).ok()
    watcher.wait_status(alice, ONLINE)
    started = time.monotonic()
    pushes = 0
    gone = None
    while time.monotonic() - started < TIMEOUT + GRACE + SLACK:
        q_http.set_self_status(carol, f"step {pushes}").ok()  # a push to alice's socket
        pushes += 1
        found = watcher.pushes_about(alice, 0.5)
        watcher.send(json.dumps({"action": "beat"}))  # bob's device is alive
        if any(s["statusType"] == UNLOGINED for s in found):
            gone = time.monotonic() - started
            break
    assert gone is not None, "the silent client was never timed out"
    assert TIMEOUT <= gone + 0.5 <= TIMEOUT + GRACE + SLACK
    assert silent.closed_by_server(timeout=5)  # and its socket is closed
    # pushes kept reaching it while it was silent: they did not keep it alive
    assert any(s["userID"] == carol for f in silent.frames for s in statuses(f))


def test_a_client_that_beats_never_times_out(
    q_http: Http, q_sockets: Sockets, uid: Callable[[str], str]
) -> None:
    alice, bob = uid("alice"), uid("bob")
    watcher = q_sockets.open(bob)
    q_http.subscribe(bob, [alice]).ok()
    beating = q_sockets.open(alice, "ios")
    watcher.wait_status(alice, ONLINE)
    deadline = time.monotonic() + 3 * TIMEOUT + 2
    while time.monotonic() < deadline:
        beating.send(json.dumps({"action": "beat"}))
        watcher.send(json.dumps({"action": "beat"}))
        assert watcher.pushes_about(alice, HEARTBEAT) == []
    assert q_http.status_of(alice) == (ONLINE, "")


def test_the_python_sdk_adopts_the_announced_heartbeat_and_stays_online(
    quick: Runtime, q_http: Http, uid: Callable[[str], str]
) -> None:
    alice = uid("alice")
    client = PresenceClient(
        user_sig(alice), http_url=quick.http_url, ws_url=quick.ws_url, heartbeat_interval=30
    )
    try:
        client.login()
        before = devices(q_http, alice)
        time.sleep(3 * TIMEOUT + 1)
        assert client.net_state == NetState.CONNECTED
        assert q_http.status_of(alice) == (ONLINE, "")
        # the same connection all along: never timed out and reconnected within the grace
        assert devices(q_http, alice) == before and len(before) == 1
    finally:
        client.close()


def devices(http: Http, user: str) -> list[dict[str, object]]:
    reply = http.call(
        "/v1/admin/queryOnlineStatus",
        {"userIDList": [user], "includeDevices": True},
        user=ADMIN,
    )
    return list(reply.data["successUserList"][0]["devices"])
