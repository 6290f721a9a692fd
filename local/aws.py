"""moto in server mode as the local AWS: the template's tables, queues, the timers' schedule
group and the UserSig secret.

`offline_environment` must run before any boto3 client exists: it points every client at the
moto server (AWS_ENDPOINT_URL) with dummy credentials, so nothing can reach a real account.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3

from local import template as cfn
from local.lambdas import ACCOUNT_ID, REGION, sigint_ignored_by_children

NAME_PREFIX = "presence"
SECRET_NAME = "presence-usersig-key"
WS_API_ID = "local"
SCHEDULE_GROUP = "presence-timers"
SCHEDULER_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/presence-TimersSchedulerRole"

# Variables that could steer boto3 to a real account or another endpoint.
_UNSET = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def offline_environment(endpoint: str) -> None:
    """Dummy credentials, one region, every service at `endpoint` (this process only)."""
    for name in _UNSET:
        os.environ.pop(name, None)
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL_"):
            del os.environ[name]  # a service-specific endpoint would win over AWS_ENDPOINT_URL
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )


def _one_at_a_time(app: Any) -> Any:
    lock = threading.Lock()
    stats: dict[str, list[float]] = {}  # PRESENCE_MOTO_STATS=1: requests and seconds by action

    def serialised(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with lock:
            started = time.perf_counter()
            body = list(app(environ, start_response))
            action = str(environ.get("HTTP_X_AMZ_TARGET") or environ.get("PATH_INFO"))
            entry = stats.setdefault(action.rsplit(".", 1)[-1], [0, 0.0])
            entry[0] += 1
            entry[1] += time.perf_counter() - started
            return body

    def report() -> None:
        while True:
            time.sleep(5)
            with lock:
                busiest = sorted(stats.items(), key=lambda kv: -kv[1][1])[:8]
                stats.clear()
            line = ", ".join(f"{name} {n:.0f} in {s:.2f} s" for name, (n, s) in busiest)
            print(f"[moto] last 5 s: {line or 'idle'}", file=sys.stderr, flush=True)

    if os.environ.get("PRESENCE_MOTO_STATS") == "1":
        threading.Thread(target=report, daemon=True).start()
    return serialised


class MotoServer:
    """moto's server in a process of its own, on a free 127.0.0.1 port, quiet.

    Its own process: moto is CPU-bound Python, and sharing one interpreter (one GIL) with the
    WebSocket gateway made every @connections post wait for moto and every moto request wait
    for the gateway. `python -m local.aws <port> <parent pid>` is the server; it exits with its
    parent (the runtime), even when the runtime is killed or ends before the server is up.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self.endpoint = ""

    def start(self) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        # SIGINT ignored: a Ctrl-C in the terminal leaves it to the runtime, which stops it
        # (SIGTERM) after the last invocation that may call it.
        with sigint_ignored_by_children():
            self._process = subprocess.Popen(
                [sys.executable, "-m", "local.aws", str(port), str(os.getpid())],
                stdin=subprocess.DEVNULL,
            )
        self.endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise SystemExit(f"moto's server exited with {self._process.returncode}")
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), 1),
                ):
                    return self.endpoint
                time.sleep(0.05)
        except BaseException:  # (a Ctrl-C while it starts)
            self.stop()
            raise
        self.stop()
        raise SystemExit("moto's server did not start in 60 s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()


def _prune_shard_iterators(keep: int = 100) -> None:
    """moto keeps every shard iterator it ever handed out (one per GetRecords call, forever):
    forget all but the newest `keep`, so a long-running local service does not grow. (The
    stream poller only ever uses the one its last GetRecords returned.)"""
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    backend = dynamodbstreams_backends[ACCOUNT_ID][REGION]
    for key in list(backend.shard_iterators)[:-keep]:
        backend.shard_iterators.pop(key, None)


def _recounted_at_most_every_second(name: str, count: property) -> Callable[[Any], int]:
    def recounted(queue: Any) -> int:
        counts = queue.__dict__.setdefault("_local_counts", {})
        at, value = counts.get(name, (-1.0, 0))
        now = time.monotonic()
        if now - at >= 1.0:
            assert count.fget is not None
            value = int(count.fget(queue))
            counts[name] = (now, value)
        return int(value)

    return recounted


@functools.cache
def speed_up_moto() -> None:
    """moto is written for tests that hold a few items; a local service with 10,000 users
    meets its passes over everything on every request. Each change here keeps what moto
    answers and removes such a pass. (Patches moto's classes in this process, once: the moto
    server's, and the in-process mock of the tests and benchmarks, local.harness.)"""
    from moto import backends
    from moto.core.utils import unix_time
    from moto.dynamodb.models.table import Table
    from moto.sqs import models as sqs_models
    from moto.sqs.models import Message, Queue, SQSBackend

    # Routing a request listed moto's own package directory: once is enough.
    modules = list(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules

    # Each received message's retention check computed every attribute of its queue, each a
    # pass over all of its messages: with 10,000 delayed timers queued, a poll took seconds.
    def retained(backend: SQSBackend, queue_name: str, message: Message) -> bool:
        period = int(backend.get_queue(queue_name).message_retention_period)  # type: ignore[attr-defined]
        return period + int(message.sent_timestamp or 0) / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[assignment]

    # Each message's visibility and delay read the clock through two datetime constructions:
    # the same epoch time, from time.time().
    def now_s(dt: Any = None) -> float:
        return time.time() if dt is None else unix_time(dt)

    sqs_models.unix_time = now_s  # type: ignore[attr-defined]
    sqs_models.unix_time_millis = lambda dt=None: 1000 * now_s(dt)  # type: ignore[attr-defined]

    # Sending a message reads its queue's attributes (for one flag), recounting its messages
    # three times; those counts are approximate on SQS too: recounted at most once a second.
    for name in (
        "approximate_number_of_messages",
        "approximate_number_of_messages_delayed",
        "approximate_number_of_messages_not_visible",
    ):
        setattr(Queue, name, property(_recounted_at_most_every_second(name, getattr(Queue, name))))

    # A query of a secondary index sorted every item of the table, then kept those with the
    # partition key asked for (90 ms with 10,000 subscriptions): hand it only those.
    original_query = Table.query
    original_all_items = Table.all_items
    asked = threading.local()  # the partition key the query running in this thread wants

    def query(table: Table, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[7] if len(args) > 7 else None)
        asked.wanted = list(kwargs.get("hash_key_conditions") or []) if index_name else []
        try:
            return original_query(table, *args, **kwargs)
        finally:
            asked.wanted = []

    def all_items(table: Table) -> list[Any]:
        wanted = getattr(asked, "wanted", [])
        if not wanted:
            return original_all_items(table)
        items: Iterator[Any] = (
            item
            for group in table.items.values()
            for item in (group.values() if table.range_key_attr else [group])
        )
        return [i for i in items if all(i.attrs.get(a) == v for a, v in wanted)]

    Table.query = query  # type: ignore[method-assign,assignment]
    Table.all_items = all_items  # type: ignore[method-assign,assignment]

    # Every item in a response was serialised by walking botocore's shape model value by value:
    # each attribute value is a structure of ten members, each member looked up under several
    # spellings (moto.core.serialize's XFormedAttributePicker), about 20 µs a member. An item
    # took 1.5 ms (a BatchGetItem of 100: 150 ms); a Status item with 100 connections took
    # 30 ms in UpdateItem's ReturnValues=ALL_NEW, and a stream record carries two such images:
    # 100 sockets opening one by one cost 60 s of this (tests/integration's kick of 100).
    # DynamoDB and its streams answer plain JSON, which the result already is (DynamoDB JSON):
    # written with json.dumps, a stream record's creation time as the serializer writes a
    # timestamp (epoch seconds); anything else it cannot write takes moto's way.
    from moto.core.responses import ActionResult
    from moto.core.serialize import TimestampSerializer

    def epoch(value: Any) -> Any:
        if isinstance(value, datetime.datetime):  # a stream record's creation time
            return TimestampSerializer._timestamp_unixtimestamp(value)
        raise TypeError(f"{type(value).__name__} is not JSON")

    original_result = ActionResult.execute_result

    def execute_result(result: ActionResult, context: Any) -> Any:
        value = result.result
        operation = context.operation_model
        service = operation.service_model.endpoint_prefix
        if service in ("dynamodb", "streams.dynamodb") and isinstance(value, dict):
            streams = operation.name == "GetRecords"
            try:
                body = json.dumps(
                    {k: v for k, v in value.items() if v is not None},
                    default=epoch if streams else None,
                )
            except (TypeError, ValueError):
                return original_result(result, context)
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, body
        return original_result(result, context)

    ActionResult.execute_result = execute_result  # type: ignore[method-assign,assignment]

    # A projection of top-level attributes converted the whole item to plain JSON and back
    # (0.7 ms an item): keep those attributes instead. Nested paths take moto's way.
    from moto.dynamodb.models.dynamo_type import Item

    original_project = Item.project

    def project(item: Item, expressions: list[list[str]]) -> Item:
        if not all(len(path) == 1 for path in expressions):
            return original_project(item, expressions)
        names = {path[0] for path in expressions}
        kept = {name: value.to_json() for name, value in item.attrs.items() if name in names}
        return Item(hash_key=item.hash_key, range_key=item.range_key, attrs=kept)

    Item.project = project  # type: ignore[method-assign,assignment]


def _serve(port: int, parent: int) -> None:
    """The server process: one request at a time (DynamoDB applies each request atomically;
    moto's conditional writes are not atomic under threads. Invocations still run
    concurrently; only their AWS calls queue here, as they would at the item on AWS).
    SIGTERM stops it; so does the end of `parent`, the runtime."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    from moto.server import ThreadedMotoServer

    speed_up_moto()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    wsgi = server._server
    assert wsgi is not None
    wsgi.app = _one_at_a_time(wsgi.app)
    try:
        while os.getppid() == parent:  # the runtime is gone (even killed): so is this
            time.sleep(1)
            with contextlib.suppress(Exception):  # moto internals changed: only memory
                _prune_shard_iterators()
    except KeyboardInterrupt:  # (run by hand in a terminal)
        pass
    finally:
        server.stop()


@dataclass(frozen=True)
class Resources:
    """What was created in moto: names, URLs and ARNs by logical id."""

    table_names: dict[str, str]
    queue_urls: dict[str, str]
    queue_arns: dict[str, str]
    secret_arn: str
    event_buses: dict[str, str]

    def queue_urls_by_arn(self) -> dict[str, str]:
        return {self.queue_arns[logical_id]: url for logical_id, url in self.queue_urls.items()}

    def refs(self, sdkappid: int, log_level: str | None) -> dict[str, str]:
        """Values for `cfn.function_environment`: what `!Ref` / `!GetAtt` give in the stack."""
        refs = {
            **self.table_names,
            **self.queue_urls,
            **self.event_buses,
            **{f"{logical_id}.Arn": arn for logical_id, arn in self.queue_arns.items()},
            "UserSigSecret": self.secret_arn,
            "SdkAppId": str(sdkappid),
            "WebSocketApi": WS_API_ID,
            "TimersScheduleGroup": SCHEDULE_GROUP,
            "TimersSchedulerRole.Arn": SCHEDULER_ROLE_ARN,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
        }
        if log_level:
            refs["LogLevel"] = log_level
        return refs


def create_resources(template: cfn.Template, secret_key: str) -> Resources:
    """Every table and queue of the template, and the UserSig secret holding `secret_key`."""
    table_names = {
        logical_id: f"{NAME_PREFIX}-{logical_id}" for logical_id in cfn.table_specs(template)
    }
    cfn.create_tables(boto3.client("dynamodb"), template, table_names)
    sqs = boto3.client("sqs")
    queue_urls = cfn.create_queues(
        sqs,
        template,
        {logical_id: f"{NAME_PREFIX}-{logical_id}" for logical_id in cfn.queue_specs(template)},
    )
    queue_arns = {
        logical_id: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        for logical_id, url in queue_urls.items()
    }
    boto3.client("scheduler").create_schedule_group(Name=SCHEDULE_GROUP)
    buses = {
        logical_id: f"{NAME_PREFIX}-{logical_id}"
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == "AWS::Events::EventBus"
    }
    for name in buses.values():
        boto3.client("events").create_event_bus(Name=name)
    secret = boto3.client("secretsmanager").create_secret(
        Name=SECRET_NAME,
        Description="UserSig secret key (local runtime)",
        SecretString=secret_key,
    )
    return Resources(table_names, queue_urls, queue_arns, str(secret["ARN"]), buses)


def shared_environment(
    template: cfn.Template, logical_ids: list[str], refs: dict[str, str]
) -> dict[str, str]:
    """The functions' environment. They share Globals, so one process environment serves all;
    a variable that two functions set differently is refused rather than guessed."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for logical_id in logical_ids:
        for name, value in cfn.function_environment(template, logical_id, refs).items():
            if name in merged and merged[name] != value:
                raise SystemExit(
                    f"{name} differs between {owner[name]} and {logical_id}: the local runtime"
                    " runs every function in one process and needs one value"
                )
            merged[name] = value
            owner.setdefault(name, logical_id)
    return merged


def create_callback_token_secret(token: str) -> str:
    """The State.StateChange callback token's secret, as the stack makes it when its
    StateChangeCallbackToken parameter is set (StateChangeCallbackTokenSecret); its ARN."""
    secret = boto3.client("secretsmanager").create_secret(
        Name=f"{NAME_PREFIX}-state-change-callback-token",
        Description="State.StateChange callback token (local runtime)",
        SecretString=token,
    )
    return str(secret["ARN"])


LOCAL_EVENTS = f"{NAME_PREFIX}-local-status-events"


def deliver_events_to_a_queue(bus_name: str) -> str:
    """A rule on the bus (source "presence") that sends every status-change event to an SQS
    queue, as an app backend's rule would; the queue's URL."""
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=LOCAL_EVENTS)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = boto3.client("events")
    events.put_rule(
        Name=LOCAL_EVENTS,
        EventBusName=bus_name,
        EventPattern='{"source": ["presence"]}',
        State="ENABLED",
    )
    events.put_targets(
        Rule=LOCAL_EVENTS, EventBusName=bus_name, Targets=[{"Id": "queue", "Arn": arn}]
    )
    return str(url)


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else os.getppid())
