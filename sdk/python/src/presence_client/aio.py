"""`AsyncPresenceClient`: the HTTP API, the WebSocket session and its resilience (asyncio)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Final, Literal, Self, overload
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from ._events import Emitter, Listener, UpdateStream
from .errors import ErrorCode, PresenceError
from .models import (
    ERROR,
    KICK_REASONS,
    KICKED_OUT,
    NET_STATE_CHANGE,
    USER_STATUS_UPDATED,
    FailedUser,
    KickedOut,
    KickReason,
    NetState,
    NetStateChange,
    UserStatus,
    UserStatusResult,
)
from .usersig import read_user_sig

__all__ = ["DEFAULT_HTTP_URL", "DEFAULT_WS_URL", "PLATFORMS", "AsyncPresenceClient"]

logger = logging.getLogger("presence_client")

VERSION = "0.1.0"
DEFAULT_HTTP_URL: Final = "http://127.0.0.1:3000"
DEFAULT_WS_URL: Final = "ws://127.0.0.1:3001"
PLATFORMS: Final = (
    "web",
    "miniprogram",
    "ios",
    "android",
    "ipad",
    "windows",
    "mac",
    "linux",
    "harmony",
)
# API Gateway closes a WebSocket after 10 idle minutes: ping well inside that.
MAX_HEARTBEAT_SECONDS = 540.0
QUERY_CHUNK = 100  # userIDs per getUserStatus / subscribe call made by the client itself
RESYNC_ATTEMPTS = 5
_GATED = frozenset({ErrorCode.EDITION_NOT_ULTIMATE, ErrorCode.SWITCH_OFF})
_PING = '{"action": "ping"}'
_BEAT = '{"action": "beat"}'  # a heartbeat with no answer: one message instead of two
_LOGOUT = '{"action": "logout"}'


def _user_id_list(user_ids: str | Iterable[str]) -> list[str]:
    """A list of userIDs; a single str is one userID (not its characters)."""
    if isinstance(user_ids, str):
        return [user_ids]
    return list(user_ids)


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _error_from_answer(status: int, body: bytes | bytearray | str | None) -> PresenceError:
    """The PresenceError an error answer (HTTP or refused handshake) stands for."""
    if isinstance(body, bytes | bytearray):
        text = bytes(body).decode("utf-8", "replace")
    else:
        text = body or ""
    try:
        payload = json.loads(text) if text else None
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        code = payload.get("code")
        message = str(payload.get("message") or f"HTTP {status}")
        if isinstance(code, int) and not isinstance(code, bool) and code != 0:
            return PresenceError(code, message, http_status=status)
        return PresenceError(
            ErrorCode.UNEXPECTED_RESPONSE, f"HTTP {status}: {message}", http_status=status
        )
    snippet = " ".join(text.split())[:200] or "(no body)"
    return PresenceError(
        ErrorCode.UNEXPECTED_RESPONSE, f"HTTP {status}: {snippet}", http_status=status
    )


class AsyncPresenceClient:
    """A user's client of the presence service, for asyncio code.

    ```python
    async with AsyncPresenceClient(user_sig, http_url=..., ws_url=...) as client:
        client.on(USER_STATUS_UPDATED, print)
        await client.login()
        await client.subscribe_user_status(["bob"])
        async for status in client.updates():
            ...
    ```

    The HTTP methods work without `login()`. `login()` opens the WebSocket that receives pushes;
    the client then heartbeats at the interval the server announces (pong's `heartbeatSeconds`,
    a third of its liveness timeout), reconnects when the socket drops
    (at once, then with jittered exponential backoff up to `reconnect_max_delay`), and after
    each reconnect re-reads the statuses it watches (its own, its subscriptions', and those of
    anyone it got a push about) and emits those that changed meanwhile. It stops for good, with
    a KICKED_OUT event, when the server kicks the session or refuses the UserSig.
    """

    def __init__(
        self,
        user_sig: str,
        *,
        user_id: str | None = None,
        http_url: str | None = None,
        ws_url: str | None = None,
        platform: str = "web",
        heartbeat_interval: float = 30.0,
        ping_every: int = 10,
        pong_timeout: float = 10.0,
        first_reconnect_delay: float = 0.0,
        reconnect_base_delay: float = 1.0,
        reconnect_max_delay: float = 30.0,
        resync_on_reconnect: bool = True,
        keep_subscriptions: bool = False,
        request_timeout: float = 10.0,
        open_timeout: float = 10.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        """
        Args:
            user_sig: the caller's UserSig (TLSSigAPIv2), minted by your backend.
            user_id: optional; when given the service checks it against the UserSig (70013).
                By default the client reads it from the UserSig.
            http_url / ws_url: the HTTP API and the WebSocket API (a stage path is kept); by
                default $PRESENCE_URL and $PRESENCE_WS_URL, as the `presence` command reads
                them, else the local runtime's (http://127.0.0.1:3000, ws://127.0.0.1:3001).
            platform: the device kind given at connect (API.md section 6): `web` (default),
                `miniprogram`, or a native one (`ios`, `android`, ... ), which leaves the user
                OFFLINE rather than UNLOGINED when the connection drops.
            heartbeat_interval: seconds between heartbeats until the server announces its own
                interval in pong's `heartbeatSeconds` (then that one: a device silent for three
                of them stops counting); at most 540, inside API Gateway's 10-minute idle
                timeout.
            ping_every: every how many heartbeats one is a `{"action": "ping"}` (answered, so
                it checks the socket: no pong within `pong_timeout` seconds counts as a lost
                connection); the others are `{"action": "beat"}` (no answer, half the
                messages). The client also pings once right after connecting.
            first_reconnect_delay: seconds before the first reconnect attempt (default 0: at
                once, to come back within the server's `reconnectGraceSeconds`).
            reconnect_base_delay / reconnect_max_delay: the backoff of later attempts
                (base * 2**n, capped, each with jitter between half and all of it).
            resync_on_reconnect: re-read and emit what changed while disconnected.
            keep_subscriptions: after a reconnect, subscribe again to users this client
                subscribed to that the server no longer lists (e.g. the server was restarted or
                dropped them after `subscriptionRetentionSeconds`).
            request_timeout / open_timeout: seconds for an HTTP call / a WebSocket handshake.
            http_client: an `httpx.AsyncClient` to use (its base URL is ignored); the client
                does not close one it was given.
        """
        http_url = http_url or os.environ.get("PRESENCE_URL") or DEFAULT_HTTP_URL
        ws_url = ws_url or os.environ.get("PRESENCE_WS_URL") or DEFAULT_WS_URL
        if not 0 < heartbeat_interval <= MAX_HEARTBEAT_SECONDS:
            raise ValueError(
                f"heartbeat_interval must be in (0, {MAX_HEARTBEAT_SECONDS:.0f}] seconds:"
                " API Gateway closes a WebSocket after 10 idle minutes"
            )
        if ping_every < 1:
            raise ValueError("ping_every must be at least 1")
        if platform not in PLATFORMS:
            raise ValueError(f"unknown platform {platform!r}; one of {', '.join(PLATFORMS)}")
        for name, url, schemes in (
            ("http_url", http_url, ("http", "https")),
            ("ws_url", ws_url, ("ws", "wss")),
        ):
            if urlsplit(url).scheme not in schemes or not urlsplit(url).netloc:
                raise ValueError(f"{name} must be a {' or '.join(schemes)} URL, not {url!r}")
        if min(pong_timeout, reconnect_base_delay, request_timeout, open_timeout) <= 0:
            raise ValueError("timeouts and delays must be positive")
        if first_reconnect_delay < 0 or reconnect_max_delay < reconnect_base_delay:
            raise ValueError("reconnect delays must satisfy 0 <= first, base <= max")

        self._user_sig = user_sig
        self._explicit_user_id = user_id
        info = read_user_sig(user_sig)
        self._user_id = user_id or (info.user_id if info else "")
        self._http_url = http_url.rstrip("/")
        self._ws_url = ws_url
        self._platform = platform
        self._heartbeat_interval = float(heartbeat_interval)
        self._announced_heartbeat: float | None = None  # pong's heartbeatSeconds
        self._ping_every = int(ping_every)
        self._pong_timeout = float(pong_timeout)
        self._first_reconnect_delay = float(first_reconnect_delay)
        self._reconnect_base_delay = float(reconnect_base_delay)
        self._reconnect_max_delay = float(reconnect_max_delay)
        self._resync_enabled = resync_on_reconnect
        self._keep_subscriptions = keep_subscriptions
        self._request_timeout = float(request_timeout)
        self._open_timeout = float(open_timeout)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            timeout=request_timeout, headers={"User-Agent": f"presence-client-python/{VERSION}"}
        )

        self._emitter = Emitter()
        self._streams: set[UpdateStream] = set()
        self._state = NetState.DISCONNECTED
        self._ws: ClientConnection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._login_lock = asyncio.Lock()
        self._stop_event = asyncio.Event()
        self._stopping = False
        self._active = False  # a session is open (connected or reconnecting)
        self._kicked: KickReason | None = None  # the current socket got {"event": "kickedOut"}
        self._ended: KickedOut | None = None
        self._logout_waiter: asyncio.Future[None] | None = None
        self._pong = asyncio.Event()
        self._known: dict[str, UserStatus] = {}  # the last status seen of each watched user
        self._emitted: dict[str, int] = {}  # the version last emitted to the app, per user
        self._marks: dict[str, int] = {}  # pushes received per user (to order re-syncs)
        self._wanted: dict[str, None] = {}  # users subscribed through this client, in order
        self._closed = False

    # --- properties ---------------------------------------------------------------------------

    @property
    def user_id(self) -> str:
        """The caller's userID (given, or read from the UserSig)."""
        return self._user_id

    @property
    def user_sig(self) -> str:
        return self._user_sig

    @user_sig.setter
    def user_sig(self, value: str) -> None:
        """Replace the UserSig (e.g. before it expires): used by every later call and reconnect."""
        self._user_sig = value
        if self._explicit_user_id is None:
            info = read_user_sig(value)
            self._user_id = info.user_id if info else self._user_id

    @property
    def net_state(self) -> NetState:
        return self._state

    @property
    def logged_in(self) -> bool:
        """True from `login()` until logout, kick or close (also while reconnecting)."""
        return self._active

    @property
    def kicked_out(self) -> KickedOut | None:
        """Why the last session ended by itself (kick, UserSig refused), or None."""
        return self._ended

    # --- events -------------------------------------------------------------------------------

    @overload
    def on(
        self,
        event: Literal["onUserStatusUpdated"],
        callback: Callable[[list[UserStatus]], object],
    ) -> Callable[[], None]: ...
    @overload
    def on(
        self, event: Literal["kickedOut"], callback: Callable[[KickedOut], object]
    ) -> Callable[[], None]: ...
    @overload
    def on(
        self, event: Literal["netStateChange"], callback: Callable[[NetStateChange], object]
    ) -> Callable[[], None]: ...
    @overload
    def on(
        self, event: Literal["error"], callback: Callable[[PresenceError], object]
    ) -> Callable[[], None]: ...
    def on(self, event: str, callback: Listener) -> Callable[[], None]:
        """Call `callback(payload)` on each `event` (USER_STATUS_UPDATED, KICKED_OUT,
        NET_STATE_CHANGE, ERROR). An `async def` callback runs as a task. Returns a function
        that removes the callback."""
        return self._emitter.add(event, callback)

    def off(self, event: str, callback: Listener | None = None) -> None:
        """Remove a callback (or all of the event's callbacks)."""
        self._emitter.remove(event, callback)

    def updates(self) -> UpdateStream:
        """An async iterator of every `UserStatus` pushed (or re-synced) from now on; it ends
        when the session ends (logout, kick, close)."""
        return UpdateStream(self._streams)

    # --- HTTP API -----------------------------------------------------------------------------

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._closed:
            raise RuntimeError("the client is closed")
        headers = {"Authorization": f"Bearer {self._user_sig}"}
        if self._explicit_user_id is not None:
            headers["X-User-ID"] = self._explicit_user_id
        url = self._http_url + path
        try:
            response = await self._http.post(
                url, json=body, headers=headers, timeout=self._request_timeout
            )
        except httpx.TimeoutException as exc:
            raise PresenceError(
                ErrorCode.NETWORK_ERROR, f"POST {url} timed out ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise PresenceError(ErrorCode.NETWORK_ERROR, f"POST {url} failed: {exc}") from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if (
            response.status_code == 200
            and isinstance(payload, dict)
            and payload.get("code") == 0
            and isinstance(payload.get("data", {}), dict)
        ):
            return dict(payload.get("data") or {})
        if response.status_code == 200 and isinstance(payload, dict) and "code" not in payload:
            return payload  # tolerate a server that answers the data alone
        raise _error_from_answer(response.status_code, response.content)

    async def set_self_status(
        self,
        custom_status: str | None = None,
        *,
        expires_in: int | None = None,
        invisible: bool | None = None,
    ) -> UserStatus:
        """Set the caller's custom status (`""` clears it), optionally clearing itself
        `expires_in` seconds later (1-604800), and/or appear offline to everyone else
        (`invisible=True`; False: visible again; None: as it is). At least one of
        `custom_status` and `invisible`. Returns the caller's status after the change, as the
        caller sees itself; every device of the caller (and every watcher that may see it)
        also gets it as an update."""
        body: dict[str, Any] = {}
        if custom_status is not None:
            body["customStatus"] = custom_status
        if expires_in is not None:
            body["customStatusExpiresIn"] = expires_in
        if invisible is not None:
            body["invisible"] = invisible
        data = await self._post("/v1/setSelfStatus", body)
        return UserStatus.from_wire(data)

    async def get_user_status(self, user_ids: str | Iterable[str]) -> UserStatusResult:
        """The status of each user (1-500 userIDs; a single str is one user). Querying only
        oneself is never gated nor rate limited."""
        data = await self._post("/v1/getUserStatus", {"userIDList": _user_id_list(user_ids)})
        return UserStatusResult(
            success_user_list=[UserStatus.from_wire(s) for s in data.get("successUserList") or []],
            failure_user_list=[FailedUser.from_wire(f) for f in data.get("failureUserList") or []],
        )

    async def subscribe_user_status(self, user_ids: str | Iterable[str]) -> list[FailedUser]:
        """Subscribe to these users' changes (1-100 userIDs); returns those that failed
        (oneself: 6017, invalid userID: 7003). Over the quota the oldest are evicted."""
        ids = _user_id_list(user_ids)
        data = await self._post("/v1/subscribeUserStatus", {"userIDList": ids})
        failed = [FailedUser.from_wire(f) for f in data.get("failureUserList") or []]
        failed_ids = {f.user_id for f in failed}
        for user_id in ids:
            if user_id not in failed_ids:
                self._wanted[user_id] = None
        return failed

    async def unsubscribe_user_status(
        self, user_ids: str | Iterable[str] | None = None
    ) -> list[FailedUser]:
        """Unsubscribe from these users, or from everyone when `user_ids` is None or empty."""
        ids = [] if user_ids is None else _user_id_list(user_ids)
        body: dict[str, Any] = {"userIDList": ids} if ids else {}
        data = await self._post("/v1/unsubscribeUserStatus", body)
        gone = ids or [*self._wanted, *self._known]
        for user_id in gone:
            self._wanted.pop(user_id, None)
            if user_id != self._user_id:
                self._known.pop(user_id, None)
                self._emitted.pop(user_id, None)
        return [FailedUser.from_wire(f) for f in data.get("failureUserList") or []]

    async def get_subscriptions(self) -> list[str]:
        """The caller's subscriptions, oldest first."""
        data = await self._post("/v1/getSubscriptions", {})
        return [str(u) for u in data.get("userIDList") or []]

    # --- the WebSocket session ----------------------------------------------------------------

    async def login(self) -> None:
        """Open the WebSocket (the user becomes ONLINE) and keep it open until `logout()`,
        `close()` or a kick. Raises PresenceError when the handshake is refused (e.g. 70001
        for an expired UserSig) or the service cannot be reached. A no-op when logged in."""
        async with self._login_lock:
            if self.logged_in:
                return
            if self._closed:
                raise RuntimeError("the client is closed")
            self._stopping = False
            self._stop_event = asyncio.Event()
            self._ended = None
            ws = await self._open()
            self._ws = ws
            self._active = True
            self._set_state(NetState.CONNECTED)
            self._supervisor = asyncio.get_running_loop().create_task(
                self._run(ws), name="presence-client-session"
            )
            if self._resync_enabled:
                self._spawn(self._prime())

    async def logout(self, timeout: float = 10.0) -> None:
        """Log this device out: send `{"action": "logout"}`, wait for `loggedOut` and the close.
        The user's status changes at once (no grace). Raises PresenceError on an error answer or
        when no `loggedOut` came within `timeout` seconds; the session ends either way. A no-op
        when not logged in; when the socket is down (reconnecting) it just stops."""
        if not self.logged_in:
            return
        self._begin_stop()
        ws = self._ws
        error: PresenceError | None = None
        if ws is not None:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._logout_waiter = waiter
            try:
                await ws.send(_LOGOUT)
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
            except ConnectionClosed:
                pass  # gone already: the server ends the session after its grace
            except TimeoutError:
                error = PresenceError(
                    ErrorCode.TIMEOUT, f"no loggedOut within {timeout:g} s of the logout"
                )
            except PresenceError as exc:
                error = exc
            finally:
                self._logout_waiter = None
                if not waiter.done():
                    waiter.cancel()
            await self._wait_closed(ws)
        await self._end_session(None)
        if error is not None:
            raise error

    async def disconnect(self) -> None:
        """Close the WebSocket without logging out (like an app being closed): the server keeps
        the user ONLINE for its grace, then UNLOGINED (web) or OFFLINE (native). No reconnect."""
        if not self.logged_in:
            return
        self._begin_stop()
        ws = self._ws
        if ws is not None:
            await ws.close()
        await self._end_session(None)

    async def close(self) -> None:
        """Disconnect (without logout) and release the HTTP client; the client is unusable
        afterwards."""
        await self.disconnect()
        for stream in list(self._streams):
            stream.end()
        for task in list(self._background):
            task.cancel()
        if self._owns_http and not self._closed:
            await self._http.aclose()
        self._closed = True

    async def aclose(self) -> None:
        await self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Log out (best effort) when logged in, then close."""
        if self.logged_in:
            with contextlib.suppress(PresenceError):
                await self.logout()
        await self.close()

    # --- internals: connection ---------------------------------------------------------------

    def _connect_url(self) -> str:
        parts = urlsplit(self._ws_url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        query += [("userSig", self._user_sig), ("platform", self._platform)]
        if self._explicit_user_id is not None:
            query.append(("userID", self._explicit_user_id))
        return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))

    async def _open(self) -> ClientConnection:
        """One WebSocket handshake; a refusal or a network failure raises PresenceError."""
        where = urlunsplit(urlsplit(self._ws_url)._replace(query="", fragment=""))
        try:
            return await ws_connect(
                self._connect_url(),
                open_timeout=self._open_timeout,
                ping_interval=None,  # the service's own ping/pong is the heartbeat
                close_timeout=5,
                max_size=2**20,
                user_agent_header=f"presence-client-python/{VERSION}",
            )
        except InvalidStatus as exc:
            raise _error_from_answer(exc.response.status_code, exc.response.body) from None
        except (InvalidHandshake, InvalidURI) as exc:
            raise PresenceError(
                ErrorCode.UNEXPECTED_RESPONSE, f"WebSocket handshake with {where} failed: {exc}"
            ) from None
        except (OSError, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise PresenceError(
                ErrorCode.NETWORK_ERROR, f"cannot connect to {where}: {reason}"
            ) from None

    def _set_state(
        self,
        state: NetState,
        *,
        attempt: int = 0,
        retry_in: float = 0.0,
        error: PresenceError | None = None,
    ) -> None:
        if state == self._state and state != NetState.CONNECTING:
            return
        self._state = state
        self._emitter.emit(NET_STATE_CHANGE, NetStateChange(state, attempt, retry_in, error))

    async def _run(self, ws: ClientConnection) -> None:
        """The session: serve the socket, reconnect when it drops, until stopped."""
        current: ClientConnection | None = ws
        while current is not None:
            kicked = await self._serve(current)
            self._ws = None
            if self._stopping:
                return
            if kicked is not None:
                await self._end_session(KickedOut(kicked))
                return
            current = await self._reconnect()
            if current is not None:
                self._ws = current
                self._set_state(NetState.CONNECTED)
                if self._resync_enabled:
                    self._start_resync()

    async def _serve(self, ws: ClientConnection) -> KickReason | None:
        """Read frames until the socket closes; why the server ended the session, if it did."""
        self._kicked = None
        heartbeat = asyncio.get_running_loop().create_task(self._heartbeat(ws))
        try:
            async for message in ws:
                self._on_frame(message)
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("reading the WebSocket failed; reconnecting")
            with contextlib.suppress(Exception):
                await ws.close()
        finally:
            heartbeat.cancel()
        waiter = self._logout_waiter
        if waiter is not None and not waiter.done():
            # closed before `loggedOut` arrived: nothing more will come on this socket
            logger.warning("the WebSocket closed before the logout was confirmed")
            waiter.set_result(None)
        if ws.close_code is not None:
            logger.info("WebSocket closed (%s %s)", ws.close_code, ws.close_reason)
        return self._kicked

    @property
    def heartbeat_seconds(self) -> float:
        """The heartbeat interval in force: the server's announced one, once it is known."""
        return self._announced_heartbeat or self._heartbeat_interval

    async def _heartbeat(self, ws: ClientConnection) -> None:
        """A ping at once (its pong announces the interval), then a beat every interval and
        a ping every `ping_every`th one. The server's liveness timeout counts the frames."""
        count = 0
        while True:
            frame = _PING if count % self._ping_every == 0 else _BEAT
            self._pong.clear()
            try:
                await ws.send(frame)
            except ConnectionClosed:
                return
            if frame == _PING:
                try:
                    await asyncio.wait_for(self._pong.wait(), self._pong_timeout)
                except TimeoutError:
                    logger.warning("no pong within %g s: reconnecting", self._pong_timeout)
                    await ws.close(code=4000, reason="heartbeat timeout")
                    return
            count += 1
            await asyncio.sleep(self.heartbeat_seconds)

    def _backoff(self, failures: int) -> float:
        """Delay after `failures` failed attempts: base * 2**(failures-1), capped, jittered."""
        ceiling = min(
            self._reconnect_max_delay, self._reconnect_base_delay * 2 ** min(failures - 1, 30)
        )
        return random.uniform(ceiling / 2, ceiling)

    async def _reconnect(self) -> ClientConnection | None:
        """Reconnect: at once (after `first_reconnect_delay`), then with backoff. None when
        stopped meanwhile or refused for good (which ends the session with KICKED_OUT)."""
        attempt = 0
        error: PresenceError | None = None
        while not self._stopping:
            attempt += 1
            delay = self._first_reconnect_delay if attempt == 1 else self._backoff(attempt - 1)
            self._set_state(NetState.CONNECTING, attempt=attempt, retry_in=delay, error=error)
            if delay > 0 and await self._sleep_or_stop(delay):
                return None
            if self._stopping:
                return None
            try:
                ws = await self._open()
            except PresenceError as exc:
                status = exc.http_status
                if status is not None and 400 <= status < 500 and status not in (408, 429):
                    reason = (
                        KickReason.USERSIG_EXPIRED
                        if exc.code == ErrorCode.USERSIG_EXPIRED
                        else KickReason.REFUSED
                    )
                    logger.warning("reconnect refused for good: %s", exc)
                    await self._end_session(KickedOut(reason, exc))
                    return None
                logger.info("reconnect attempt %d failed: %s", attempt, exc)
                error = exc
                continue
            if self._stopping:
                await ws.close()
                return None
            return ws
        return None

    async def _sleep_or_stop(self, seconds: float) -> bool:
        """Sleep; True if the session was stopped meanwhile."""
        try:
            await asyncio.wait_for(self._stop_event.wait(), seconds)
        except TimeoutError:
            return self._stopping
        return True

    def _begin_stop(self) -> None:
        self._stopping = True
        self._stop_event.set()

    async def _wait_closed(self, ws: ClientConnection) -> None:
        """Let the server close the socket (it does after loggedOut), else close it."""
        try:
            await asyncio.wait_for(asyncio.shield(ws.wait_closed()), 3)
        except TimeoutError:
            await ws.close()

    async def _end_session(self, ended: KickedOut | None) -> None:
        """Stop for good: no reconnect, streams end, KICKED_OUT when it ended by itself."""
        self._begin_stop()
        self._active = False
        current = asyncio.current_task()
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not current and not supervisor.done():
            try:
                await asyncio.wait_for(asyncio.shield(supervisor), self._open_timeout + 5)
            except TimeoutError:
                supervisor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await supervisor
        if self._resync_task is not None:
            self._resync_task.cancel()
            self._resync_task = None
        self._ws = None
        if ended is not None:
            self._ended = ended
            self._emitter.emit(KICKED_OUT, ended)
        self._set_state(NetState.DISCONNECTED)
        for stream in list(self._streams):
            stream.end()

    # --- internals: frames and updates --------------------------------------------------------

    def _on_frame(self, message: str | bytes) -> None:
        try:
            frame = json.loads(message)
        except ValueError:
            logger.debug("ignored a frame that is not JSON: %.100r", message)
            return
        if not isinstance(frame, dict):
            return
        event = frame.get("event")
        if event == USER_STATUS_UPDATED:
            data = frame.get("data")
            statuses = [
                UserStatus.from_wire(s)
                for s in (data if isinstance(data, list) else [])
                if isinstance(s, dict) and s.get("userID")
            ]
            # (compared with what the app was given: a status only read at login, not emitted,
            # must not make the push of that same version look old)
            news = [s for s in statuses if self._is_news(s)]
            for status in news:
                self._known[status.user_id] = status
                self._marks[status.user_id] = self._marks.get(status.user_id, 0) + 1
            if news:
                self._deliver(news)
        elif event == "pong":
            logger.debug("pong")
            announced = frame.get("heartbeatSeconds")
            if isinstance(announced, int) and not isinstance(announced, bool) and announced > 0:
                self._announced_heartbeat = float(min(announced, MAX_HEARTBEAT_SECONDS))
            self._pong.set()
        elif event == "loggedOut":
            if self._logout_waiter is not None and not self._logout_waiter.done():
                self._logout_waiter.set_result(None)
        elif event == "kickedOut":
            self._kicked = KICK_REASONS.get(str(frame.get("reason")), KickReason.KICKED)
        elif event == "error" or (event is None and "message" in frame):
            code = frame.get("code")
            error = PresenceError(
                code if isinstance(code, int) else ErrorCode.UNEXPECTED_RESPONSE,
                str(frame.get("message") or "error frame"),
            )
            if self._logout_waiter is not None and not self._logout_waiter.done():
                self._logout_waiter.set_exception(error)
            self._emitter.emit(ERROR, error)
        else:
            logger.debug("ignored a frame: %.200r", message)

    def _is_news(self, status: UserStatus) -> bool:
        """A push is news if it is newer than anything seen (read or pushed), or the push of a
        status only read so far (never emitted to the app)."""
        known = self._known.get(status.user_id)
        if known is not None and status.version and status.version < known.version:
            return False
        emitted = self._emitted.get(status.user_id)
        if emitted is not None and status.version and emitted:
            return status.version > emitted
        return emitted is None or status.supersedes(self._known.get(status.user_id))

    def _deliver(self, statuses: list[UserStatus]) -> None:
        for status in statuses:
            self._emitted[status.user_id] = status.version
        self._emitter.emit(USER_STATUS_UPDATED, statuses)
        for stream in list(self._streams):
            stream.put(statuses)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _read_watched(self) -> list[UserStatus]:
        """The current status of oneself, of every subscription and of every user seen."""
        subscriptions = await self.get_subscriptions()
        if self._keep_subscriptions:
            missing = [u for u in self._wanted if u not in set(subscriptions)]
            for chunk in _chunks(missing, QUERY_CHUNK):
                failed = {f.user_id for f in await self.subscribe_user_status(chunk)}
                subscriptions += [u for u in chunk if u not in failed]
        found: list[UserStatus] = []
        if self._user_id:
            found += (await self.get_user_status([self._user_id])).success_user_list
        others = [u for u in dict.fromkeys([*subscriptions, *self._known]) if u != self._user_id]
        for chunk in _chunks(others, QUERY_CHUNK):
            try:
                found += (await self.get_user_status(chunk)).success_user_list
            except PresenceError as exc:
                if exc.code not in _GATED:
                    raise
                self._emitter.emit(ERROR, exc)  # the plan or switch forbids it: own status only
                break
        return found

    async def _prime(self) -> None:
        """After login: note the current statuses (not emitted) so a re-sync emits only changes."""
        try:
            statuses = await self._read_watched()
        except PresenceError as exc:
            logger.info("could not read the watched statuses after login: %s", exc)
            return
        for status in statuses:
            self._known.setdefault(status.user_id, status)

    def _start_resync(self) -> None:
        if self._resync_task is not None:
            self._resync_task.cancel()
        marks = dict(self._marks)
        self._resync_task = self._spawn(self._resync(marks))

    async def _resync(self, marks: dict[str, int]) -> None:
        """After a reconnect: emit each watched status that differs from the last one seen.

        A user pushed about since the reconnect (`marks` changed) is skipped: that push is at
        least as new as what was read."""
        statuses: list[UserStatus] | None = None
        for attempt in range(1, RESYNC_ATTEMPTS + 1):
            try:
                statuses = await self._read_watched()
                break
            except PresenceError as exc:
                logger.warning("re-sync after reconnect failed (attempt %d): %s", attempt, exc)
                self._emitter.emit(ERROR, exc)
                if exc.is_auth_error or attempt == RESYNC_ATTEMPTS:
                    return
                if await self._sleep_or_stop(self._backoff(attempt)):
                    return
        changed: list[UserStatus] = []
        for status in statuses or []:
            if self._marks.get(status.user_id, 0) != marks.get(status.user_id, 0):
                continue
            if not status.supersedes(self._known.get(status.user_id)):
                continue
            self._known[status.user_id] = status
            changed.append(status)
        if changed:
            logger.info("re-sync after reconnect: %d status(es) changed meanwhile", len(changed))
            self._deliver(changed)
