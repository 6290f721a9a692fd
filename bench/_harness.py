"""What the in-process benchmarks share: a moto account built from template.yaml, the real
handlers invoked with API Gateway / stream / SQS events, and a recorder that counts what every
AWS service would bill.

- DynamoDB: every request through `presence.store.dynamodb()` is seen by botocore's
  `before-parameter-build` / `after-call` hooks: operation, items returned and, when asked,
  read and write request units computed from item sizes with DynamoDB's published rules (a
  separate, uncounted client reads the items' full before/after images for that).
- SQS: `presence.store.sqs()` is replaced by an in-memory delay queue (moto's delays are real
  time); its messages are delivered to the real status_timers handler when the bench clock
  reaches them.
- @connections: `presence.store.post_to_connection` is replaced by a counter.
- The status stream is read from moto (LATEST, then each NextShardIterator) and handed to the
  real status_fanout handler the way Lambda's poller would.

Not a test: nothing here asserts product behaviour beyond sanity checks on the measurement.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
REGION = "us-east-1"
SDKAPPID = 1400000000
SECRET_KEY = "bench-secret-key-0123456789abcdef0123456789abcdef"
WS_API_ID = "benchws123"

# Set before `presence` is imported: Powertools reads them when presence.observability loads.
# Metrics and tracing off and logs at WARNING only keep the output readable; none of them
# touches DynamoDB, SQS or @connections.
QUIET_POWERTOOLS = {
    "POWERTOOLS_SERVICE_NAME": "presence",
    "POWERTOOLS_METRICS_NAMESPACE": "Presence",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
OFFLINE_AWS = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
os.environ.update(OFFLINE_AWS | QUIET_POWERTOOLS)
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from moto import mock_aws  # noqa: E402

from local import template as cfn  # noqa: E402
from presence import auth, clock, settings, store  # noqa: E402

# ------------------------------------------------------------------------------ item sizes


def number_size(text: str) -> int:
    """Bytes DynamoDB counts for a number: 1 per two significant digits, plus 1."""
    digits = Decimal(text).as_tuple().digits
    significant = "".join(map(str, digits)).strip("0") or "0"
    return (len(significant) + 1) // 2 + 1


def value_size(value: dict[str, Any]) -> int:
    """Bytes of one attribute value (DynamoDB JSON), per the developer guide's item-size rules."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(raw.encode("utf-8"))
    if kind == "N":
        return number_size(raw)
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in raw)
    if kind == "NS":
        return sum(number_size(n) for n in raw)
    if kind == "BS":
        return sum(len(b) for b in raw)
    if kind == "L":  # 3 bytes for the list, 1 per element
        return 3 + sum(value_size(v) + 1 for v in raw)
    if kind == "M":  # 3 bytes for the map, 1 per element, plus each element's name
        return 3 + sum(len(k.encode("utf-8")) + value_size(v) + 1 for k, v in raw.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(v) for name, v in item.items())


def read_units(size: int, *, consistent: bool) -> float:
    """Read request units of one item (or one Query page): 4 KB units, eventual = half."""
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


def write_units(size: int) -> int:
    """Write request units of one item write: 1 KB units, at least 1."""
    return max(1, math.ceil(size / 1024))


INDEX_ENTRY_OVERHEAD = 100  # bytes DynamoDB adds to every index entry


# ------------------------------------------------------------------------------ table schemas


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projection: str  # KEYS_ONLY | INCLUDE | ALL
    non_key: tuple[str, ...] = ()


@dataclass(frozen=True)
class Schema:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...]

    def key_of(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: item[k] for k in self.keys}

    def index_entry(self, item: dict[str, Any] | None, index: Index) -> dict[str, Any] | None:
        """The item's entry in `index` (None if the item lacks an index key: sparse)."""
        if item is None or any(k not in item for k in index.keys):
            return None
        if index.projection == "ALL":
            return dict(item)
        wanted = set(self.keys) | set(index.keys)
        if index.projection == "INCLUDE":
            wanted |= set(index.non_key)
        return {k: v for k, v in item.items() if k in wanted}


def schemas(names: dict[str, str]) -> dict[str, Schema]:
    """Table name -> key and index schema, from template.yaml."""
    out: dict[str, Schema] = {}
    for logical_id, spec in cfn.table_specs(cfn.load_template()).items():
        kwargs = spec.create_kwargs
        indexes = [
            Index(
                i["IndexName"],
                tuple(k["AttributeName"] for k in i["KeySchema"]),
                i["Projection"]["ProjectionType"],
                tuple(i["Projection"].get("NonKeyAttributes", ())),
            )
            for i in [
                *kwargs.get("LocalSecondaryIndexes", []),
                *kwargs.get("GlobalSecondaryIndexes", []),
            ]
        ]
        keys = tuple(k["AttributeName"] for k in kwargs["KeySchema"])
        out[names[logical_id]] = Schema(names[logical_id], keys, tuple(indexes))
    return out


# ------------------------------------------------------------------------------ usage records


@dataclass
class Invocation:
    """One Lambda invocation: which function, and the AWS work it did (for the duration model)."""

    function: str
    aws_requests: int = 0  # DynamoDB + SQS requests, made one after another
    posts: int = 0  # @connections posts (made up to 32 at a time)


@dataclass
class Usage:
    """Everything one operation made AWS do, as billed."""

    dynamodb: Counter[str] = field(default_factory=Counter)  # requests by operation
    items_read: int = 0
    rru: float = 0.0
    wru: float = 0.0  # table writes
    index_wru: float = 0.0  # writes to secondary indexes (LSI + GSI)
    sqs_send_requests: int = 0
    sqs_messages: int = 0
    invocations: list[Invocation] = field(default_factory=list)
    http_requests: int = 0
    ws_client_messages: int = 0  # frames and lifecycle events from clients ($connect counted)
    posts: int = 0
    post_bytes: int = 0
    stream_records: int = 0

    def lambda_invocations(self) -> Counter[str]:
        return Counter(i.function for i in self.invocations)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dynamodb_requests": dict(sorted(self.dynamodb.items())),
            "dynamodb_requests_total": sum(self.dynamodb.values()),
            "items_read": self.items_read,
            "rru": self.rru,
            "wru_table": self.wru,
            "wru_index": self.index_wru,
            "sqs_send_requests": self.sqs_send_requests,
            "sqs_messages": self.sqs_messages,
            "lambda_invocations": dict(sorted(self.lambda_invocations().items())),
            "http_requests": self.http_requests,
            "ws_client_messages": self.ws_client_messages,
            "ws_posts": self.posts,
            "ws_post_bytes": self.post_bytes,
            "stream_records": self.stream_records,
        }


# ------------------------------------------------------------------------------ fakes


class DelayQueue:
    """Stands in for the SQS client `store.send_timers` uses: keeps each message with the time
    it becomes visible (its DelaySeconds after the bench clock's now)."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.pending: list[tuple[int, int, str]] = []  # (visible at ms, order, body)
        self._order = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        now = self.recorder.clock.now
        size = sum(len(e["MessageBody"].encode()) for e in Entries)
        self.recorder.count_sqs(requests=max(1, math.ceil(size / 65536)), messages=len(Entries))
        for entry in Entries:
            self._order += 1
            visible = now + int(entry.get("DelaySeconds", 0)) * 1000
            self.pending.append((visible, self._order, entry["MessageBody"]))
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}

    def pop_due(self, until_ms: int) -> tuple[int, str] | None:
        due = sorted(m for m in self.pending if m[0] <= until_ms)
        if not due:
            return None
        self.pending.remove(due[0])
        return due[0][0], due[0][2]


class BenchClock:
    def __init__(self) -> None:
        self.now = time.time_ns() // 1_000_000

    def now_ms(self) -> int:
        return self.now


# ------------------------------------------------------------------------------ the recorder


class Recorder:
    """Counts DynamoDB, SQS, Lambda, API Gateway and @connections usage into `usage`."""

    def __init__(self, world: World, *, capacity: bool) -> None:
        self.world = world
        self.capacity = capacity
        self.usage: Usage | None = None
        self.invocation: Invocation | None = None
        self.clock = BenchClock()
        self.queue = DelayQueue(self)
        self._lock = threading.Lock()
        self.client = store.dynamodb()
        self.client.meta.events.register("before-parameter-build.dynamodb", self._before)
        self.client.meta.events.register("after-call.dynamodb", self._after)

    def close(self) -> None:
        self.client.meta.events.unregister("before-parameter-build.dynamodb", self._before)
        self.client.meta.events.unregister("after-call.dynamodb", self._after)

    @contextmanager
    def measure(self) -> Iterator[Usage]:
        usage = Usage()
        self.usage = usage
        try:
            yield usage
        finally:
            self.usage = None

    # --- counters used by the fakes -------------------------------------------------------

    def count_sqs(self, *, requests: int, messages: int) -> None:
        with self._lock:
            if self.usage is not None:
                self.usage.sqs_send_requests += requests
                self.usage.sqs_messages += messages
            if self.invocation is not None:
                self.invocation.aws_requests += requests

    def post(self, connection_id: str, data: bytes) -> bool:
        with self._lock:
            self.world.frames[connection_id] += 1
            if self.usage is not None:
                self.usage.posts += 1
                self.usage.post_bytes += len(data)
            if self.invocation is not None:
                self.invocation.posts += 1
        return True

    # --- invocations ----------------------------------------------------------------------

    def invoke(self, function_dir: str, event: dict[str, Any]) -> dict[str, Any]:
        invocation = Invocation(function_dir)
        if self.usage is not None:
            self.usage.invocations.append(invocation)
        self.invocation = invocation
        try:
            result = load_handler(function_dir).lambda_handler(event, lambda_context(function_dir))
        finally:
            self.invocation = None
        return dict(result)

    # --- DynamoDB hooks -------------------------------------------------------------------

    def _before(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        if self.usage is None:
            return
        snapshot: dict[str, Any] = {"params": params}
        if self.capacity and model.name in ("PutItem", "UpdateItem", "DeleteItem"):
            table = params["TableName"]
            key = params.get("Key") or self.world.schemas[table].key_of(params["Item"])
            snapshot["old"] = [(table, key, self.world.read_item(table, key))]
        elif self.capacity and model.name == "BatchWriteItem":
            olds = []
            for table, requests in params["RequestItems"].items():
                schema = self.world.schemas[table]
                for request in requests:
                    if "PutRequest" in request:
                        key = schema.key_of(request["PutRequest"]["Item"])
                    else:
                        key = request["DeleteRequest"]["Key"]
                    olds.append((table, key, self.world.read_item(table, key)))
            snapshot["old"] = olds
        context["bench"] = snapshot

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        usage = self.usage
        snapshot = context.get("bench")
        if usage is None or snapshot is None:
            return
        params = snapshot["params"]
        name = model.name
        items = 0
        rru = wru = index_wru = 0.0
        failed = "Error" in parsed
        if name == "GetItem":
            items = 1 if parsed.get("Item") else 0
            if self.capacity:
                full = self._full_item(
                    params["TableName"], params["Key"], parsed.get("Item"), params
                )
                rru = read_units(item_size(full), consistent=bool(params.get("ConsistentRead")))
        elif name == "BatchGetItem":
            responses = parsed.get("Responses", {})
            items = sum(len(v) for v in responses.values())
            if self.capacity:
                rru = self._batch_get_units(params, parsed)
        elif name == "Query":
            items = len(parsed.get("Items", []))
            if self.capacity:
                rru = self._query_units(params, parsed)
        elif self.capacity and name in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"):
            wru, index_wru = self._write_units(name, params, snapshot["old"], failed)
        with self._lock:
            usage.dynamodb[name] += 1
            usage.items_read += items
            usage.rru += rru
            usage.wru += wru
            usage.index_wru += index_wru
            if self.invocation is not None:
                self.invocation.aws_requests += 1

    # --- capacity ---------------------------------------------------------------------------

    def _full_item(
        self, table: str, key: dict[str, Any], returned: Any, params: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Reads are charged on the whole item, whatever ProjectionExpression returns."""
        if returned is None or "ProjectionExpression" not in params:
            return dict(returned) if returned else None
        return self.world.read_item(table, key)

    def _batch_get_units(self, params: dict[str, Any], parsed: dict[str, Any]) -> float:
        total = 0.0
        unprocessed = parsed.get("UnprocessedKeys") or {}
        for table, request in params["RequestItems"].items():
            skipped = [
                json.dumps(k, sort_keys=True) for k in unprocessed.get(table, {}).get("Keys", [])
            ]
            consistent = bool(request.get("ConsistentRead"))
            for key in request["Keys"]:
                if json.dumps(key, sort_keys=True) in skipped:
                    continue
                # each key is charged as its own GetItem, present or not
                total += read_units(
                    item_size(self.world.read_item(table, key)), consistent=consistent
                )
        return total

    def _query_units(self, params: dict[str, Any], parsed: dict[str, Any]) -> float:
        returned = parsed.get("Items", [])
        if "ProjectionExpression" in params and returned:
            rerun = {k: v for k, v in params.items() if k not in ("ProjectionExpression",)}
            rerun["Limit"] = len(returned)
            returned = self.world.admin.query(**rerun)["Items"]
        size = sum(item_size(i) for i in returned)  # the page's items summed, then rounded
        return read_units(size, consistent=bool(params.get("ConsistentRead")))

    def _write_units(
        self, name: str, params: dict[str, Any], olds: list[Any], failed: bool
    ) -> tuple[float, float]:
        wru = index_wru = 0.0
        if name == "BatchWriteItem":
            changes = []
            for table, key, old in olds:
                changes.append((table, old, self.world.read_item(table, key)))
        else:
            ((table, key, old),) = olds
            if failed:  # a failed condition still costs the item's size (at least 1)
                return float(write_units(item_size(old))), 0.0
            changes = [(table, old, self.world.read_item(table, key))]
        for table, old, new in changes:
            wru += write_units(max(item_size(old), item_size(new)))
            schema = self.world.schemas[table]
            for index in schema.indexes:
                before = schema.index_entry(old, index)
                after = schema.index_entry(new, index)
                index_wru += index_write_units(before, after, index)
        return wru, index_wru


def index_write_units(
    before: dict[str, Any] | None, after: dict[str, Any] | None, index: Index
) -> int:
    """Writes a table write causes in one secondary index: none if its entry is unchanged, a
    put or a delete, or both when the entry's index key changed (the developer guide's rules)."""
    if before == after:
        return 0

    def units(entry: dict[str, Any]) -> int:
        return write_units(item_size(entry) + INDEX_ENTRY_OVERHEAD)

    if before is None:
        return units(after) if after is not None else 0
    if after is None:
        return units(before)
    if any(before[k] != after[k] for k in index.keys):
        return units(before) + units(after)
    return units(after)


# ------------------------------------------------------------------------------ the world


@cache
def load_handler(function_dir: str) -> ModuleType:
    path = ROOT / "functions" / function_dir / "app.py"
    spec = importlib.util.spec_from_file_location(f"bench_{function_dir}_app", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lambda_context(function_dir: str) -> SimpleNamespace:
    return SimpleNamespace(
        function_name=f"presence-{function_dir}",
        function_version="$LATEST",
        memory_limit_in_mb=256,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:123456789012:function:{function_dir}",
        aws_request_id="00000000-0000-0000-0000-000000000000",
    )


def sample_event(function_dir: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((ROOT / "events" / f"{function_dir}.json").read_text())
    return value


def user_sig(user_id: str) -> str:
    return auth.gen_user_sig(SDKAPPID, SECRET_KEY, user_id, 3600)


class StatusStream:
    """The Status table's stream, read like Lambda's poller: from LATEST, then onwards."""

    def __init__(self, admin: Any, table_name: str) -> None:
        # botocore routes Streams to an account-based endpoint moto does not serve: turn it off.
        self.client = boto3.client(
            "dynamodbstreams",
            region_name=REGION,
            config=Config(account_id_endpoint_mode="disabled"),
        )
        self.arn = admin.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        shard = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"][0]
        self.iterator = self.client.get_shard_iterator(
            StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
        )["ShardIterator"]

    def take(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        while True:
            response = self.client.get_records(ShardIterator=self.iterator, Limit=1000)
            self.iterator = response["NextShardIterator"]
            records += [self._as_lambda_record(r) for r in response["Records"]]
            if len(response["Records"]) < 1000:
                return records

    def _as_lambda_record(self, record: Any) -> dict[str, Any]:
        """boto3's parsed record -> the JSON Lambda sends (epoch seconds, eventSourceARN)."""
        created = record["dynamodb"].get("ApproximateCreationDateTime")
        value: dict[str, Any] = json.loads(json.dumps(record, default=str))
        if created is not None:
            value["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
        value["eventSourceARN"] = self.arn
        return value


class World:
    """A moto account with the template's tables, the functions' environment, and a recorder."""

    def __init__(self, names: dict[str, str], admin: Any) -> None:
        self.names = names
        self.admin = admin  # seeding and capacity probes: never counted
        self.schemas = schemas(names)
        self.frames: Counter[str] = Counter()
        self.recorder: Recorder | None = None
        self.stream: StatusStream | None = None

    def table(self, logical_id: str) -> str:
        return self.names[logical_id]

    # --- seeding ----------------------------------------------------------------------------

    def seed(self, logical_id: str, items: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> int:
        """Write items with BatchWriteItem directly (25 a call), bypassing the product code."""
        table = self.names[logical_id]
        batch: list[dict[str, Any]] = []
        count = 0

        def flush() -> None:
            pending: dict[str, Any] = {table: [{"PutRequest": {"Item": i}} for i in batch]}
            while pending:
                pending = self.admin.batch_write_item(RequestItems=pending).get("UnprocessedItems")
            batch.clear()

        for item in items:
            batch.append(item)
            count += 1
            if len(batch) == 25:
                flush()
        if batch:
            flush()
        return count

    def read_item(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item = self.admin.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return dict(item) if item else None

    # --- invoking handlers --------------------------------------------------------------------

    def http(self, function_dir: str, user: str, body: dict[str, Any]) -> dict[str, Any]:
        """An HTTP API call as the client sees it (the envelope), after checking it succeeded."""
        assert self.recorder is not None
        event = sample_event(function_dir)
        headers = {k: v for k, v in event["headers"].items() if k != "authorization"}
        headers["authorization"] = f"Bearer {user_sig(user)}"
        event["headers"] = headers
        event["body"] = json.dumps(body)
        if self.recorder.usage is not None:
            self.recorder.usage.http_requests += 1
        result = self.recorder.invoke(function_dir, event)
        reply: dict[str, Any] = json.loads(result["body"])
        assert result["statusCode"] == 200 and reply["code"] == 0, (function_dir, reply)
        return reply

    def ws(
        self, function_dir: str, connection_id: str, query: dict[str, str] | None = None
    ) -> dict[str, Any]:
        assert self.recorder is not None
        event = sample_event(function_dir)
        event["requestContext"]["connectionId"] = connection_id
        event["requestContext"]["requestTimeEpoch"] = self.recorder.clock.now
        if query is not None:
            event["queryStringParameters"] = query
            event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
        if self.recorder.usage is not None:
            self.recorder.usage.ws_client_messages += 1
        result = self.recorder.invoke(function_dir, event)
        assert result["statusCode"] == 200, (function_dir, result)
        return result

    def restart_stream(self) -> None:
        """Read the stream from now on (LATEST): records of seeding writes are skipped."""
        self.stream = StatusStream(self.admin, self.names["StatusTable"])

    def fanout(self) -> None:
        """Deliver the stream's new records to status_fanout in batches of 100 (BatchSize)."""
        assert self.recorder is not None and self.stream is not None
        records = self.stream.take()
        if self.recorder.usage is not None:
            self.recorder.usage.stream_records += len(records)
        for start in range(0, len(records), 100):
            result = self.recorder.invoke(
                "status_fanout", {"Records": records[start : start + 100]}
            )
            assert result == {"batchItemFailures": []}, result

    def run_timers(self, until_ms: int) -> None:
        """Move the clock to `until_ms`, delivering each timer message as it becomes visible
        (one message per status_timers invocation), each followed by the fan-out it causes."""
        assert self.recorder is not None
        recorder = self.recorder
        while (message := recorder.queue.pop_due(until_ms)) is not None:
            visible, body = message
            recorder.clock.now = max(recorder.clock.now, visible)
            event = sample_event("status_timers")
            event["Records"][0]["body"] = body
            result = recorder.invoke("status_timers", event)
            assert result == {"batchItemFailures": []}, result
            self.fanout()
        recorder.clock.now = max(recorder.clock.now, until_ms)


@contextmanager
def patched(obj: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, original)


@contextmanager
def aws_world(*, capacity: bool) -> Iterator[World]:
    """A fresh moto account: tables and queues from template.yaml, the UserSig secret, the
    functions' environment (from the template's Globals), warm settings cache, the recorder."""
    with mock_aws():
        store.reset_clients()
        settings.clear_cache()
        tpl = cfn.load_template()
        names = {logical_id: f"presence-{logical_id}" for logical_id in cfn.table_specs(tpl)}
        admin = boto3.client("dynamodb", region_name=REGION)
        cfn.create_tables(admin, tpl, names)
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
        env = cfn.function_environment(tpl, "SetSelfStatusFunction", refs)
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        os.environ.update(QUIET_POWERTOOLS)
        world = World(names, admin)
        recorder = Recorder(world, capacity=capacity)
        world.recorder = recorder
        world.restart_stream()
        try:
            # A running function keeps its settings for 3 s; here the whole run shares one
            # warm copy, as the cost tests do (the cold cost is one settings GetItem more).
            with (
                patched(settings, "MAX_AGE_SECONDS", 24 * 3600.0),
                patched(store, "post_to_connection", recorder.post),
                patched(store, "sqs", lambda: recorder.queue),
                patched(clock, "now_ms", recorder.clock.now_ms),
            ):
                yield world
        finally:
            recorder.close()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            os.environ.update(QUIET_POWERTOOLS)
            store.reset_clients()
            settings.clear_cache()


# ------------------------------------------------------------------------------ items


def status_item(
    user_id: str,
    connections: list[tuple[str, str]],
    now_ms: int,
    custom_status: str = "",
) -> dict[str, Any]:
    """A Status item as the lifecycle writes it: ONLINE with live connections, else UNLOGINED."""
    item: dict[str, Any] = {
        "userID": {"S": user_id},
        "statusType": {"N": "1" if connections else "3"},
        "conns": {
            "M": {
                cid: {"M": {"platform": {"S": platform}, "connectedAt": {"N": str(now_ms)}}}
                for cid, platform in connections
            }
        },
        "background": {"M": {}},
        "version": {"N": "1"},
    }
    if custom_status:
        item["customStatus"] = {"S": custom_status}
        item["customStatusSetAt"] = {"N": str(now_ms)}
    return item


def connection_item(connection_id: str, user_id: str, now_ms: int) -> dict[str, Any]:
    return {
        "connectionId": {"S": connection_id},
        "userID": {"S": user_id},
        "platform": {"S": "web"},
        "connectedAt": {"N": str(now_ms)},
        "expiresAt": {"N": str(now_ms // 1000 + store.CONNECTION_TTL_SECONDS)},
    }


def subscription_item(subscriber: str, target: str, seq: int, now_ms: int) -> dict[str, Any]:
    return {
        "subscriberID": {"S": subscriber},
        "targetID": {"S": target},
        "seq": {"N": str(seq)},
        "createdAt": {"N": str(now_ms // 1000)},
    }


def seed_online_users(
    world: World,
    users: list[str],
    now_ms: int,
    *,
    subscribe_to: Callable[[int, str], list[str]] | None = None,
    custom_status: Callable[[int], str] | None = None,
) -> None:
    """Each user ONLINE with one live web connection (Status + Connections items) and the
    subscriptions `subscribe_to(i, user)` names."""
    world.seed(
        "StatusTable",
        (
            status_item(u, [(f"c-{u}", "web")], now_ms, custom_status(i) if custom_status else "")
            for i, u in enumerate(users)
        ),
    )
    world.seed("ConnectionsTable", (connection_item(f"c-{u}", u, now_ms) for u in users))
    if subscribe_to is not None:
        world.seed(
            "SubscriptionsTable",
            (
                subscription_item(u, target, now_ms * 1000 + n, now_ms)
                for i, u in enumerate(users)
                for n, target in enumerate(subscribe_to(i, u))
            ),
        )


# ------------------------------------------------------------------------------ reporting


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for dist in ("boto3", "botocore", "moto", "aws-lambda-powertools", "pydantic", "aws-xray-sdk"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": memory_gib,
        "arch": platform.machine(),
        "python": platform.python_version(),
        "os": platform.platform(),
        "packages": versions,
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
