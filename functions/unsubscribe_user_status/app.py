"""POST /v1/unsubscribeUserStatus: cancel some subscriptions, or all with no list."""

from typing import Any

from presence import subscriptions
from presence.http import Caller, http_endpoint
from presence.models import UnsubscribeBody


@http_endpoint(UnsubscribeBody)
def lambda_handler(caller: Caller, body: UnsubscribeBody) -> dict[str, Any]:
    return subscriptions.unsubscribe(caller.user_id, body.userIDList)
