"""The local WebSocket gateway closes sockets as API Gateway does (API.md section 7): after 10
minutes with no frame in EITHER direction (a socket the server keeps posting to is not idle,
even if its client is long gone), and every socket at 2 hours."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from local import gateway
from local.gateway import WS_IDLE_TIMEOUT_SECONDS, WS_MAX_AGE_SECONDS, WebSocketApi, WsConnection

MINUTE = 60_000


class FakeSocket:
    closed = False

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.close_code: int | None = None

    async def send_str(self, text: str) -> None:
        self.sent.append(text)

    async def close(self, code: int, message: bytes) -> None:
        self.close_code = code


class FakeRequest:
    def __init__(self, connection_id: str, data: bytes) -> None:
        self.match_info = {"connection_id": connection_id}
        self._data = data

    async def read(self) -> bytes:
        return self._data


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    now = [1_000_000_000_000]
    monkeypatch.setattr(gateway, "_now_ms", lambda: now[0])
    return now


def open_connection(api: WebSocketApi, at: int) -> WsConnection:
    conn = WsConnection(
        "c1",
        connected_at=at,
        source_ip="127.0.0.1",
        user_agent="",
        last_active_at=at,
        ws=FakeSocket(),  # type: ignore[arg-type]
        state="open",
    )
    api._connections[conn.connection_id] = conn
    return conn


async def nothing(*args: Any) -> Any:
    return None


def test_a_socket_the_server_keeps_posting_to_is_not_idle(clock: list[int]) -> None:
    async def scenario() -> None:
        api = WebSocketApi([], "prod", nothing, lambda _m: None)
        conn = open_connection(api, clock[0])
        for _ in range(3):  # a push every 9 minutes, no client frame at all
            clock[0] += 9 * MINUTE
            response = await api._post(FakeRequest("c1", b'{"event": "x"}'))  # type: ignore[arg-type]
            assert response.status == 200
            await api.reap_idle()
            assert conn.state == "open"
        clock[0] += WS_IDLE_TIMEOUT_SECONDS * 1000  # then nothing either way for 10 minutes
        await api.reap_idle()
        assert conn.state == "closing"

    asyncio.run(scenario())


def test_every_socket_closes_at_two_hours(clock: list[int]) -> None:
    async def scenario() -> None:
        api = WebSocketApi([], "prod", nothing, lambda _m: None)
        conn = open_connection(api, clock[0])
        for _ in range(WS_MAX_AGE_SECONDS // 300 - 1):  # 5-minute steps up to 1:55
            clock[0] += 5 * MINUTE
            conn.last_active_at = clock[0]  # busy both ways
            await api.reap_idle()
            assert conn.state == "open"
        clock[0] = conn.connected_at + WS_MAX_AGE_SECONDS * 1000
        await api.reap_idle()
        assert conn.state == "closing"
        assert conn.server_close is not None and "duration" in conn.server_close[1]

    asyncio.run(scenario())
