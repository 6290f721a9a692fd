"""The one decorator every HTTP handler wears: UserSig auth, JSON body, envelope, error codes.

Order of checks (API.md section 2): auth, then JSON and parameters; the operation itself runs the
edition and switch gates and the rate limit, because whether they apply depends on the body.
Failures become `{"code", "message"}` with the contract's HTTP status; anything unexpected is
logged and answered with 7012, never with a stack trace.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from functools import wraps
from typing import Any, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ValidationError

from presence import auth, config, settings, store
from presence.errors import Code, PresenceError
from presence.observability import logger, metrics, tracer
from presence.validation import describe_validation_error

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


class Caller(NamedTuple):
    """Who is calling: always the UserSig's identifier, never anything the client claims."""

    user_id: str


def http_endpoint[B: BaseModel](
    body_model: type[B], *, admin: bool = False
) -> Callable[[Callable[[Caller, B], dict[str, Any]]], LambdaHandler]:
    """Wrap `operation(caller, body) -> data` as an API Gateway HTTP API (payload 2.0) handler."""

    def decorate(operation: Callable[[Caller, B], dict[str, Any]]) -> LambdaHandler:
        @wraps(operation)
        def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
            def attempt() -> dict[str, Any]:
                request = Request(event)
                caller = authenticate(request)
                logger.append_keys(userID=caller.user_id)
                if admin:
                    require_admin(caller)
                body = parse_body(request, body_model)
                data = operation(caller, body)
                return response(200, {"code": 0, "message": "", "data": data})

            return guarded(attempt, error_response)

        # what the OpenAPI document (local/openapi.py) describes; copied outward by each
        # wrapper below (functools.wraps)
        run.body_model = body_model  # type: ignore[attr-defined]
        run.admin_only = admin  # type: ignore[attr-defined]
        handler: LambdaHandler = logger.inject_lambda_context(clear_state=True)(run)
        handler = metrics.log_metrics(handler, raise_on_empty_metrics=False)
        handler = tracer.capture_lambda_handler(handler)
        return handler

    return decorate


class Request:
    """What a handler reads of an API Gateway HTTP API (payload 2.0) event.

    Powertools' APIGatewayProxyEventV2 would do, but importing it imports every event class of
    its data_classes package (~40 modules, about 10 ms of each HTTP function's cold start) for two
    properties. These behave as its `headers` and `decoded_body` do.
    """

    def __init__(self, event: dict[str, Any]) -> None:
        self._event = event

    @property
    def headers(self) -> dict[str, str]:
        """The headers by lower-cased name (header names are case-insensitive)."""
        headers = dict(self._event.get("headers") or {})
        return {name.lower(): value for name, value in headers.items()}

    @property
    def decoded_body(self) -> str | None:
        """The body, decoded from base64 when API Gateway encoded it."""
        body: str | None = self._event.get("body")
        if self._event.get("isBase64Encoded") and body:
            return base64.b64decode(body.encode()).decode()
        return body


def authenticate(request: Request) -> Caller:
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise PresenceError(
            Code.USERSIG_INVALID, "the Authorization header must be 'Bearer <UserSig>'"
        )
    user_id = auth.verify_user_sig(
        token.strip(),
        sdkappid=config.sdkappid(),
        secret_key=store.usersig_secret_key(),
        other_keys=store.other_usersig_secret_keys,
        claimed_user_id=request.headers.get("x-user-id") or None,
    )
    return Caller(user_id)


def require_admin(caller: Caller) -> None:
    if caller.user_id != settings.current().adminUserID:
        raise PresenceError(Code.NOT_ADMIN, "only the admin account may call this route")


def parse_body[B: BaseModel](request: Request, model: type[B]) -> B:
    try:
        raw = request.decoded_body
    except (ValueError, UnicodeDecodeError):
        raise PresenceError(Code.INVALID_JSON, "the body is not valid UTF-8 JSON") from None
    if raw is None or not raw.strip():
        value: Any = {}
    else:
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise PresenceError(Code.INVALID_JSON, f"the body is not valid JSON ({exc})") from None
        except RecursionError:
            raise PresenceError(Code.INVALID_JSON, "the body is nested too deeply") from None
    if not isinstance(value, dict):
        raise PresenceError(Code.INVALID_JSON, "the body must be a JSON object")
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise PresenceError(Code.INVALID_PARAMETER, describe_validation_error(exc)) from None


def guarded(
    attempt: Callable[[], dict[str, Any]], refuse: Callable[[PresenceError], dict[str, Any]]
) -> dict[str, Any]:
    """Run one request: its answer, counted; a PresenceError answered by `refuse`; anything
    else logged and answered by `refuse` as 7012, never with its text (every HTTP envelope:
    this API's and presence.tencent's)."""
    try:
        answer = attempt()
    except PresenceError as exc:
        return refuse(exc)
    except Exception:
        logger.exception("request failed")
        return refuse(
            PresenceError(Code.SERVER_FAULT, "internal error; the request was not completed")
        )
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    return answer


def note_refusal(exc: PresenceError) -> None:
    """Log and count a refused request (a client error, or a server fault)."""
    extra = {"code": int(exc.code), "reason": exc.message}
    if exc.http_status >= 500:
        logger.error("server fault", extra=extra)
        metrics.add_metric(name="ServerFaults", unit=MetricUnit.Count, value=1)
    else:
        logger.info("request refused", extra=extra)
        metrics.add_metric(name="ClientErrors", unit=MetricUnit.Count, value=1)


def error_response(exc: PresenceError) -> dict[str, Any]:
    note_refusal(exc)
    return response(exc.http_status, {"code": int(exc.code), "message": exc.message})


def response(status: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(payload),
    }
