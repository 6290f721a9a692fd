"""POST /v1/admin/updateSettings: change some settings, all valid or none (admin only)."""

from typing import Any

from presence import admin
from presence.bodies import AnyObject
from presence.http import Caller, http_endpoint


@http_endpoint(AnyObject, admin=True)
def lambda_handler(caller: Caller, body: AnyObject) -> dict[str, Any]:
    return admin.update_settings(body.root)
