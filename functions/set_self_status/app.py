"""POST /v1/setSelfStatus: set the caller's custom status (with an expiry) or invisibility.

Sets or clears the custom status, optionally clearing itself after customStatusExpiresIn
seconds, and makes the caller appear offline or visible again (invisible)."""

from typing import Any

from presence import status
from presence.bodies import SetSelfStatusBody
from presence.http import Caller, http_endpoint


@http_endpoint(SetSelfStatusBody)
def lambda_handler(caller: Caller, body: SetSelfStatusBody) -> dict[str, Any]:
    return status.set_self_status(
        caller.user_id,
        body.customStatus,
        expires_in=body.customStatusExpiresIn,
        invisible=body.invisible,
    ).to_wire()
