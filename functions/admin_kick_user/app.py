"""POST /v1/admin/kickUser: close every connection of a user, who ends UNLOGINED (admin only)."""

from typing import Any

from presence import admin
from presence.bodies import KickUserBody
from presence.http import Caller, http_endpoint


@http_endpoint(KickUserBody, admin=True)
def lambda_handler(caller: Caller, body: KickUserBody) -> dict[str, Any]:
    return admin.kick_user(body.userID)
