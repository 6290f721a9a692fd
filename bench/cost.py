"""What a typical user costs per month on AWS, by activity and by service, in dollars.

A typical user's day runs through the REAL handlers in-process under moto, on the harness the
integration tests use (local.harness: `moto_account`, `Api`, `World` with a fake clock, the
Status stream fed to the stream consumer, the DeliveryQueue drained by the delivery function,
timers delivered by the timers function as the clock passes them). Everything AWS would bill is
counted by the activity that set it off, then multiplied to a month of 30 such days:

- DynamoDB requests by operation (botocore hooks on the clients the handlers create) and their
  request units by a stated rule (`units_rule`) checked against the largest items seen;
- Lambda invocations by function, and GB-s from a stated duration model (not measured on AWS);
- SQS messages: timers (standard queue, or EventBridge Scheduler past 15 minutes, as
  presence.store.send_timers splits them) and delivery jobs (FIFO DeliveryQueue);
- API Gateway: connection minutes, WebSocket messages (client frames, pings and their pongs,
  @connections posts), HTTP API requests; EventBridge PutEvents entries.

The day: SCENARIO below. `statusChangeEvents` is on (set through the admin API) so that its cost
shows as a row of its own. A second part prices single operations per million (`OPERATIONS`).

Run: PYTHONPATH=layers/presence:. .venv/bin/python -m bench.cost   (writes bench/results/cost.json)
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import boto3
import pytest  # for MonkeyPatch: the shared World patches through one

from bench.common import machine, post_cpu_ms, utc_now, write_result
from local import template as cfn
from local.aws import NAME_PREFIX
from local.harness import Api, World, handler_module, moto_account, routes, template
from local.lambdas import specs
from presence import messages, settings, store
from presence.lifecycle import Connection, PresenceState, Timer, TimerKind
from presence.models import StatusType

# --------------------------------------------------------------------------- prices (us-east-1)

PRICES_CHECKED = "2026-11-26 (SQS FIFO, EventBridge, Scheduler: 2026-12-01)"
PRICES: dict[str, dict[str, Any]] = {
    "dynamodb_rru": {
        "usd": 0.125 / 1e6,
        "unit": "read request unit (on-demand, Standard table class)",
        "source": "aws.amazon.com/dynamodb/pricing/on-demand/ (after the 1 Nov 2024 cut of 50%)",
    },
    "dynamodb_wru": {
        "usd": 0.625 / 1e6,
        "unit": "write request unit (on-demand, Standard table class)",
        "source": "aws.amazon.com/dynamodb/pricing/on-demand/",
    },
    "lambda_request": {
        "usd": 0.20 / 1e6,
        "unit": "Lambda request (invocation)",
        "source": "aws.amazon.com/lambda/pricing/",
    },
    "lambda_gb_s_arm64": {
        "usd": 0.0000133334,
        "unit": "GB-second, arm64 (template.yaml: Architectures [arm64]), first 7.5 billion",
        "source": "aws.amazon.com/lambda/pricing/",
    },
    "http_api_request": {
        "usd": 1.00 / 1e6,
        "unit": "HTTP API request (first 300 million a month, 512 KB increments)",
        "source": "aws.amazon.com/api-gateway/pricing/",
    },
    "websocket_message": {
        "usd": 1.00 / 1e6,
        "unit": "WebSocket message (first 1 billion a month, 32 KB increments)",
        "source": "aws.amazon.com/api-gateway/pricing/",
    },
    "websocket_connection_minute": {
        "usd": 0.25 / 1e6,
        "unit": "WebSocket connection minute",
        "source": "aws.amazon.com/api-gateway/pricing/",
    },
    "sqs_request": {
        "usd": 0.40 / 1e6,
        "unit": "SQS standard-queue request (64 KB chunks; after the first million a month)",
        "source": "aws.amazon.com/sqs/pricing/",
    },
    "sqs_fifo_request": {
        "usd": 0.50 / 1e6,
        "unit": "SQS FIFO-queue request (64 KB chunks)",
        "source": "aws.amazon.com/sqs/pricing/ (cloudburn.io, factualminds.com 2026 summaries)",
    },
    "eventbridge_event": {
        "usd": 1.00 / 1e6,
        "unit": "EventBridge custom event published (64 KB chunks)",
        "source": "aws.amazon.com/eventbridge/pricing/ (cloudburn.io, wring.co 2026 summaries)",
    },
    "scheduler_invocation": {
        "usd": 1.00 / 1e6,
        "unit": "EventBridge Scheduler invocation (a schedule firing; 14 million a month free)",
        "source": "aws.amazon.com/eventbridge/pricing/ (cloudburn.io 2026 summary)",
    },
}
PRICE_NOTE = (
    "Public us-east-1 list prices, checked against stored copies of public pages (the AWS pricing "
    "pages and secondary summaries of them dated 2025-2026, e.g. airbyte.com's and jusdb.com's "
    "DynamoDB articles on the Nov 2024 on-demand cut, cloudchipr.com on Lambda arm64, amnic.com "
    "and wring.co on API Gateway, cloudburn.io and factualminds.com on SQS and EventBridge; one "
    "summary, wring.co, calls Scheduler invocations free); the live AWS pages were not fetched "
    "from this machine, so treat them as assumptions to re-check. Free tiers ignored. DynamoDB "
    "Streams reads by Lambda triggers are free; storage, PITR, CloudWatch Logs and data transfer "
    "are not included. Lambda bills the INIT phase since 1 Aug 2025; cold starts are not included."
)

# --------------------------------------------------------------------------- the model

BASE_MS = 10  # per invocation: handler, Powertools decorators, UserSig check, JSON
PER_REQUEST_MS = 8  # per AWS request an invocation makes (DynamoDB, SQS, EventBridge, ...)
POST_CPU_MS = post_cpu_ms()  # one post's client CPU at 1 vCPU: the lean path, bench/post_cpu.py
VCPU_MB = 1769  # Lambda: 1,769 MB is one vCPU, CPU proportional to memory
SQS_CONSUMER_REQUESTS = 2  # per message: Lambda's poller receives it and deletes it (low traffic)
ASSUMPTIONS = {
    "lambda_duration": (
        f"a model, not measured on AWS: {BASE_MS} ms per invocation + {PER_REQUEST_MS} ms per "
        f"AWS request it makes (one after another) + {POST_CPU_MS:g} ms of CPU per @connections "
        f"post at one vCPU (posts are CPU-bound: at M MB a post takes {VCPU_MB}/M times longer, "
        "so its GB-s are the same at any memory below one vCPU); memory per function from "
        "template.yaml (MemorySize); GB-s are charged to the activity whose work they are"
    ),
    "websocket_messages": (
        "each @connections post is one message (frames are under 32 KB); a ping is a MOCK "
        "integration: 2 messages (ping in, pong out) and no Lambda; $connect and $disconnect "
        "are counted as one message each and GetConnection/DeleteConnection calls as one "
        "message each (conservative: the pricing page bills messages sent and received "
        "without singling these out)"
    ),
    "sqs": (
        f"each message costs 1 send request (per SendMessageBatch of up to 10) and "
        f"{SQS_CONSUMER_REQUESTS} requests when Lambda's poller receives and deletes it alone "
        "(low traffic; full batches cost less); a timer past 15 minutes is an EventBridge "
        "Scheduler schedule (creating it is free, its firing is one invocation) whose target "
        "sends the message to the timers queue (1 request); idle long polling is a fixed "
        "monthly cost, not per user"
    ),
    "caches": (
        "settings and UserSig-key caches warm: at scale one container serves many users, so a "
        "user's share of those reads is ~0 (a cold container adds one 0.5 RRU settings GetItem "
        "per 3 s and one Secrets Manager call per minute)"
    ),
    "pushes": (
        "the pushes of a change are charged to the user who changed; in a population where "
        "everyone has 20 subscribers each user receives as many pushes as it causes"
    ),
}


def units_rule(largest: dict[str, int]) -> str:
    biggest = max(largest.values(), default=0)
    return (
        "1 WRU per item written (PutItem, UpdateItem, DeleteItem, each BatchWriteItem request; "
        "a failed condition too) plus 1 per secondary-index entry it writes (the Subscriptions "
        "table's byTarget GSI: every put and delete); 0.5 RRU per item read eventually "
        "consistent and 1 strongly consistent (GetItem; BatchGetItem per key, found or not); a "
        "Query page by its items' summed size (counted as items x the largest item of its "
        "table) in 4 KB units, at least one. Exact while every item is under 1 KB: the largest "
        f"item seen here is {biggest} bytes ("
        + ", ".join(f"{t.removeprefix(NAME_PREFIX + '-')} {n}" for t, n in sorted(largest.items()))
        + ")"
    )


# --------------------------------------------------------------------------- the scenario

DAYS_PER_MONTH = 30
SUBSCRIBERS = 20
CONNECTED_MINUTES = 8 * 60
RECONNECT_EVERY_MINUTES = 120
HEARTBEAT_SECONDS = 30  # pong's heartbeatSeconds at the default 90 s liveness timeout
PING_EVERY = 10  # sdk/js/index.js pingEvery: every 10th heartbeat a ping, the others beats
CHANGE_MINUTES = [20 + 47 * k for k in range(10)]  # 10 setSelfStatus, none on a reconnect
CUSTOM_STATUSES = [
    "in a meeting",
    "at lunch",
    "focus time",
    "on a call",
    "commuting",
    "reviewing",
    "out for coffee",
    "presenting",
    "in the lab",
    "wrapping up",
]
SUBSCRIBER_RECONNECT_MINUTES = [100, 200, 300, 400]  # theirs (API Gateway's 2 h), not counted
SCENARIO = (
    f"One web user, connected {CONNECTED_MINUTES // 60} h a day with the Web SDK: its socket is "
    f"closed every {RECONNECT_EVERY_MINUTES // 60} h (API Gateway's 2-hour limit) and the SDK "
    "reconnects 1 s later, inside the 5 s grace (no status change), then re-reads its "
    "subscriptions, its own status and its 20 contacts' (getSubscriptions, getUserStatus x2); "
    f"a heartbeat every {HEARTBEAT_SECONDS} s (the Web SDK's beat, every {PING_EVERY}th a ping; "
    "each noted by API Gateway's DynamoDB integration and watched by the liveness check); "
    f"{len(CHANGE_MINUTES)} setSelfStatus a day (each a "
    f"new custom status). {SUBSCRIBERS} subscribers, each online with one connection, so each "
    "change is pushed 20 times (and once to the user's own connection while it is open). Login: "
    "$connect, then the app subscribes to its 20 contacts and reads their statuses; the day "
    "ends with the tab closed (a $disconnect: after the grace the user is UNLOGINED, pushed; "
    "30 s later its custom status is cleared, pushed; 1 h later its subscriptions are dropped). "
    "statusChangeEvents on. A shorter day before it (login, one change, the tab closed) is "
    "not counted: it creates the user's items, as every earlier day would have. A month is 30 "
    "days."
)
ROWS = (
    "connection minutes",
    "heartbeats",
    "liveness",
    "reconnects",
    "status changes",
    "login/logout",
    "timers",
    "events",
)
ROW_NOTES = {
    "connection minutes": "API Gateway's per-minute charge for the open socket",
    "heartbeats": "beat frames, and every 10th a ping and its pong",
    "liveness": "each frame's seenAt write (API Gateway's DynamoDB integration) + the checks",
    "reconnects": "$disconnect + $connect + the SDK's re-reads",
    "status changes": "setSelfStatus HTTP + its write + fan-out + pushes",
    "login/logout": "$connect, subscribe + read 20, $disconnect; their changes' fan-out + pushes",
    "timers": "SQS / Scheduler and the timers function's own work",
    "events": "statusChangeEvents: PutEvents entries and their calls",
}
SERVICES = ("api_gateway", "lambda", "dynamodb", "sqs", "scheduler", "eventbridge")

# --------------------------------------------------------------------------- counting


@dataclass
class Usage:
    """What one activity made AWS do."""

    connection_minutes: float = 0.0
    ws_messages: int = 0
    http_requests: int = 0
    lambda_invocations: Counter[str] = field(default_factory=Counter)  # by function folder
    lambda_gb_s: float = 0.0
    dynamodb_requests: Counter[str] = field(default_factory=Counter)  # by operation
    rru: float = 0.0
    wru: float = 0.0
    sqs_standard_requests: int = 0
    sqs_fifo_requests: int = 0
    timers_sqs: int = 0  # timer messages on the SQS delay
    timers_scheduled: int = 0  # timer schedules on EventBridge Scheduler
    delivery_jobs: int = 0
    events: int = 0
    posts: int = 0

    def dollars(self) -> dict[str, float]:
        p = {k: v["usd"] for k, v in PRICES.items()}
        usd = {
            "api_gateway": self.connection_minutes * p["websocket_connection_minute"]
            + self.ws_messages * p["websocket_message"]
            + self.http_requests * p["http_api_request"],
            "lambda": sum(self.lambda_invocations.values()) * p["lambda_request"]
            + self.lambda_gb_s * p["lambda_gb_s_arm64"],
            "dynamodb": self.rru * p["dynamodb_rru"] + self.wru * p["dynamodb_wru"],
            "sqs": self.sqs_standard_requests * p["sqs_request"]
            + self.sqs_fifo_requests * p["sqs_fifo_request"],
            "scheduler": self.timers_scheduled * p["scheduler_invocation"],
            "eventbridge": self.events * p["eventbridge_event"],
        }
        return {**usd, "total": sum(usd.values())}

    def as_dict(self) -> dict[str, Any]:
        counts = {f.name: getattr(self, f.name) for f in fields(self)}
        counts = {
            k: dict(sorted(v.items())) if isinstance(v, Counter) else v for k, v in counts.items()
        }
        return {**counts, "usd": self.dollars()}


class Meter:
    """Counts into `usage[row]`: `row` is the activity now running (None: not counted, e.g. the
    subscribers' own reconnects). A timer's work counts under "timers" and what its change then
    fans out under the activity that set the timer; PutEvents under "events"."""

    def __init__(
        self, world: World, monkeypatch: pytest.MonkeyPatch, *, split: bool = True
    ) -> None:
        self.world = world
        self.split = split  # False: timers' and events' work counts with their origin too
        self.usage: dict[str, Usage] = {}
        self.row: str | None = None
        self.invocation: tuple[str, str | None] | None = None  # (function folder, row)
        self.origin: dict[Timer, str | None] = {}
        self.largest: dict[str, int] = {}
        self.measuring = True  # the largest items after every counted activity (False: by hand)
        self.frames: list[tuple[str, str, dict[str, Any]]] = []  # (row, connection, frame)
        tpl = template()
        self.indexes = {
            f"{NAME_PREFIX}-{logical_id}": len(spec.create_kwargs.get("GlobalSecondaryIndexes", []))
            + len(spec.create_kwargs.get("LocalSecondaryIndexes", []))
            for logical_id, spec in cfn.table_specs(tpl).items()
        }
        functions = {
            Path(str(r["Properties"]["CodeUri"])).name: logical_id
            for logical_id, r in tpl["Resources"].items()
            if r.get("Type") == "AWS::Serverless::Function"
        }
        found = specs(tpl, functions.values())
        self.memory_gb = {d: found[i].memory_mb / 1024 for d, i in functions.items()}
        self.http = set(routes())
        events = boto3._get_default_session().events
        events.register("before-parameter-build", self._before)
        events.register("after-call", self._after)
        for function_dir in functions:
            module = handler_module(function_dir)
            monkeypatch.setattr(module, "lambda_handler", self._wrap(function_dir, module))
        # over the World's own fakes, which still do the work
        monkeypatch.setattr(store, "send_timers", self._timers(store.send_timers))
        monkeypatch.setattr(store, "post_to_connection", self._post(store.post_to_connection))
        for name in ("close_connection", "connection_exists"):
            monkeypatch.setattr(store, name, self._management(getattr(store, name)))

    def close(self) -> None:
        events = boto3._get_default_session().events
        events.unregister("before-parameter-build", self._before)
        events.unregister("after-call", self._after)

    def _usage(self, row: str | None) -> Usage | None:
        return None if row is None else self.usage.setdefault(row, Usage())

    @contextmanager
    def activity(self, row: str | None) -> Iterator[None]:
        self.row = row
        try:
            yield
        finally:
            self.row = None
            if self.measuring and row not in (None, "heartbeats"):
                self.measure_items()

    def advance(self, seconds: float) -> None:
        """World.advance; a timer's origin counts for what its change sets off, then the
        activity that was running goes on."""
        row = self.row
        try:
            self.world.advance(seconds)
        finally:
            self.row = row

    def _call_row(self, service: str) -> str | None:
        """Whose work an AWS request made now is."""
        if self.invocation is None:
            return None  # the harness's own calls (stream reads, queue polling, sizes)
        row = self.invocation[1]
        if row is None:
            return None
        return "events" if service == "events" and self.split else row

    def _charge_ms(self, row: str | None, ms: float) -> None:
        usage = self._usage(row)
        if usage is not None and self.invocation is not None:
            usage.lambda_gb_s += ms / 1000 * self.memory_gb[self.invocation[0]]

    # --- Lambda -----------------------------------------------------------------------------

    def _wrap(self, function_dir: str, module: Any) -> Callable[[Any, Any], Any]:
        handler = module.lambda_handler

        def invoke(event: Any, context: Any) -> Any:
            row = self.row
            if function_dir == "status_timers":
                (record,) = event["Records"]
                origin = self.origin.get(timer_of(record["body"]))
                # (liveness checks stay in their own row: they are not lifecycle timers)
                split = self.split and origin != "liveness"
                row = None if origin is None else ("timers" if split else origin)
                self.row = origin  # what the timer's change fans out is its origin's
            outer, self.invocation = self.invocation, (function_dir, row)
            usage = self._usage(row)
            if usage is not None:
                usage.lambda_invocations[function_dir] += 1
                self._charge_ms(row, BASE_MS)
                if function_dir in self.http:
                    usage.http_requests += 1
                elif function_dir.startswith("ws_"):
                    usage.ws_messages += 1  # $connect, $disconnect, a client frame
            try:
                return handler(event, context)
            finally:
                self.invocation = outer

        return invoke

    # --- the World's fakes ------------------------------------------------------------------

    def _timers(self, send: Callable[[Any, int], None]) -> Callable[[Any, int], None]:
        def send_timers(timers: Any, now_ms: int) -> None:
            sender = self.invocation[1] if self.invocation else self.row
            by_row: dict[str | None, list[Any]] = {}
            for timer in timers:
                # a counted connection's liveness checks are a row of their own
                live = timer.kind is TimerKind.CHECK_LIVENESS and sender is not None
                row = "liveness" if live else sender
                self.origin.setdefault(timer, row)
                by_row.setdefault(row, []).append(timer)
            for row, mine in by_row.items():
                if row is None:
                    continue
                soon = [t for t in mine if t.due_at - now_ms <= store.MAX_DELAY_SECONDS * 1000]
                later = len(mine) - len(soon)
                charged = "timers" if self.split and row != "liveness" else row
                usage = self.usage.setdefault(charged, Usage())
                usage.timers_sqs += len(soon)
                usage.timers_scheduled += later
                batches = math.ceil(len(soon) / 10)  # SendMessageBatch requests
                # a schedule's own send to the queue when it fires, then Lambda's receive, delete
                usage.sqs_standard_requests += batches + later + SQS_CONSUMER_REQUESTS * len(mine)
                self._charge_ms(charged, PER_REQUEST_MS * (batches + later))  # + CreateSchedule
            send(timers, now_ms)

        return send_timers

    def _post(self, post: Callable[[str, bytes], bool]) -> Callable[[str, bytes], bool]:
        def post_to_connection(connection_id: str, data: bytes) -> bool:
            row = self._call_row("apigatewaymanagementapi")
            usage = self._usage(row)
            if usage is not None and row is not None and self.invocation is not None:
                usage.posts += 1
                usage.ws_messages += 1
                usage.lambda_gb_s += (
                    POST_CPU_MS * VCPU_MB / 1024 / 1000
                )  # CPU-bound: see ASSUMPTIONS
                self.frames.append((row, connection_id, json.loads(data)))
            return post(connection_id, data)

        return post_to_connection

    def _management(self, call: Callable[[str], Any]) -> Callable[[str], Any]:
        def management(connection_id: str) -> Any:
            row = self._call_row("apigatewaymanagementapi")
            usage = self._usage(row)
            if usage is not None:
                usage.ws_messages += 1
                self._charge_ms(row, PER_REQUEST_MS)
            return call(connection_id)

        return management

    # --- AWS requests (botocore hooks on every client of the default session) ---------------

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["cost_params"] = params

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        row = self._call_row(service)
        usage = self._usage(row)
        if usage is None:
            return
        self._charge_ms(row, PER_REQUEST_MS)
        params = context.get("cost_params", {})
        if service == "dynamodb":
            usage.dynamodb_requests[model.name] += 1
            rru, wru = self._units(model.name, params, parsed)
            usage.rru += rru
            usage.wru += wru
        elif service == "sqs" and model.name == "SendMessageBatch":
            # (timers never get here: the World captures them; these are delivery jobs)
            usage.delivery_jobs += len(params["Entries"])
            usage.sqs_fifo_requests += 1 + SQS_CONSUMER_REQUESTS * len(params["Entries"])
        elif service == "events" and model.name == "PutEvents":
            usage.events += len(params["Entries"])

    def _units(
        self, op: str, params: dict[str, Any], parsed: dict[str, Any]
    ) -> tuple[float, float]:
        """(RRU, WRU) of one DynamoDB request, by `units_rule`."""
        half = 0.5
        if op == "GetItem":
            return (1.0 if params.get("ConsistentRead") else half), 0.0
        if op == "BatchGetItem":
            unprocessed = parsed.get("UnprocessedKeys") or {}
            rru = 0.0
            for table, request in params["RequestItems"].items():
                keys = len(request["Keys"]) - len(unprocessed.get(table, {}).get("Keys", []))
                rru += keys * (1.0 if request.get("ConsistentRead") else half)
            return rru, 0.0
        if op == "Query":
            size = len(parsed.get("Items", [])) * self.largest.get(params["TableName"], 0)
            units = max(1, math.ceil(size / 4096))
            return units * (1.0 if params.get("ConsistentRead") else half), 0.0
        if op in ("PutItem", "UpdateItem", "DeleteItem"):
            failed = "Error" in parsed
            return 0.0, 1.0 + (0 if failed else self.indexes.get(params["TableName"], 0))
        if op == "BatchWriteItem":
            unprocessed = parsed.get("UnprocessedItems") or {}
            wru = 0.0
            for table, requests in params["RequestItems"].items():
                done = len(requests) - len(unprocessed.get(table, []))
                wru += done * (1 + self.indexes.get(table, 0))
            return 0.0, wru
        raise AssertionError(f"no units rule for DynamoDB {op}")

    def measure_items(self) -> None:
        """The largest item of each table now (the units rule holds while all are < 1 KB)."""
        client = boto3.client("dynamodb")
        for table in self.indexes:
            for page in client.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    size = item_size(item)
                    if size > self.largest.get(table, 0):
                        self.largest[table] = size


def timer_of(body: str) -> Timer:
    return messages.decode_timer(body)


def item_size(item: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for an item: names plus values (numbers ~1 byte per 2 digits)."""

    def value(v: dict[str, Any]) -> int:
        ((kind, raw),) = v.items()
        if kind == "S":
            return len(raw.encode())
        if kind == "N":
            return (len(raw.strip("-").replace(".", "")) + 1) // 2 + 1
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "M":
            return 3 + sum(len(k.encode()) + value(x) + 1 for k, x in raw.items())
        if kind == "L":
            return 3 + sum(value(x) + 1 for x in raw)
        return len(json.dumps(raw))  # sets and binary: not used by the service

    return sum(len(name.encode()) + value(v) for name, v in item.items())


# --------------------------------------------------------------------------- the day

MINUTE = 60_000
DAY = 24 * 60 * MINUTE


class Day:
    """The typical user ("user") and its subscribers ("sub00".."sub19") in one World."""

    def __init__(self, world: World, api: Api, meter: Meter) -> None:
        self.world, self.api, self.meter = world, api, meter
        self.user = "user"
        self.contacts = [f"sub{i:02d}" for i in range(SUBSCRIBERS)]
        self.subscriber_connections: dict[str, str] = {}
        self.connection: str | None = None
        self.connected_at = 0
        self.beats = 0

    def setup(self) -> None:
        """Subscribers online and subscribed to the user (not counted)."""
        for sub in self.contacts:
            self.subscriber_connections[sub] = self.world.online(sub)
            self.api.subscribe([self.user], user=sub).data  # noqa: B018 (asserts success)

    def reconnect_subscribers(self) -> None:
        """Each subscriber's socket closed and opened again at once (one stream batch)."""
        for sub, old in self.subscriber_connections.items():
            self.world.disconnect(old, pump=False)
            connection, answer = self.world.connect(sub, pump=False)
            assert answer["statusCode"] == 200, answer
            self.subscriber_connections[sub] = connection
        self.world.pump()

    def _open(self) -> None:
        self.connection = self.world.online(self.user, "web")
        self.world.silent.add(self.connection)  # it beats on its own schedule (heartbeat)
        self.connected_at = self.world.now

    def close(self) -> None:
        assert self.connection is not None
        self.world.disconnect(self.connection)
        minutes = (self.world.now - self.connected_at) / MINUTE
        self.meter.usage.setdefault("connection minutes", Usage()).connection_minutes += minutes
        self.connection = None

    def login(self) -> None:
        self._open()
        self.api.subscribe(self.contacts, user=self.user).data  # noqa: B018
        self.api.get_user_status(self.contacts, user=self.user).data  # noqa: B018

    def reconnect(self) -> None:
        self.close()
        self.meter.advance(1)  # the SDK's backoff
        self._open()
        # the Web SDK's re-read after a reconnect (sdk/js/index.js _resync)
        self.api.call("get_subscriptions", {}, user=self.user).data  # noqa: B018
        self.api.get_user_status([self.user], user=self.user).data  # noqa: B018
        self.api.get_user_status(self.contacts, user=self.user).data  # noqa: B018

    def change(self, k: int) -> None:
        self.api.set_self_status(CUSTOM_STATUSES[k], user=self.user).data  # noqa: B018
        self.world.pump()

    def heartbeat(self) -> None:
        """The Web SDK's heartbeat: a beat (one message), every PING_EVERYth a ping and its
        pong (two). API Gateway's integration writes each one's time on the connection (one
        UpdateItem of a small item: 1 WRU), with no function, so the Meter does not see it."""
        assert self.connection is not None
        self.beats += 1
        ping = self.beats % PING_EVERY == 0
        answer = self.world.send(
            self.connection, json.dumps({"action": "ping" if ping else "beat"})
        )
        if ping:
            pong = {"event": "pong", "heartbeatSeconds": HEARTBEAT_SECONDS}
            assert json.loads(answer["body"]) == pong, answer
        self.meter.usage.setdefault("heartbeats", Usage()).ws_messages += 2 if ping else 1
        liveness = self.meter.usage.setdefault("liveness", Usage())
        liveness.dynamodb_requests["UpdateItem (integration)"] += 1
        liveness.wru += 1

    def plan(self) -> list[tuple[int, int, str, Callable[[], None]]]:
        """(minute offset in ms, order, row, action) for one day."""
        steps: list[tuple[int, int, str, Callable[[], None]]] = [(0, 0, "login/logout", self.login)]
        ends = list(range(RECONNECT_EVERY_MINUTES, CONNECTED_MINUTES, RECONNECT_EVERY_MINUTES))
        for minute in ends:
            steps.append((minute * MINUTE, 0, "reconnects", self.reconnect))
        steps.append((CONNECTED_MINUTES * MINUTE, 0, "login/logout", self.close))
        starts = [0, *(m * MINUTE + 1000 for m in ends)]
        for start, end in zip(
            starts, [m * MINUTE for m in [*ends, CONNECTED_MINUTES]], strict=True
        ):
            for at in range(start + HEARTBEAT_SECONDS * 1000, end, HEARTBEAT_SECONDS * 1000):
                steps.append((at, 2, "heartbeats", self.heartbeat))
        for k, minute in enumerate(CHANGE_MINUTES):
            steps.append((minute * MINUTE, 1, "status changes", functools.partial(self.change, k)))
        for minute in SUBSCRIBER_RECONNECT_MINUTES:
            steps.append((minute * MINUTE, 3, "", self.reconnect_subscribers))
        return sorted(steps, key=lambda s: (s[0], s[1]))

    def run(self, start: int, *, counted: bool) -> None:
        """One day from `start` (epoch ms) to the next day's start, every timer delivered."""
        for at, _order, row, action in self.plan():
            with self.meter.activity(None):
                self.meter.advance((start + at - self.world.now) / 1000)
            with self.meter.activity(row if counted and row else None):
                action()
        with self.meter.activity(None):
            self.meter.advance((start + DAY - self.world.now) / 1000)


@contextmanager
def account() -> Iterator[tuple[World, pytest.MonkeyPatch]]:
    """A fresh moto account and World, caches warm (see ASSUMPTIONS), handlers quiet."""
    with (
        moto_account() as env,
        pytest.MonkeyPatch.context() as mp,
        contextlib.redirect_stdout(io.StringIO()),  # Powertools' EMF metrics and log lines
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", "No application metrics to publish")
        os.environ["SETTINGS_MAX_AGE_SECONDS"] = "86400"
        # read when the handlers are first imported (Meter): quiet, and no metrics to print
        os.environ.update(POWERTOOLS_LOG_LEVEL="WARNING", POWERTOOLS_METRICS_DISABLED="true")
        mp.setattr(store.secrets, "USERSIG_KEY_MAX_AGE_SECONDS", 86400.0)
        yield World(mp, env["STATUS_TABLE"]), mp


def typical_day() -> dict[str, Any]:
    with account() as (world, mp), contextlib.closing(Meter(world, mp)) as meter:
        api = Api()
        api.update_settings({"statusChangeEvents": True}).data  # noqa: B018
        settings.clear_cache()
        day = Day(world, api, meter)
        day.setup()
        # a shorter day before, not counted: the user's items exist, as on every later day
        day.login()
        day.change(0)
        day.close()
        world.advance(DAY / 1000)
        # their sockets were written as dropped at API Gateway's 2 hours, and their subscriptions
        # dropped an hour later: back, as every morning
        day.reconnect_subscribers()
        for sub in day.contacts:
            api.subscribe([day.user], user=sub).data  # noqa: B018 (asserts success)
        world.advance(60)
        first = world.now
        meter.usage.clear()
        meter.frames.clear()
        day.run(first, counted=True)
        checks = check(day, meter)
        return {
            "per_day": {row: meter.usage[row].as_dict() for row in ROWS},
            "units_rule": units_rule(meter.largest),
            "checks": checks,
        }


def check(day: Day, meter: Meter) -> dict[str, Any]:
    """Sanity of the counting (a benchmark, not a test): one event per change the user made,
    each pushed to all 20 subscribers, and to its own connection while open."""
    usage = meter.usage
    changes = usage["events"].events
    subscriber_frames = [
        f for f in meter.frames if f[1].split("-", 1)[1] in day.contacts
    ]  # connection ids are "conn<n>-<user>" (World.connect)
    own = [f for f in meter.frames if f[1].split("-", 1)[1] == day.user]
    for _row, _cid, frame in meter.frames:
        assert frame["event"] == "onUserStatusUpdated", frame
        assert {s["userID"] for s in frame["data"]} == {day.user}, frame
    expected_changes = 1 + len(CHANGE_MINUTES) + 2  # login, setSelfStatus, UNLOGINED, cleared
    assert changes == expected_changes, (changes, expected_changes)
    assert len(subscriber_frames) == SUBSCRIBERS * changes, (len(subscriber_frames), changes)
    assert len(own) == 1 + len(CHANGE_MINUTES), len(own)
    gaps = len(range(RECONNECT_EVERY_MINUTES, CONNECTED_MINUTES, RECONNECT_EVERY_MINUTES)) / 60
    assert abs(usage["connection minutes"].connection_minutes - CONNECTED_MINUTES + gaps) < 0.01
    by_row = Counter(row for row, _cid, _f in meter.frames)
    assert by_row["status changes"] == (SUBSCRIBERS + 1) * len(CHANGE_MINUTES), by_row
    return {
        "changes_shown": changes,
        "pushes_to_subscribers": len(subscriber_frames),
        "pushes_to_own_connection": len(own),
        "pushes_by_row": dict(by_row),
        "heartbeats": round(usage["liveness"].wru),
        "liveness_checks": usage["liveness"].timers_sqs,
        "largest_item_bytes": dict(sorted(meter.largest.items())),
    }


# --------------------------------------------------------------------------- single operations

OPERATIONS = (
    "setSelfStatus, 0 subscribers",
    "setSelfStatus, 10 subscribers",
    "setSelfStatus, 1,000 subscribers",
    "getUserStatus of 100",
    "subscribeUserStatus of 100",
    "WebSocket connect, 10 subscribers",
    "WebSocket disconnect, 10 subscribers",
)
OPERATIONS_NOTE = (
    "Each once, with everything it sets off (fan-out, delivery jobs, its timers over the next 2 "
    "hours) counted with it, statusChangeEvents off. Callers ONLINE with one connection (the "
    "connect: a returning user, UNLOGINED before; the disconnect: its only connection, web, so "
    "UNLOGINED after the 5 s grace); every subscriber and every user read ONLINE with one "
    "connection. 1,000 subscribers are past the stream consumer's inline budget (200 posts): "
    "they are posted by delivery jobs on the FIFO DeliveryQueue."
)


def operations() -> dict[str, dict[str, Any]]:
    """Each operation once, with everything it sets off (fan-out, delivery jobs, timers over
    the next 2 hours) counted with it; statusChangeEvents off. Callers ONLINE with one
    connection; every subscriber ONLINE with one connection (seeded, not counted)."""
    with account() as (world, mp), contextlib.closing(Meter(world, mp, split=False)) as meter:
        api = Api()
        watchers = [f"w{i:04d}" for i in range(1000)]
        # seeded with the store's own writes (the stream skipped): a socket each, subscriptions
        # (the callers too: a connection made through the World would be written as dropped at
        # API Gateway's 2 hours during an earlier operation's timers, and push that)
        callers = ["set0", "set10", "set1000", "reader", "subber"]
        for i, user in enumerate([*watchers, *(f"q{i:03d}" for i in range(100)), *callers]):
            online = {f"{user}=": Connection("web", world.now)}
            assert store.save_presence(
                PresenceState(user), PresenceState(user, StatusType.ONLINE, connections=online)
            )
            world.open.update(online)
            if i < len(watchers):
                targets = ["set1000"] + (["set10", "conn10"] if i < 10 else [])
                store.write_subscriptions(user, [store.Subscription(t, 1) for t in targets], [])
        world.stream.skip()
        world.disconnect(world.online("conn10"))  # it has been here before
        world.advance(2 * 3600)
        meter.measuring = False  # (1,000s of items: once before, once after)
        meter.measure_items()
        api.set_self_status("warm", user="reader").data  # noqa: B018 (handlers and caches)
        world.pump()
        world.frames.clear()
        conn10: list[str] = []

        def connect() -> None:
            conn10.append(world.online("conn10"))

        actions: dict[str, Callable[[], Any]] = {
            "setSelfStatus, 0 subscribers": lambda: api.set_self_status("busy", user="set0"),
            "setSelfStatus, 10 subscribers": lambda: api.set_self_status("busy", user="set10"),
            "setSelfStatus, 1,000 subscribers": lambda: api.set_self_status("busy", user="set1000"),
            "getUserStatus of 100": lambda: api.get_user_status(
                [f"q{i:03d}" for i in range(100)], user="reader"
            ),
            "subscribeUserStatus of 100": lambda: api.subscribe(
                [f"t{i:03d}" for i in range(100)], user="subber"
            ),
            "WebSocket connect, 10 subscribers": connect,
            "WebSocket disconnect, 10 subscribers": lambda: world.disconnect(conn10[0]),
        }
        for name in OPERATIONS:
            with meter.activity(name):
                reply = actions[name]()
                if hasattr(reply, "data"):
                    reply.data  # noqa: B018 (asserts success)
                world.pump()
            with meter.activity(None):
                world.advance(2 * 3600)  # its timers (their work counts with it)
        meter.measure_items()
        assert max(meter.largest.values()) < 1024, meter.largest  # (units_rule)
        posts = [meter.usage[name].posts for name in OPERATIONS]
        assert posts == [1, 11, 1001, 0, 0, 11, 10], posts  # subscribers + the caller's own
        return {
            name: {**meter.usage[name].as_dict(), "usd_per_million": per_million(meter, name)}
            for name in OPERATIONS
        }


def per_million(meter: Meter, name: str) -> float:
    return round(meter.usage[name].dollars()["total"] * 1e6, 2)


# --------------------------------------------------------------------------- the result


def month(per_day: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """$ per user-month by row and service, and the totals."""
    rows = {row: {k: v * DAYS_PER_MONTH for k, v in u["usd"].items()} for row, u in per_day.items()}
    rows["total"] = {k: sum(r[k] for r in rows.values()) for k in (*SERVICES, "total")}
    return rows


def report(result: dict[str, Any]) -> str:
    """The section of docs/performance.md."""
    usd = result["usd_per_user_month"]
    per_day = result["per_day"]
    total = usd["total"]["total"]

    def money(v: float) -> str:
        return "-" if v == 0 else f"${v:.5f}" if v < 0.001 else f"${v:.4f}"

    names = {
        "api_gateway": "API Gateway",
        "lambda": "Lambda",
        "dynamodb": "DynamoDB",
        "sqs": "SQS",
        "scheduler": "Scheduler",
        "eventbridge": "EventBridge",
    }
    lines = [
        "## Cost per user-month",
        "",
        f"`bench/cost.py`, {result['date']}. {result['scenario']}",
        "",
        "Every figure comes from the real handlers run in-process under moto on the harness the "
        "integration tests use (`local.harness`: fake clock, the Status stream fed to the stream "
        "consumer, the delivery queue drained, timers delivered as the clock passes them), "
        "counted by the activity that set it off, times 30 days.",
        "",
        "| activity | what | " + " | ".join(names.values()) + " | total | share |",
        "|---|---|" + "---:|" * (len(names) + 2),
    ]
    for row in (*ROWS, "total"):
        r = usd[row]
        label = f"**{row}**" if row == "total" else row
        share = f"{r['total'] / total:.0%}" if total else ""
        lines.append(
            f"| {label} | {ROW_NOTES.get(row, '')} | "
            + " | ".join(money(r[k]) for k in names)
            + f" | **{money(r['total'])}** | {share} |"
        )
    lines += [
        "",
        "Usage per user-month (30 days) behind it:",
        "",
        "| activity | WebSocket messages | connection min | HTTP requests | Lambda invocations "
        "| GB-s | DynamoDB requests | RRU | WRU | SQS requests (FIFO) | schedules | events |",
        "|---|" + "---:|" * 11,
    ]
    for row in ROWS:
        u = per_day[row]
        m = DAYS_PER_MONTH
        lines.append(
            f"| {row} | {u['ws_messages'] * m:,} | {u['connection_minutes'] * m:,.0f} | "
            f"{u['http_requests'] * m:,} | {sum(u['lambda_invocations'].values()) * m:,} | "
            f"{u['lambda_gb_s'] * m:.2f} | {sum(u['dynamodb_requests'].values()) * m:,} | "
            f"{u['rru'] * m:,.0f} | {u['wru'] * m:,.0f} | "
            f"{u['sqs_standard_requests'] * m:,} ({u['sqs_fifo_requests'] * m:,}) | "
            f"{u['timers_scheduled'] * m:,} | {u['events'] * m:,} |"
        )
    invocations: Counter[str] = Counter()
    for u in per_day.values():
        invocations.update(u["lambda_invocations"])
    lines += [
        "",
        "Lambda invocations a month by function: "
        + ", ".join(f"{f} {n * DAYS_PER_MONTH:,}" for f, n in invocations.most_common())
        + ".",
    ]
    checks = result["checks"]
    timers = per_day["timers"]
    lines += [
        "",
        f"Checked while counting: {checks['changes_shown']} status changes a day (login, "
        f"{len(CHANGE_MINUTES)} setSelfStatus, UNLOGINED after the grace, the custom status "
        f"cleared), each one EventBridge event and {SUBSCRIBERS} pushes to subscribers "
        f"({checks['pushes_to_subscribers']}), plus {checks['pushes_to_own_connection']} to the "
        f"user's own connection; {checks['heartbeats']} heartbeat frames and "
        f"{checks['liveness_checks']} liveness checks a day; "
        f"{timers['timers_sqs'] + timers['timers_scheduled']} timers a day "
        f"({timers['timers_sqs']} on the SQS delay, {timers['timers_scheduled']} on EventBridge "
        "Scheduler: the subscription drop 1 h after the logout).",
        "",
        dominates(result),
        "",
        pushes_line(),
        "",
        "Prices (us-east-1, per unit):",
        "",
        "| price | unit | source |",
        "|---:|---|---|",
    ]
    for item in result["prices"].values():
        per = "GB-s" if "GB-second" in item["unit"] else "million"
        price = f"${item['usd']:.10g}" if per == "GB-s" else f"${item['usd'] * 1e6:g}"
        lines.append(f"| {price} per {per} | {item['unit']} | {item['source']} |")
    lines += [
        "",
        f"{result['price_note']} Checked {result['prices_checked']}.",
        "",
        "Model assumptions:",
        "",
        f"- DynamoDB request units: {result['units_rule']}.",
        *[f"- {k.replace('_', ' ')}: {v}." for k, v in result["assumptions"].items()],
    ]
    ops = result.get("operations")
    if ops:
        lines += [
            "",
            "### Single operations, per million",
            "",
            f"{OPERATIONS_NOTE} Same prices and model.",
            "",
            "| operation | DynamoDB requests | RRU | WRU | Lambda invocations | posts "
            "| SQS requests (FIFO) | $ per million |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, op in ops.items():
            lines.append(
                f"| {name} | {sum(op['dynamodb_requests'].values())} | {op['rru']:g} | "
                f"{op['wru']:g} | {sum(op['lambda_invocations'].values())} | {op['posts']} | "
                f"{op['sqs_standard_requests']} ({op['sqs_fifo_requests']}) | "
                f"${op['usd_per_million']:,.2f} |"
            )
    return "\n".join(lines) + "\n"


def pushes_line() -> str:
    """What one push costs behind the API, from the post path's measured CPU."""
    gb_s = POST_CPU_MS * VCPU_MB / 1024 / 1000  # CPU-bound: the same GB-s at any memory < 1 vCPU
    usd = gb_s * PRICES["lambda_gb_s_arm64"]["usd"] * 1e6
    return (
        f"A push costs {POST_CPU_MS:g} ms of CPU on the service's post path "
        "(presence.store.poster, 'CPU per @connections post' above; boto3's client took about "
        f"0.8 ms): {gb_s * 1e6:,.0f} GB-s of Lambda per million pushes, ${usd:.2f}, besides API "
        "Gateway's $1.00 per million messages."
    )


def dominates(result: dict[str, Any]) -> str:
    """The paragraph on what dominates and what would lower it, from the figures."""
    usd = result["usd_per_user_month"]
    total = usd["total"]["total"]
    heart = usd["heartbeats"]["total"]
    live = usd["liveness"]["total"]
    api = usd["total"]["api_gateway"]
    beats = result["checks"]["heartbeats"]
    checks = result["checks"]["liveness_checks"]
    changes = result["checks"]["changes_shown"]
    dynamodb = usd["total"]["dynamodb"]
    events = usd["events"]["total"]
    reconnects = usd["reconnects"]["total"]
    return (
        f"A user-month costs ${total:.4f} (${total * 1000:.2f} per thousand users). API Gateway "
        f"is {api / total:.0%} of it. The heartbeat is {heart / total:.0%} ({beats} "
        f"frames a day, one message each and a pong for every {PING_EVERY}th) and liveness "
        f"{live / total:.0%}: each of those frames is a 1-WRU write of its time (API Gateway's "
        f"DynamoDB integration) and {checks} checks a day read it (one SQS "
        "message, a share of a timers invocation and one strongly consistent read each; "
        "in this model every message is received and deleted alone, as at low traffic). "
        f"Against that, {SUBSCRIBERS + 1} messages per status change ({changes} changes a day). "
        f"DynamoDB costs ${dynamodb:.4f} (the seenAt writes, the fan-out's reads of the "
        "subscribers' statuses, the 20 subscriptions written at login and deleted an hour after "
        f"the logout). The reconnects every 2 h cost {reconnects / total:.0%}: inside the grace "
        "they change nothing and push nothing. So the levers are the liveness timeout (the "
        "heartbeat is a third of it: 'Detection time against cost' under Liveness above) and "
        "the cost of the evidence per frame. Pushes are at their floor (one post per recipient "
        f"connection; @connections has no batch form). statusChangeEvents adds ${events:.5f} a "
        f"month ({events / total:.1%}): one EventBridge event per change."
    )


def main() -> int:
    started = time.perf_counter()
    print("cost: a typical user's day ...", flush=True)
    day = typical_day()
    print("cost: single operations ...", flush=True)
    ops = operations()
    result = {
        "benchmark": "cost",
        "date": utc_now(),
        "machine": machine(),
        "scenario": SCENARIO,
        "days_per_month": DAYS_PER_MONTH,
        "prices": PRICES,
        "prices_checked": PRICES_CHECKED,
        "price_note": PRICE_NOTE,
        "assumptions": ASSUMPTIONS,
        **day,
        "usd_per_user_month": month(day["per_day"]),
        "operations": ops,
        "total_s": round(time.perf_counter() - started, 1),
    }
    path = write_result("cost", result)
    print(report(result))
    print(f"wrote {path} ({result['total_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
