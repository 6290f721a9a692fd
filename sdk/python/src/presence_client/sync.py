"""`PresenceClient`: the blocking client, an `AsyncPresenceClient` on a background event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator
from types import TracebackType
from typing import Any, Literal, Self, TypeVar, overload

import httpx

from ._events import Listener, UpdateStream
from .aio import AsyncPresenceClient
from .errors import PresenceError
from .models import (
    FailedUser,
    KickedOut,
    NetState,
    NetStateChange,
    UserStatus,
    UserStatusResult,
)

__all__ = ["PresenceClient", "UpdateIterator"]

logger = logging.getLogger("presence_client")
T = TypeVar("T")
_Job = tuple[Listener, Any]


class PresenceClient:
    """The same client as `AsyncPresenceClient`, for code without asyncio.

    ```python
    with PresenceClient(user_sig, http_url=..., ws_url=...) as client:
        client.on(USER_STATUS_UPDATED, lambda statuses: print(statuses))
        client.login()
        client.subscribe_user_status(["bob"])
        for status in client.updates():
            print(status)
    ```

    The asyncio client runs on a daemon thread of its own (heartbeats and reconnects go on
    while your code blocks). Callbacks given to `on()` run one at a time on another thread, in
    the order of the events, so they may call the client's methods; keep them short.
    Takes the same keyword arguments as `AsyncPresenceClient`.
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
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="presence-client-loop", daemon=True
        )
        self._thread.start()
        self._closed = False
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._dispatcher: threading.Thread | None = None
        self._removers: dict[tuple[str, Listener], list[Callable[[], None]]] = {}

        async def make() -> AsyncPresenceClient:
            return AsyncPresenceClient(
                user_sig,
                user_id=user_id,
                http_url=http_url,
                ws_url=ws_url,
                platform=platform,
                heartbeat_interval=heartbeat_interval,
                ping_every=ping_every,
                pong_timeout=pong_timeout,
                first_reconnect_delay=first_reconnect_delay,
                reconnect_base_delay=reconnect_base_delay,
                reconnect_max_delay=reconnect_max_delay,
                resync_on_reconnect=resync_on_reconnect,
                keep_subscriptions=keep_subscriptions,
                request_timeout=request_timeout,
                open_timeout=open_timeout,
                http_client=http_client,
            )

        try:
            self._client = self._call(make())
        except BaseException:
            self._stop_loop()
            raise

    # --- plumbing -----------------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError(
                "a blocking PresenceClient method was called on its own event-loop thread"
            )
        if self._closed:
            coro.close()
            raise RuntimeError("the client is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def _in_loop(self, fn: Callable[[], T]) -> T:
        async def run() -> T:
            return fn()

        return self._call(run())

    def _dispatch(self) -> None:
        while (job := self._jobs.get()) is not None:
            listener, payload = job
            try:
                listener(payload)
            except Exception:
                logger.exception("a PresenceClient callback raised")

    def _stop_loop(self) -> None:
        async def cancel_all() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    # --- properties ---------------------------------------------------------------------------

    @property
    def user_id(self) -> str:
        return self._client.user_id

    @property
    def user_sig(self) -> str:
        return self._client.user_sig

    @user_sig.setter
    def user_sig(self, value: str) -> None:
        def assign() -> None:
            self._client.user_sig = value

        self._in_loop(assign)

    @property
    def net_state(self) -> NetState:
        return self._client.net_state

    @property
    def logged_in(self) -> bool:
        return self._client.logged_in

    @property
    def heartbeat_seconds(self) -> float:
        """The heartbeat interval in force: the one the server announced, once known."""
        return self._client.heartbeat_seconds

    @property
    def kicked_out(self) -> KickedOut | None:
        return self._client.kicked_out

    @property
    def async_client(self) -> AsyncPresenceClient:
        """The asyncio client underneath (use it only on its own loop)."""
        return self._client

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
        """Call `callback(payload)` (on the callback thread) on each `event`. Returns a
        function that removes it."""
        if self._dispatcher is None:
            self._dispatcher = threading.Thread(
                target=self._dispatch, name="presence-client-callbacks", daemon=True
            )
            self._dispatcher.start()

        def proxy(payload: Any) -> None:
            self._jobs.put((callback, payload))

        remove_in_loop = self._in_loop(lambda: self._client._emitter.add(event, proxy))
        removers = self._removers.setdefault((event, callback), [])

        def remove() -> None:
            if remove in removers:
                removers.remove(remove)
            self._in_loop(remove_in_loop)

        removers.append(remove)
        return remove

    def off(self, event: str, callback: Listener | None = None) -> None:
        """Remove a callback (or all of the event's callbacks)."""
        for (name, listener), removers in list(self._removers.items()):
            if name == event and (callback is None or listener == callback):
                for remove in list(removers):
                    remove()

    def updates(self, timeout: float | None = None) -> UpdateIterator:
        """An iterator of every `UserStatus` pushed (or re-synced) from now on. It ends when the
        session ends, or when no update came for `timeout` seconds (if given)."""
        stream = self._in_loop(self._client.updates)
        return UpdateIterator(self, stream, timeout)

    # --- HTTP API -----------------------------------------------------------------------------

    def set_self_status(
        self,
        custom_status: str | None = None,
        *,
        expires_in: int | None = None,
        invisible: bool | None = None,
    ) -> UserStatus:
        return self._call(
            self._client.set_self_status(custom_status, expires_in=expires_in, invisible=invisible)
        )

    def get_user_status(self, user_ids: str | Iterable[str]) -> UserStatusResult:
        return self._call(self._client.get_user_status(user_ids))

    def subscribe_user_status(self, user_ids: str | Iterable[str]) -> list[FailedUser]:
        return self._call(self._client.subscribe_user_status(user_ids))

    def unsubscribe_user_status(
        self, user_ids: str | Iterable[str] | None = None
    ) -> list[FailedUser]:
        return self._call(self._client.unsubscribe_user_status(user_ids))

    def get_subscriptions(self) -> list[str]:
        return self._call(self._client.get_subscriptions())

    # --- session ------------------------------------------------------------------------------

    def login(self) -> None:
        self._call(self._client.login())

    def logout(self, timeout: float = 10.0) -> None:
        self._call(self._client.logout(timeout))

    def disconnect(self) -> None:
        self._call(self._client.disconnect())

    def close(self) -> None:
        """Disconnect (without logout), stop the background threads. Idempotent."""
        if self._closed:
            return
        try:
            self._call(self._client.close(), timeout=30)
        finally:
            self._closed = True
            self._stop_loop()
            self._jobs.put(None)
            dispatcher = self._dispatcher
            if dispatcher is not None and dispatcher is not threading.current_thread():
                dispatcher.join(5)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Log out (best effort) when logged in, then close."""
        try:
            if not self._closed and self.logged_in:
                with contextlib.suppress(PresenceError):
                    self.logout()
        finally:
            self.close()


class UpdateIterator(Iterator[UserStatus]):
    """`for status in client.updates(): ...` (see `PresenceClient.updates`)."""

    def __init__(self, owner: PresenceClient, stream: UpdateStream, timeout: float | None) -> None:
        self._owner = owner
        self._stream = stream
        self._timeout = timeout
        self._done = False

    def __iter__(self) -> UpdateIterator:
        return self

    def __next__(self) -> UserStatus:
        if self._done or self._owner._closed:
            raise StopIteration
        item = self._owner._call(self._stream.next(self._timeout))
        if item is None:
            self.close()
            raise StopIteration
        return item

    def close(self) -> None:
        if not self._done:
            self._done = True
            if not self._owner._closed:
                self._owner._call(self._stream.aclose())
