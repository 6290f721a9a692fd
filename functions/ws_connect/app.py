"""WebSocket $connect: verify the UserSig, then the user is ONLINE on this device."""

from typing import Any

from presence import sessions, ws


@ws.ws_route
def lambda_handler(event: dict[str, Any]) -> dict[str, Any]:
    request = ws.authenticate_connect(event)
    sessions.on_connect(
        request.user_id,
        ws.connection_id(event),
        request.platform,
        request.sig_expires_at,
        request.client_ip,
    )
    return ws.answer(200)
