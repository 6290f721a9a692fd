"""POST /v1/unsubscribeUserStatus: cancel some subscriptions, or all with no list."""

from typing import Any

from presence import subscriptions
from presence.bodies import UnsubscribeBody
from presence.http import Caller, http_endpoint


@http_endpoint(UnsubscribeBody)
def lambda_handler(caller: Caller, body: UnsubscribeBody) -> dict[str, Any]:
    return subscriptions.unsubscribe(caller.user_id, body.userIDList)
