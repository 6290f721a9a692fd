"""API Gateway, locally: the HTTP API, the WebSocket API and its @connections management API.

Built on aiohttp (server, WebSocket protocol). Requests become the events API Gateway sends to
Lambda (HTTP API payload 2.0; WebSocket $connect / MESSAGE / $disconnect) and the template's
functions are invoked with them in worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import boto3
from aiohttp import WSCloseCode, WSMsgType, web

from local import integrations
from local import template as cfn
from local.lambdas import ACCOUNT_ID, FunctionError

Log = Callable[[str], None]
Invoke = Callable[[str, dict[str, Any]], Awaitable[Any]]

HTTP_API_ID = "localhttp"
WS_API_ID = "localws"
HTTP_MAX_BODY_BYTES = 10 * 1024 * 1024  # HTTP API payload limit
WS_MAX_MESSAGE_BYTES = 128 * 1024  # WebSocket API message limit (frames are 32 KB)
POST_MAX_BYTES = 128 * 1024  # PostToConnection payload limit
WS_IDLE_TIMEOUT_SECONDS = 600  # API Gateway closes a WebSocket idle this long
WS_MAX_AGE_SECONDS = 7200  # ... and every WebSocket at this age
CONNECT_WAIT_SECONDS = 5.0  # a post to a connection still in $connect waits this long

_TEXT_TYPES = re.compile(
    r"^(text/|application/(json|xml|javascript|x-www-form-urlencoded|[\w.+-]*\+(json|xml)))"
)
# Hop-by-hop or computed response headers that a proxy does not copy from the integration.
_SKIP_RESPONSE_HEADERS = {"content-length", "transfer-encoding", "connection", "keep-alive"}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _request_time(epoch_ms: int) -> str:
    """API Gateway's requestTime format, e.g. 26/Nov/2026:03:55:14 +0000."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def _iso(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def _api_id_like() -> str:
    """An id shaped like API Gateway's connection and request ids (16 chars, '=' at the end)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode("ascii")


def _json_response(
    status: int, payload: Any, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(payload).encode(),
        content_type="application/json",
        headers=headers,
    )


def _source_ip(request: web.Request) -> str:
    return request.remote or "127.0.0.1"


# ---------------------------------------------------------------------------------- HTTP API


@dataclass(frozen=True)
class _CompiledRoute:
    route: cfn.Route
    pattern: re.Pattern[str] | None  # None: the $default route
    specificity: tuple[int, int, int]

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.route.method not in ("ANY", method):
            return None
        if self.pattern is None:
            return {}
        found = self.pattern.fullmatch(path)
        return None if found is None else found.groupdict()


def _compile(route: cfn.Route) -> _CompiledRoute:
    if route.path == "$default":
        return _CompiledRoute(route, None, (2, 0, 0))
    regex = ""
    greedy = params = 0
    for part in re.split(r"(\{[^}]+\})", route.path):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            if name.endswith("+"):
                regex += f"(?P<{name[:-1]}>.+)"
                greedy += 1
            else:
                regex += f"(?P<{name}>[^/]+)"
                params += 1
        else:
            regex += re.escape(part)
    # exact paths win over parameters, parameters over greedy paths; a method over ANY
    return _CompiledRoute(
        route, re.compile(regex), (1 if greedy else 0, params, int(route.method == "ANY"))
    )


@dataclass(frozen=True)
class Cors:
    """An HttpApi CorsConfiguration, answered the way API Gateway answers it."""

    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...]
    allow_headers: tuple[str, ...]
    expose_headers: tuple[str, ...]
    max_age: int | None
    allow_credentials: bool

    @classmethod
    def from_template(cls, template: cfn.Template, refs: dict[str, str]) -> Cors | None:
        for resource in template.get("Resources", {}).values():
            if resource.get("Type") != "AWS::Serverless::HttpApi":
                continue
            config = resource.get("Properties", {}).get("CorsConfiguration")
            if not config:
                continue

            def values(name: str, config: dict[str, Any] = config) -> tuple[str, ...]:
                raw = config.get(name) or []
                if isinstance(raw, dict):  # a !Ref to a CommaDelimitedList parameter
                    raw = cfn.resolve(template, raw, refs).split(",")
                elif isinstance(raw, str):
                    raw = raw.split(",")
                items = raw if isinstance(raw, list) else [raw]
                return tuple(str(cfn.resolve(template, v, refs)).strip() for v in items)

            max_age = config.get("MaxAge")
            return cls(
                allow_origins=values("AllowOrigins"),
                allow_methods=tuple(m.upper() for m in values("AllowMethods")),
                allow_headers=tuple(h.lower() for h in values("AllowHeaders")),
                expose_headers=values("ExposeHeaders"),
                max_age=None if max_age is None else int(max_age),
                allow_credentials=bool(config.get("AllowCredentials", False)),
            )
        return None

    def allowed_origin(self, origin: str) -> str | None:
        if "*" in self.allow_origins:
            return "*"
        return origin if origin in self.allow_origins else None

    def preflight(self, request: web.Request) -> web.Response:
        headers: dict[str, str] = {}
        origin = self.allowed_origin(request.headers.get("Origin", ""))
        method = request.headers.get("Access-Control-Request-Method", "").upper()
        if origin and ("*" in self.allow_methods or method in self.allow_methods):
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Allow-Methods"] = ",".join(self.allow_methods)
            if self.allow_headers:
                headers["Access-Control-Allow-Headers"] = ",".join(self.allow_headers)
            if self.max_age is not None:
                headers["Access-Control-Max-Age"] = str(self.max_age)
            if self.allow_credentials:
                headers["Access-Control-Allow-Credentials"] = "true"
        return web.Response(status=204, headers=headers)

    def decorate(self, request: web.Request, response: web.StreamResponse) -> None:
        origin = request.headers.get("Origin")
        allowed = self.allowed_origin(origin) if origin else None
        if allowed is None:
            return
        response.headers["Access-Control-Allow-Origin"] = allowed
        if self.expose_headers:
            response.headers["Access-Control-Expose-Headers"] = ",".join(self.expose_headers)
        if self.allow_credentials:
            response.headers["Access-Control-Allow-Credentials"] = "true"


class HttpApi:
    """The HttpApi routes of template.yaml, each calling its function with a payload 2.0 event."""

    def __init__(
        self,
        routes: Iterable[cfn.Route],
        cors: Cors | None,
        invoke: Invoke,
        log: Log,
    ) -> None:
        self._routes = sorted((_compile(r) for r in routes), key=lambda c: c.specificity)
        self._cors = cors
        self._invoke = invoke
        self._log = log

    def app(self) -> web.Application:
        app = web.Application(client_max_size=HTTP_MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        return app

    def _match(self, method: str, path: str) -> tuple[cfn.Route, dict[str, str]] | None:
        for compiled in self._routes:
            params = compiled.match(method, path)
            if params is not None:
                return compiled.route, params
        return None

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        response = await self._respond(request)
        if self._cors is not None and request.method != "OPTIONS":
            self._cors.decorate(request, response)
        elapsed = (time.monotonic() - started) * 1000
        self._log(f"http {request.method} {request.path} -> {response.status} ({elapsed:.0f} ms)")
        return response

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        is_preflight = (
            request.method == "OPTIONS"
            and "Origin" in request.headers
            and "Access-Control-Request-Method" in request.headers
        )
        if is_preflight and self._cors is not None:
            return self._cors.preflight(request)
        found = self._match(request.method, request.path)
        if found is None:
            return _json_response(404, {"message": "Not Found"})
        route, path_parameters = found
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _json_response(413, {"message": "Request Entity Too Large"})
        event = self._event(request, route, path_parameters, body)
        try:
            result = await self._invoke(route.function, event)
        except FunctionError as exc:
            self._log(f"{route.function} raised (API Gateway answers 500):\n{exc.trace}")
            return _json_response(500, {"message": "Internal Server Error"})
        return self._response(result)

    @staticmethod
    def _event(
        request: web.Request, route: cfn.Route, path_parameters: dict[str, str], body: bytes
    ) -> dict[str, Any]:
        now = _now_ms()
        request_id = _api_id_like()
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in request.headers.items():
            key = name.lower()
            if key == "cookie":
                cookies += [c.strip() for c in value.split(";") if c.strip()]
                continue
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        headers.setdefault("x-forwarded-for", _source_ip(request))
        headers.setdefault("x-forwarded-port", str(request.url.port or ""))
        headers.setdefault("x-forwarded-proto", request.scheme)
        query: dict[str, str] = {}
        for name, value in parse_qsl(request.query_string, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        route_key = "$default" if route.path == "$default" else f"{route.method} {route.path}"
        host = request.host.split(":")[0]
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": request.raw_path.split("?", 1)[0],
            "rawQueryString": request.query_string,
            "headers": headers,
            "requestContext": {
                "accountId": ACCOUNT_ID,
                "apiId": HTTP_API_ID,
                "domainName": host,
                "domainPrefix": host.split(".")[0],
                "http": {
                    "method": request.method,
                    "path": request.path,
                    "protocol": f"HTTP/{request.version.major}.{request.version.minor}",
                    "sourceIp": _source_ip(request),
                    "userAgent": request.headers.get("User-Agent", ""),
                },
                "requestId": request_id,
                "routeKey": route_key,
                "stage": "$default",
                "time": _request_time(now),
                "timeEpoch": now,
            },
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if path_parameters:
            event["pathParameters"] = path_parameters
        if body:
            content_type = request.headers.get("Content-Type", "").lower()
            text: str | None = None
            if not content_type or _TEXT_TYPES.match(content_type):
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    text = None
            if text is None:
                event["body"] = base64.b64encode(body).decode("ascii")
                event["isBase64Encoded"] = True
            else:
                event["body"] = text
        return event

    @staticmethod
    def _response(result: Any) -> web.Response:
        """A payload 2.0 function result as API Gateway turns it into an HTTP response."""
        if not isinstance(result, dict) or "statusCode" not in result:
            # API Gateway's "format inference": anything else is a JSON body with status 200
            text = result if isinstance(result, str) else json.dumps(result)
            return web.Response(status=200, text=text, content_type="application/json")
        headers = {
            str(k): str(v)
            for k, v in (result.get("headers") or {}).items()
            if str(k).lower() not in _SKIP_RESPONSE_HEADERS
        }
        for name, values in (result.get("multiValueHeaders") or {}).items():
            if str(name).lower() not in _SKIP_RESPONSE_HEADERS:
                headers[str(name)] = ",".join(str(v) for v in values)
        raw = result.get("body")
        body = b"" if raw is None else str(raw).encode("utf-8")
        if result.get("isBase64Encoded") and raw is not None:
            body = base64.b64decode(str(raw))
        response = web.Response(status=int(result["statusCode"]), body=body, headers=headers)
        for cookie in result.get("cookies") or []:
            response.headers.add("Set-Cookie", str(cookie))
        return response


# ----------------------------------------------------------------------------- WebSocket API


@dataclass(eq=False)
class WsConnection:
    connection_id: str
    connected_at: int
    source_ip: str
    user_agent: str
    last_active_at: int
    ws: web.WebSocketResponse | None = None
    state: str = "connecting"  # connecting -> open -> closing -> closed
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    server_close: tuple[int, str] | None = None  # set when the server side closes
    disconnected: bool = False


def _close_code_name(code: int) -> str:
    try:
        return WSCloseCode(code).name
    except ValueError:
        return "UNKNOWN"


class WebSocketApi:
    """The WebSocket API of template.yaml: $connect, route selection on `$request.body.action`,
    two-way replies, $disconnect, and the @connections API the functions post through."""

    def __init__(
        self,
        routes: Iterable[cfn.WsRoute],
        stage: str,
        invoke: Invoke,
        log: Log,
    ) -> None:
        self._routes = {route.route_key: route for route in routes}
        self._stage = stage
        self._invoke = invoke
        self._log = log
        self._connections: dict[str, WsConnection] = {}
        self._disconnects: set[asyncio.Task[None]] = set()
        self._closers: set[asyncio.Task[None]] = set()
        self._dynamodb: Any = None  # for service integrations, created on first use
        self.shutting_down = False
        for key in ("$connect", "$disconnect"):
            if key not in self._routes:
                self._log(f"warning: the WebSocket API has no {key} route")

    def app(self) -> web.Application:
        app = web.Application(client_max_size=POST_MAX_BYTES * 2)
        connections = "/@connections/{connection_id}"
        for prefix in ("", f"/{self._stage}"):
            app.router.add_post(prefix + connections, self._post)
            app.router.add_get(prefix + connections, self._get)
            app.router.add_delete(prefix + connections, self._delete)
        app.router.add_get("/", self._handshake)
        app.router.add_get(f"/{self._stage}", self._handshake)
        return app

    @property
    def open_connections(self) -> int:
        return sum(1 for c in self._connections.values() if c.state == "open")

    # --- events ------------------------------------------------------------------------------

    def _context(
        self, conn: WsConnection, route_key: str, event_type: str, host: str
    ) -> dict[str, Any]:
        now = _now_ms()
        request_id = _api_id_like()
        identity = {"sourceIp": conn.source_ip}
        if conn.user_agent:
            identity["userAgent"] = conn.user_agent
        context: dict[str, Any] = {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": _request_time(now),
            "messageDirection": "IN",
            "stage": self._stage,
            "connectedAt": conn.connected_at,
            "requestTimeEpoch": now,
            "identity": identity,
            "requestId": request_id,
            "domainName": host,
            "connectionId": conn.connection_id,
            "apiId": WS_API_ID,
        }
        if event_type == "MESSAGE":
            context["messageId"] = _api_id_like()
        return context

    def _connect_event(self, request: web.Request, conn: WsConnection) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers[name] = f"{headers[name]},{value}" if name in headers else value
            multi_headers.setdefault(name, []).append(value)
        event: dict[str, Any] = {
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "requestContext": self._context(conn, "$connect", "CONNECT", request.host),
            "isBase64Encoded": False,
        }
        pairs = parse_qsl(request.query_string, keep_blank_values=True)
        if pairs:
            multi: dict[str, list[str]] = {}
            for name, value in pairs:
                multi.setdefault(name, []).append(value)
            event["queryStringParameters"] = {name: values[-1] for name, values in multi.items()}
            event["multiValueQueryStringParameters"] = multi
        return event

    def select_route(self, body: str | None) -> str:
        """`$request.body.action`: a JSON object's string `action` naming a route, else
        `$default` (the $connect and $disconnect routes cannot be selected by a message)."""
        try:
            value = json.loads(body) if body is not None else None
        except (ValueError, RecursionError):
            value = None
        action = value.get("action") if isinstance(value, dict) else None
        if (
            isinstance(action, str)
            and action in self._routes
            and action not in ("$connect", "$disconnect")
        ):
            return action
        return "$default"

    # --- the client side ---------------------------------------------------------------------

    async def _handshake(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return _json_response(426, {"message": "Upgrade Required: connect with a WebSocket"})
        if self.shutting_down:
            return _json_response(503, {"message": "Service Unavailable"})
        now = _now_ms()
        conn = WsConnection(
            connection_id=_api_id_like(),
            connected_at=now,
            source_ip=_source_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
            last_active_at=now,
        )
        self._connections[conn.connection_id] = conn
        try:
            accepted, reply = await self._connect(request, conn)
        except BaseException:
            self._forget(conn)
            raise
        if not accepted:
            return reply
        protocol = reply.headers.get("Sec-WebSocket-Protocol")
        ws = web.WebSocketResponse(
            protocols=(protocol,) if protocol else (),
            max_msg_size=WS_MAX_MESSAGE_BYTES,
            autoping=True,
        )
        try:
            await ws.prepare(request)
        except BaseException:
            # $connect accepted it, so its $disconnect is owed even though no socket opened
            self._forget(conn)
            self._spawn_disconnect(conn, request.host)
            raise
        conn.ws = ws
        conn.state = "open"
        conn.opened.set()
        try:
            async for message in ws:
                conn.last_active_at = _now_ms()
                if message.type is WSMsgType.TEXT:
                    await self._on_message(conn, str(message.data), request.host)
                elif message.type is WSMsgType.BINARY:
                    data = bytes(message.data)
                    await self._on_message(conn, data.decode("utf-8", "replace"), request.host)
                elif message.type is WSMsgType.ERROR:
                    break
        finally:
            self._spawn_disconnect(conn, request.host)
        return ws

    def _forget(self, conn: WsConnection) -> None:
        conn.state = "closed"
        self._connections.pop(conn.connection_id, None)
        conn.opened.set()

    def _spawn_disconnect(self, conn: WsConnection, host: str) -> None:
        """$disconnect in its own task, so a cancelled request handler still reports it."""
        task = asyncio.get_running_loop().create_task(self._disconnect(conn, host))
        self._disconnects.add(task)
        task.add_done_callback(self._disconnects.discard)

    async def _connect(self, request: web.Request, conn: WsConnection) -> tuple[bool, web.Response]:
        """Run $connect: (accepted, the refusal to send or the accepted reply's headers)."""
        route = self._routes.get("$connect")
        if route is None:
            return True, web.Response(status=200)
        event = self._connect_event(request, conn)
        try:
            result = await self._invoke(route.function, event)
        except FunctionError as exc:
            self._log(f"{route.function} raised (handshake refused with 500):\n{exc.trace}")
            self._forget(conn)
            return False, _json_response(500, {"message": "Internal server error"})
        status = int(result.get("statusCode", 200)) if isinstance(result, dict) else 200
        headers = {
            str(k): str(v)
            for k, v in ((result.get("headers") or {}) if isinstance(result, dict) else {}).items()
            if str(k).lower() not in _SKIP_RESPONSE_HEADERS
        }
        self._log(f"ws $connect {conn.connection_id} -> {status}")
        if 200 <= status < 300:
            return True, web.Response(status=status, headers=headers)
        self._forget(conn)
        body = result.get("body") if isinstance(result, dict) else None
        headers.setdefault("Content-Type", "application/json")
        return False, web.Response(
            status=status, body=b"" if body is None else str(body).encode(), headers=headers
        )

    async def _on_message(self, conn: WsConnection, body: str, host: str) -> None:
        route_key = self.select_route(body)
        route = self._routes.get(route_key)
        if route is None:
            # no $default route: API Gateway answers the client itself
            await self._send_to_client(
                conn, json.dumps({"message": "Forbidden", "connectionId": conn.connection_id})
            )
            return
        if not route.function:
            # API Gateway answers itself: a MOCK integration, or an AWS service integration
            # (ping and beat note the frame on its connection), then the response template
            if route.service_action and route.request_template:
                context = self._context(conn, route_key, "MESSAGE", host)
                await self._call_service(route.service_action, route.request_template, context)
            if route.two_way and route.response_template is not None:
                await self._send_to_client(conn, route.response_template)
            return
        event: dict[str, Any] = {
            "requestContext": self._context(conn, route_key, "MESSAGE", host),
            "body": body,
            "isBase64Encoded": False,
        }
        try:
            result = await self._invoke(route.function, event)
        except FunctionError as exc:
            self._log(f"{route.function} raised on route {route_key}:\n{exc.trace}")
            await self._send_to_client(
                conn,
                json.dumps(
                    {
                        "message": "Internal server error",
                        "connectionId": conn.connection_id,
                        "requestId": event["requestContext"]["requestId"],
                    }
                ),
            )
            return
        if route.two_way and isinstance(result, dict) and result.get("body") is not None:
            await self._send_to_client(conn, str(result["body"]))

    async def _call_service(
        self, service_action: str, request_template: str, context: dict[str, Any]
    ) -> None:
        request = integrations.render(request_template, context)
        if self._dynamodb is None:
            self._dynamodb = boto3.client("dynamodb")  # moto's endpoint, from the environment
        await asyncio.to_thread(integrations.call, service_action, request, self._dynamodb)

    async def _send_to_client(self, conn: WsConnection, text: str) -> bool:
        if conn.state != "open" or conn.ws is None or conn.ws.closed:
            return False
        try:
            await conn.ws.send_str(text)
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def _disconnect(self, conn: WsConnection, host: str) -> None:
        """$disconnect, once per connection, after the socket closed (either side)."""
        self._forget(conn)
        if conn.disconnected:
            return
        conn.disconnected = True
        if conn.server_close is not None:
            code, reason = conn.server_close
        else:
            code = int(conn.ws.close_code or WSCloseCode.ABNORMAL_CLOSURE) if conn.ws else 1006
            reason = (
                f"Client-side close frame status code '{code}' ({_close_code_name(code)})"
                " - supplied reason: "
            )
        self._log(f"ws $disconnect {conn.connection_id} ({code})")
        route = self._routes.get("$disconnect")
        if route is None or self.shutting_down:
            return
        context = self._context(conn, "$disconnect", "DISCONNECT", host)
        context["disconnectStatusCode"] = code
        context["disconnectReason"] = reason
        event = {
            "headers": {"Host": host, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""},
            "multiValueHeaders": {
                "Host": [host],
                "x-api-key": [""],
                "X-Forwarded-For": [""],
                "x-restapi": [""],
            },
            "requestContext": context,
            "isBase64Encoded": False,
        }
        try:
            await self._invoke(route.function, event)
        except FunctionError as exc:
            self._log(f"{route.function} raised on $disconnect:\n{exc.trace}")

    def close(self, conn: WsConnection, code: int, reason: str) -> None:
        """Close from the server side (its $disconnect follows); returns at once."""
        if conn.state not in ("open", "connecting") or conn.ws is None:
            return
        conn.state = "closing"
        conn.server_close = (code, reason)
        ws = conn.ws

        async def close() -> None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.close(code=code, message=reason.encode()[:120])

        task = asyncio.get_running_loop().create_task(close())
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    async def reap_idle(self) -> None:
        """Close connections idle for 10 minutes or open for 2 hours, as API Gateway does."""
        now = _now_ms()
        for conn in list(self._connections.values()):
            if conn.state != "open":
                continue
            if now - conn.connected_at >= WS_MAX_AGE_SECONDS * 1000:
                self.close(conn, WSCloseCode.GOING_AWAY, "Going away: connection duration limit")
            elif now - conn.last_active_at >= WS_IDLE_TIMEOUT_SECONDS * 1000:
                self.close(conn, WSCloseCode.GOING_AWAY, "Going away: idle timeout")

    async def shutdown(self) -> None:
        """Close every socket (no $disconnect: the whole service is stopping)."""
        self.shutting_down = True
        for conn in list(self._connections.values()):
            if conn.state == "open":
                self.close(conn, WSCloseCode.GOING_AWAY, "Going away: the server is stopping")
        pending = list(self._closers) + list(self._disconnects)
        if pending:
            await asyncio.wait(pending, timeout=5)

    # --- @connections (the management API the functions call) -------------------------------

    @staticmethod
    def _gone(connection_id: str) -> web.Response:
        return _json_response(
            410,
            {"message": f"Connection {connection_id} is gone (unknown or closed)"},
            headers={"x-amzn-ErrorType": "GoneException"},
        )

    async def _open_connection(self, connection_id: str) -> WsConnection | None:
        conn = self._connections.get(connection_id)
        if conn is None:
            return None
        if conn.state == "connecting":
            # $connect is still running: API Gateway holds the connection until it answers
            try:
                await asyncio.wait_for(conn.opened.wait(), CONNECT_WAIT_SECONDS)
            except TimeoutError:
                return None
        return conn if conn.state == "open" else None

    async def _post(self, request: web.Request) -> web.Response:
        connection_id = request.match_info["connection_id"]
        data = await request.read()
        if len(data) > POST_MAX_BYTES:
            return _json_response(
                413,
                {"message": f"Message too long: {len(data)} bytes (at most {POST_MAX_BYTES})"},
                headers={"x-amzn-ErrorType": "PayloadTooLargeException"},
            )
        conn = await self._open_connection(connection_id)
        if conn is None or conn.ws is None:
            return self._gone(connection_id)
        try:
            try:
                await conn.ws.send_str(data.decode("utf-8"))
            except UnicodeDecodeError:
                await conn.ws.send_bytes(data)
        except (ConnectionError, RuntimeError):
            return self._gone(connection_id)
        # API Gateway's idle timer counts frames both ways: a socket the server keeps posting
        # to is never idle, even when its client is long gone (API.md section 7)
        conn.last_active_at = _now_ms()
        return web.Response(status=200)

    async def _get(self, request: web.Request) -> web.Response:
        connection_id = request.match_info["connection_id"]
        conn = await self._open_connection(connection_id)
        if conn is None:
            return self._gone(connection_id)
        identity = {"sourceIp": conn.source_ip}
        if conn.user_agent:
            identity["userAgent"] = conn.user_agent
        return _json_response(
            200,
            {
                "connectedAt": _iso(conn.connected_at),
                "identity": identity,
                "lastActiveAt": _iso(conn.last_active_at),
            },
        )

    async def _delete(self, request: web.Request) -> web.Response:
        connection_id = request.match_info["connection_id"]
        conn = await self._open_connection(connection_id)
        if conn is None:
            return self._gone(connection_id)
        self.close(conn, WSCloseCode.OK, "Connection closed by the server (DeleteConnection)")
        return web.Response(status=204)
