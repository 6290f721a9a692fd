"""POST /v1/getUserStatus: the status of the listed users."""

from typing import Any

from presence import status
from presence.bodies import UserIDListBody
from presence.http import Caller, http_endpoint


@http_endpoint(UserIDListBody)
def lambda_handler(caller: Caller, body: UserIDListBody) -> dict[str, Any]:
    return status.get_user_status(caller.user_id, body.userIDList)
