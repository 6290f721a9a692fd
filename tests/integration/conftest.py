"""Handlers under moto: tables built from template.yaml, events from events/, real UserSigs.

`api` calls a function the way API Gateway would (the sample event of events/<dir>.json with the
caller's UserSig and body swapped in) and returns what the client would see.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest
import TLSSigAPIv2
from moto import mock_aws
from moto.dynamodb.responses import DynamoHandler

from local import template as cfn
from presence import settings, store

# Powertools reads these when presence.observability is first imported, which may be at a
# test module's import time, before any fixture runs.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "presence")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Presence")

ROOT = Path(__file__).resolve().parents[2]
SDKAPPID = 1400000000
SECRET_KEY = "integration-test-secret-key-0123456789abcdef"
REGION = "us-east-1"
WS_API_ID = "wsapi12345"


@cache
def template() -> dict[str, Any]:
    return cfn.load_template()


@cache
def routes() -> dict[str, cfn.Route]:
    """Function folder name -> its route, e.g. 'set_self_status' -> POST /v1/setSelfStatus."""
    return {route.code_dir.name: route for route in cfn.http_routes(template())}


@cache
def handler_module(function_dir: str) -> ModuleType:
    path = ROOT / "functions" / function_dir / "app.py"
    spec = importlib.util.spec_from_file_location(f"functions_{function_dir}_app", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def user_sig(
    user_id: str, *, expire: int = 3600, key: str = SECRET_KEY, sdkappid: int = SDKAPPID
) -> str:
    """A UserSig from Tencent's own public generator, as real clients will send."""
    return str(TLSSigAPIv2.TLSSigAPIv2(sdkappid, key).gen_sig(user_id, expire))


def lambda_context(function_dir: str) -> SimpleNamespace:
    return SimpleNamespace(
        function_name=f"presence-{function_dir}",
        function_version="$LATEST",
        memory_limit_in_mb=256,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:{function_dir}",
        aws_request_id="00000000-0000-0000-0000-000000000000",
    )


@dataclass
class Reply:
    status: int
    body: dict[str, Any]

    @property
    def code(self) -> int:
        return int(self.body["code"])

    @property
    def data(self) -> dict[str, Any]:
        assert self.status == 200 and self.code == 0, self.body
        return dict(self.body["data"])


class Api:
    """Calls handlers with API Gateway HTTP API (payload 2.0) events."""

    def call(
        self,
        function_dir: str,
        body: Any = None,
        *,
        user: str | None = "alice",
        token: str | None = None,
        raw_body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        event = json.loads((ROOT / "events" / f"{function_dir}.json").read_text())
        event_headers = {k: v for k, v in event["headers"].items() if k != "authorization"}
        if token is None and user is not None:
            token = user_sig(user)
        if token is not None:
            event_headers["authorization"] = f"Bearer {token}"
        event_headers.update({k.lower(): v for k, v in (headers or {}).items()})
        event["headers"] = event_headers
        event["body"] = (
            raw_body if raw_body is not None else (None if body is None else json.dumps(body))
        )
        result = handler_module(function_dir).lambda_handler(event, lambda_context(function_dir))
        assert result["headers"]["content-type"] == "application/json"
        return Reply(result["statusCode"], json.loads(result["body"]))

    # shorthands for the routes, as a client SDK would name them
    def set_self_status(self, custom_status: Any, user: str = "alice") -> Reply:
        return self.call("set_self_status", {"customStatus": custom_status}, user=user)

    def get_user_status(self, user_ids: Any, user: str = "alice") -> Reply:
        return self.call("get_user_status", {"userIDList": user_ids}, user=user)

    def subscribe(self, user_ids: Any, user: str = "alice") -> Reply:
        return self.call("subscribe_user_status", {"userIDList": user_ids}, user=user)

    def unsubscribe(self, user_ids: Any = None, user: str = "alice") -> Reply:
        body = None if user_ids is None else {"userIDList": user_ids}
        return self.call("unsubscribe_user_status", body, user=user)

    def subscriptions(self, user: str = "alice") -> list[str]:
        return list(self.call("get_subscriptions", {}, user=user).data["userIDList"])

    def update_settings(self, patch: dict[str, Any]) -> Reply:
        return self.call("admin_update_settings", patch, user="administrator")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A fresh moto account with the template's tables and secret; the functions' environment."""
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Presence",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        store.reset_clients()
        settings.clear_cache()
        tpl = template()
        names = {logical_id: f"presence-{logical_id}" for logical_id in cfn.table_specs(tpl)}
        cfn.create_tables(boto3.client("dynamodb", region_name=REGION), tpl, names)
        queues = cfn.create_queues(
            boto3.client("sqs", region_name=REGION),
            tpl,
            {logical_id: f"presence-{logical_id}" for logical_id in cfn.queue_specs(tpl)},
        )
        secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="presence-usersig-key", SecretString=SECRET_KEY
        )
        refs = {
            **names,
            **queues,
            "UserSigSecret": secret["ARN"],
            "SdkAppId": str(SDKAPPID),
            "WebSocketApi": WS_API_ID,
        }
        env = cfn.function_environment(tpl, routes()["set_self_status"].function, refs)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield env
        store.reset_clients()
        settings.clear_cache()


@pytest.fixture
def api(aws: dict[str, str]) -> Api:
    return Api()


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serialise moto's DynamoDB requests: each one atomic, as DynamoDB's own are.

    moto's conditional UpdateItem/PutItem reads, checks and writes with no lock, so under
    threads it loses updates and passes conditions it should fail; DynamoDB does not. This
    gives moto that one guarantee and nothing more: a read followed by a separate write still
    races under it, as it would on AWS.
    """
    original = DynamoHandler.call_action
    lock = threading.Lock()

    def call_action(self: DynamoHandler) -> Any:
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)


@pytest.fixture
def fresh_settings() -> Callable[[], None]:
    """Drop the settings cache, as if its short max age had passed."""
    return settings.clear_cache


class World:
    """The WebSocket side under a controlled clock.

    `connect`, `disconnect`, `send` call the real ws_* handlers with API Gateway WebSocket events.
    Timers the code queues are captured instead of sent to SQS (whose delays are real time);
    `advance(seconds)` moves the clock and delivers every timer that fell due through the real
    status_timers handler, as SQS events. `frames` records what was posted to each connection.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from presence import clock

        self.now = 1_800_000_000_000
        self.queued: list[Any] = []
        self.frames: dict[str, list[dict[str, Any]]] = {}
        self.closed: list[str] = []
        self._ids = 0
        monkeypatch.setattr(clock, "now_ms", lambda: self.now)
        monkeypatch.setattr(store, "send_timers", self._capture_timers)
        monkeypatch.setattr(store, "post_to_connection", self._post)
        monkeypatch.setattr(store, "close_connection", self.closed.append)

    def _capture_timers(self, timers: Any, now_ms: int) -> None:
        self.queued.extend(timers)

    def _post(self, connection_id: str, data: bytes) -> bool:
        self.frames.setdefault(connection_id, []).append(json.loads(data))
        return True

    def _event(self, function_dir: str, connection_id: str) -> dict[str, Any]:
        event: dict[str, Any] = json.loads((ROOT / "events" / f"{function_dir}.json").read_text())
        event["requestContext"]["connectionId"] = connection_id
        event["requestContext"]["requestTimeEpoch"] = self.now
        return event

    def _invoke(self, function_dir: str, event: dict[str, Any]) -> dict[str, Any]:
        result = handler_module(function_dir).lambda_handler(event, lambda_context(function_dir))
        return dict(result)

    def connect(
        self,
        user: str,
        platform: str | None = "web",
        *,
        token: str | None = None,
        claimed_user: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """(connection id, the $connect answer)."""
        self._ids += 1
        connection_id = f"conn{self._ids}-{user}"
        event = self._event("ws_connect", connection_id)
        query = {"userSig": user_sig(user) if token is None else token}
        if not query["userSig"]:
            del query["userSig"]  # no userSig parameter at all
        if platform is not None:
            query["platform"] = platform
        if claimed_user is not None:
            query["userID"] = claimed_user
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
        return connection_id, self._invoke("ws_connect", event)

    def online(self, user: str, platform: str = "web") -> str:
        connection_id, answer = self.connect(user, platform)
        assert answer["statusCode"] == 200, answer
        return connection_id

    def disconnect(self, connection_id: str) -> dict[str, Any]:
        return self._invoke("ws_disconnect", self._event("ws_disconnect", connection_id))

    def send(self, connection_id: str, body: str) -> dict[str, Any]:
        """A client frame, routed the way API Gateway does on `$request.body.action`."""
        try:
            action = json.loads(body).get("action")
        except (ValueError, AttributeError):
            action = None
        function_dir = {"ping": "ws_ping", "logout": "ws_logout"}.get(str(action), "ws_default")
        event = self._event(function_dir, connection_id)
        event["body"] = body
        return self._invoke(function_dir, event)

    def advance(self, seconds: float) -> None:
        """Move time on; deliver each timer as it falls due (timers may queue more timers)."""
        until = self.now + int(seconds * 1000)
        while True:
            due = sorted(t for t in self.queued if t.due_at <= until)
            if not due:
                break
            timer = due[0]
            self.queued.remove(timer)
            self.now = max(self.now, timer.due_at)
            body = json.dumps(
                {"kind": str(timer.kind), "userID": timer.user_id, "dueAt": timer.due_at}
            )
            event = json.loads((ROOT / "events" / "status_timers.json").read_text())
            event["Records"][0]["body"] = body
            result = self._invoke("status_timers", event)
            assert result == {"batchItemFailures": []}, result
        self.now = until


@pytest.fixture
def world(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> World:
    return World(monkeypatch)
