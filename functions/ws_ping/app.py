"""WebSocket action `ping`: answers `{"event": "pong"}` (keeps the socket from idling out)."""

from typing import Any

from presence import ws


@ws.ws_route
def lambda_handler(event: dict[str, Any]) -> dict[str, Any]:
    return ws.answer(200, {"event": "pong"})
