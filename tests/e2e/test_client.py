"""The Python client SDK (sdk/python, `presence_client`) and its `presence` command against the
local runtime: every method, pushes, reconnects after a server-side close, re-sync of what
changed meanwhile, kicks, expired UserSigs and error codes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import httpx
import pytest
import TLSSigAPIv2
from presence_client import (
    ERROR,
    KICKED_OUT,
    NET_STATE_CHANGE,
    USER_STATUS_UPDATED,
    AsyncPresenceClient,
    ErrorCode,
    KickedOut,
    KickReason,
    NetState,
    NetStateChange,
    PresenceClient,
    PresenceError,
    StatusType,
    UserStatus,
    gen_user_sig,
    read_user_sig,
)

from local.aws import NAME_PREFIX
from presence.auth import gen_user_sig as server_gen_user_sig
from presence.auth import verify_user_sig
from tests.e2e.conftest import (
    ADMIN,
    GRACE_SECONDS,
    SDKAPPID,
    SECRET_KEY,
    Http,
    Runtime,
    Sockets,
    free_port,
    start_runtime,
    stop_runtime,
    user_sig,
)

Uid = Callable[[str], str]
Patch = Callable[[dict[str, Any]], dict[str, Any]]
ONLINE, OFFLINE, UNLOGINED = StatusType.ONLINE, StatusType.OFFLINE, StatusType.UNLOGINED


# --- helpers ------------------------------------------------------------------------------------


def plain(status: UserStatus | None) -> tuple[str, int, str] | None:
    """What these tests compare of a status (its version and lastActiveTime are tested apart)."""
    if status is None:
        return None
    return status.user_id, int(status.status_type), status.custom_status


class Drops:
    """Server-side closes without logout, as API Gateway does (2-hour limit, idle timeout): the
    runtime's @connections DELETE on each of a user's live connections (found in their Status
    item)."""

    def __init__(self, runtime: Runtime) -> None:
        found = re.search(r"moto .* at (http://\S+)", runtime.log_text())
        assert found, "the runtime log names no moto endpoint"
        self.dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=found.group(1),
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.management = runtime.ws_url.replace("ws://", "http://")

    def connection_ids(self, user_id: str) -> list[str]:
        """The user's live connections, from their Status item (dropped ones carry droppedAt)."""
        item = self.dynamodb.get_item(
            TableName=f"{NAME_PREFIX}-StatusTable",
            Key={"userID": {"S": user_id}},
            ConsistentRead=True,
        ).get("Item", {})
        connections = item.get("conns", {}).get("M", {})
        return [cid for cid, conn in connections.items() if "droppedAt" not in conn["M"]]

    def drop(self, user_id: str) -> int:
        """Close every socket of `user_id` from the server side; how many there were."""
        ids = self.connection_ids(user_id)
        for connection_id in ids:
            reply = httpx.delete(f"{self.management}/@connections/{connection_id}", timeout=10)
            assert reply.status_code == 204, (reply.status_code, reply.text)
        return len(ids)


class Recorder:
    """Every event of a client, for a test thread to wait on."""

    def __init__(self, client: PresenceClient) -> None:
        self.statuses: list[UserStatus] = []
        self.states: list[NetStateChange] = []
        self.kicks: list[KickedOut] = []
        self.errors: list[PresenceError] = []
        self._seen = 0
        self._cond = threading.Condition()
        client.on(USER_STATUS_UPDATED, self._add(self.statuses))
        client.on(NET_STATE_CHANGE, self._add(self.states))
        client.on(KICKED_OUT, self._add(self.kicks))
        client.on(ERROR, self._add(self.errors))

    def _add(self, into: list[Any]) -> Callable[[Any], None]:
        def add(payload: Any) -> None:
            with self._cond:
                if isinstance(payload, list):
                    into.extend(payload)
                else:
                    into.append(payload)
                self._cond.notify_all()

        return add

    def wait(self, predicate: Callable[[], bool], timeout: float = 8.0, what: str = "") -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise AssertionError(
                    f"timed out waiting for {what or predicate}: statuses={self.statuses}"
                    f" states={self.states} kicks={self.kicks} errors={self.errors}"
                )

    def wait_status(
        self,
        user_id: str,
        status_type: int | None = None,
        custom_status: str | None = None,
        timeout: float = 8.0,
    ) -> UserStatus:
        """The next update (not matched before) of `user_id` with these values."""

        def match(status: UserStatus) -> bool:
            return (
                status.user_id == user_id
                and (status_type is None or status.status_type == status_type)
                and (custom_status is None or status.custom_status == custom_status)
            )

        found: list[UserStatus] = []

        def ready() -> bool:
            for index in range(self._seen, len(self.statuses)):
                if match(self.statuses[index]):
                    self._seen = index + 1
                    found.append(self.statuses[index])
                    return True
            return False

        self.wait(ready, timeout, f"{user_id} {status_type} {custom_status!r}")
        return found[0]

    def about(self, user_id: str) -> list[UserStatus]:
        with self._cond:
            return [s for s in self.statuses if s.user_id == user_id]

    def mark(self) -> int:
        """The number of status updates so far (to look at the ones after it)."""
        with self._cond:
            return len(self.statuses)

    def since(self, mark: int) -> list[UserStatus]:
        with self._cond:
            return self.statuses[mark:]


@pytest.fixture
def drops(runtime: Runtime) -> Drops:
    return Drops(runtime)


@pytest.fixture
def clients(runtime: Runtime, http: Http) -> Iterator[Callable[..., PresenceClient]]:
    """make(userID, **options) -> a PresenceClient on the runtime, closed after the test."""
    made: list[PresenceClient] = []

    def make(user: str, *, token: str | None = None, **options: Any) -> PresenceClient:
        client = PresenceClient(
            token or user_sig(user),
            http_url=runtime.http_url,
            ws_url=runtime.ws_url,
            **options,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


async def anext_all(stream: Any) -> list[UserStatus]:
    return [status async for status in stream]


def async_client(runtime: Runtime, user: str, **options: Any) -> AsyncPresenceClient:
    return AsyncPresenceClient(
        user_sig(user), http_url=runtime.http_url, ws_url=runtime.ws_url, **options
    )


# --- UserSig ------------------------------------------------------------------------------------


def test_gen_user_sig_is_tencents_format(monkeypatch: pytest.MonkeyPatch) -> None:
    now = 1_700_000_000
    monkeypatch.setattr(TLSSigAPIv2, "time", SimpleNamespace(time=lambda: now))
    tencent = TLSSigAPIv2.TLSSigAPIv2(SDKAPPID, SECRET_KEY).gen_sig("alice", 86400)
    assert gen_user_sig(SDKAPPID, SECRET_KEY, "alice", 86400, now=now) == tencent
    assert gen_user_sig(SDKAPPID, SECRET_KEY, "alice", 86400, now=now) == server_gen_user_sig(
        SDKAPPID, SECRET_KEY, "alice", 86400, now=now
    )
    fresh = gen_user_sig(SDKAPPID, SECRET_KEY, "bob", 600)
    assert verify_user_sig(fresh, sdkappid=SDKAPPID, secret_key=SECRET_KEY) == "bob"
    info = read_user_sig(fresh)
    assert info is not None and (info.user_id, info.sdkappid, info.expire) == ("bob", SDKAPPID, 600)
    assert read_user_sig("not a usersig") is None


# --- HTTP methods -------------------------------------------------------------------------------


def test_every_http_method(clients: Callable[..., PresenceClient], uid: Uid) -> None:
    alice, bob, carol = uid("alice"), uid("bob"), uid("carol")
    client = clients(alice)
    assert client.user_id == alice  # read from the UserSig

    mine = client.set_self_status("in a call")
    assert plain(mine) == (alice, UNLOGINED, "in a call")
    assert mine.version > 0 and mine.last_active_time == 0

    result = client.get_user_status([alice, bob, "bad\u00e9"])
    assert result.get(alice) == mine
    assert result.get(bob) == UserStatus(bob, UNLOGINED, "")  # never stored: version 0
    assert [(f.user_id, f.code) for f in result.failure_user_list] == [("bad\u00e9", 7003)]
    assert client.get_user_status(alice).success_user_list == [mine]  # one str is one user

    failed = client.subscribe_user_status([bob, carol, alice])
    assert [(f.user_id, f.code) for f in failed] == [(alice, ErrorCode.INVALID_PARAMETER)]
    assert client.get_subscriptions() == [bob, carol]

    assert client.unsubscribe_user_status(bob) == []
    assert client.get_subscriptions() == [carol]
    assert client.unsubscribe_user_status() == []  # everyone
    assert client.get_subscriptions() == []

    assert client.set_self_status("").custom_status == ""


def test_http_errors_raise_presence_error(
    clients: Callable[..., PresenceClient], uid: Uid, settings_patch: Patch
) -> None:
    alice, bob = uid("alice"), uid("bob")
    client = clients(alice)

    with pytest.raises(PresenceError) as too_long:
        client.set_self_status("x" * 101)
    assert (too_long.value.code, too_long.value.http_status) == (6017, 400)
    assert "customStatus" in too_long.value.message

    expired = clients(alice, token=gen_user_sig(SDKAPPID, SECRET_KEY, alice, 60, now=1))
    with pytest.raises(PresenceError) as late:
        expired.get_user_status(alice)
    assert (late.value.code, late.value.http_status) == (ErrorCode.USERSIG_EXPIRED, 401)
    assert late.value.is_auth_error

    forged = clients(alice, token=gen_user_sig(SDKAPPID, "another-key", alice))
    with pytest.raises(PresenceError) as bad_key:
        forged.get_subscriptions()
    assert bad_key.value.code == ErrorCode.USERSIG_BAD_SIGNATURE

    someone_else = clients(alice, user_id=bob)
    with pytest.raises(PresenceError) as mismatch:
        someone_else.get_subscriptions()
    assert mismatch.value.code == ErrorCode.USERID_MISMATCH

    settings_patch({"edition": "standard"})
    with pytest.raises(PresenceError) as gated:
        client.subscribe_user_status(bob)
    assert (gated.value.code, gated.value.http_status) == (ErrorCode.EDITION_NOT_ULTIMATE, 403)

    nowhere = PresenceClient(user_sig(alice), http_url=f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(PresenceError) as unreachable:
            nowhere.get_subscriptions()
        assert unreachable.value.code == ErrorCode.NETWORK_ERROR
        with pytest.raises(PresenceError):
            nowhere.login()
    finally:
        nowhere.close()


def test_rate_limit_is_a_presence_error(
    clients: Callable[..., PresenceClient], uid: Uid, settings_patch: Patch
) -> None:
    settings_patch({"rateLimit": {"requests": 1, "windowSeconds": 60}})
    client = clients(uid("alice"))
    client.subscribe_user_status(uid("bob"))
    with pytest.raises(PresenceError) as limited:
        client.subscribe_user_status(uid("carol"))
    assert (limited.value.code, limited.value.http_status) == (ErrorCode.RATE_LIMITED, 429)


# --- the WebSocket session ----------------------------------------------------------------------


def test_refused_login_raises_with_the_handshake_code(
    clients: Callable[..., PresenceClient], uid: Uid
) -> None:
    alice = uid("alice")
    expired = clients(alice, token=gen_user_sig(SDKAPPID, SECRET_KEY, alice, 60, now=1))
    with pytest.raises(PresenceError) as refused:
        expired.login()
    assert (refused.value.code, refused.value.http_status) == (70001, 401)
    assert not expired.logged_in and expired.net_state == NetState.DISCONNECTED

    wrong_app = clients(alice, token=gen_user_sig(1400000001, SECRET_KEY, alice))
    with pytest.raises(PresenceError) as other_app:
        wrong_app.login()
    assert other_app.value.code == ErrorCode.SDKAPPID_MISMATCH


def test_login_pushes_and_logout(
    clients: Callable[..., PresenceClient], http: Http, uid: Uid
) -> None:
    alice, bob = uid("alice"), uid("bob")
    watcher = clients(bob)
    seen = Recorder(watcher)
    watcher.subscribe_user_status(alice)
    watcher.login()
    assert watcher.logged_in and watcher.net_state == NetState.CONNECTED
    seen.wait_status(bob, ONLINE)  # its own status

    phone = clients(alice, platform="ios")
    mine = Recorder(phone)
    phone.login()
    seen.wait_status(alice, ONLINE)
    phone.set_self_status("listening to music")
    seen.wait_status(alice, ONLINE, "listening to music")
    mine.wait_status(alice, ONLINE, "listening to music")  # the device that made the change too

    phone.logout()  # no grace, no OFFLINE even for a native device
    assert not phone.logged_in and phone.net_state == NetState.DISCONNECTED
    assert phone.kicked_out is None
    assert http.status_of(alice)[0] == UNLOGINED
    seen.wait_status(alice, UNLOGINED)
    phone.logout()  # a no-op now


def test_callbacks_may_call_the_client(
    clients: Callable[..., PresenceClient], http: Http, uid: Uid
) -> None:
    alice, bob = uid("alice"), uid("bob")
    watcher = clients(bob)
    answers: queue.Queue[Any] = queue.Queue()

    def on_update(statuses: list[UserStatus]) -> None:
        if any(s.user_id == alice for s in statuses):
            answers.put(watcher.get_user_status(alice))  # a blocking call inside a callback

    remove = watcher.on(USER_STATUS_UPDATED, on_update)
    watcher.subscribe_user_status(alice)
    watcher.login()
    http.set_self_status(alice, "hello").ok()
    assert answers.get(timeout=8).get(alice).custom_status == "hello"
    remove()
    http.set_self_status(alice, "again").ok()
    time.sleep(1)
    assert answers.empty()


def test_sync_updates_iterator_ends_at_logout(
    clients: Callable[..., PresenceClient], http: Http, uid: Uid
) -> None:
    alice, bob = uid("alice"), uid("bob")
    watcher = clients(bob)
    watcher.subscribe_user_status(alice)
    updates = watcher.updates(timeout=8)
    watcher.login()
    http.set_self_status(alice, "one").ok()
    got: list[UserStatus] = []
    for status in updates:
        got.append(status)
        if status.user_id == alice:
            break
    assert plain(got[-1]) == (alice, UNLOGINED, "one")

    rest = watcher.updates(timeout=8)
    threading.Timer(0.5, watcher.logout).start()
    started = time.monotonic()
    leftovers = list(rest)  # ends at the logout, not at the timeout
    assert time.monotonic() - started < 5
    assert all(s.user_id == bob for s in leftovers)


def test_async_client(runtime: Runtime, http: Http, uid: Uid) -> None:
    alice, bob = uid("alice"), uid("bob")

    async def scenario() -> None:
        async with async_client(runtime, bob) as watcher:
            pushed: list[list[UserStatus]] = []
            watcher.on(USER_STATUS_UPDATED, pushed.append)
            called_async = asyncio.Event()

            async def async_listener(statuses: list[UserStatus]) -> None:
                called_async.set()

            watcher.on(USER_STATUS_UPDATED, async_listener)
            assert await watcher.subscribe_user_status([alice]) == []
            assert await watcher.get_subscriptions() == [alice]
            updates = watcher.updates()
            await watcher.login()
            async with async_client(runtime, alice) as other:
                await other.set_self_status("from asyncio")
                status = await updates.next(timeout=8)
                while status is not None and status.user_id != alice:
                    status = await updates.next(timeout=8)
                assert plain(status) == (alice, UNLOGINED, "from asyncio")
                found = await other.get_user_status(alice)
                assert found.get(alice) == status
            await asyncio.wait_for(called_async.wait(), 5)
            assert any(s.user_id == alice for batch in pushed for s in batch)
            errors: list[PresenceError] = []
            watcher.on(ERROR, errors.append)
            # an error frame (the service's answer to a frame it does not understand) is an
            # ERROR event; the client itself only sends valid frames, so send one by hand
            ws = watcher._ws
            assert ws is not None
            await ws.send("not a frame")
            for _ in range(80):
                if errors:
                    break
                await asyncio.sleep(0.1)
            assert errors and errors[0].code == ErrorCode.INVALID_PARAMETER
            assert watcher.logged_in  # the socket stays open
            await watcher.logout()
            rest = await asyncio.wait_for(anext_all(updates), 5)  # the stream has ended
            assert all(s.user_id == bob for s in rest)
        assert http.status_of(bob) == (UNLOGINED, "")

    asyncio.run(scenario())


def test_the_client_pings_at_once_and_adopts_the_announced_heartbeat(
    clients: Callable[..., PresenceClient], uid: Uid, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="presence_client")
    client = clients(uid("alice"), heartbeat_interval=0.3)
    assert client.heartbeat_seconds == 0.3  # until the server says otherwise
    client.login()
    deadline = time.monotonic() + 5
    while client.heartbeat_seconds == 0.3 and time.monotonic() < deadline:
        time.sleep(0.05)
    # the runtime's default liveness timeout is 90 s: pong announces a third of it
    assert client.heartbeat_seconds == 30
    pongs = [r for r in caplog.records if r.name == "presence_client" and r.message == "pong"]
    assert len(pongs) == 1
    assert client.net_state == NetState.CONNECTED
    with pytest.raises(ValueError, match="10 idle minutes"):
        PresenceClient(user_sig("x"), heartbeat_interval=600)


# --- resilience ---------------------------------------------------------------------------------


def test_a_server_close_reconnects_at_once_and_keeps_the_status(
    clients: Callable[..., PresenceClient], sockets: Sockets, http: Http, drops: Drops, uid: Uid
) -> None:
    alice, bob = uid("alice"), uid("bob")
    watcher = sockets.open(bob)
    http.subscribe(bob, [alice]).ok()
    client = clients(alice)
    events = Recorder(client)
    client.login()
    watcher.wait_status(alice, ONLINE)
    first = drops.connection_ids(alice)
    assert len(first) == 1

    dropped_at = time.monotonic()
    assert drops.drop(alice) == 1
    events.wait(
        lambda: [s.state for s in events.states][-2:] == [NetState.CONNECTING, NetState.CONNECTED],
        what="a reconnect",
    )
    assert time.monotonic() - dropped_at < GRACE_SECONDS  # inside the grace
    connecting = [s for s in events.states if s.state == NetState.CONNECTING]
    assert connecting[0].attempt == 1 and connecting[0].retry_in == 0
    # (the old socket's $disconnect and the new $connect run at once, as on AWS)
    deadline = time.monotonic() + 5
    while len(again := drops.connection_ids(alice)) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(again) == 1 and again != first
    # the grace passes: no status change was pushed to the subscriber
    assert watcher.pushes_about(alice, during=GRACE_SECONDS + 2) == []
    assert http.status_of(alice) == (ONLINE, "")


def test_a_change_made_while_disconnected_is_emitted_after_reconnect(
    clients: Callable[..., PresenceClient], http: Http, drops: Drops, uid: Uid
) -> None:
    alice, bob, carol = uid("alice"), uid("bob"), uid("carol")
    client = clients(bob, first_reconnect_delay=2.0)  # a window to change things in
    events = Recorder(client)
    client.subscribe_user_status([alice, carol])
    client.login()
    events.wait_status(bob, ONLINE)
    http.set_self_status(alice, "before").ok()
    events.wait_status(alice, UNLOGINED, "before")
    http.set_self_status(carol, "steady").ok()
    events.wait_status(carol, UNLOGINED, "steady")

    assert drops.drop(bob) == 1
    events.wait(lambda: events.states[-1].state == NetState.CONNECTING, what="the drop")
    mark = events.mark()
    http.set_self_status(alice, "while away").ok()  # pushed to nobody: bob has no socket
    http.set_self_status(bob, "set elsewhere").ok()  # its own status, from another device
    events.wait(lambda: events.states[-1].state == NetState.CONNECTED, what="the reconnect")

    expected = {(alice, UNLOGINED, "while away"), (bob, ONLINE, "set elsewhere")}
    events.wait(
        lambda: expected <= {plain(s) for s in events.since(mark)}, what="the re-synced changes"
    )
    time.sleep(0.5)
    resynced = events.since(mark)
    assert {s.user_id for s in resynced} == {alice, bob}, resynced  # carol did not change
    assert plain(client.get_user_status(alice).get(alice)) == (alice, UNLOGINED, "while away")


def test_kicked_out_is_an_event_and_ends_the_session(
    clients: Callable[..., PresenceClient], http: Http, drops: Drops, uid: Uid
) -> None:
    alice = uid("alice")
    client = clients(alice)
    events = Recorder(client)
    updates = client.updates(timeout=10)
    client.login()
    http.call("/v1/admin/kickUser", {"userID": alice}, user=ADMIN).ok()
    events.wait(lambda: bool(events.kicks), what="kickedOut")
    assert events.kicks == [KickedOut(KickReason.KICKED)]
    assert client.kicked_out == KickedOut(KickReason.KICKED)
    events.wait(lambda: not client.logged_in, what="the end of the session")
    assert client.net_state == NetState.DISCONNECTED
    list(updates)  # ends (does not wait for its timeout)
    time.sleep(1.5)
    assert not [s for s in events.states if s.state == NetState.CONNECTING]  # no reconnect
    assert drops.connection_ids(alice) == []
    assert http.status_of(alice) == (UNLOGINED, "")
    client.login()  # a new session is possible
    assert client.logged_in and client.kicked_out is None


def test_an_expired_usersig_ends_the_session_without_a_reconnect_loop(
    clients: Callable[..., PresenceClient], http: Http, drops: Drops, uid: Uid
) -> None:
    alice = uid("alice")
    client = clients(alice, token=gen_user_sig(SDKAPPID, SECRET_KEY, alice, expire=3))
    events = Recorder(client)
    client.login()
    assert client.net_state == NetState.CONNECTED
    # the server closes the connection once its UserSig has expired (within 60 s; here at once)
    events.wait(lambda: bool(events.kicks), what="kickedOut", timeout=20)
    assert events.kicks[0].reason == KickReason.USERSIG_EXPIRED
    events.wait(lambda: not client.logged_in, what="the end of the session")
    time.sleep(1)
    assert not [s for s in events.states if s.state == NetState.CONNECTING]  # no reconnect
    assert drops.connection_ids(alice) == []
    assert http.status_of(alice) == (UNLOGINED, "")  # a logout of that device


def test_reconnects_back_off_while_the_server_is_down(tmp_path: Path, uid: Uid) -> None:
    """The runtime stops: the immediate attempt, then jittered exponential delays, each
    failure reported; a logout meanwhile stops the attempts."""
    server = start_runtime(tmp_path / "runtime.log")
    client = PresenceClient(
        user_sig(uid("alice")),
        http_url=server.http_url,
        ws_url=server.ws_url,
        reconnect_base_delay=0.1,
        reconnect_max_delay=0.4,
    )
    try:
        events = Recorder(client)
        client.login()
        stop_runtime(server)
        attempts = lambda: [s for s in events.states if s.state == NetState.CONNECTING]  # noqa: E731
        events.wait(lambda: len(attempts()) >= 7, timeout=20, what="7 reconnect attempts")
        client.logout()  # the socket is down: it just stops
        assert not client.logged_in and client.net_state == NetState.DISCONNECTED
        tried = attempts()
        assert tried[0].retry_in == 0 and tried[0].error is None
        for change in tried[1:7]:
            ceiling = min(0.4, 0.1 * 2 ** (change.attempt - 2))
            assert ceiling / 2 <= change.retry_in <= ceiling, change
            assert change.error is not None
            assert change.error.code in (ErrorCode.NETWORK_ERROR, ErrorCode.UNEXPECTED_RESPONSE)
        time.sleep(0.5)
        assert len(attempts()) == len(tried)  # no attempt after the logout
        assert client.kicked_out is None
    finally:
        client.close()
        stop_runtime(server)


# --- the `presence` command ---------------------------------------------------------------------


PRESENCE = Path(sys.executable).with_name("presence")


def cli_env(runtime: Runtime, user: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESENCE_")}
    env.update(
        {
            "PRESENCE_URL": runtime.http_url,
            "PRESENCE_WS_URL": runtime.ws_url,
            "PRESENCE_SDKAPPID": str(SDKAPPID),
            "PRESENCE_SECRET_KEY": SECRET_KEY,
            "COLUMNS": "200",
        }
    )
    if user is not None:
        env["PRESENCE_USER"] = user
    return env


def presence(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(PRESENCE), *args], env=env, capture_output=True, text=True, timeout=60
    )
    if check:
        assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result


def test_cli_sets_an_expiring_status_and_goes_invisible(
    runtime: Runtime, http: Http, uid: Uid
) -> None:
    """`presence set ... --for 1h` and `presence invisible on|off` against the service (API.md
    sections 3 and 4): bob sees the status with its expiry, then alice as logged out."""
    alice, bob = uid("alice"), uid("bob")
    as_alice, as_bob = cli_env(runtime, alice), cli_env(runtime, bob)
    before = int(time.time() * 1000)
    mine = json.loads(presence(as_alice, "--json", "set", "in a meeting", "--for", "1h").stdout)
    assert (
        before + 3_600_000 <= mine["customStatusExpiresAt"] <= int(time.time() * 1000) + 3_600_000
    )
    (seen,) = json.loads(presence(as_bob, "--json", "get", alice).stdout)["successUserList"]
    assert (seen["customStatus"], seen["customStatusExpiresAt"]) == (
        "in a meeting",
        mine["customStatusExpiresAt"],
    )
    table = presence(as_alice, "invisible", "on").stdout
    assert "invisible to others" in table and "in a meeting" in table
    (seen,) = json.loads(presence(as_bob, "--json", "get", alice).stdout)["successUserList"]
    assert (seen["statusType"], seen["customStatus"], "invisible" in seen) == (
        UNLOGINED,
        "",
        False,
    )
    presence(as_alice, "invisible", "off")
    (seen,) = json.loads(presence(as_bob, "--json", "get", alice).stdout)["successUserList"]
    assert seen["customStatus"] == "in a meeting"


def test_cli_usersig_set_get(runtime: Runtime, http: Http, uid: Uid) -> None:
    alice, bob = uid("alice"), uid("bob")
    env = cli_env(runtime)
    token = presence(env, "usersig", alice, "--expire", "600").stdout.strip()
    assert verify_user_sig(token, sdkappid=SDKAPPID, secret_key=SECRET_KEY) == alice

    as_alice = {**env, "PRESENCE_USERSIG": token}
    shown = presence(as_alice, "set", "in a call").stdout
    assert alice in shown and "unlogined" in shown and "in a call" in shown
    assert http.status_of(alice) == (UNLOGINED, "in a call")

    as_bob = cli_env(runtime, bob)  # signs for PRESENCE_USER with PRESENCE_SECRET_KEY
    table = presence(as_bob, "get", alice, bob).stdout
    assert re.search(rf"{alice}\s+unlogined\s+in a call", table), table
    answer = json.loads(presence(as_bob, "--json", "get", alice).stdout)
    (entry,) = answer["successUserList"]
    assert entry == {
        "userID": alice,
        "statusType": 3,
        "customStatus": "in a call",
        "lastActiveTime": 0,
        "version": entry["version"],
        "customStatusExpiresAt": 0,  # API.md v1.2 section 3: no expiry
    }
    assert answer["failureUserList"] == []

    presence(as_bob, "subscribe", alice)
    assert presence(as_bob, "subscriptions").stdout.split() == [alice]
    presence(as_bob, "unsubscribe", "--all")
    assert json.loads(presence(as_bob, "--json", "subscriptions").stdout) == {"userIDList": []}

    too_long = presence(as_alice, "set", "x" * 101, check=False)
    assert too_long.returncode == 1 and "[6017]" in too_long.stderr
    expired = {**env, "PRESENCE_USERSIG": gen_user_sig(SDKAPPID, SECRET_KEY, alice, 60, now=1)}
    refused = presence(expired, "get", check=False)
    assert refused.returncode == 1 and "[70001]" in refused.stderr
    anonymous = presence(cli_env(runtime) | {"PRESENCE_SECRET_KEY": ""}, "get", check=False)
    assert anonymous.returncode == 2 and "PRESENCE_USERSIG" in anonymous.stderr


def test_cli_watch_survives_a_server_restart(tmp_path: Path, uid: Uid) -> None:
    """`presence watch` through a restart of the whole runtime on the same ports (which also
    loses every table: the watch subscribes again)."""
    alice, watcher = uid("alice"), uid("watcher")
    ports = {"PRESENCE_HTTP_PORT": str(free_port()), "PRESENCE_WS_PORT": str(free_port())}
    http_url = f"http://127.0.0.1:{ports['PRESENCE_HTTP_PORT']}"
    ws_url = f"ws://127.0.0.1:{ports['PRESENCE_WS_PORT']}"
    first = start_runtime(tmp_path / "first.log", **ports)
    env = cli_env(SimpleNamespace(http_url=http_url, ws_url=ws_url), watcher)  # type: ignore[arg-type]
    lines: queue.Queue[str] = queue.Queue()
    watch = subprocess.Popen(
        [str(PRESENCE), "--json", "watch", alice, "--heartbeat", "5"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "watch.err").open("w"),
        text=True,
    )

    def read_lines() -> None:
        for line in watch.stdout or []:
            lines.put(line)

    threading.Thread(target=read_lines, daemon=True).start()

    def next_status(custom_status: str, timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                status: dict[str, Any] = json.loads(lines.get(timeout=left))
            except queue.Empty:
                break
            if status["userID"] == alice and status["customStatus"] == custom_status:
                return status
        raise AssertionError(
            f"no {custom_status!r} from watch; stderr:\n{(tmp_path / 'watch.err').read_text()}"
        )

    def set_status(text: str) -> None:
        reply = httpx.post(
            f"{http_url}/v1/setSelfStatus",
            json={"customStatus": text},
            headers={"Authorization": f"Bearer {user_sig(alice)}"},
            timeout=10,
        )
        assert reply.json()["code"] == 0, reply.text

    second: Runtime | None = None
    try:
        assert next_status("")["statusType"] == UNLOGINED  # the first read
        set_status("before the restart")
        next_status("before the restart")
        stop_runtime(first)
        time.sleep(1.5)  # the watch retries meanwhile
        second = start_runtime(tmp_path / "second.log", **ports)
        set_status("after the restart")
        # the watch's next attempt may be a whole backoff away (the CLI's: up to 30 s) when the
        # restart was slow (a busy machine)
        assert next_status("after the restart", timeout=45)["statusType"] == UNLOGINED
        errors = (tmp_path / "watch.err").read_text()
        assert "reconnecting" in errors and errors.count("connected") >= 2, errors
    finally:
        watch.terminate()
        watch.wait(timeout=15)
        stop_runtime(first)
        if second is not None:
            stop_runtime(second)
    assert watch.returncode == 0


def test_cli_subscribes_to_more_users_than_one_call_takes(
    runtime: Runtime, http: Http, uid: Uid
) -> None:
    fan = uid("fan")
    stars = [uid("star") for _ in range(150)]  # the service takes 100 a call
    presence(cli_env(runtime, fan), "subscribe", *stars)
    held = http.call("/v1/getSubscriptions", {}, user=fan).data["userIDList"]
    assert held == stars
