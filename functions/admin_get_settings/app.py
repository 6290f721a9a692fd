"""POST /v1/admin/getSettings: the settings in force (admin only)."""

from typing import Any

from presence import admin
from presence.bodies import EmptyBody
from presence.http import Caller, http_endpoint


@http_endpoint(EmptyBody, admin=True)
def lambda_handler(caller: Caller, body: EmptyBody) -> dict[str, Any]:
    return admin.get_settings()
