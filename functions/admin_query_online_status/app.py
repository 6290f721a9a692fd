"""POST /v1/admin/queryOnlineStatus: users' status and live devices, never gated (admin only)."""

from typing import Any

from presence import admin
from presence.bodies import QueryOnlineStatusBody
from presence.http import Caller, http_endpoint


@http_endpoint(QueryOnlineStatusBody, admin=True)
def lambda_handler(caller: Caller, body: QueryOnlineStatusBody) -> dict[str, Any]:
    return admin.query_online_status(body.userIDList, body.includeDevices)
