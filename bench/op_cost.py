"""What each operation costs in AWS usage and dollars, against the minimum it needs.

Every operation runs through the real handlers under moto (in-process mock_aws), followed by
everything it sets off: the stream records it writes go to status_fanout (one invocation per
batch of up to 100 records), the timers it queues are delivered to status_timers when the bench
clock reaches them (each followed by the fan-out it causes). Counted per operation:

- DynamoDB requests by operation, read request units and write request units, computed from
  the items' sizes (before and after images read with a separate, uncounted client) with
  DynamoDB's rules: reads in 4 KB units (eventually consistent = half), BatchGetItem per item,
  Query per page on the summed size, a key that is not there still charged; writes in 1 KB units
  on the larger of the before/after item, failed conditions still charged, plus one write per
  secondary index entry put or deleted (two when its key changes);
- SQS messages and send requests; Lambda invocations by function; API Gateway HTTP requests,
  WebSocket messages (client events and @connections posts).

Run: PYTHONPATH=layers/presence:. .venv/bin/python -m bench.op_cost
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench import _harness as h

# --------------------------------------------------------------------------- prices (us-east-1)

PRICES_CHECKED = "2026-11-26"
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
        "unit": "GB-second, arm64, first 7.5 billion GB-s a month",
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
}
PRICE_NOTE = (
    "Public us-east-1 list prices, checked on 2026-11-26 against stored copies of public pages "
    "(the AWS pricing pages and secondary summaries of them dated 2025-2026, e.g. airbyte.com's "
    "and jusdb.com's DynamoDB pricing articles on the Nov 2024 on-demand cut, cloudchipr.com and "
    "git.mcrn.ar on Lambda arm64, amnic.com and wring.co on API Gateway, cloudburn.io and "
    "unanswered.io on SQS); the live AWS pages were not fetched from this machine, so treat them "
    "as assumptions to re-check. Free tiers ignored. DynamoDB Streams reads by Lambda triggers "
    "are free (DynamoDB pricing page). Lambda bills the INIT phase since 1 Aug 2025 (AWS Compute "
    "Blog); cold starts are not included below."
)

# --------------------------------------------------------------------------- assumptions

MEMORY_GB = 256 / 1024  # every function: Globals MemorySize 256
BASE_MS = 10  # handler, Powertools decorators, UserSig check, JSON
PER_REQUEST_MS = 8  # one DynamoDB or SQS request, in-region, made one after another
PER_POST_WAVE_MS = 20  # a wave of up to 32 parallel @connections posts (fanout.MAX_WORKERS)
SQS_CONSUMER_REQUESTS_PER_MESSAGE = 2  # Lambda's poller: one ReceiveMessage, one DeleteMessage
ASSUMPTIONS = {
    "lambda_billed_ms": (
        f"{BASE_MS} ms + {PER_REQUEST_MS} ms per DynamoDB/SQS request (they are sequential) + "
        f"{PER_POST_WAVE_MS} ms per wave of up to 32 parallel posts; not measured (moto's "
        "in-process latency says nothing about DynamoDB's), stated so it can be replaced with "
        "CloudWatch's Billed Duration"
    ),
    "sqs_consumer": (
        f"each timer message costs {SQS_CONSUMER_REQUESTS_PER_MESSAGE} more SQS requests when "
        "Lambda's poller receives and deletes it alone (low traffic; batches of 10 cost less); "
        "idle long polling is a fixed monthly cost, not per operation"
    ),
    "timer_invocations": "one status_timers invocation per message (low traffic)",
    "fanout_invocations": (
        "one status_fanout invocation per stream batch; under load one batch carries up to 100 "
        "records of many operations, so this is the upper bound"
    ),
    "websocket_messages": (
        "each @connections post is one message (every frame is at most 32 KB); $connect and "
        "$disconnect are counted as one message each (conservative: the pricing page bills "
        "messages sent and received without singling them out)"
    ),
    "settings": "settings cache warm (a cold container adds one 0.5 RRU GetItem per 3 s)",
    "secret": (
        "UserSig key cached (Secrets Manager GetSecretValue once per minute per container; "
        "the previous key, read only when a UserSig does not verify with the current one, "
        "likewise)"
    ),
}


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Minimum:
    """The least any implementation of the contract needs, and why ours does more."""

    dynamodb_requests: int
    rru: float
    wru: float
    lambda_invocations: int
    sqs_requests: int
    ws_messages: int
    http_requests: int
    basis: str
    excess: tuple[str, ...] = ()


def billed_ms(invocation: h.Invocation) -> int:
    waves = math.ceil(invocation.posts / 32)
    return BASE_MS + PER_REQUEST_MS * invocation.aws_requests + PER_POST_WAVE_MS * waves


def costs(usage: h.Usage) -> dict[str, Any]:
    deliveries = usage.lambda_invocations().get("status_timers", 0)
    sqs_requests = usage.sqs_send_requests + SQS_CONSUMER_REQUESTS_PER_MESSAGE * deliveries
    gb_s = sum(billed_ms(i) for i in usage.invocations) / 1000 * MEMORY_GB
    ws_messages = usage.ws_client_messages + usage.posts
    parts = {
        "dynamodb": usage.rru * PRICES["dynamodb_rru"]["usd"]
        + (usage.wru + usage.index_wru) * PRICES["dynamodb_wru"]["usd"],
        "lambda": len(usage.invocations) * PRICES["lambda_request"]["usd"]
        + gb_s * PRICES["lambda_gb_s_arm64"]["usd"],
        "api_gateway": usage.http_requests * PRICES["http_api_request"]["usd"]
        + ws_messages * PRICES["websocket_message"]["usd"],
        "sqs": sqs_requests * PRICES["sqs_request"]["usd"],
    }
    per_million = {k: round(v * 1e6, 2) for k, v in parts.items()}
    return {
        "sqs_requests": sqs_requests,
        "lambda_gb_s": round(gb_s, 6),
        "lambda_billed_ms": [billed_ms(i) for i in usage.invocations],
        "ws_messages": ws_messages,
        "usd_per_million": {**per_million, "total": round(sum(parts.values()) * 1e6, 2)},
    }


def minimum_cost(m: Minimum, usage: h.Usage) -> float:
    """$ per million operations of the minimum, with the same duration model per invocation."""
    gb_s = m.lambda_invocations * (BASE_MS + PER_REQUEST_MS) / 1000 * MEMORY_GB
    gb_s += math.ceil(usage.posts / 32) * PER_POST_WAVE_MS / 1000 * MEMORY_GB
    total: float = (
        m.rru * PRICES["dynamodb_rru"]["usd"]
        + m.wru * PRICES["dynamodb_wru"]["usd"]
        + m.lambda_invocations * PRICES["lambda_request"]["usd"]
        + gb_s * PRICES["lambda_gb_s_arm64"]["usd"]
        + m.http_requests * PRICES["http_api_request"]["usd"]
        + m.ws_messages * PRICES["websocket_message"]["usd"]
        + m.sqs_requests * PRICES["sqs_request"]["usd"]
    )
    return round(total * 1e6, 2)


def query_units(keys: int, entry_bytes: int) -> float:
    return h.read_units(keys * entry_bytes, consistent=False)


class Bench:
    def __init__(self, world: h.World) -> None:
        self.world = world
        recorder = world.recorder
        assert recorder is not None
        self.recorder = recorder
        self.results: list[dict[str, Any]] = []

    @property
    def now(self) -> int:
        return self.recorder.clock.now

    def run(
        self,
        name: str,
        description: str,
        operation: Callable[[], None],
        minimum: Callable[[h.Usage], Minimum],
        expect_posts: int,
    ) -> None:
        self.world.frames.clear()
        with self.recorder.measure() as usage:
            operation()
        assert usage.posts == expect_posts, (name, usage.posts, expect_posts)
        m = minimum(usage)
        row = {
            "operation": name,
            "description": description,
            **usage.as_dict(),
            **costs(usage),
            "minimum": {
                "dynamodb_requests": m.dynamodb_requests,
                "rru": m.rru,
                "wru": m.wru,
                "lambda_invocations": m.lambda_invocations,
                "sqs_requests": m.sqs_requests,
                "ws_messages": m.ws_messages,
                "http_requests": m.http_requests,
                "usd_per_million": minimum_cost(m, usage),
                "basis": m.basis,
            },
            "excess": list(m.excess),
        }
        self.results.append(row)
        total, least = row["usd_per_million"]["total"], row["minimum"]["usd_per_million"]
        print(
            f"  {name:<34} DynamoDB {row['dynamodb_requests_total']:>3} req "
            f"{row['rru']:>6.1f} RRU {row['wru_table'] + row['wru_index']:>5.0f} WRU | "
            f"Lambda {len(usage.invocations):>2} | SQS msg {usage.sqs_messages} | "
            f"posts {usage.posts:>5} | ${total:>8.2f}/M (minimum ${least:.2f})",
            flush=True,
        )


def sub_entry(target: str) -> int:
    """Bytes of a byTarget index entry of a seeded watcher (names and values of both keys)."""
    return len("subscriberID") + len("w0000") + len("targetID") + len(target)


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    with h.aws_world(capacity=True) as world:
        bench = Bench(world)
        now = bench.now
        watchers = [f"w{i:04d}" for i in range(1000)]
        queried = [f"q{i:03d}" for i in range(500)]

        def subscriptions(i: int, _user: str) -> list[str]:
            targets = ["set1000"]
            if i < 10:
                targets += ["set10", "away10", "wsuser"]
            return targets

        h.seed_online_users(world, watchers, now, subscribe_to=subscriptions)
        h.seed_online_users(
            world, queried, now, custom_status=lambda i: "on a call" if i % 5 == 0 else ""
        )
        h.seed_online_users(world, ["set0", "set10", "set1000"], now)
        # wsuser watches 10 users: the subscriptions dropped an hour after it goes away
        world.seed(
            "SubscriptionsTable",
            [
                h.subscription_item("wsuser", q, now * 1000 + n, now)
                for n, q in enumerate(queried[:10])
            ],
        )
        world.restart_stream()

        # warm-up: handler modules, clients, the UserSig key and the settings cache
        world.http("set_self_status", "warmup", {"customStatus": "warm"})
        world.fanout()
        world.run_timers(bench.now + 60_000)  # its clear timer (warmup is not connected)

        print("op_cost:", flush=True)
        for subscribers in (0, 10, 1000):
            target = f"set{subscribers}"

            def set_status(target: str = target) -> None:
                world.http("set_self_status", target, {"customStatus": "in a meeting"})
                world.fanout()

            def minimum(usage: h.Usage, s: int = subscribers) -> Minimum:
                return Minimum(
                    dynamodb_requests=1 + 1 + math.ceil(s / 100),
                    rru=query_units(s, sub_entry(f"set{s}")) + s * 0.5,
                    wru=1,
                    lambda_invocations=2,
                    sqs_requests=0,
                    ws_messages=s + 1,
                    http_requests=1,
                    basis=(
                        "1 UpdateItem of the Status item; the fan-out's byTarget Query (1 page) "
                        "and one eventually consistent read per subscriber (ceil(S/100) "
                        "BatchGetItem) to find its connections; the caller's own devices come "
                        "from the stream image; one post per live connection"
                    ),
                    excess=(
                        "1 strongly consistent BatchGetItem of the changed user in the fan-out "
                        "(1 request, 1 RRU): the deliberate re-read that drops superseded or "
                        "redelivered records (fanout.py:_resolve)",
                    ),
                )

            bench.run(
                f"setSelfStatus, {subscribers} subscribers",
                "caller ONLINE with one connection; every subscriber ONLINE with one connection",
                set_status,
                minimum,
                expect_posts=subscribers + 1,
            )

        def away_status() -> None:
            world.http("set_self_status", "away10", {"customStatus": "back soon"})
            world.fanout()
            world.run_timers(bench.now + 31_000)  # the 30 s custom-status clear

        bench.run(
            "setSelfStatus while not connected, 10 subscribers",
            "caller has no connection (UNLOGINED): the custom status is cleared 30 s later by a "
            "timer, a second status change with its own fan-out",
            away_status,
            lambda usage: Minimum(
                dynamodb_requests=2 * (1 + 1 + 1),
                rru=2 * (query_units(10, sub_entry("away10")) + 10 * 0.5),
                wru=2,
                lambda_invocations=2 + 1 + 1,
                sqs_requests=1 + SQS_CONSUMER_REQUESTS_PER_MESSAGE,
                ws_messages=20,
                http_requests=1,
                basis=(
                    "two status changes (set, then the contract's 30 s clear), each one write and "
                    "a fan-out to 10 subscribers; one timer message"
                ),
                excess=(
                    "2 strongly consistent BatchGetItem re-reads in the two fan-outs (2 RRU)",
                    "1 strongly consistent GetItem in the clear timer (1 RRU): the message could "
                    "carry customStatusSetAt and make the clear one conditional UpdateItem",
                ),
            ),
            expect_posts=20,
        )

        for n in (1, 100, 500):
            users = queried[:n]

            def get_status(users: list[str] = users) -> None:
                reply = world.http("get_user_status", "reader", {"userIDList": users})
                assert len(reply["data"]["successUserList"]) == len(users)

            def read_minimum(_usage: h.Usage, n: int = n) -> Minimum:
                return Minimum(
                    dynamodb_requests=math.ceil(n / 100) + 1,
                    rru=n * 0.5,
                    wru=1,
                    lambda_invocations=1,
                    sqs_requests=0,
                    ws_messages=0,
                    http_requests=1,
                    basis="ceil(n/100) eventually consistent BatchGetItem + the rate-limit counter",
                )

            bench.run(
                f"getUserStatus of {n}",
                "every queried user has a Status item (ONLINE, one connection)",
                get_status,
                read_minimum,
                expect_posts=0,
            )

        targets = [f"t{i:03d}" for i in range(100)]

        def subscribe() -> None:
            world.http("subscribe_user_status", "subber", {"userIDList": targets})

        bench.run(
            "subscribe of 100",
            "caller has no subscriptions yet; 100 new targets",
            subscribe,
            lambda usage: Minimum(
                dynamodb_requests=1 + 1 + 4,
                rru=0.5,
                wru=1 + 100 + 100,
                lambda_invocations=1,
                sqs_requests=0,
                ws_messages=0,
                http_requests=1,
                basis=(
                    "1 Query of the caller's list (quota, order), the rate-limit counter, 100 puts "
                    "in 4 BatchWriteItem, each put also writing the byTarget GSI entry the fan-out "
                    "needs"
                ),
                excess=(
                    "100 WRU for the bySeq LSI entries: every use of the list reads all of it "
                    "(store.py:list_subscriptions), so sorting by the `seq` attribute client-side "
                    "would do and the LSI could go (a third of every subscribe/unsubscribe write)",
                ),
            ),
            expect_posts=0,
        )

        def connect() -> None:
            query = {"userSig": h.user_sig("wsuser"), "platform": "web"}
            world.ws("ws_connect", "ws-conn-1", query)
            world.fanout()

        bench.run(
            "WebSocket connect, 10 subscribers",
            "first connection of a user (UNLOGINED -> ONLINE) watched by 10 online subscribers",
            connect,
            lambda usage: Minimum(
                dynamodb_requests=2 + 1 + 1,
                rru=query_units(10, sub_entry("wsuser")) + 10 * 0.5,
                wru=2,
                lambda_invocations=2,
                sqs_requests=0,
                ws_messages=1 + 11,
                http_requests=0,
                basis=(
                    "PutItem connection -> user (a $disconnect carries only the connection "
                    "id), one write of the Status item, the fan-out (Query + subscribers' "
                    "reads), 11 posts"
                ),
                excess=(
                    "1 strongly consistent GetItem of the Status item (1 RRU): the lifecycle is a "
                    "read-modify-write with optimistic concurrency (sessions.apply)",
                    "1 strongly consistent BatchGetItem re-read in the fan-out (1 RRU)",
                ),
            ),
            expect_posts=11,
        )

        def disconnect() -> None:
            world.ws("ws_disconnect", "ws-conn-1")
            world.fanout()
            world.run_timers(bench.now + 3600_000 + 60_000)  # grace, then the 1 h retention

        bench.run(
            "WebSocket disconnect, 10 subscribers",
            "its only connection drops (web): 5 s grace, then UNLOGINED and pushed; 1 h later its "
            "10 subscriptions are dropped. Includes every timer and fan-out this sets off",
            disconnect,
            lambda usage: Minimum(
                dynamodb_requests=(2 + 1) + (1 + 2) + (1 + 1),
                rru=1 + (query_units(10, sub_entry("wsuser")) + 10 * 0.5) + query_units(10, 60),
                wru=1 + 1 + 10 + 10,
                lambda_invocations=1 + 1 + 1 + 1,
                sqs_requests=2 * (1 + SQS_CONSUMER_REQUESTS_PER_MESSAGE),
                ws_messages=1 + 10,
                http_requests=0,
                basis=(
                    "find the connection's user (strongly consistent GetItem), mark the "
                    "connection dropped (1 write); after the grace one timer, one write "
                    "(UNLOGINED) and its fan-out (Query + reads, 10 posts); after 1 h one timer, "
                    "one Query and one BatchWriteItem deleting 10 subscriptions (table + byTarget)"
                ),
                excess=(
                    "DeleteItem of the Connections item (1 WRU): TTL already deletes it for free "
                    "and a $disconnect is the connection's last event (sessions.py:on_disconnect)",
                    "3 RRU of deliberate strongly consistent reads: the Status GetItem of the "
                    "drop and of the grace timer (read-modify-write, sessions.apply) and the "
                    "fan-out's re-read",
                    "a status_fanout invocation for the drop write, which changes nothing shown "
                    "(filtered in code before any read; an invocation all the same)",
                    "3 extra SQS hops (3 sends, 6 consumer requests, 3 status_timers invocations) "
                    "for the 1 h subscription drop: SQS delays at most 15 min (timers.py:run)",
                    "10 WRU for the bySeq LSI entries of the dropped subscriptions",
                ),
            ),
            expect_posts=10,
        )

    result = {
        "benchmark": "op_cost",
        "date": h.utc_now(),
        "machine": h.machine(),
        "prices": PRICES,
        "prices_checked": PRICES_CHECKED,
        "price_note": PRICE_NOTE,
        "assumptions": ASSUMPTIONS,
        "operations": bench.results,
        "total_s": round(time.perf_counter() - started, 1),
    }
    path = h.write_result("op_cost", result)
    print(f"wrote {path.relative_to(h.ROOT)} ({result['total_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
