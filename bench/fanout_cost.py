"""Fan-out cost of ONE status change, by number of subscribers and of unrelated users.

A target user (online, one connection) calls setSelfStatus through the real handler; the records
that write put on moto's Status stream are handed to the real status_fanout handler. Counted:
DynamoDB requests by operation and items those requests returned (GetItem, BatchGetItem, Query),
@connections posts, timer messages. Each subscriber has one live connection; the unrelated users
each have their own connection, a custom status now and then, and a subscription to another
unrelated user. The figures must grow with the recipients only: the same with 10,000 or 100,000
unrelated users.

Run: PYTHONPATH=layers/presence:. .venv/bin/python -m bench.fanout_cost [--unrelated 10000,100000]
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import time
from typing import Any

from bench import _harness as h

TARGET = "target"
UNRELATED = (10_000, 100_000)
SUBSCRIBERS = (10, 1_000, 10_000)


def measure_world(unrelated: int, subscriber_counts: tuple[int, ...]) -> dict[str, Any]:
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with h.aws_world(capacity=False) as world:
        recorder = world.recorder
        assert recorder is not None
        now = recorder.clock.now
        users = [f"u{i:06d}" for i in range(unrelated)]
        t0 = time.perf_counter()
        h.seed_online_users(
            world,
            users,
            now,
            subscribe_to=lambda i, _u: [users[(i + 1) % unrelated]],
            custom_status=lambda i: "in a meeting" if i % 10 == 0 else "",
        )
        seed_unrelated_s = time.perf_counter() - t0
        h.seed_online_users(world, [TARGET], now)
        world.restart_stream()

        # warm-up, as a running function would be: handler modules, clients, secret, settings
        world.http("set_self_status", users[0], {"customStatus": "warm"})
        world.fanout()

        have = 0
        for count in subscriber_counts:
            t0 = time.perf_counter()
            new = [f"s{i:05d}" for i in range(have, count)]
            h.seed_online_users(world, new, now, subscribe_to=lambda _i, _u: [TARGET])
            have = count
            seed_subscribers_s = time.perf_counter() - t0

            world.restart_stream()  # skip the seeding writes' records
            world.frames.clear()
            t0 = time.perf_counter()
            with recorder.measure() as usage:
                world.http("set_self_status", TARGET, {"customStatus": f"{count} are watching"})
                world.fanout()
            run_s = time.perf_counter() - t0

            # the measurement is only worth something if the pushes really happened
            expected = {f"c-s{i:05d}" for i in range(count)} | {f"c-{TARGET}"}
            assert set(world.frames) == expected, "pushes went to the wrong connections"
            assert all(n == 1 for n in world.frames.values()), "a connection got two frames"

            row = {
                "unrelated_users": unrelated,
                "subscribers": count,
                **usage.as_dict(),
                "seed_subscribers_s": round(seed_subscribers_s, 2),
                "moto_run_s": round(run_s, 2),
            }
            rows.append(row)
            print(
                f"  unrelated={unrelated:>7,} subscribers={count:>6,}: "
                f"{row['dynamodb_requests']} items read {row['items_read']:,} "
                f"posts {row['ws_posts']:,} ({run_s:.1f} s in moto)",
                flush=True,
            )
    return {
        "unrelated_users": unrelated,
        "seed_unrelated_s": round(seed_unrelated_s, 1),
        "seeded_items": unrelated * 3 + 2 + have * 3,
        "world_s": round(time.perf_counter() - started, 1),
        "rows": rows,
    }


def expected_requests(subscribers: int) -> dict[str, int]:
    """What the design promises (fanout.py docstring): 1 UpdateItem (setSelfStatus), 1 strongly
    consistent BatchGetItem of the changed user, 1 byTarget Query page, ceil(S/100) BatchGetItem
    for the subscribers' Status items."""
    return {
        "UpdateItem": 1,
        "BatchGetItem": 1 + math.ceil(subscribers / 100),
        "Query": 1,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unrelated", default=",".join(map(str, UNRELATED)))
    parser.add_argument("--subscribers", default=",".join(map(str, SUBSCRIBERS)))
    args = parser.parse_args(argv)
    unrelated_counts = tuple(int(x) for x in args.unrelated.split(","))
    subscriber_counts = tuple(int(x) for x in args.subscribers.split(","))

    started = time.perf_counter()
    worlds = []
    for unrelated in unrelated_counts:
        print(f"fanout_cost: seeding {unrelated:,} unrelated users ...", flush=True)
        world = measure_world(unrelated, subscriber_counts)
        print(
            f"  seeded {unrelated:,} unrelated users ({unrelated * 3:,} items) in "
            f"{world['seed_unrelated_s']} s; world total {world['world_s']} s",
            flush=True,
        )
        worlds.append(world)

    comparable = (
        "dynamodb_requests",
        "items_read",
        "ws_posts",
        "sqs_messages",
        "lambda_invocations",
    )
    by_subscribers: dict[int, list[dict[str, Any]]] = {}
    for world in worlds:
        for row in world["rows"]:
            by_subscribers.setdefault(row["subscribers"], []).append(row)
    identical = {
        str(s): all(
            {k: r[k] for k in comparable} == {k: rows[0][k] for k in comparable} for r in rows
        )
        for s, rows in by_subscribers.items()
    }
    matches_design = {
        str(s): all(r["dynamodb_requests"] == expected_requests(s) for r in rows)
        for s, rows in by_subscribers.items()
    }

    header = (
        f"{'unrelated':>10} {'subscribers':>11} {'UpdateItem':>10} {'BatchGetItem':>12} "
        f"{'Query':>5} {'requests':>8} {'items read':>10} {'posts':>6} {'timers':>6}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for world in worlds:
        for r in world["rows"]:
            d = r["dynamodb_requests"]
            print(
                f"{r['unrelated_users']:>10,} {r['subscribers']:>11,} {d.get('UpdateItem', 0):>10} "
                f"{d.get('BatchGetItem', 0):>12} {d.get('Query', 0):>5} "
                f"{r['dynamodb_requests_total']:>8} {r['items_read']:>10,} {r['ws_posts']:>6,} "
                f"{r['sqs_messages']:>6}"
            )
    print(
        f"identical with {' vs '.join(f'{u:,}' for u in unrelated_counts)} unrelated: {identical}"
    )
    print(f"equal to the design's formula: {matches_design}")

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "benchmark": "fanout_cost",
        "date": h.utc_now(),
        "machine": h.machine(),
        "setup": {
            "target": "one user, ONLINE with one live web connection, calls setSelfStatus",
            "subscribers": (
                "each ONLINE with one live web connection and a subscription to the target"
            ),
            "unrelated_users": (
                "each ONLINE with one live web connection (Status + Connections items), "
                "every 10th with a custom status, and one subscription to another unrelated user"
            ),
            "settings": (
                "defaults (ultimate edition, statusQueryAndNotify on, friendStatusNotify off); "
                "settings cache warm"
            ),
            "seeding": "BatchWriteItem directly (25 items a call) into moto, in-process mock_aws",
            "counted": "requests through presence.store's DynamoDB client (after-call hook); items "
            "read = items returned by GetItem/BatchGetItem/Query; posts = calls of "
            "presence.store.post_to_connection",
        },
        "expected_requests": {str(s): expected_requests(s) for s in subscriber_counts},
        "identical_across_unrelated": identical,
        "matches_design_formula": matches_design,
        "worlds": worlds,
        "total_s": round(time.perf_counter() - started, 1),
        "peak_rss_mib": round(peak_mib),
    }
    path = h.write_result("fanout_cost", result)
    where = path.relative_to(h.ROOT)
    print(f"wrote {where} ({result['total_s']} s, peak RSS {result['peak_rss_mib']} MiB)")
    return 0 if all(identical.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
