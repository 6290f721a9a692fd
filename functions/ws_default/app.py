"""WebSocket $default: any frame no route serves gets an error frame; the socket stays open.
The frame still shows the device is alive (liveness)."""

from typing import Any

from presence import messages, ws


@ws.ws_route
def lambda_handler(event: dict[str, Any]) -> dict[str, Any]:
    ws.note_frame(event)
    return ws.answer(200, messages.error_reply(ws.describe_unknown_frame(event.get("body"))))
