"""POST /v1/subscribeUserStatus: be told about the listed users' status changes."""

from typing import Any

from presence import subscriptions
from presence.bodies import UserIDListBody
from presence.http import Caller, http_endpoint


@http_endpoint(UserIDListBody)
def lambda_handler(caller: Caller, body: UserIDListBody) -> dict[str, Any]:
    return subscriptions.subscribe(caller.user_id, body.userIDList)
