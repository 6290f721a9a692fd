"""WebSocket action `logout`: this device logs out at once, is told so, and is closed."""

from typing import Any

from presence import sessions, ws


@ws.ws_route
def lambda_handler(event: dict[str, Any]) -> dict[str, Any]:
    sessions.on_logout(ws.connection_id(event))
    return ws.answer(200)
