"""POST /v1/getSubscriptions: the caller's subscriptions, oldest first."""

from typing import Any

from presence import subscriptions
from presence.bodies import EmptyBody
from presence.http import Caller, http_endpoint


@http_endpoint(EmptyBody)
def lambda_handler(caller: Caller, body: EmptyBody) -> dict[str, Any]:
    return subscriptions.list_targets(caller.user_id)
