"""End-to-end: the local runtime (`python -m local.runtime`) with real HTTP and WebSocket clients.

The runtime starts once per session as a subprocess on free ports with a known secret key, and
stops at the end. Tests use their own userIDs (`uid`) so they never see each other's pushes, and
change settings only through `settings_patch`, which restores them afterwards.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import TLSSigAPIv2
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from local import runner
from local.runner import Runtime as Runtime
from local.runner import free_port as free_port
from local.runner import stop_runtime as stop_runtime
from presence.auth import gen_user_sig

ROOT = Path(__file__).resolve().parents[2]
SDKAPPID = 1400000000
SECRET_KEY = "e2e-test-secret-key-0123456789abcdef"
ADMIN = "administrator"
GRACE_SECONDS = 1  # reconnectGraceSeconds for the whole session
SETTINGS_MAX_AGE_SECONDS = 0.5  # how stale each worker's settings may be (3 s when deployed)

UNKNOWN, ONLINE, OFFLINE, UNLOGINED = 0, 1, 2, 3
EVENT = "onUserStatusUpdated"

_runtime_log: Path | None = None


# --------------------------------------------------------------------------------- the runtime


def start_runtime(log_path: Path, **extra_env: str) -> Runtime:
    """The runtime with this session's key and settings cache age (local.runner)."""
    extra_env.setdefault("SETTINGS_MAX_AGE_SECONDS", str(SETTINGS_MAX_AGE_SECONDS))
    return runner.start_runtime(log_path, secret_key=SECRET_KEY, sdkappid=SDKAPPID, **extra_env)


@pytest.fixture(scope="session")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    global _runtime_log
    log_path = tmp_path_factory.mktemp("runtime") / "runtime.log"
    _runtime_log = log_path
    started = start_runtime(log_path)
    yield started
    stop_runtime(started)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On failure, show the end of the runtime's log (handler logs, tracebacks) in the report."""
    report = yield
    if report.failed and _runtime_log is not None and _runtime_log.exists():
        tail = _runtime_log.read_text(errors="replace").splitlines()[-60:]
        report.sections.append(("local runtime log (last 60 lines)", "\n".join(tail)))
    return report


# ------------------------------------------------------------------------------------ UserSigs


def user_sig(user_id: str, *, key: str = SECRET_KEY, sdkappid: int = SDKAPPID) -> str:
    """A UserSig from Tencent's own public generator, as real clients send."""
    return str(TLSSigAPIv2.TLSSigAPIv2(sdkappid, key).gen_sig(user_id, 3600))


def expired_sig(user_id: str) -> str:
    return gen_user_sig(SDKAPPID, SECRET_KEY, user_id, expire=60, now=int(time.time()) - 3600)


@pytest.fixture
def uid() -> Callable[[str], str]:
    """A userID of this test alone: uid("alice") -> "alice-1f2e3d4c"."""

    def make(name: str) -> str:
        return f"{name}-{uuid.uuid4().hex[:8]}"

    return make


# ---------------------------------------------------------------------------------------- HTTP


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: httpx.Headers

    @property
    def code(self) -> int:
        return int(self.body["code"])

    @property
    def data(self) -> dict[str, Any]:
        assert self.status == 200 and self.body.get("code") == 0, (self.status, self.body)
        return dict(self.body["data"])

    def ok(self) -> dict[str, Any]:
        """The data of a call that must succeed."""
        return self.data


class Http:
    """The HTTP API as a client app calls it."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=15)

    def call(
        self,
        path: str,
        body: Any = None,
        *,
        user: str | None = None,
        token: str | None = None,
        content: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        method: str = "POST",
    ) -> Reply:
        sent = dict(headers or {})
        if token is None and user is not None:
            token = user_sig(user)
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if content is None and body is not None:
            content = json.dumps(body)
            sent.setdefault("Content-Type", "application/json")
        response = self.client.request(method, path, content=content, headers=sent)
        try:
            payload = response.json()
        except ValueError:
            payload = {"raw": response.text}
        return Reply(response.status_code, payload, response.headers)

    def set_self_status(self, user: str, custom_status: Any) -> Reply:
        return self.call("/v1/setSelfStatus", {"customStatus": custom_status}, user=user)

    def get_user_status(self, user: str, user_ids: list[str]) -> Reply:
        return self.call("/v1/getUserStatus", {"userIDList": user_ids}, user=user)

    def status_of(self, user: str) -> tuple[int, str]:
        """The user's own status as they read it (never gated)."""
        entry = self.get_user_status(user, [user]).data["successUserList"][0]
        return int(entry["statusType"]), str(entry["customStatus"])

    def subscribe(self, user: str, user_ids: list[str]) -> Reply:
        return self.call("/v1/subscribeUserStatus", {"userIDList": user_ids}, user=user)

    def settings(self) -> dict[str, Any]:
        return self.call("/v1/admin/getSettings", {}, user=ADMIN).data

    def update_settings(self, patch: dict[str, Any]) -> dict[str, Any]:
        """Update, then wait until every worker's cached copy has aged out (as on AWS, an
        update reaches the other function instances within their cache's max age)."""
        data = self.call("/v1/admin/updateSettings", patch, user=ADMIN).data
        time.sleep(SETTINGS_MAX_AGE_SECONDS + 0.1)
        return data


@pytest.fixture(scope="session")
def http(runtime: Runtime) -> Iterator[Http]:
    client = Http(runtime.http_url)
    # short timers for the whole session; each test restores whatever else it changes
    before = client.settings()
    client.update_settings({"reconnectGraceSeconds": GRACE_SECONDS})
    yield client
    client.update_settings({"reconnectGraceSeconds": before["reconnectGraceSeconds"]})
    client.client.close()


@pytest.fixture
def settings_patch(http: Http) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    """Apply settings for this test; the changed keys get their old values back afterwards."""
    saved: dict[str, Any] = {}

    def apply(patch: dict[str, Any]) -> dict[str, Any]:
        current = http.settings()
        for key in patch:
            saved.setdefault(key, current[key])
        return http.update_settings(patch)

    yield apply
    if saved:
        http.update_settings(saved)


# ----------------------------------------------------------------------------------- WebSocket


def statuses(frame: dict[str, Any]) -> list[dict[str, Any]]:
    """The status objects a push frame carries (none for other frames)."""
    if frame.get("event") != EVENT:
        return []
    return list(frame.get("data") or [])


@dataclass
class Socket:
    """A WebSocket client that keeps every frame it received."""

    ws: ClientConnection
    frames: list[dict[str, Any]] = field(default_factory=list)
    _seen: int = 0  # frames already matched by wait_for

    def send(self, text: str) -> None:
        self.ws.send(text)

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        try:
            raw = self.ws.recv(timeout=max(0.0, timeout))
        except TimeoutError:
            return None
        frame = json.loads(raw)
        self.frames.append(frame)
        return dict(frame)

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 8.0
    ) -> dict[str, Any]:
        """The next frame (not matched before) for which `predicate` holds."""
        deadline = time.monotonic() + timeout
        while True:
            for index in range(self._seen, len(self.frames)):
                if predicate(self.frames[index]):
                    self._seen = index + 1
                    return self.frames[index]
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching frame in {timeout} s; got {self.frames}")
            self._receive(left)

    def wait_status(
        self,
        user_id: str,
        status_type: int | None = None,
        custom_status: str | None = None,
        timeout: float = 8.0,
    ) -> dict[str, Any]:
        """The next pushed status of `user_id` with these values."""

        def matches(frame: dict[str, Any]) -> bool:
            return any(
                s["userID"] == user_id
                and (status_type is None or s["statusType"] == status_type)
                and (custom_status is None or s["customStatus"] == custom_status)
                for s in statuses(frame)
            )

        frame = self.wait_for(matches, timeout)
        return next(s for s in statuses(frame) if s["userID"] == user_id)

    def pushes_about(self, user_id: str, during: float) -> list[dict[str, Any]]:
        """Listen for `during` seconds; every status of `user_id` pushed meanwhile (and not
        matched by an earlier wait)."""
        deadline = time.monotonic() + during
        while (left := deadline - time.monotonic()) > 0:
            self._receive(left)
        found = [
            s
            for frame in self.frames[self._seen :]
            for s in statuses(frame)
            if s["userID"] == user_id
        ]
        self._seen = len(self.frames)
        return found

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()

    def closed_by_server(self, timeout: float = 8.0) -> bool:
        """Read until the server closes the socket; True if it did in time."""
        deadline = time.monotonic() + timeout
        try:
            while (left := deadline - time.monotonic()) > 0:
                self._receive(left)
        except ConnectionClosed:
            return True
        return False


class Sockets:
    """Opens WebSockets to the runtime and closes whatever a test left open."""

    def __init__(self, ws_url: str) -> None:
        self.ws_url = ws_url
        self.opened: list[Socket] = []

    def url(self, query: dict[str, str]) -> str:
        return f"{self.ws_url}/?{httpx.QueryParams(query)}"

    def open(self, user: str | None, platform: str | None = "web", **query: str) -> Socket:
        params = dict(query)
        if user is not None:
            params.setdefault("userSig", user_sig(user))
        if platform is not None:
            params["platform"] = platform
        socket_ = Socket(connect(self.url(params), open_timeout=10, close_timeout=3))
        self.opened.append(socket_)
        return socket_

    def refused(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) of a handshake that must be refused."""
        try:
            ws = connect(self.url(query), open_timeout=10)
        except InvalidStatus as exc:
            body = bytes(exc.response.body or b"")
            return exc.response.status_code, json.loads(body) if body else {}
        ws.close()
        raise AssertionError(f"the handshake was accepted: {query}")

    def close_all(self) -> None:
        for socket_ in self.opened:
            socket_.close()


@pytest.fixture
def sockets(runtime: Runtime, http: Http) -> Iterator[Sockets]:
    """WebSocket clients (after `http` put the session's short grace in place)."""
    opened = Sockets(runtime.ws_url)
    yield opened
    opened.close_all()
