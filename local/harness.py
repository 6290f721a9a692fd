"""The real handlers in-process under moto, as the integration tests and the benchmarks run them.

One module for both, so a benchmark measures exactly what the tests check:

- `moto_account()`: a fresh in-process moto account with the template's tables, queues, bus and
  UserSig secret (`local.aws.create_resources`, the local runtime's own), the functions'
  environment set, the store's clients and the settings cache reset;
- `handler_module`, `lambda_context`: each function's handler (loaded by path, as Lambda loads
  `functions/<dir>/app.py`) and a Lambda-like context;
- `Api`: calls the HTTP functions with API Gateway HTTP API events and real UserSigs (`user_sig`:
  Tencent's own TLSSigAPIv2 generator);
- `World`: the WebSocket side under a controlled clock, with the Status stream (`StatusStream`)
  fed to the real stream consumer, the DeliveryQueue drained by the real delivery function
  (`drain_delivery_queue`) and timers delivered by the real timers function as time moves.

Development only: tests and benchmarks import it (the local runtime runs the handlers in worker
processes instead: local.lambdas). It needs moto and tls-sig-api-v2 (requirements-dev.txt), not
pytest: `World` patches through any MonkeyPatch-like object (`pytest.MonkeyPatch.context()`
outside a test).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import boto3
import botocore.loaders
import botocore.session
import TLSSigAPIv2
from botocore.config import Config
from moto import mock_aws

from local import integrations
from local import template as cfn
from local.aws import create_resources, speed_up_moto
from local.lambdas import ACCOUNT_ID, load_module
from local.lambdas import REGION as REGION
from local.records import sqs_message, sqs_record, stream_record
from presence import messages, settings, store
from presence.lifecycle import TimerKind

if TYPE_CHECKING:
    import pytest

ROOT = cfn.ROOT
SDKAPPID = 1400000000
SECRET_KEY = "integration-test-secret-key-0123456789abcdef"

# What the functions' environment needs beyond the template's: an offline account (moto), no
# X-Ray. Powertools reads the service name and namespace when presence.observability is first
# imported: a caller that imports handlers early sets those itself (tests/integration/conftest.py).
OFFLINE_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Presence",
}


@cache
def template() -> dict[str, Any]:
    return cfn.load_template()


@cache
def routes() -> dict[str, cfn.Route]:
    """Function folder name -> its route, e.g. 'set_self_status' -> POST /v1/setSelfStatus."""
    return {route.code_dir.name: route for route in cfn.http_routes(template())}


@cache
def _service_models() -> botocore.loaders.Loader:
    """botocore's loader of service models and endpoint rules, shared by every account."""
    return botocore.loaders.create_loader()


@contextmanager
def moto_account(secret_key: str = SECRET_KEY) -> Iterator[dict[str, str]]:
    """A fresh moto account with the template's resources and `secret_key` as the UserSig
    secret; yields the functions' environment (also set in os.environ, which is restored on
    exit, as are the store's clients and the settings cache)."""
    speed_up_moto()
    saved = dict(os.environ)
    os.environ.update(OFFLINE_ENVIRONMENT)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with mock_aws():
            # mock_aws starts each account with a fresh default session, whose loader would read
            # every client's service model from disk again (a fifth of a short test's time):
            # the models are the same files, so one loader serves them all
            session = botocore.session.get_session()
            session.register_component("data_loader", _service_models())
            boto3.setup_default_session(botocore_session=session)
            store.reset_clients()
            settings.clear_cache()
            tpl = template()
            # the same resources as the local runtime's (local.aws), in the in-process mock
            refs = create_resources(tpl, secret_key).refs(SDKAPPID, None)
            env = cfn.function_environment(tpl, routes()["set_self_status"].function, refs)
            os.environ.update(env)
            try:
                yield env
            finally:
                store.reset_clients()
                settings.clear_cache()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def user_sig(
    user_id: str, *, expire: int = 3600, key: str = SECRET_KEY, sdkappid: int = SDKAPPID
) -> str:
    """A UserSig from Tencent's own public generator, as real clients will send."""
    return str(TLSSigAPIv2.TLSSigAPIv2(sdkappid, key).gen_sig(user_id, expire))


@cache
def handler_module(function_dir: str) -> ModuleType:
    """functions/<function_dir>/app.py, imported once."""
    return load_module(Path("functions") / function_dir, "app")


def lambda_context(function_dir: str, memory_mb: int = 256) -> SimpleNamespace:
    return SimpleNamespace(
        function_name=f"presence-{function_dir}",
        function_version="$LATEST",
        memory_limit_in_mb=memory_mb,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_dir}",
        aws_request_id="00000000-0000-0000-0000-000000000000",
        get_remaining_time_in_millis=lambda: 30_000,
    )


class StatusStream:
    """The Status table's stream, read like Lambda's poller reads it (moto keeps one shard)."""

    def __init__(self, table_name: str) -> None:
        # botocore routes Streams to an account-based endpoint moto does not serve: turn it off.
        self.client = boto3.client(
            "dynamodbstreams",
            region_name=REGION,
            config=Config(account_id_endpoint_mode="disabled"),
        )
        table = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=table_name)
        self.arn = table["Table"]["LatestStreamArn"]
        self.seen: set[str] = set()
        self.iterators: dict[str, str | None] = {}

    def skip(self) -> None:
        """Start after everything written so far (what a benchmark seeded is nobody's change)."""
        shards = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        for shard in shards:
            self.iterators[shard["ShardId"]] = self.client.get_shard_iterator(
                StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]

    def _new_records(self) -> list[dict[str, Any]]:
        """What the shards hold past what was read before (each shard's next iterator kept)."""
        records: list[Any] = []
        shards = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        for shard in shards:
            iterator = (
                self.iterators.get(shard["ShardId"])
                or self.client.get_shard_iterator(
                    StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            while iterator:
                response = self.client.get_records(ShardIterator=iterator, Limit=1000)
                records += response["Records"]
                iterator = response.get("NextShardIterator")
                self.iterators[shard["ShardId"]] = iterator
                if not response["Records"]:
                    break
        return [stream_record(r, self.arn) for r in records]

    def take(self) -> list[dict[str, Any]]:
        """Records not handed out before, oldest first."""
        fresh = [r for r in self._new_records() if r["dynamodb"]["SequenceNumber"] not in self.seen]
        self.seen.update(r["dynamodb"]["SequenceNumber"] for r in fresh)
        return fresh


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
            # (a year: World can move the service's clock days past real time)
            token = user_sig(user, expire=365 * 86400)
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

    def tencent(
        self,
        function_dir: str,
        body: Any = None,
        *,
        user: str | None = "administrator",
        token: str | None = None,
        query: dict[str, str | None] | None = None,
        raw_body: str | None = None,
    ) -> dict[str, Any]:
        """Call a Tencent REST route (API.md section 10) the way a Tencent backend does: the
        UserSig and the rest of Tencent's parameters in the query string (`query` overrides
        them; None leaves one out). Returns the body, after checking the answer is HTTP 200
        JSON, as every answer of those routes is."""
        event = json.loads((ROOT / "events" / f"{function_dir}.json").read_text())
        if token is None and user is not None:
            token = user_sig(user, expire=365 * 86400)
        params: dict[str, str | None] = {
            "sdkappid": str(SDKAPPID),
            "identifier": user,
            "usersig": token,
            "random": "12345",
            "contenttype": "json",
        }
        params.update(query or {})
        sent = {name: value for name, value in params.items() if value is not None}
        event["queryStringParameters"] = sent or None
        event["rawQueryString"] = urlencode(sent)
        event["body"] = (
            raw_body if raw_body is not None else (None if body is None else json.dumps(body))
        )
        result = handler_module(function_dir).lambda_handler(event, lambda_context(function_dir))
        assert result["statusCode"] == 200, result
        assert result["headers"]["content-type"] == "application/json"
        return dict(json.loads(result["body"]))

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


def drain_delivery_queue(*, rounds: int = 1000) -> int:
    """Run the delivery function on what the DeliveryQueue holds until it is empty, as
    Lambda's SQS event source does (batches of up to 10, failed messages stay): jobs handled."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = os.environ["DELIVERY_QUEUE_URL"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    handled = 0
    for _ in range(rounds):
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return handled
        records = [sqs_record(m, arn) for m in messages]
        response = handler_module("status_delivery").lambda_handler(
            {"Records": records}, lambda_context("status_delivery")
        )
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        assert not failed, f"delivery jobs failed: {failed}"
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        handled += len(messages)
    raise AssertionError("the delivery queue did not empty")


def stream_consumer(records: list[dict[str, Any]]) -> list[str]:
    """Invoke the status_fanout handler on a batch; the sequence numbers it reports failed."""
    response = handler_module("status_fanout").lambda_handler(
        {"Records": records}, lambda_context("status_fanout")
    )
    assert set(response) == {"batchItemFailures"}
    return [failure["itemIdentifier"] for failure in response["batchItemFailures"]]


class World:
    """The WebSocket side under a controlled clock, with the stream consumer in the loop.

    `connect`, `disconnect`, `send` call the real ws_* handlers with API Gateway WebSocket events.
    After each of them (and before time moves) the Status table's stream is fed to the real
    stream consumer, which pushes and derives the timers, as Lambda's event source mapping
    would. Timers are captured instead of sent to SQS or the scheduler (their delays are real
    time) and counted in `sent_timers`; `advance(seconds)` moves the clock and delivers every
    timer that fell due through the real status_timers handler, as SQS events. `frames`
    records what was posted to each connection; `open` holds the connections API Gateway knows.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, status_table: str) -> None:
        from presence import clock

        self.now = clock.now_ms()  # the real time: nothing here depends on the date
        self.queued: list[Any] = []
        self.sent_timers: list[Any] = []
        self.frames: dict[str, list[dict[str, Any]]] = {}
        self.closed: list[str] = []
        self.open: set[str] = set()
        # connections whose device has gone silent (no beat); the others beat as SDKs do
        self.silent: set[str] = set()
        self.refs = {"ConnectionsTable": os.environ["CONNECTIONS_TABLE"]}
        self._ws_routes: dict[str, cfn.WsRoute] | None = None
        self.stream = StatusStream(status_table)
        self.stream_retries = 0
        self._ids = 0
        self._lock = threading.Lock()
        monkeypatch.setattr(clock, "now_ms", lambda: self.now)
        monkeypatch.setattr(store, "send_timers", self._capture_timers)
        monkeypatch.setattr(store, "post_to_connection", self._post)
        monkeypatch.setattr(store, "close_connection", self._close)
        monkeypatch.setattr(store, "connection_exists", lambda cid: cid in self.open)

    def _capture_timers(self, timers: Any, now_ms: int) -> None:
        with self._lock:
            self.queued.extend(timers)
            self.sent_timers.extend(timers)

    def _post(self, connection_id: str, data: bytes) -> bool:
        with self._lock:
            self.frames.setdefault(connection_id, []).append(json.loads(data))
        return True

    def _close(self, connection_id: str) -> None:
        with self._lock:
            self.closed.append(connection_id)
            self.open.discard(connection_id)

    def control_frames(self, connection_id: str) -> list[dict[str, Any]]:
        """The frames a connection got other than status pushes (loggedOut, kickedOut...)."""
        frames = self.frames.get(connection_id, [])
        return [f for f in frames if f.get("event") != "onUserStatusUpdated"]

    def pushes(self, connection_id: str) -> list[dict[str, Any]]:
        """The statuses pushed to a connection, in order."""
        frames = self.frames.get(connection_id, [])
        return [s for f in frames if f.get("event") == "onUserStatusUpdated" for s in f["data"]]

    def pump(self) -> None:
        """Feed what the Status table's stream holds to the stream consumer, as Lambda's event
        source mapping does: a batch that reports failures is retried from its first failed
        record, up to `stream_retries` times (0: a failure fails the test)."""
        records = self.stream.take()
        attempts = 0
        while records:
            failed = stream_consumer(records)
            drain_delivery_queue()
            if not failed:
                return
            attempts += 1
            assert attempts <= self.stream_retries, f"stream records failed: {failed}"
            sequences = [r["dynamodb"]["SequenceNumber"] for r in records]
            records = records[min(sequences.index(f) for f in failed) :]

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
        pump: bool = True,
    ) -> tuple[str, dict[str, Any]]:
        """(connection id, the $connect answer)."""
        with self._lock:
            self._ids += 1
            connection_id = f"conn{self._ids}-{user}"
        event = self._event("ws_connect", connection_id)
        # (the clock here moves ahead of real time, which the UserSig was signed at: a
        # UserSig that expires within a connection's 2 hours would close it at once)
        query = {"userSig": user_sig(user, expire=365 * 86400) if token is None else token}
        if not query["userSig"]:
            del query["userSig"]  # no userSig parameter at all
        if platform is not None:
            query["platform"] = platform
        if claimed_user is not None:
            query["userID"] = claimed_user
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
        answer = self._invoke("ws_connect", event)
        if answer["statusCode"] == 200:
            with self._lock:
                self.open.add(connection_id)  # API Gateway opens the socket
        if pump:
            self.pump()
        return connection_id, answer

    def online(self, user: str, platform: str = "web") -> str:
        connection_id, answer = self.connect(user, platform)
        assert answer["statusCode"] == 200, answer
        return connection_id

    def disconnect(self, connection_id: str, *, pump: bool = True) -> dict[str, Any]:
        with self._lock:
            self.open.discard(connection_id)
        answer = self._invoke("ws_disconnect", self._event("ws_disconnect", connection_id))
        if pump:
            self.pump()
        return answer

    def send(self, connection_id: str, body: str, *, pump: bool = True) -> dict[str, Any]:
        """A client frame, routed the way API Gateway does on `$request.body.action`."""
        try:
            action = json.loads(body).get("action")
        except (ValueError, AttributeError):
            action = None
        if self._ws_routes is None:
            routes = cfn.websocket_routes(template(), self.refs)
            self._ws_routes = {r.route_key: r for r in routes}
        route = self._ws_routes.get(str(action))
        if route is not None and not route.function:
            # API Gateway answers itself: ping and beat note the frame on the connection's item
            # (a DynamoDB service integration), then ping answers from its response template
            if route.service_action and route.request_template:
                context = {"connectionId": connection_id, "requestTimeEpoch": self.now}
                request = integrations.render(route.request_template, context)
                integrations.call(route.service_action, request, store.dynamodb())
            reply: dict[str, Any] = {"statusCode": 200}
            if route.two_way:
                reply["body"] = route.response_template
            return reply
        assert pump, "only ping and beat are sent without pumping the stream"
        function_dir = {"logout": "ws_logout"}.get(str(action), "ws_default")
        event = self._event(function_dir, connection_id)
        event["body"] = body
        answer = self._invoke(function_dir, event)
        self.pump()
        return answer

    def _beat_if_alive(self, connection_id: str) -> None:
        """An open connection whose device is not silent beats just before its liveness check
        (what a client beating every heartbeatSeconds would have written by then)."""
        with self._lock:
            alive = connection_id in self.open and connection_id not in self.silent
        if alive:
            self.send(connection_id, '{"action": "beat"}', pump=False)

    def advance(self, seconds: float) -> None:
        """Move time on; deliver each timer as it falls due (timers may queue more timers)."""
        until = self.now + int(seconds * 1000)
        self.pump()
        while True:
            due = sorted(t for t in self.queued if t.due_at <= until)
            if not due:
                break
            timer = due[0]
            self.queued.remove(timer)
            self.now = max(self.now, timer.due_at)
            if timer.kind is TimerKind.CHECK_LIVENESS:
                self._beat_if_alive(timer.subject)
            body = messages.encode_timer(timer)
            record = sqs_record(sqs_message(body), os.environ["TIMERS_QUEUE_ARN"])
            result = self._invoke("status_timers", {"Records": [record]})
            assert result == {"batchItemFailures": []}, result
            self.pump()
        self.now = until
