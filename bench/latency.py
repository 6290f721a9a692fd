"""Push latency through the local runtime: one change to 100, 1,000 and 10,000 connections, and
what a 10,000-connection delivery does to another user's push.

The real `python -m local.runtime` runs as a subprocess (local.runner); this process is every
client: one WebSocket connection per subscriber (asyncio `websockets`, a beat every 30 s as the
SDKs send at the default liveness timeout, so no client is timed out) and the HTTP calls
(aiohttp). Nothing is mocked between the HTTP API, moto's Status stream, the stream consumer,
the DeliveryQueue and the delivery function, and the @connections posts to the sockets.

1. Audiences: one publisher (ONLINE) and N subscribers, each its own user with one web
   connection and a subscription (written into the table as subscribeUserStatus writes it:
   local.runner.seed_subscriptions; 10,000 API calls would take minutes here). Each change is a
   setSelfStatus with a new customStatus; the next starts once every subscriber has it (or after
   60 s) and a random 0-100 ms pause. Per change: the first and the last recipient's arrival
   after the HTTP response; per (recipient, change) the same. Misses (a connection that never
   got a change), duplicates (a version received twice on one connection) and reorderings (an
   older version after a newer one) are counted; all three must be 0.
2. Interference: another user with 1 subscriber changes its status while the 10,000-connection
   change is still being delivered (0.2, 1, 2 and 4 s after its response); its push latency
   against the same change made while nothing else is delivered. Goal: not delayed > 1 s.

Run: PYTHONPATH=layers/presence:. .venv/bin/python -m bench.latency
     [--sizes 100,1000,10000] [--changes 20,10,5]     writes bench/results/latency.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from bench.common import machine, percentile, utc_now, write_result
from local.lambdas import DEFAULT_WORKERS
from local.runner import (
    Runtime,
    queued_messages,
    seed_subscriptions,
    start_runtime,
    stop_runtime,
)
from presence.auth import gen_user_sig

SDKAPPID = 1400000000
SECRET_KEY = "bench-latency-secret-key-0123456789abcdef"
EVENT = "onUserStatusUpdated"
SETUP_CONCURRENCY = 32  # handshakes / subscribe calls in flight while setting up
PUSH_TIMEOUT_SECONDS = 60.0
BEAT_EVERY_SECONDS = 30.0  # pong's heartbeatSeconds at the default 90 s liveness timeout
VERIFY_DELAY_SECONDS = 31.0  # each connect is checked 30 s later (a timer): let those pass
INTERFERENCE_OFFSETS = (0.2, 1.0, 2.0, 4.0)
IDLE_SAMPLES = 20


def log(message: str) -> None:
    print(message, flush=True)


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {"n": 0}
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
    }


_SIGS: dict[str, str] = {}


def user_sig(user_id: str) -> str:
    if user_id not in _SIGS:
        _SIGS[user_id] = gen_user_sig(SDKAPPID, SECRET_KEY, user_id, 6 * 3600)
    return _SIGS[user_id]


# ----------------------------------------------------------------------------------- clients


class Api:
    """The HTTP API as an app calls it (aiohttp, keep-alive)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=120)
        )

    async def call(self, path: str, user: str, body: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {user_sig(user)}"}
        async with self.session.post(f"{self.base_url}{path}", json=body, headers=headers) as r:
            payload = await r.json(content_type=None)
        if r.status != 200 or payload.get("code") != 0:
            raise RuntimeError(f"{path} as {user}: HTTP {r.status} {payload}")
        return dict(payload.get("data") or {})

    async def set_status(self, user: str, value: str) -> float:
        """setSelfStatus; the moment its response arrived."""
        await self.call("/v1/setSelfStatus", user, {"customStatus": value})
        return time.monotonic()

    async def subscribe(self, user: str, target: str) -> None:
        data = await self.call("/v1/subscribeUserStatus", user, {"userIDList": [target]})
        if data.get("failureUserList"):
            raise RuntimeError(f"subscribe {user} -> {target}: {data}")


@dataclass
class Tally:
    """Every status push received, by (userID, customStatus): when, on how many connections."""

    times: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    duplicates: int = 0
    reordered: int = 0
    waiters: dict[tuple[str, str], tuple[int, asyncio.Future[None]]] = field(default_factory=dict)

    def arrived(self, key: tuple[str, str], at: float) -> None:
        times = self.times[key]
        times.append(at)
        waiter = self.waiters.get(key)
        if waiter is not None and len(times) >= waiter[0] and not waiter[1].done():
            waiter[1].set_result(None)

    async def wait(self, key: tuple[str, str], count: int) -> list[float]:
        """The arrival times of `key` once `count` connections have it (or at the timeout)."""
        if len(self.times[key]) < count:
            future = asyncio.get_running_loop().create_future()
            self.waiters[key] = (count, future)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(future, PUSH_TIMEOUT_SECONDS)
            self.waiters.pop(key, None)
        return list(self.times[key])


@dataclass(eq=False)
class Conn:
    ws: ClientConnection
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)  # userID -> newest version seen


async def _read(conn: Conn, tally: Tally) -> None:
    with contextlib.suppress(Exception):
        async for raw in conn.ws:
            at = time.monotonic()
            frame = json.loads(raw)
            if frame.get("event") != EVENT:
                continue
            for status in frame["data"]:
                user, version = status["userID"], int(status["version"])
                newest = conn.versions.get(user, -1)
                if version <= newest:
                    tally.duplicates += version == newest
                    tally.reordered += version < newest
                    continue
                conn.versions[user] = version
                tally.arrived((user, status["customStatus"]), at)


async def _ping(conn: Conn) -> None:
    with contextlib.suppress(Exception):
        await asyncio.sleep(random.uniform(0, BEAT_EVERY_SECONDS))
        while True:
            await conn.ws.send('{"action":"beat"}')
            await asyncio.sleep(BEAT_EVERY_SECONDS)


async def open_conn(ws_url: str, user: str, tally: Tally) -> Conn:
    ws = await ws_connect(
        f"{ws_url}/?userSig={user_sig(user)}&platform=web",
        open_timeout=120,
        close_timeout=2,
        ping_interval=None,
        max_queue=None,
    )
    conn = Conn(ws)
    conn.tasks = [asyncio.create_task(_read(conn, tally)), asyncio.create_task(_ping(conn))]
    return conn


async def bounded(items: Iterable[Any], work: Callable[[Any], Awaitable[Any]]) -> list[Any]:
    semaphore = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(item: Any) -> Any:
        async with semaphore:
            return await work(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


async def settle(runtime: Runtime, last_connect: float, quiet: float = 1.5) -> float:
    """Wait until the connects' 30 s checks have run, the timers and delivery queues are empty
    (twice, a second apart) and the runtime's log stopped growing."""
    started = time.monotonic()
    await asyncio.sleep(max(0.0, last_connect + VERIFY_DELAY_SECONDS - time.monotonic()))
    empty = 0
    while empty < 2 and time.monotonic() - started < 600:
        empty = (
            empty + 1
            if await asyncio.to_thread(queued_messages, runtime, delayed=False) == 0
            else 0
        )
        await asyncio.sleep(1.1)
    size, since = -1, time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() - started < 600:
        if (now_size := runtime.log_path.stat().st_size) != size:
            size, since = now_size, time.monotonic()
        await asyncio.sleep(0.2)
    return time.monotonic() - started


# ------------------------------------------------------------------------------------ phases


async def one_change(
    api: Api, tally: Tally, publisher: str, value: str, audience: int
) -> tuple[float, list[float]]:
    """(response time, arrival times) of one setSelfStatus to `audience` connections."""
    answered = await api.set_status(publisher, value)
    return answered, await tally.wait((publisher, value), audience)


async def probe(
    api: Api, bystander: tuple[str, Tally] | None, offset: float, value: str
) -> tuple[float, list[float]]:
    """The other user's change `offset` s from now, to its one subscriber."""
    assert bystander is not None
    await asyncio.sleep(offset)
    return await one_change(api, bystander[1], bystander[0], value, 1)


async def audience_phase(
    api: Api,
    tally: Tally,
    publisher: str,
    size: int,
    changes: int,
    bystander: tuple[str, Tally] | None,
) -> dict[str, Any]:
    first: list[float] = []
    last: list[float] = []
    every: list[float] = []
    during: list[float] = []
    overlapped = 0
    missed = 0
    for i in range(changes):
        await asyncio.sleep(random.uniform(0.0, 0.1))
        value = f"n{size}-c{i}"
        probes = [
            asyncio.create_task(probe(api, bystander, offset, f"{value}-by{n}"))
            for n, offset in enumerate(INTERFERENCE_OFFSETS if bystander else ())
        ]
        answered, times = await one_change(api, tally, publisher, value, size)
        missed += size - len(times)
        if times:
            first.append(min(times) - answered)
            last.append(max(times) - answered)
            every += [t - answered for t in times]
        for task in probes:
            probe_answered, probe_times = await task
            missed += 1 - len(probe_times)
            if probe_times and times and probe_answered < max(times):
                during.append(probe_times[0] - probe_answered)  # made while delivering
                overlapped += 1
    result = {
        "connections": size,
        "changes": changes,
        "first_recipient": summary_ms(first),
        "last_recipient": summary_ms(last),
        "every_recipient": summary_ms(every),
        "misses": missed,
    }
    if bystander is not None:
        result["other_user"] = {
            "push": summary_ms(during),
            "changes_made_while_delivering": overlapped,
        }
    return result


async def run(sizes: list[int], changes: list[int], runtime: Runtime) -> dict[str, Any]:
    api = Api(runtime.http_url)
    tally, other = Tally(), Tally()
    conns: list[Conn] = []
    try:
        publisher, bystander, watcher = "lat-pub", "lat-other", "lat-other-sub"
        conns.append(await open_conn(runtime.ws_url, publisher, Tally()))
        conns.append(await open_conn(runtime.ws_url, bystander, Tally()))
        conns.append(await open_conn(runtime.ws_url, watcher, other))
        await api.subscribe(watcher, bystander)
        last_connect = time.monotonic()
        await settle(runtime, last_connect)
        idle = []
        for i in range(IDLE_SAMPLES):
            await asyncio.sleep(random.uniform(0.05, 0.15))
            answered, times = await one_change(api, other, bystander, f"idle-{i}", 1)
            idle += [times[0] - answered] if times else []
        log(f"  other user, nothing else delivered: {summary_ms(idle)}")
        phases = []
        have = 0
        for size, count in zip(sizes, changes, strict=True):
            users = [f"lat-sub{i:05d}" for i in range(have, size)]
            t0 = time.monotonic()
            conns += await bounded(users, lambda u: open_conn(runtime.ws_url, u, tally))
            t1 = time.monotonic()
            await asyncio.to_thread(seed_subscriptions, runtime, [(u, publisher) for u in users])
            t2 = time.monotonic()
            settle_s = await settle(runtime, t1)
            have = size
            log(f"  {size:,} connections ready; measuring {count} changes")
            probed = (bystander, other) if size == sizes[-1] else None
            phase = await audience_phase(api, tally, publisher, size, count, probed)
            phase["setup"] = {
                "connects_per_s": round(len(users) / (t1 - t0), 1) if users else None,
                "subscriptions_seeded_per_s": round(len(users) / (t2 - t1), 1) if users else None,
                "settle_s": round(settle_s, 1),
            }
            phases.append(phase)
            log(f"  {json.dumps(phase)}")
        return {
            "other_user_idle": summary_ms(idle),
            "audiences": phases,
            "duplicates": tally.duplicates + other.duplicates,
            "reordered": tally.reordered + other.reordered,
        }
    finally:
        stop_runtime(runtime)  # first: it closes the sockets without $disconnect
        for conn in conns:
            for task in conn.tasks:
                task.cancel()
        await asyncio.gather(*(c.ws.close() for c in conns), return_exceptions=True)
        await api.session.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--changes", default="20,10,5")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    changes = [int(x) for x in args.changes.split(",")]
    if len(changes) != len(sizes) or sizes != sorted(sizes):
        raise SystemExit("--sizes must increase and --changes must have one count per size")
    random.seed(7)
    started = time.perf_counter()
    log(f"latency: audiences {sizes}, changes {changes}")
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        log_path = Path(tmp) / "runtime.log"
        runtime = start_runtime(log_path, secret_key=SECRET_KEY, sdkappid=SDKAPPID)
        try:
            measured = asyncio.run(run(sizes, changes, runtime))
        except BaseException:
            tail = log_path.read_text(errors="replace").splitlines()[-40:]
            print("runtime log (last 40 lines):\n" + "\n".join(tail), file=sys.stderr)
            raise
    result = {
        "benchmark": "latency",
        "date": utc_now(),
        "machine": machine(),
        "runtime_ready_s": runtime.ready_s,
        "workers": DEFAULT_WORKERS,  # PRESENCE_WORKERS unset
        "delivery_pollers": min(16, DEFAULT_WORKERS // 2),  # local/runtime.py
        **measured,
        "interference_offsets_s": list(INTERFERENCE_OFFSETS),
        "total_s": round(time.perf_counter() - started, 1),
    }
    path = write_result("latency", result)
    log(f"wrote {path} ({result['total_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
