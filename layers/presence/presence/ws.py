"""The decorator every WebSocket route handler wears, and the $connect checks (API.md section 6).

A handler gets the API Gateway WebSocket event and returns the route's answer. For `$connect`
a non-2xx answer refuses the handshake (no socket opens); for two-way routes (ping, $default)
the answer's body is the frame the client receives.

Only `$connect` verifies a UserSig and reads the secret, so what that needs (presence.store and
with it boto3, presence.lifecycle and with it pydantic) is imported when it runs: ping and
$default then start without either.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit

from presence.errors import Code, PresenceError
from presence.observability import logger, metrics, tracer

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
DEFAULT_PLATFORM = "web"


def ws_route(route: Callable[[dict[str, Any]], dict[str, Any]]) -> LambdaHandler:
    @wraps(route)
    def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
        connection_id = event.get("requestContext", {}).get("connectionId")
        logger.append_keys(connectionId=connection_id)
        try:
            result = route(event)
        except PresenceError as exc:
            logger.info("refused", extra={"code": int(exc.code), "reason": exc.message})
            metrics.add_metric(name="ClientErrors", unit=MetricUnit.Count, value=1)
            return answer(exc.http_status, {"code": int(exc.code), "message": exc.message})
        except Exception:
            logger.exception("websocket route failed")
            metrics.add_metric(name="ServerFaults", unit=MetricUnit.Count, value=1)
            return answer(500, {"code": int(Code.SERVER_FAULT), "message": "internal error"})
        metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
        return result

    handler: LambdaHandler = logger.inject_lambda_context(clear_state=True)(run)
    handler = metrics.log_metrics(handler, raise_on_empty_metrics=False)
    handler = tracer.capture_lambda_handler(handler)
    return handler


def answer(status: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"statusCode": status}
    if body is not None:
        result["body"] = json.dumps(body)
    return result


def connection_id(event: dict[str, Any]) -> str:
    return str(event["requestContext"]["connectionId"])


class ConnectRequest(NamedTuple):
    user_id: str
    platform: str
    sig_expires_at: int  # epoch ms: TLS.time + TLS.expire of the UserSig it was opened with
    client_ip: str = ""  # the device's address as API Gateway saw it (identity.sourceIp)


def authenticate_connect(event: dict[str, Any]) -> ConnectRequest:
    """Who connects, on which platform, until when; from the query string. Raises the
    contract's errors.

    Browsers cannot set headers on a WebSocket, so the UserSig comes as `?userSig=`.
    """
    # imported here, not above: only $connect needs them (see the module's docstring)
    from presence import auth, config, store
    from presence.lifecycle import PLATFORMS

    query = event.get("queryStringParameters") or {}
    user_id = auth.verify_user_sig(
        query.get("userSig"),
        sdkappid=config.sdkappid(),
        secret_key=store.usersig_secret_key(),
        other_keys=store.other_usersig_secret_keys,
        claimed_user_id=query.get("userID") or None,
    )
    platform = query.get("platform") or DEFAULT_PLATFORM
    if platform not in PLATFORMS:
        raise PresenceError(
            Code.INVALID_PARAMETER,
            f"platform {platform!r} is not one of {', '.join(sorted(PLATFORMS))}",
        )
    sig = auth.decode_user_sig(query["userSig"])  # verified above: decodes
    identity = (event.get("requestContext") or {}).get("identity") or {}
    source_ip = identity.get("sourceIp")
    client_ip = source_ip[:64] if isinstance(source_ip, str) else ""
    return ConnectRequest(user_id, platform, (sig.time + sig.expire) * 1000, client_ip)


QUOTE_MAX_CHARS = 64  # of what the client sent, in an error message (API.md section 6)
_FRAME_SHAPE = 'frames must be JSON objects like {"action": "ping"}'


def quote(text: str, limit: int = QUOTE_MAX_CHARS) -> str:
    """`text` as a quoted literal, cut to its first `limit` characters (then an ellipsis).

    Whatever a client sends, the error frame that quotes it stays small.
    """
    if len(text) > limit:
        return repr(text[:limit]) + "\u2026"
    return repr(text)


def describe_unknown_frame(body: str | None) -> str:
    """Why a frame reached $default: not JSON, no action, or an action nobody serves.

    The message quotes at most QUOTE_MAX_CHARS characters of what the client sent.
    """
    text = body or ""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return f"frame {quote(text)} is not JSON; {_FRAME_SHAPE}"
    if not isinstance(value, dict) or "action" not in value:
        return f'frame {quote(text)} has no "action" field; {_FRAME_SHAPE}'
    action = value["action"]
    try:
        shown = action if isinstance(action, str) else json.dumps(action, ensure_ascii=False)
    except (ValueError, RecursionError):
        shown = text
    return f"unknown action {quote(shown)}; known actions: ping, beat, logout"


def note_frame(event: dict[str, Any]) -> None:
    """A frame from the device reached a function: it counts for liveness (API.md section 6)
    like ping and beat, which API Gateway notes itself (template.yaml, WsSeenIntegration)."""
    from presence import clock, store  # imported here: see the module's docstring

    context = event.get("requestContext", {})
    at = context.get("requestTimeEpoch")
    store.note_seen(connection_id(event), int(at) if isinstance(at, int) else clock.now_ms())
