"""Tencent's State.StateChange callback through the local runtime (API.md sections 7 and 10):
`make run` with PRESENCE_CALLBACK_URL and PRESENCE_CALLBACK_TOKEN posts every login, logout,
disconnect and liveness timeout of a device to the URL, signed, and retries what the callee
does not take, without holding up anyone else's callbacks or pushes.

The runtime is this module's own (its callback URL is a server of this module; a 6 s liveness
timeout makes a silent device time out quickly).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.callee import TAKEN, Answer, Callee
from tests.e2e.conftest import (
    ADMIN,
    ONLINE,
    SDKAPPID,
    Http,
    Runtime,
    Sockets,
    start_runtime,
    stop_runtime,
)

TOKEN = "e2e-callback-token"
LIVENESS_SECONDS = 6


@pytest.fixture(scope="module")
def callee() -> Iterator[Callee]:
    started = Callee()
    yield started
    started.server.shutdown()


@pytest.fixture(scope="module")
def own_runtime(tmp_path_factory: pytest.TempPathFactory, callee: Callee) -> Iterator[Runtime]:
    log_path: Path = tmp_path_factory.mktemp("callbacks") / "runtime.log"
    started = start_runtime(
        log_path,
        PRESENCE_CALLBACK_URL=callee.url,
        PRESENCE_CALLBACK_TOKEN=TOKEN,
        PRESENCE_LIVENESS_TIMEOUT_SECONDS=str(LIVENESS_SECONDS),
    )
    yield started
    stop_runtime(started)


@pytest.fixture(scope="module")
def http(own_runtime: Runtime) -> Iterator[Http]:
    client = Http(own_runtime.http_url)
    yield client
    client.client.close()


@pytest.fixture
def sockets(own_runtime: Runtime) -> Iterator[Sockets]:
    opened = Sockets(own_runtime.ws_url)
    yield opened
    opened.close_all()


def assert_signed(request: dict[str, Any], platform: str) -> None:
    """Tencent's query string, with RequestTime and Sign = sha256(token + RequestTime)."""
    query = request["query"]
    request_time = query["RequestTime"]
    assert query == {
        "SdkAppid": str(SDKAPPID),
        "CallbackCommand": "State.StateChange",
        "contenttype": "json",
        "ClientIP": "127.0.0.1",
        "OptPlatform": platform,
        "RequestTime": request_time,
        "Sign": hashlib.sha256(f"{TOKEN}{request_time}".encode()).hexdigest(),
    }
    assert abs(int(request_time) - request["at"]) < 5  # signed when sent, not when queued
    body = request["body"]
    assert set(body) == {"CallbackCommand", "EventTime", "Info", "KickedDevice"}
    assert body["CallbackCommand"] == "State.StateChange"
    assert abs(body["EventTime"] / 1000 - request["at"]) < 30


def test_the_runtime_says_where_callbacks_go(own_runtime: Runtime, callee: Callee) -> None:
    assert f"State.StateChange -> {callee.url}" in own_runtime.log_text()


def test_login_and_logout_are_posted_signed(
    sockets: Sockets, callee: Callee, uid: Callable[[str], str]
) -> None:
    alice = uid("alice")
    socket_ = sockets.open(alice, "web")
    (login,) = callee.wait(alice, "Login", "Register")
    assert_signed(login, "Web")
    assert login["path"] == "/tencent/callback"
    assert login["body"]["Info"] == {"Action": "Login", "To_Account": alice, "Reason": "Register"}
    assert login["body"]["KickedDevice"] == []
    socket_.send('{"action": "logout"}')
    (logout,) = callee.wait(alice, "Logout", "Unregister")
    assert_signed(logout, "Web")
    assert logout["body"]["EventTime"] >= login["body"]["EventTime"]


def test_a_closed_socket_is_a_disconnect_linkclose(
    sockets: Sockets, callee: Callee, uid: Callable[[str], str]
) -> None:
    bob = uid("bob")
    socket_ = sockets.open(bob, "android")
    callee.wait(bob, "Login", "Register")
    socket_.close()
    (disconnect,) = callee.wait(bob, "Disconnect", "LinkClose")
    assert_signed(disconnect, "Android")


def test_a_silent_device_is_a_disconnect_timeout(
    sockets: Sockets, callee: Callee, uid: Callable[[str], str]
) -> None:
    carol = uid("carol")
    silent = sockets.open(carol, "mac")  # sends nothing: no beat, no ping
    callee.wait(carol, "Login", "Register")
    (timeout,) = callee.wait(carol, "Disconnect", "TimeOut", timeout=LIVENESS_SECONDS + 15)
    assert_signed(timeout, "Mac")
    assert silent.closed_by_server()


def test_a_kick_is_a_logout_unregister_of_each_device(
    http: Http, sockets: Sockets, callee: Callee, uid: Callable[[str], str]
) -> None:
    dave = uid("dave")
    sockets.open(dave, "web")
    sockets.open(dave, "ios")
    callee.wait(dave, "Login", "Register", count=2)
    assert http.call("/v1/admin/kickUser", {"userID": dave}, user=ADMIN).status == 200
    logouts = callee.wait(dave, "Logout", "Unregister", count=2)
    assert sorted(r["query"]["OptPlatform"] for r in logouts) == ["IPhone", "Web"]
    for request in logouts:
        assert_signed(request, request["query"]["OptPlatform"])


def test_a_login_past_the_cap_lists_the_device_it_closed(
    http: Http, sockets: Sockets, callee: Callee, uid: Callable[[str], str]
) -> None:
    before = http.settings()["maxConnectionsPerUser"]
    http.update_settings({"maxConnectionsPerUser": 2})
    try:
        erin = uid("erin")
        oldest = sockets.open(erin, "web")
        callee.wait(erin, "Login", "Register")
        sockets.open(erin, "android")
        callee.wait(erin, "Login", "Register", count=2)
        sockets.open(erin, "windows")
        logins = callee.wait(erin, "Login", "Register", count=3)
        last = next(r for r in logins if r["query"]["OptPlatform"] == "Windows")
        assert_signed(last, "Windows")
        assert last["body"]["KickedDevice"] == [{"Platform": "Web"}]
        oldest.wait_for(lambda f: f == {"event": "kickedOut", "reason": "multipleAccount"})
        assert oldest.closed_by_server()
        time.sleep(2)  # the closed device gets no callback of its own (Tencent: only the Login)
        assert [r["body"]["Info"]["Action"] for r in callee.of(erin)] == ["Login"] * 3
    finally:
        http.update_settings({"maxConnectionsPerUser": before})


def test_a_callback_the_callee_refused_is_retried_within_30_seconds(
    sockets: Sockets, callee: Callee, uid: Callable[[str], str]
) -> None:
    frank = uid("frank")
    refused: list[float] = []

    def refuse_the_first(request: dict[str, Any]) -> Answer | None:
        if request["body"]["Info"]["To_Account"] != frank or refused:
            return None
        refused.append(request["at"])
        return 500, {"ActionStatus": "FAIL", "ErrorCode": 1, "ErrorInfo": "try later"}, 0

    callee.policies.append(refuse_the_first)
    try:
        sockets.open(frank, "web")
        first, second = callee.wait(frank, "Login", "Register", count=2, timeout=40)
    finally:
        callee.policies.remove(refuse_the_first)
    assert first["body"] == second["body"]  # the same callback
    assert 3 <= second["at"] - first["at"] < 30  # after its backoff (5 s), within 30 s
    assert_signed(first, "Web")
    assert_signed(second, "Web")  # signed again, at its own RequestTime


def test_a_failing_callee_delays_no_other_users_callbacks_or_pushes(
    http: Http, sockets: Sockets, callee: Callee, uid: Callable[[str], str]
) -> None:
    stuck, other, watcher = uid("stuck"), uid("other"), uid("watcher")

    def hang(request: dict[str, Any]) -> Answer | None:
        if request["body"]["Info"]["To_Account"] != stuck:
            return None
        return 200, TAKEN, 8.0  # answers, but far past the 2 s allowed: never taken

    callee.policies.append(hang)
    try:
        watching = sockets.open(watcher, "web")
        assert http.subscribe(watcher, [other]).status == 200
        sockets.open(stuck, "web")
        (hung,) = callee.wait(stuck, "Login", "Register")
        connected_at = time.time()
        sockets.open(other, "web")  # while stuck's callback is hanging
        (login,) = callee.wait(other, "Login", "Register", timeout=10)
        assert login["at"] - connected_at < 5
        assert login["at"] < hung["at"] + 8  # before the hanging request even ended
        pushed_at = time.time()
        http.set_self_status(other, "here")
        watching.wait_status(other, ONLINE, "here", timeout=5)
        assert time.time() - pushed_at < 5
        # stuck's callback is not lost: it is tried again after its backoff
        callee.wait(stuck, "Login", "Register", count=2, timeout=30)
    finally:
        callee.policies.remove(hang)
