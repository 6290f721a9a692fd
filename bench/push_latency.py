"""Push latency and sustained setSelfStatus throughput through the local runtime, end to end.

The real `python -m local.runtime` runs as a subprocess on free ports with a known secret key;
this process is every client: one WebSocket connection per subscriber (asyncio + websockets) and
the HTTP calls (aiohttp). Nothing is mocked between the HTTP API, moto's Status stream, the stream
poller, the status_fanout handler and the @connections posts to the sockets.

1. Latency: one publisher (ONLINE, one web connection) and 1, 100, 1,000 subscribers (each its
   own user with one web connection and one subscription to the publisher, made with the real
   subscribeUserStatus). Each change is one setSelfStatus with a new customStatus; the next one
   starts after every subscriber got the push and a random 0-100 ms pause (so changes do not
   lock in phase with the stream poller's 50/100 ms polls). Measured per (subscriber, change):
   push arrival minus the moment the HTTP response arrived; per change: the LAST subscriber.
2. Throughput: 10 publishers with 10 subscribers each; N HTTP clients call setSelfStatus back to
   back for 20 s (each publisher written by one client, so its last response is its final
   value). Reported: requests/s, HTTP latency, push latency under load, how many changes were
   pushed (the fan-out coalesces changes of one user within a stream batch), and the lag at the
   end: from the last response until every subscriber holds its publisher's final value.

Run: PYTHONPATH=layers/presence:. .venv/bin/python -m bench.push_latency
     [--sizes 1,100,1000] [--changes 50,50,20] [--clients 10] [--seconds 20]
Writes bench/results/push_latency.json. `bench.fanout_scale` reuses the runtime and client helpers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from presence.auth import gen_user_sig

ROOT = Path(__file__).resolve().parents[1]
SDKAPPID = 1400000000
SECRET_KEY = "bench-runtime-secret-key-0123456789abcdef"
ADMIN = "administrator"
EVENT = "onUserStatusUpdated"
READY_TIMEOUT_SECONDS = 120
SIG_EXPIRE_SECONDS = 6 * 3600
SETUP_CONCURRENCY = 32  # WebSocket handshakes / subscribe calls in flight while setting up
PUSH_TIMEOUT_SECONDS = 60.0

SIZES = (1, 100, 1_000)
CHANGES = (50, 50, 20)
THROUGHPUT_PUBLISHERS = 10
THROUGHPUT_SUBSCRIBERS_EACH = 10
THROUGHPUT_CLIENTS = 10
THROUGHPUT_SECONDS = 20.0


def log(message: str) -> None:
    print(message, flush=True)


# ------------------------------------------------------------------------------- the runtime


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Runtime:
    process: subprocess.Popen[bytes]
    log_path: Path
    http_url: str
    ws_url: str
    ready_s: float

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def runtime_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "presence"), str(ROOT)]),
        "PRESENCE_SECRET_KEY": SECRET_KEY,
        "PRESENCE_SDKAPPID": str(SDKAPPID),
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env


def start_runtime(
    log_path: Path, module_args: Sequence[str] = ("local.runtime",), **extra_env: str
) -> Runtime:
    """`python -m <module_args>` (the local runtime, or a wrapper of it) on free ports; returns
    once it printed its `ready` line."""
    http_port, ws_port = free_port(), free_port()
    env = runtime_env(
        PRESENCE_HTTP_PORT=str(http_port),
        PRESENCE_WS_PORT=str(ws_port),
        PRESENCE_DEMO_PORT=str(free_port()),  # the web demo's, never the default 3002
        **extra_env,
    )
    started = time.monotonic()
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *module_args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    runtime = Runtime(
        process, log_path, f"http://127.0.0.1:{http_port}", f"ws://127.0.0.1:{ws_port}", 0.0
    )
    while time.monotonic() - started < READY_TIMEOUT_SECONDS:
        if any(line.startswith("[local] ready") for line in runtime.log_text().splitlines()):
            runtime.ready_s = round(time.monotonic() - started, 2)
            return runtime
        if process.poll() is not None:
            raise RuntimeError(
                f"the runtime exited with {process.returncode}:\n{runtime.log_text()}"
            )
        time.sleep(0.1)
    stop_runtime(runtime)
    raise RuntimeError(f"the runtime was not ready in {READY_TIMEOUT_SECONDS} s")


def stop_runtime(runtime: Runtime) -> int:
    """SIGTERM (the runtime closes every socket without $disconnect), then wait."""
    if runtime.process.poll() is None:
        runtime.process.send_signal(signal.SIGTERM)
        try:
            runtime.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            runtime.process.kill()
            runtime.process.wait()
    return int(runtime.process.returncode)


def rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB, from /proc."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in values:
                values[name] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


_SIGS: dict[str, str] = {}


def user_sig(user_id: str) -> str:
    sig = _SIGS.get(user_id)
    if sig is None:
        sig = _SIGS[user_id] = gen_user_sig(SDKAPPID, SECRET_KEY, user_id, SIG_EXPIRE_SECONDS)
    return sig


# ------------------------------------------------------------------------------ statistics


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, Any]:
    """p50 / p90 / p99 / min / max / mean in milliseconds, and the sample size."""
    if not seconds:
        return {"n": 0}
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 1),
        "p90_ms": round(percentile(ms, 90), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "min_ms": round(min(ms), 1),
        "max_ms": round(max(ms), 1),
        "mean_ms": round(statistics.fmean(ms), 1),
    }


# ---------------------------------------------------------------------------------- clients


class ApiError(Exception):
    pass


class Api:
    """The HTTP API as an app calls it (aiohttp, keep-alive)."""

    def __init__(self, base_url: str, limit: int = 64) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit),
            timeout=aiohttp.ClientTimeout(total=120),
        )

    async def close(self) -> None:
        await self.session.close()

    async def call(self, path: str, user: str, body: Any) -> dict[str, Any]:
        async with self.session.post(
            f"{self.base_url}{path}",
            data=json.dumps(body),
            headers={
                "Authorization": f"Bearer {user_sig(user)}",
                "Content-Type": "application/json",
            },
        ) as response:
            payload = await response.json(content_type=None)
        if response.status != 200 or payload.get("code") != 0:
            raise ApiError(f"{path} as {user}: HTTP {response.status} {payload}")
        return dict(payload.get("data") or {})

    async def set_self_status(self, user: str, custom_status: str) -> dict[str, Any]:
        return await self.call("/v1/setSelfStatus", user, {"customStatus": custom_status})

    async def subscribe(self, user: str, targets: list[str]) -> None:
        data = await self.call("/v1/subscribeUserStatus", user, {"userIDList": targets})
        if data.get("failureUserList"):
            raise ApiError(f"subscribe {user} -> {targets}: {data}")

    async def settings(self) -> dict[str, Any]:
        return await self.call("/v1/admin/getSettings", ADMIN, {})

    async def update_settings(self, patch: dict[str, Any]) -> dict[str, Any]:
        return await self.call("/v1/admin/updateSettings", ADMIN, patch)


class Arrivals:
    """When each (userID, customStatus) push reached each connection (time.monotonic(), which
    is CLOCK_MONOTONIC: comparable across processes on Linux)."""

    def __init__(self) -> None:
        self.times: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.duplicates = 0
        self._waiters: dict[tuple[str, str], tuple[int, asyncio.Future[None]]] = {}

    def record(self, seen: set[tuple[str, str]], frame: dict[str, Any], at: float) -> None:
        if frame.get("event") != EVENT:
            return
        for status in frame.get("data") or []:
            key = (str(status.get("userID")), str(status.get("customStatus")))
            if key in seen:
                self.duplicates += 1
                continue
            seen.add(key)
            times = self.times[key]
            times.append(at)
            waiter = self._waiters.get(key)
            if waiter is not None and len(times) >= waiter[0] and not waiter[1].done():
                waiter[1].set_result(None)

    async def wait(self, key: tuple[str, str], count: int, timeout: float) -> list[float]:
        """The arrival times of `key` once `count` connections have it (or at the timeout)."""
        if len(self.times[key]) < count:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters[key] = (count, future)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(future, timeout)
            self._waiters.pop(key, None)
        return list(self.times[key])


@dataclass(eq=False)
class Conn:
    user_id: str
    ws: ClientConnection
    reader: asyncio.Task[None] | None = None
    seen: set[tuple[str, str]] = field(default_factory=set)


async def _read(conn: Conn, arrivals: Arrivals) -> None:
    with contextlib.suppress(Exception):
        async for raw in conn.ws:
            at = time.monotonic()
            arrivals.record(conn.seen, json.loads(raw), at)


async def open_conn(ws_url: str, user_id: str, arrivals: Arrivals, platform: str = "web") -> Conn:
    ws = await ws_connect(
        f"{ws_url}/?userSig={user_sig(user_id)}&platform={platform}",
        open_timeout=120,
        close_timeout=2,
        ping_interval=None,  # no client pings: they would only add load (server autopings)
        max_queue=None,
    )
    conn = Conn(user_id, ws)
    conn.reader = asyncio.create_task(_read(conn, arrivals))
    return conn


async def bounded(
    items: Iterable[Any], work: Callable[[Any], Awaitable[Any]], concurrency: int
) -> list[Any]:
    """`work(item)` for every item, at most `concurrency` at a time, results in order."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> Any:
        async with semaphore:
            return await work(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


async def close_all(conns: Iterable[Conn]) -> None:
    for conn in conns:
        if conn.reader is not None:
            conn.reader.cancel()
    await asyncio.gather(*(c.ws.close() for c in conns), return_exceptions=True)


async def wait_quiet(runtime: Runtime, seconds: float = 1.5, limit: float = 120.0) -> float:
    """Wait until the runtime's log has not grown for `seconds` (the connects' own fan-outs and
    timers are done); returns how long that took."""
    started = time.monotonic()
    size, since = -1, time.monotonic()
    while time.monotonic() - started < limit:
        now_size = runtime.log_path.stat().st_size
        if now_size != size:
            size, since = now_size, time.monotonic()
        elif time.monotonic() - since >= seconds:
            break
        await asyncio.sleep(0.2)
    return time.monotonic() - started


# ------------------------------------------------------------------------------- 1. latency


async def add_subscribers(
    api: Api,
    ws_url: str,
    arrivals: Arrivals,
    publisher: str,
    user_ids: list[str],
) -> tuple[list[Conn], float, float]:
    """Connect each user, then subscribe it to `publisher`; (conns, connect s, subscribe s)."""
    t0 = time.monotonic()
    conns = await bounded(user_ids, lambda u: open_conn(ws_url, u, arrivals), SETUP_CONCURRENCY)
    t1 = time.monotonic()
    await bounded(user_ids, lambda u: api.subscribe(u, [publisher]), SETUP_CONCURRENCY)
    return conns, t1 - t0, time.monotonic() - t1


async def latency_phase(
    api: Api,
    subs: Arrivals,
    publisher: str,
    subscribers: int,
    changes: int,
    rng: random.Random,
) -> dict[str, Any]:
    """`changes` setSelfStatus calls, one at a time; every subscriber's push is timed."""
    after_response: list[float] = []  # each (subscriber, change): arrival - HTTP response
    after_send: list[float] = []  # the same from when the request was sent
    to_last: list[float] = []  # per change: the last subscriber's arrival - HTTP response
    to_first: list[float] = []
    http: list[float] = []
    missing = 0
    for i in range(changes):
        await asyncio.sleep(rng.uniform(0.0, 0.1))
        value = f"lat{subscribers}-c{i}"
        sent = time.monotonic()
        await api.set_self_status(publisher, value)
        answered = time.monotonic()
        times = await subs.wait((publisher, value), subscribers, PUSH_TIMEOUT_SECONDS)
        http.append(answered - sent)
        missing += subscribers - len(times)
        if not times:
            continue
        after_response += [t - answered for t in times]
        after_send += [t - sent for t in times]
        to_last.append(max(times) - answered)
        to_first.append(min(times) - answered)
    return {
        "subscribers": subscribers,
        "changes": changes,
        "push_after_response": summary_ms(after_response),
        "push_after_request_sent": summary_ms(after_send),
        "last_subscriber_after_response": summary_ms(to_last),
        "first_subscriber_after_response": summary_ms(to_first),
        "http_setSelfStatus": summary_ms(http),
        "pushes_missing": missing,
    }


# ---------------------------------------------------------------------------- 2. throughput


async def throughput_phase(
    api: Api,
    runtime: Runtime,
    publishers: int,
    subscribers_each: int,
    clients: int,
    seconds: float,
    conns: list[Conn],
) -> dict[str, Any]:
    """The sustained load; the connections it opens are added to `conns` (closed by the caller
    after the runtime stopped, so no $disconnect runs during a measurement)."""
    publishers = max(publishers, clients)  # each publisher is written by one client only
    subs, own = Arrivals(), Arrivals()
    pubs = [f"tp-pub{j:03d}" for j in range(publishers)]
    pairs = [
        (f"tp-sub{j:03d}-{k:03d}", pubs[j])
        for j in range(publishers)
        for k in range(subscribers_each)
    ]
    t0 = time.monotonic()
    conns += await bounded(pubs, lambda u: open_conn(runtime.ws_url, u, own), SETUP_CONCURRENCY)
    conns += await bounded(
        [s for s, _ in pairs], lambda u: open_conn(runtime.ws_url, u, subs), SETUP_CONCURRENCY
    )
    await bounded(pairs, lambda p: api.subscribe(p[0], [p[1]]), SETUP_CONCURRENCY)
    setup_s = time.monotonic() - t0
    await wait_quiet(runtime)
    log_offset = runtime.log_path.stat().st_size

    answered_at: dict[tuple[str, str], float] = {}
    last_value: dict[str, str] = {}
    http: list[float] = []
    errors: list[str] = []
    started = time.monotonic()
    deadline = started + seconds

    async def client(w: int) -> None:
        mine = pubs[w::clients]
        n = 0
        while time.monotonic() < deadline:
            publisher = mine[n % len(mine)]
            value = f"tp-w{w}-{n}"
            n += 1
            sent = time.monotonic()
            try:
                await api.set_self_status(publisher, value)
            except (ApiError, aiohttp.ClientError, TimeoutError) as exc:
                errors.append(repr(exc)[:200])
                continue
            done = time.monotonic()
            http.append(done - sent)
            answered_at[(publisher, value)] = done
            last_value[publisher] = value

    await asyncio.gather(*(client(w) for w in range(clients)))
    ended = time.monotonic()
    duration = ended - started

    # the lag at the end: until every subscriber holds its publisher's final value
    finals = await asyncio.gather(
        *(
            subs.wait((p, last_value[p]), subscribers_each, PUSH_TIMEOUT_SECONDS)
            for p in pubs
            if p in last_value
        )
    )
    complete = all(len(times) == subscribers_each for times in finals)
    lag = max((max(times) for times in finals if times), default=ended) - ended

    pushed_to_all = pushed_to_some = 0
    latencies: list[float] = []
    during: list[float] = []
    for key, answered in answered_at.items():
        times = subs.times.get(key, [])
        if times:
            pushed_to_some += 1
            pushed_to_all += len(times) == subscribers_each
            latencies += [t - answered for t in times]
            during += [t - answered for t in times if t <= ended]
    arrivals_during = sum(1 for times in subs.times.values() for t in times if t <= ended)
    superseded = superseded_changes(runtime, log_offset)
    return {
        "publishers": publishers,
        "subscribers_each": subscribers_each,
        "http_clients": clients,
        "seconds": round(duration, 2),
        "setup_s": round(setup_s, 1),
        "requests": len(http),
        "errors": len(errors),
        "error_samples": errors[:3],
        "requests_per_s": round(len(http) / duration, 1),
        "http_setSelfStatus": summary_ms(http),
        "changes_pushed_to_all_subscribers": pushed_to_all,
        "changes_pushed_to_some": pushed_to_some,
        "pushes_received_during_load": arrivals_during,
        "pushes_per_s_during_load": round(arrivals_during / duration, 1),
        "push_after_response": summary_ms(latencies),
        "final_values_delivered": complete,
        "lag_at_end_ms": round(lag * 1000, 1),
        "duplicates": subs.duplicates,
        "fanout_skipped_as_superseded": superseded,
    }


def superseded_changes(runtime: Runtime, offset: int) -> int:
    """How many changes the fan-out skipped because a newer write had replaced them by the time
    it read the user's item (its "skipped changes that a newer write superseded" log lines
    after byte `offset` of the runtime's log)."""
    skipped = 0
    with runtime.log_path.open("rb") as log_file:
        log_file.seek(offset)
        text = log_file.read().decode(errors="replace")
    for line in text.splitlines():
        if "newer write superseded" in line:
            with contextlib.suppress(ValueError, AttributeError):
                skipped += len(json.loads(line).get("userIDs") or [])
    return skipped


# ------------------------------------------------------------------------------------ main


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc)."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


async def run(args: argparse.Namespace, log_path: Path) -> dict[str, Any]:
    sizes = [int(x) for x in args.sizes.split(",")]
    changes = [int(x) for x in args.changes.split(",")]
    if len(changes) != len(sizes) or sizes != sorted(sizes):
        raise SystemExit("--sizes must be increasing and --changes must have one count per size")
    rng = random.Random(7)
    runtime = start_runtime(log_path)
    log(f"push_latency: runtime ready in {runtime.ready_s} s (pid {runtime.pid})")
    api = Api(runtime.http_url, limit=max(64, 2 * args.clients))
    conns: list[Conn] = []
    try:
        settings = await api.settings()
        subs, own = Arrivals(), Arrivals()
        publisher = "lat-pub"
        conns.append(await open_conn(runtime.ws_url, publisher, own))
        phases = []
        have = 0
        for size, count in zip(sizes, changes, strict=True):
            new = [f"lat-sub{i:05d}" for i in range(have, size)]
            added, connect_s, subscribe_s = await add_subscribers(
                api, runtime.ws_url, subs, publisher, new
            )
            conns += added
            have = size
            quiet_s = await wait_quiet(runtime)
            cpu0 = cpu_seconds(runtime.pid)
            t0 = time.monotonic()
            phase = await latency_phase(api, subs, publisher, size, count, rng)
            phase["seconds"] = round(time.monotonic() - t0, 1)
            phase["runtime_cpu_s"] = round(cpu_seconds(runtime.pid) - cpu0, 1)
            phase["setup"] = {
                "new_connections": len(new),
                "connect_s": round(connect_s, 1),
                "connects_per_s": round(len(new) / connect_s, 1) if new else None,
                "subscribe_s": round(subscribe_s, 1),
                "subscribes_per_s": round(len(new) / subscribe_s, 1) if new else None,
                "settle_s": round(quiet_s, 1),
            }
            phases.append(phase)
            p, last = phase["push_after_response"], phase["last_subscriber_after_response"]
            log(
                f"  {size:>5,} subscribers x {count} changes: push p50 {p['p50_ms']} ms, "
                f"p99 {p['p99_ms']} ms; last subscriber p50 {last['p50_ms']} ms, p99 "
                f"{last['p99_ms']} ms; missing {phase['pushes_missing']} ({phase['seconds']} s)"
            )
        log(
            f"push_latency: throughput, {args.publishers} users x {args.subscribers_each}"
            f" subscribers, {args.clients} HTTP clients for {args.seconds:g} s ..."
        )
        cpu0 = cpu_seconds(runtime.pid)
        throughput = await throughput_phase(
            api, runtime, args.publishers, args.subscribers_each, args.clients, args.seconds, conns
        )
        throughput["runtime_cpu_s"] = round(cpu_seconds(runtime.pid) - cpu0, 1)
        log(
            f"  {throughput['requests_per_s']} setSelfStatus/s ({throughput['requests']} in"
            f" {throughput['seconds']} s, {throughput['errors']} errors), HTTP p50"
            f" {throughput['http_setSelfStatus']['p50_ms']} ms; pushes"
            f" {throughput['pushes_per_s_during_load']}/s, push p50"
            f" {throughput['push_after_response']['p50_ms']} ms; lag at end"
            f" {throughput['lag_at_end_ms']} ms"
        )
        rss, hwm = rss_mib(runtime.pid)
        return {
            "settings": {k: settings[k] for k in ("reconnectGraceSeconds", "rateLimit")},
            "runtime_ready_s": runtime.ready_s,
            "latency": phases,
            "throughput": throughput,
            "runtime_rss_mib": round(rss),
            "runtime_peak_rss_mib": round(hwm),
        }
    finally:
        stop_runtime(runtime)  # first: it closes the sockets without $disconnect
        await close_all(conns)
        await api.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--changes", default=",".join(map(str, CHANGES)))
    parser.add_argument("--publishers", type=int, default=THROUGHPUT_PUBLISHERS)
    parser.add_argument("--subscribers-each", type=int, default=THROUGHPUT_SUBSCRIBERS_EACH)
    parser.add_argument("--clients", type=int, default=THROUGHPUT_CLIENTS)
    parser.add_argument("--seconds", type=float, default=THROUGHPUT_SECONDS)
    args = parser.parse_args(argv)

    from bench import _harness as h  # after the runtime: it sets AWS/Powertools variables

    started = time.perf_counter()
    log(f"push_latency: subscribers {args.sizes}, changes {args.changes}")
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        log_path = Path(tmp) / "runtime.log"
        try:
            measured = asyncio.run(run(args, log_path))
        except BaseException:
            if log_path.exists():
                tail = log_path.read_text(errors="replace").splitlines()[-40:]
                print("runtime log (last 40 lines):\n" + "\n".join(tail), file=sys.stderr)
            raise
        log_lines = log_path.read_text(errors="replace").count("\n")
    result = {
        "benchmark": "push_latency",
        "date": h.utc_now(),
        "machine": h.machine(),
        "setup": {
            "runtime": "python -m local.runtime (subprocess, free ports, own secret key)",
            "clients": "this process: websockets (asyncio) connections, aiohttp HTTP client",
            "publisher": "one user ONLINE with one web connection (its own push is not counted)",
            "subscribers": "each its own user with one web connection, subscribed through "
            "subscribeUserStatus; latency phases add subscribers to the same publisher",
            "clock": "time.monotonic() at the HTTP response and at each frame's arrival",
            "pause": "random 0-100 ms between changes; the next change starts after all pushes",
        },
        **measured,
        "runtime_log_lines": log_lines,
        "total_s": round(time.perf_counter() - started, 1),
    }
    path = h.write_result("push_latency", result)
    log(f"wrote {path.relative_to(h.ROOT)} ({result['total_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
