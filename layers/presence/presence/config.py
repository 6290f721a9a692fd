"""Deployment configuration read from the environment the template gives each function.

Read on first use, never at import time, so tests and the local runtime can set the environment
before the first request.
"""

from __future__ import annotations

import os

from presence.errors import Code, PresenceError


def _require(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise PresenceError(Code.SERVER_FAULT, f"the service is missing its {name} setting")
    return value


def status_table() -> str:
    return _require("STATUS_TABLE")


def subscriptions_table() -> str:
    return _require("SUBSCRIPTIONS_TABLE")


def rate_limits_table() -> str:
    return _require("RATE_LIMITS_TABLE")


def settings_table() -> str:
    return _require("SETTINGS_TABLE")


def sdkappid() -> int:
    raw = _require("SDKAPPID")
    try:
        return int(raw)
    except ValueError:
        raise PresenceError(Code.SERVER_FAULT, "the service's SDKAPPID is not a number") from None


def usersig_secret_arn() -> str:
    return _require("USERSIG_SECRET_ARN")


def connections_table() -> str:
    return _require("CONNECTIONS_TABLE")


def timers_queue_url() -> str:
    return _require("TIMERS_QUEUE_URL")


def ws_management_endpoint() -> str:
    return _require("WS_MANAGEMENT_ENDPOINT")


def region() -> str:
    """The function's region (Lambda sets AWS_REGION), for signing what boto3 does not send."""
    return os.environ.get("AWS_REGION") or _require("AWS_DEFAULT_REGION")


def friends_table() -> str:
    return _require("FRIENDS_TABLE")


def timers_queue_arn() -> str:
    return _require("TIMERS_QUEUE_ARN")


def schedule_group() -> str:
    return _require("TIMERS_SCHEDULE_GROUP")


def scheduler_role_arn() -> str:
    return _require("TIMERS_SCHEDULER_ROLE_ARN")


def delivery_queue_url() -> str:
    return _require("DELIVERY_QUEUE_URL")


def status_event_bus() -> str:
    return _require("STATUS_EVENT_BUS")


# --- State.StateChange callbacks (API.md section 10): stack parameters StateChangeCallbackUrl
# and StateChangeCallbackToken (the token in a secret of its own); none when the URL is empty


def state_change_callback_url() -> str:
    """The app backend's callback URL; "" when callbacks are off."""
    return os.environ.get("STATE_CHANGE_CALLBACK_URL", "").strip()


def callbacks_queue_url() -> str:
    return _require("STATE_CHANGE_CALLBACK_QUEUE_URL")


def callback_token_secret_arn() -> str:
    """The secret holding the callback's token; "" when no token is configured."""
    return os.environ.get("STATE_CHANGE_CALLBACK_TOKEN_SECRET", "").strip()


# --- liveness (API.md section 6): fixed per deployment (stack parameter LivenessTimeoutSeconds)

HEARTBEAT_WHEN_OFF_SECONDS = 540  # inside API Gateway's 10-minute idle limit


def liveness_timeout_seconds() -> int:
    """Seconds after a device's last frame at which it stops counting; 0: liveness is off."""
    raw = os.environ.get("LIVENESS_TIMEOUT_SECONDS", "").strip() or "0"
    try:
        value = int(raw)
    except ValueError:
        raise PresenceError(
            Code.SERVER_FAULT, "the service's LIVENESS_TIMEOUT_SECONDS is not a number"
        ) from None
    return max(0, value)


def heartbeat_seconds(timeout_seconds: int) -> int:
    """What pong announces: a third of the timeout, so a client whose timers fire a whole
    interval late still sends within it (template.yaml's Liveness mapping holds the same)."""
    if timeout_seconds <= 0:
        return HEARTBEAT_WHEN_OFF_SECONDS
    return max(1, timeout_seconds // 3)
