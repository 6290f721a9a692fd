"""Tencent Cloud IM's server REST API, for app backends migrating from Tencent (API.md section 10).

`POST /v4/openim/query_online_status` and `POST /v4/im_open_login_svc/kick`, with Tencent's
REST conventions: the admin's UserSig in the query string (`sdkappid`, `identifier`, `usersig`,
`random`, `contenttype=json`), Tencent's request and response bodies, and every answer HTTP 200:
`{"ActionStatus": "OK"|"FAIL", "ErrorCode", "ErrorInfo", ...}`. A failure carries this
contract's code (sections 1-2: 70001, 70003, 70009, 70013, 70014, 60010, 6017, 6027, 7012).

Also Tencent's names for platforms and states, which the State.StateChange callback
(presence.callbacks) shares.

Checks, in order: the UserSig (`usersig`; `identifier`, when given, must be its identifier:
70013), the query's `sdkappid` (when given, this deployment's: 70014), the admin account
(60010), the query's `random` and `contenttype` (6017), the body (6027, 6017).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from presence import auth, clock, config, http, lifecycle, sessions, settings, store
from presence.errors import Code, PresenceError
from presence.lifecycle import PresenceState, Timing
from presence.models import StatusType, dedupe
from presence.observability import logger, metrics, tracer
from presence.status import shown_status

if TYPE_CHECKING:
    from presence.bodies import TencentKickBody, TencentQueryOnlineStatusBody

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]

# Tencent's platform names (query_online_status' Detail, the callback's OptPlatform and
# KickedDevice), by this service's platform (API.md section 6)
PLATFORM_NAMES = {
    "web": "Web",
    "miniprogram": "MiniProgram",
    "ios": "IPhone",
    "ipad": "IPad",
    "android": "Android",
    "windows": "Windows",
    "mac": "Mac",
    "linux": "Linux",
    "harmony": "Harmony",
}
ONLINE, PUSH_ONLINE, OFFLINE = "Online", "PushOnline", "Offline"
# Tencent's State/Status of a user, by statusType: OFFLINE is logged in with the app in the
# background (Tencent's PushOnline), UNLOGINED is Tencent's Offline
STATE_NAMES = {
    StatusType.ONLINE: ONLINE,
    StatusType.OFFLINE: PUSH_ONLINE,
    StatusType.UNLOGINED: OFFLINE,
    StatusType.UNKNOWN: OFFLINE,
}
ACCOUNT_NOT_FOUND = 70107  # Tencent's code for an account it does not know: an invalid userID
MAX_RANDOM = 4_294_967_295  # `random` is a 32-bit unsigned integer


def platform_name(platform: str) -> str:
    return PLATFORM_NAMES.get(platform, platform)


# --- the REST envelope -------------------------------------------------------------------------


def rest_endpoint[B: BaseModel](
    body_model: type[B],
) -> Callable[[Callable[[B], dict[str, Any]]], LambdaHandler]:
    """Wrap `operation(body) -> fields` as an API Gateway HTTP API handler that speaks Tencent's
    REST conventions: admin UserSig in the query string, `ActionStatus`/`ErrorCode`/`ErrorInfo`
    in every answer, HTTP 200 whatever happens (Tencent answers errors in the body)."""

    def decorate(operation: Callable[[B], dict[str, Any]]) -> LambdaHandler:
        @wraps(operation)
        def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
            def attempt() -> dict[str, Any]:
                request = http.Request(event)
                query = _query(event)
                caller = authenticate(query)
                logger.append_keys(userID=caller)
                if caller != settings.current().adminUserID:
                    raise PresenceError(
                        Code.NOT_ADMIN, "identifier must be the admin account (adminUserID)"
                    )
                _check_query(query)
                body = http.parse_body(request, body_model)
                fields = operation(body)
                return http.response(
                    200, {"ActionStatus": "OK", "ErrorCode": 0, "ErrorInfo": "", **fields}
                )

            return http.guarded(attempt, failure)

        # what the OpenAPI document (local/openapi.py) describes
        run.body_model = body_model  # type: ignore[attr-defined]
        run.admin_only = True  # type: ignore[attr-defined]
        run.tencent_rest = True  # type: ignore[attr-defined]
        handler: LambdaHandler = logger.inject_lambda_context(clear_state=True)(run)
        handler = metrics.log_metrics(handler, raise_on_empty_metrics=False)
        handler = tracer.capture_lambda_handler(handler)
        return handler

    return decorate


def _query(event: dict[str, Any]) -> dict[str, str]:
    """The query string's parameters by lower-cased name (Tencent's are lower case)."""
    raw = event.get("queryStringParameters") or {}
    return {str(name).lower(): str(value) for name, value in raw.items()}


def authenticate(query: dict[str, str]) -> str:
    """The caller's userID, from the query string's `usersig` (and `identifier`, `sdkappid`)."""
    caller = auth.verify_user_sig(
        query.get("usersig") or None,
        sdkappid=config.sdkappid(),
        secret_key=store.usersig_secret_key(),
        other_keys=store.other_usersig_secret_keys,
        claimed_user_id=query.get("identifier") or None,
    )
    given = query.get("sdkappid")
    if given is not None and given.strip() != str(config.sdkappid()):
        raise PresenceError(
            Code.SDKAPPID_MISMATCH,
            f"sdkappid {_quote(given)} is not this service's SDKAppID {config.sdkappid()}",
        )
    return caller


def _quote(value: str, limit: int = 32) -> str:
    return repr(value[:limit] + ("\u2026" if len(value) > limit else ""))


def _check_query(query: dict[str, str]) -> None:
    random = query.get("random")
    if random is not None and not (random.isdigit() and int(random) <= MAX_RANDOM):
        raise PresenceError(
            Code.INVALID_PARAMETER,
            f"random must be an unsigned 32-bit integer (0-{MAX_RANDOM}), not {_quote(random)}",
        )
    content_type = query.get("contenttype")
    if content_type is not None and content_type.lower() != "json":
        raise PresenceError(
            Code.INVALID_PARAMETER, f"contenttype must be json, not {_quote(content_type)}"
        )


def failure(exc: PresenceError) -> dict[str, Any]:
    """A failure as Tencent's REST API answers one: HTTP 200, ActionStatus FAIL."""
    http.note_refusal(exc)
    return http.response(
        200, {"ActionStatus": "FAIL", "ErrorCode": int(exc.code), "ErrorInfo": exc.message}
    )


# --- the operations ----------------------------------------------------------------------------


def query_online_status(body: TencentQueryOnlineStatusBody) -> dict[str, Any]:
    """Tencent's `QueryResult` (and `ErrorList`) for the body's `To_Account`: never gated, never
    rate limited, the real status (the admin sees through invisibility)."""
    wanted = dedupe(body.To_Account)
    valid = [user_id for user_id in wanted if auth.is_valid_user_id(user_id)]
    states = store.get_presences(valid)
    now, timing = clock.now_ms(), settings.current().timing()
    results = []
    for user_id in valid:
        shown = shown_status(states[user_id], now, timing)
        state = STATE_NAMES[shown.status_type]
        entry: dict[str, Any] = {"To_Account": user_id, "State": state, "Status": state}
        if body.IsNeedDetail:
            entry["Detail"] = devices(states[user_id], now, timing)
        if body.IsReturnCustomStatus:
            entry["CustomStatus"] = shown.custom_status
        results.append(entry)
    errors = [
        {"To_Account": user_id, "ErrorCode": ACCOUNT_NOT_FOUND}
        for user_id in wanted
        if not auth.is_valid_user_id(user_id)
    ]
    return {"QueryResult": results, "ErrorList": errors}


def devices(state: PresenceState, now: int, timing: Timing) -> list[dict[str, str]]:
    """One `Detail` entry per device that counts: `Online` for a connection (oldest first, one
    in its reconnect grace too), `PushOnline` for a native app logged in in the background."""
    settled = lifecycle.settle(state, now, timing).state
    connected = sorted(settled.connections.values(), key=lambda conn: conn.connected_at)
    found = [{"Platform": platform_name(conn.platform), "Status": ONLINE} for conn in connected]
    found += [
        {"Platform": platform_name(platform), "Status": PUSH_ONLINE}
        for platform in sorted(settled.background)
    ]
    return found


def kick(body: TencentKickBody) -> dict[str, Any]:
    """What /v1/admin/kickUser does: every connection closed, the user UNLOGINED."""
    if not auth.is_valid_user_id(body.UserID):
        raise PresenceError(
            Code.INVALID_PARAMETER, "UserID must be 1-32 printable ASCII characters"
        )
    sessions.kick(body.UserID)
    return {}
