"""Listeners of the client's events, and the async stream of status updates."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .models import ERROR, KICKED_OUT, NET_STATE_CHANGE, USER_STATUS_UPDATED, UserStatus

logger = logging.getLogger("presence_client")

EVENT_NAMES = frozenset({USER_STATUS_UPDATED, KICKED_OUT, NET_STATE_CHANGE, ERROR})

Listener = Callable[[Any], object]


class Emitter:
    """Calls each listener of an event in registration order. A listener may be a plain function
    or return an awaitable (an `async def`), which runs as a task; a listener that raises is
    logged and does not stop the others."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def add(self, event: str, listener: Listener) -> Callable[[], None]:
        if event not in EVENT_NAMES:
            raise ValueError(f"unknown event {event!r}; one of {sorted(EVENT_NAMES)}")
        if not callable(listener):
            raise TypeError("the listener must be callable")
        self._listeners.setdefault(event, []).append(listener)

        def remove() -> None:
            self.remove(event, listener)

        return remove

    def remove(self, event: str, listener: Listener | None = None) -> None:
        """Remove one listener, or every listener of the event when `listener` is None."""
        listeners = self._listeners.get(event, [])
        if listener is None:
            listeners.clear()
        elif listener in listeners:
            listeners.remove(listener)

    def emit(self, event: str, payload: Any) -> None:
        for listener in list(self._listeners.get(event, ())):
            try:
                result = listener(payload)
            except Exception:
                logger.exception("a %s listener raised", event)
                continue
            if inspect.isawaitable(result):
                self._track(result, event)

    def _track(self, awaitable: Awaitable[Any], event: str) -> None:
        async def run() -> None:
            try:
                await awaitable
            except Exception:
                logger.exception("a %s listener raised", event)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class UpdateStream:
    """`async for status in client.updates()`: every status update from the moment the stream
    was created, one `UserStatus` at a time. It ends when the session ends (logout, kick,
    close); `aclose()` stops it earlier."""

    def __init__(self, streams: set[UpdateStream]) -> None:
        self._queue: asyncio.Queue[UserStatus | None] = asyncio.Queue()
        self._streams = streams
        self._done = False
        streams.add(self)

    def put(self, statuses: Iterable[UserStatus]) -> None:
        if not self._done:
            for status in statuses:
                self._queue.put_nowait(status)

    def end(self) -> None:
        """No more updates: the iteration stops once the queued ones are read."""
        self._streams.discard(self)
        self._queue.put_nowait(None)

    def __aiter__(self) -> UpdateStream:
        return self

    async def __anext__(self) -> UserStatus:
        if self._done:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            self._done = True
            raise StopAsyncIteration
        return item

    async def next(self, timeout: float | None = None) -> UserStatus | None:
        """The next update, or None when none came within `timeout` seconds or the stream ended."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except (TimeoutError, StopAsyncIteration):
            return None

    async def aclose(self) -> None:
        self._done = True
        self._streams.discard(self)

    async def __aenter__(self) -> UpdateStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
