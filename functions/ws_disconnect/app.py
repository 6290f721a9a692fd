"""WebSocket $disconnect: the socket closed without a logout; the reconnect grace starts."""

from typing import Any

from presence import sessions, ws


@ws.ws_route
def lambda_handler(event: dict[str, Any]) -> dict[str, Any]:
    sessions.on_disconnect(ws.connection_id(event))
    return ws.answer(200)
