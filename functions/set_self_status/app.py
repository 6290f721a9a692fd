"""POST /v1/setSelfStatus: set or clear the caller's custom status."""

from typing import Any

from presence import status
from presence.bodies import SetSelfStatusBody
from presence.http import Caller, http_endpoint


@http_endpoint(SetSelfStatusBody)
def lambda_handler(caller: Caller, body: SetSelfStatusBody) -> dict[str, Any]:
    return status.set_self_status(caller.user_id, body.customStatus).to_wire()
