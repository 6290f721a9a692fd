"""One status change to N connections through the real two-stage delivery, in-process under moto,
with a recording @connections fake (no sockets): what it costs, and what it would take on AWS.

The tables, queues and environment are the tests' (`local.harness.moto_account`: the local
runtime's resources in moto's in-process mock, as tests/integration uses them). N subscribers of
one user each have one live connection; one setSelfStatus goes through the real handlers: the
stream consumer on the Status stream's records, then the delivery function on the DeliveryQueue,
batch after batch, until it is empty (page jobs queue post jobs and the next page). Measured: jobs
by kind, invocations, DynamoDB requests by operation, each invocation's CPU time outside moto, and
every connection's frames (misses and duplicates must be 0).

Projected to AWS, with the method stated in the output: CPU is proportional to memory (1,769 MB
= 1 vCPU; the stream consumer has 512 MB, the delivery function 1,024 MB), a post costs the lean
path's CPU (bench/post_cpu.py's measurement, over TLS: presence.store.poster), at most 16 delivery
invocations run at once (one per message group), and @connections is throttled at the account's
10,000 requests/s. Added in front: Lambda's read of the Status stream, which polls each shard 4
times a second (AWS Lambda Developer Guide, "Using AWS Lambda with Amazon DynamoDB": "AWS Lambda
polls the stream at a rate of 4 times per second"), so a record waits up to 250 ms; DynamoDB's
own delay before a record is in the stream is documented only as "near-real time" and is not
counted. Also projected: the first recipient's latency, and the same change with the account's
@connections quota raised (Service Quotas) and the delivery at 1,769 MB x 32.

Run: PYTHONPATH=layers/presence:. .venv/bin/python -m bench.delivery_scale
     [--connections 20000]     writes bench/results/delivery_scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import post_cpu_ms

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "delivery_scale.json"

VCPU = {"StatusFanoutFunction": 512 / 1769, "StatusDeliveryFunction": 1024 / 1769}
DELIVERY_CONCURRENCY = 16
ACCOUNT_POSTS_PER_SECOND = 10_000
STREAM_POLL_MS = 250  # Lambda polls a DynamoDB stream shard 4 times a second (worst case wait)
RAISED_POSTS_PER_SECOND = 32_000  # a Service Quotas increase of API Gateway's account throttle
RAISED_CONCURRENCY, RAISED_VCPU = 32, 1.0  # MaximumConcurrency 32 at 1,769 MB


AWS_CALL_MS = 10  # a DynamoDB or SQS call's latency from Lambda (assumed, typical)
QUEUE_HOP_MS = 100  # SQS FIFO -> Lambda event source pickup (assumed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=20_000)
    args = parser.parse_args()
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ.setdefault(name, "testing")
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    result = run(args.connections)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["projection"], indent=2))
    print(f"wrote {RESULTS.relative_to(ROOT)}")


def run(n: int) -> dict[str, Any]:
    import boto3
    from moto.core.botocore_stubber import BotocoreStubber
    from moto.dynamodb.responses import DynamoHandler

    from local.harness import StatusStream, handler_module, lambda_context, moto_account
    from local.records import sqs_record
    from presence import clock, store
    from presence.lifecycle import Connection, PresenceState
    from presence.messages import PostJob, decode_job
    from presence.models import StatusType
    from presence.store import status_item
    from presence.store._dynamo import batch_write
    from presence.store.subscriptions import subscription_item

    with moto_account("bench-key"):
        # --- who hears the change: n subscribers, one live connection each
        started = time.perf_counter()
        now = clock.now_ms()
        web = Connection("web", now - 60_000)
        status_items = [
            status_item.to_item(
                PresenceState(
                    f"fan{i:06d}",
                    StatusType.ONLINE,
                    connections={f"c{i:06d}=": web},
                    version=store.first_version(now) + 1,
                )
            )
            for i in range(n)
        ]
        batch_write(
            os.environ["STATUS_TABLE"], [{"PutRequest": {"Item": item}} for item in status_items]
        )
        # the items presence.store.write_subscriptions writes, in bulk
        star = store.Subscription("star", 1)
        batch_write(
            os.environ["SUBSCRIPTIONS_TABLE"],
            [{"PutRequest": {"Item": subscription_item(f"fan{i:06d}", star, 1)}} for i in range(n)],
        )
        seeded_s = time.perf_counter() - started

        # --- probes: posts recorded, DynamoDB requests counted, CPU inside moto subtracted
        frames: Counter[str] = Counter()
        lock = threading.Lock()

        def record(connection_id: str, data: bytes) -> bool:
            with lock:
                frames[connection_id] += 1
            return True

        store.post_to_connection = record
        requests: Counter[str] = Counter()
        original_call = DynamoHandler.call_action

        def counting(self: DynamoHandler) -> Any:
            requests[self.headers.get("X-Amz-Target", "").split(".")[-1]] += 1
            return original_call(self)

        DynamoHandler.call_action = counting  # type: ignore[method-assign]
        in_moto = threading.local()
        original_stub = BotocoreStubber.__call__

        def timed_stub(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
            begun = time.thread_time()
            try:
                return original_stub(self, event_name, request, **kwargs)
            finally:
                in_moto.cpu = getattr(in_moto, "cpu", 0.0) + time.thread_time() - begun

        BotocoreStubber.__call__ = timed_stub  # type: ignore[method-assign]

        def invoke(function_dir: str, event: dict[str, Any]) -> tuple[Any, float, float]:
            """(result, wall seconds, CPU seconds outside moto, this thread)."""
            module = handler_module(function_dir)
            in_moto.cpu = 0.0
            wall, cpu = time.perf_counter(), time.thread_time()
            result = module.lambda_handler(event, lambda_context(function_dir, 1024))
            cpu = time.thread_time() - cpu - in_moto.cpu
            return result, time.perf_counter() - wall, cpu

        # --- the change
        stream = StatusStream(os.environ["STATUS_TABLE"])
        stream.skip()
        handler_module("set_self_status")
        from presence.auth import gen_user_sig

        event = json.loads((ROOT / "events" / "set_self_status.json").read_text())
        event["headers"]["authorization"] = "Bearer " + gen_user_sig(
            1400000000, "bench-key", "star"
        )
        event["body"] = json.dumps({"customStatus": "live now"})
        requests.clear()
        reply, _, _ = invoke("set_self_status", event)
        version = json.loads(reply["body"])["data"]["version"]

        consumer, consumer_wall, consumer_cpu = invoke("status_fanout", {"Records": stream.take()})
        assert consumer == {"batchItemFailures": []}, consumer
        sqs = boto3.client("sqs")
        url = os.environ["DELIVERY_QUEUE_URL"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        invocations: list[dict[str, Any]] = []
        kinds: Counter[str] = Counter()
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            for m in messages:
                kinds["post" if isinstance(decode_job(m["Body"]), PostJob) else "page"] += 1
            records = [sqs_record(m, arn) for m in messages]
            before = sum(frames.values())
            result, wall, cpu = invoke("status_delivery", {"Records": records})
            assert result == {"batchItemFailures": []}, result
            for m in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            invocations.append(
                {
                    "jobs": len(messages),
                    "posts": sum(frames.values()) - before,
                    "wall_s": round(wall, 3),
                    "cpu_s": round(cpu, 4),
                }
            )
        expected = {f"c{i:06d}=" for i in range(n)}
        misses = len(expected - set(frames))
        duplicates = sum(count - 1 for count in frames.values() if count > 1)
        posts = sum(frames.values())
        return {
            "connections": n,
            "seeded_s": round(seeded_s, 1),
            "version": version,
            "misses": misses,
            "duplicates": duplicates,
            "posts": posts,
            "jobs": dict(kinds),
            "invocations": {"StatusFanoutFunction": 1, "StatusDeliveryFunction": len(invocations)},
            "dynamodb_requests": dict(requests),
            "stream_consumer": {"wall_s": round(consumer_wall, 3), "cpu_s": round(consumer_cpu, 4)},
            "delivery": invocations,
            "projection": project(n, posts, kinds, consumer_cpu, invocations, requests),
        }


def project(
    n: int,
    posts: int,
    kinds: Counter[str],
    consumer_cpu: float,
    invocations: list[dict[str, Any]],
    requests: Counter[str],
) -> dict[str, Any]:
    """AWS wall time from the measured CPU, Lambda's CPU-per-memory rule, the concurrency and
    the account's @connections throttle. Network waits are the assumed AWS_CALL_MS per call."""
    from presence import delivery

    post_ms = post_cpu_ms()
    code_cpu = sum(i["cpu_s"] for i in invocations)
    post_cpu = posts * post_ms / 1000
    delivery_cpu = code_cpu + post_cpu
    pages = kinds.get("page", 0)
    per_page_s = (2 * AWS_CALL_MS + QUEUE_HOP_MS) / 1000  # Query, send the next page, the hop
    cpu_bound_s = delivery_cpu / (DELIVERY_CONCURRENCY * VCPU["StatusDeliveryFunction"])
    throttle_s = posts / ACCOUNT_POSTS_PER_SECOND
    poll_s = STREAM_POLL_MS / 1000
    consumer_s = consumer_cpu / VCPU["StatusFanoutFunction"] + 4 * AWS_CALL_MS / 1000
    hop_s = QUEUE_HOP_MS / 1000
    total_s = poll_s + consumer_s + max(cpu_bound_s, throttle_s, pages * per_page_s) + hop_s
    # the first recipient: the first post job's reads, then its first post
    first_s = poll_s + consumer_s + hop_s + 2 * AWS_CALL_MS / 1000 + post_ms / 1000
    raised_cpu_s = delivery_cpu / (RAISED_CONCURRENCY * RAISED_VCPU)
    raised_throttle_s = posts / RAISED_POSTS_PER_SECOND
    raised_s = (
        poll_s + consumer_s + max(raised_cpu_s, raised_throttle_s, pages * per_page_s) + hop_s
    )
    return {
        "connections": n,
        "posts": posts,
        "jobs": dict(kinds),
        "delivery_invocations": len(invocations),
        "dynamodb_requests": sum(requests.values()),
        "stream_consumer_cpu_s": round(consumer_cpu, 3),
        "delivery_cpu_s_code": round(code_cpu, 2),
        "delivery_cpu_s_posts": round(post_cpu, 2),
        "projected_stream_consumer_s": round(consumer_s, 2),
        "projected_cpu_bound_s": round(cpu_bound_s, 2),
        "projected_throttle_bound_s": round(throttle_s, 2),
        "projected_page_chain_s": round(pages * per_page_s, 2),
        "projected_last_recipient_s": round(total_s, 2),
        "projected_first_recipient_s": round(first_s, 2),
        "post_cpu_ms": post_ms,
        "stream_poll_s": poll_s,
        "raised_quota": {
            "posts_per_second": RAISED_POSTS_PER_SECOND,
            "concurrency": RAISED_CONCURRENCY,
            "memory_mb": 1769,
            "projected_cpu_bound_s": round(raised_cpu_s, 2),
            "projected_throttle_bound_s": round(raised_throttle_s, 2),
            "projected_last_recipient_s": round(raised_s, 2),
        },
        "method": (
            f"stream poll {STREAM_POLL_MS} ms + consumer CPU / {VCPU['StatusFanoutFunction']:.3f} "
            f"vCPU; delivery = max(CPU (code + {post_ms} ms per post) / ({DELIVERY_CONCURRENCY} x "
            f"{VCPU['StatusDeliveryFunction']:.3f} vCPU), posts / {ACCOUNT_POSTS_PER_SECOND}/s, "
            f"pages x ({2 * AWS_CALL_MS} ms calls + {QUEUE_HOP_MS} ms hop)) + one hop; "
            f"page size {delivery.PAGE_SIZE}, jobs of <= {delivery.JOB_MAX_CONNECTIONS}"
        ),
    }


if __name__ == "__main__":
    main()
