"""Fan-out of ONE status change to 10,000 WebSocket connections through the local runtime.

NOT RUN by `make bench` since the fan-out became two stages and the local runtime runs the
handlers in worker processes: the probes below wrap the functions in the runtime's own process,
where no handler runs any more. To be rewritten on the shared test harness (issue 14).

The local runtime runs as a subprocess, wrapped by `serve` below: `local.runtime.main()` unchanged,
plus a probe that times `presence.fanout.handle` (the fan-out handler's own work, without the
stream poller's wait) and its two phases (`_resolve`: DynamoDB reads; `_push`: the @connections
posts on fanout.MAX_WORKERS threads), counts posts in flight, and a control port (127.0.0.1, a
free port) to read those figures, to start/stop tracemalloc, and to seed subscriptions.

The subscribers (each its own user with one web connection) are opened by client processes
(`client` below, default two of 5,000: the fd limit is 20,000 per process), ramped up with
bounded concurrency. Their subscriptions to the publisher are written straight into the
Subscriptions table in the runtime process with the same item shape as
`presence.store.write_subscriptions` (subscribeUserStatus at ~50/s through the single-threaded
local runtime would add minutes; `--subscribe api` uses the real route instead). Then one
setSelfStatus; measured: wall time from the HTTP response until all connections received it (the
clients timestamp with CLOCK_MONOTONIC, shared across processes), the handler's wall time, posts
concurrency, the runtime's RSS sampled every 50 ms, and, in a second change, tracemalloc's peak.

Run: PYTHONPATH=layers/presence:. .venv/bin/python -m bench.fanout_scale
     [--subscribers 10000] [--clients 2]
Writes bench/results/fanout_scale.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SUBSCRIBERS = 10_000
CLIENT_PROCESSES = 2
RAMP_CONCURRENCY = 32  # handshakes in flight, over all client processes
PUBLISHER = "scale-pub"
TRACE_PUBLISHER = "scale-pub-traced"
TRACE_SUBSCRIBERS = 1_000  # audience of the tracemalloc trial (tracemalloc slows Python ~3x)
ARRIVAL_TIMEOUT_SECONDS = 600.0

# ------------------------------------------------------------------ the runtime, instrumented


class _Probe:
    """What the instrumented runtime records; read over the control port."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.invocations: list[dict[str, Any]] = []
        self.current: dict[str, Any] | None = None
        self.in_flight = 0
        self.peak_in_flight = 0
        self.post_seconds: list[float] = []
        self.post_threads: set[int] = set()
        self.pool_discards = 0  # urllib3 "Connection pool is full, discarding connection"


class _PoolFullCounter(logging.Handler):
    """Counts urllib3's pool-full warnings (silent by default: urllib3 has a NullHandler)."""

    def emit(self, record: logging.LogRecord) -> None:
        if "pool is full" in str(record.msg):
            with PROBE.lock:
                PROBE.pool_discards += 1


PROBE = _Probe()


def _instrument() -> None:
    """Wrap the fan-out handler, its phases and the @connections post (module attributes: the
    handler module calls `fanout.handle`, which calls `_resolve`, `_push` and
    `store.post_to_connection` through their modules)."""
    import tracemalloc

    from presence import fanout, store

    handle, resolve, push, post = (
        fanout.handle,
        fanout._resolve,
        fanout._push,
        store.post_to_connection,
    )

    def timed_handle(event: dict[str, Any], context: Any) -> Any:
        record: dict[str, Any] = {"records": len(event.get("Records") or []), "posts": 0}
        with PROBE.lock:
            PROBE.current = record
            PROBE.peak_in_flight = 0
            PROBE.post_seconds = []
            PROBE.post_threads = set()
            discards_before = PROBE.pool_discards
        started = time.perf_counter()
        record["started_monotonic"] = time.monotonic()
        result: Any = None
        try:
            result = handle(event, context)
            return result
        finally:
            failures = result.get("batchItemFailures") if isinstance(result, dict) else None
            record["batch_item_failures"] = len(failures or [])
            keys = [r["dynamodb"]["Keys"]["userID"]["S"] for r in event.get("Records") or []]
            record["distinct_users"] = len(set(keys))
            names: dict[str, int] = {}
            for r in event.get("Records") or []:
                names[r.get("eventName", "?")] = names.get(r.get("eventName", "?"), 0) + 1
            record["event_names"] = names
            record["handler_s"] = time.perf_counter() - started
            with PROBE.lock:
                seconds = sorted(PROBE.post_seconds)
                record["posts"] = len(seconds)
                record["peak_posts_in_flight"] = PROBE.peak_in_flight
                record["post_threads"] = len(PROBE.post_threads)
                record["pool_discards"] = PROBE.pool_discards - discards_before
                if seconds:
                    record["post_p50_ms"] = seconds[len(seconds) // 2] * 1000
                    record["post_p99_ms"] = seconds[int(len(seconds) * 0.99)] * 1000
                    record["post_sum_s"] = sum(seconds)
                PROBE.invocations.append(record)
                PROBE.current = None
                del PROBE.invocations[:-200]

    def timed(name: str, function: Any, materialise: bool = False) -> Any:
        """Add the call's wall time to the current invocation's `<name>_s` (a generator is
        read to the end inside the timing)."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = function(*args, **kwargs)
                return iter(list(result)) if materialise else result
            finally:
                current = PROBE.current
                if current is not None:
                    key = f"{name}_s"
                    current[key] = current.get(key, 0.0) + time.perf_counter() - started

        return wrapper

    def counted_post(connection_id: str, data: bytes) -> bool:
        with PROBE.lock:
            PROBE.in_flight += 1
            PROBE.peak_in_flight = max(PROBE.peak_in_flight, PROBE.in_flight)
            PROBE.post_threads.add(threading.get_ident())
        started = time.perf_counter()
        try:
            return bool(post(connection_id, data))
        finally:
            elapsed = time.perf_counter() - started
            with PROBE.lock:
                PROBE.in_flight -= 1
                PROBE.post_seconds.append(elapsed)

    logging.getLogger("urllib3.connectionpool").addHandler(_PoolFullCounter())
    fanout.handle = timed_handle

    def traced_resolve(*args: Any, **kwargs: Any) -> Any:
        result = resolve(*args, **kwargs)
        current = PROBE.current
        if current is not None and tracemalloc.is_tracing():
            # memory held once every recipient's Status item is read, before any post
            current["traced_after_resolve_mib"] = tracemalloc.get_traced_memory()[0] / 2**20
        return result

    fanout._resolve = timed("resolve", traced_resolve)
    fanout._push = timed("push", push)
    # the reads _resolve makes: Status items (BatchGetItem) and the byTarget Query
    store.get_presences = timed("get_presences", store.get_presences)
    store.watchers_page = timed("watchers_page", store.watchers_page)
    store.post_to_connection = counted_post


def _seed_subscriptions(target: str, subscribers: list[str]) -> dict[str, Any]:
    """Subscriptions to `target`, the items `presence.store.write_subscriptions` writes, in
    BatchWriteItem calls of 25."""
    from presence import config, store

    table = config.subscriptions_table()
    now = str(int(time.time()))
    seq = time.time_ns() // 1000
    started = time.perf_counter()
    requests = [
        {
            "PutRequest": {
                "Item": {
                    "subscriberID": {"S": subscriber},
                    "targetID": {"S": target},
                    "seq": {"N": str(seq)},
                    "createdAt": {"N": now},
                }
            }
        }
        for subscriber in subscribers
    ]
    for start in range(0, len(requests), 25):
        pending: dict[str, Any] = {table: requests[start : start + 25]}
        while pending:
            pending = (
                store.dynamodb().batch_write_item(RequestItems=pending).get("UnprocessedItems")
                or {}
            )
    return {"seeded": len(requests), "seconds": round(time.perf_counter() - started, 2)}


class _Control(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _reply(self, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        import tracemalloc

        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/invocations":
            with PROBE.lock:
                self._reply(list(PROBE.invocations))
        elif self.path == "/tracemalloc/start":
            tracemalloc.start()
            tracemalloc.reset_peak()
            self._reply({"tracing": True})
        elif self.path == "/tracemalloc/stop":
            current, peak = tracemalloc.get_traced_memory()
            overhead = tracemalloc.get_tracemalloc_memory()
            tracemalloc.stop()
            self._reply({"current": current, "peak": peak, "tracemalloc_overhead": overhead})
        elif self.path == "/seed-subscriptions":
            self._reply(_seed_subscriptions(body["target"], list(body["subscribers"])))
        else:
            self.send_error(404)


def serve() -> int:
    """`python -m bench.fanout_scale serve`: local.runtime.main() with the probe installed after
    `start` (the functions' environment and modules exist then) and the control port at
    $BENCH_CONTROL_PORT."""
    import os

    from local import gateway, runtime

    # API Gateway's 10-minute idle close would start reaping the first connections of a slow
    # ramp-up before the measurement; the clients send nothing (pings would be invocations).
    gateway.WS_IDLE_TIMEOUT_SECONDS = 3600
    original_start = runtime.start

    def start(settings: Any, template: Any) -> Any:
        stack, functions = original_start(settings, template)
        _instrument()
        port = int(os.environ["BENCH_CONTROL_PORT"])
        server = ThreadingHTTPServer(("127.0.0.1", port), _Control)
        threading.Thread(target=server.serve_forever, name="bench-control", daemon=True).start()
        runtime.log(f"bench probe: fan-out timing on, control port {port}")
        return stack, functions

    runtime.start = start
    return runtime.main()


# --------------------------------------------------------------------------- client processes


def _emit(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def _client(args: argparse.Namespace) -> int:
    """Open `count` connections (users prefix+number), then answer commands on stdin:
    {"cmd": "wait", "key": [userID, customStatus], "timeout": s} -> the arrival times of that
    push at every open connection; {"cmd": "exit"} (or EOF) -> exit."""
    from bench.push_latency import Arrivals, Conn, open_conn

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    arrivals = Arrivals()
    conns: list[Conn] = []
    errors: list[str] = []
    semaphore = asyncio.Semaphore(args.concurrency)
    started = time.monotonic()
    next_report = 1000

    async def one(index: int) -> None:
        nonlocal next_report
        async with semaphore:
            try:
                conns.append(await open_conn(args.ws_url, f"{args.prefix}{index:06d}", arrivals))
            except Exception as exc:
                errors.append(repr(exc)[:200])
        if len(conns) >= next_report:
            next_report += 1000
            _emit({"type": "progress", "open": len(conns), "s": time.monotonic() - started})

    await asyncio.gather(*(one(i) for i in range(args.start, args.start + args.count)))
    _emit(
        {
            "type": "ready",
            "open": len(conns),
            "failed": len(errors),
            "errors": errors[:3],
            "seconds": time.monotonic() - started,
        }
    )
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        command = json.loads(line)
        if command["cmd"] == "wait":
            key = (str(command["key"][0]), str(command["key"][1]))
            count = min(int(command.get("count", len(conns))), len(conns))
            times = await arrivals.wait(key, count, float(command["timeout"]))
            alive = sum(1 for c in conns if c.reader is not None and not c.reader.done())
            _emit({"type": "arrivals", "times": times, "open": alive, "dups": arrivals.duplicates})
        elif command["cmd"] == "rss":
            _emit({"type": "rss", "rss_mib": _own_rss_mib()})
        else:
            break
    os._exit(0)  # the runtime is gone by now: no closing handshakes to wait for


def _own_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ------------------------------------------------------------------------------ orchestrator


class _Sampler(threading.Thread):
    """The runtime's RSS every `interval` seconds (VmRSS from /proc)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = 0.5
        self.samples: list[tuple[float, float]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        from bench.push_latency import rss_mib

        while not self._stop_event.is_set():
            self.samples.append((time.monotonic(), rss_mib(self.pid)[0]))
            self._stop_event.wait(self.interval)

    def peak(self, since: float, until: float) -> float:
        return max((r for t, r in self.samples if since <= t <= until), default=0.0)

    def stop(self) -> None:
        self._stop_event.set()


def _control(port: int, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=json.dumps(body or {}).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.load(response)


class _ClientProcess:
    def __init__(self, process: asyncio.subprocess.Process, start: int, count: int) -> None:
        self.process = process
        self.start = start  # its users are scale-sub<start> ... scale-sub<start + count - 1>
        self.count = count

    def among_first(self, audience: int) -> int:
        """How many of its users are among scale-sub0 ... scale-sub<audience - 1>."""
        return max(0, min(self.start + self.count, audience) - self.start)

    async def read(self, kind: str) -> dict[str, Any]:
        assert self.process.stdout is not None
        while True:
            line = await self.process.stdout.readline()
            if not line:
                raise RuntimeError("a client process ended early")
            message: dict[str, Any] = json.loads(line)
            if message["type"] == kind:
                return message

    async def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()


async def _ramp(
    ws_url: str, subscribers: int, processes: int
) -> tuple[list[_ClientProcess], dict[str, Any]]:
    from bench.push_latency import ROOT, log, runtime_env

    per = [
        subscribers // processes + (1 if i < subscribers % processes else 0)
        for i in range(processes)
    ]
    clients: list[_ClientProcess] = []
    start = 0
    started = time.monotonic()
    for count in per:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.fanout_scale",
            "client",
            "--ws-url",
            ws_url,
            "--prefix",
            "scale-sub",
            "--start",
            str(start),
            "--count",
            str(count),
            "--concurrency",
            str(max(1, RAMP_CONCURRENCY // processes)),
            cwd=ROOT,
            env=runtime_env(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        clients.append(_ClientProcess(process, start, count))
        start += count

    async def follow(index: int, client: _ClientProcess) -> dict[str, Any]:
        assert client.process.stdout is not None
        while True:
            line = await client.process.stdout.readline()
            if not line:
                raise RuntimeError("a client process ended during the ramp-up")
            message: dict[str, Any] = json.loads(line)
            if message["type"] == "progress" and index == 0:
                log(f"  client 0: {message['open']:,} open after {message['s']:.0f} s")
            if message["type"] == "ready":
                return message

    ready = await asyncio.gather(*(follow(i, c) for i, c in enumerate(clients)))
    seconds = time.monotonic() - started
    opened = sum(r["open"] for r in ready)
    return clients, {
        "client_processes": processes,
        "opened": opened,
        "failed": sum(r["failed"] for r in ready),
        "errors": [e for r in ready for e in r["errors"]][:3],
        "seconds": round(seconds, 1),
        "connects_per_s": round(opened / seconds, 1),
        "concurrency": RAMP_CONCURRENCY,
    }


async def _trial(
    api: Any,
    port: int,
    clients: list[_ClientProcess],
    sampler: _Sampler,
    publisher: str,
    expected: int,
    name: str,
    trace: bool,
) -> dict[str, Any]:
    """One setSelfStatus of `publisher`, whose subscribers are the first `expected` users:
    every subscriber's arrival, the handler's figures, RSS (and tracemalloc when `trace`)."""
    from bench.push_latency import cpu_seconds, percentile

    value = f"scale-{name}"
    before = sampler.samples[-1][1] if sampler.samples else 0.0
    sampler.interval = 0.05
    if trace:
        _control(port, "/tracemalloc/start")
    for client in clients:
        await client.send(
            {
                "cmd": "wait",
                "key": [publisher, value],
                "count": client.among_first(expected),
                "timeout": ARRIVAL_TIMEOUT_SECONDS,
            }
        )
    cpu0 = cpu_seconds(sampler.pid)
    sent = time.monotonic()
    await api.set_self_status(publisher, value)
    answered = time.monotonic()
    replies = await asyncio.gather(*(c.read("arrivals") for c in clients))
    received = time.monotonic()
    memory = _control(port, "/tracemalloc/stop") if trace else None
    # the handler returns after its last post: wait for its record
    handler: dict[str, Any] | None = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        mine = [
            i
            for i in _control(port, "/invocations")
            if i.get("started_monotonic", 0) >= sent and i.get("posts", 0) >= expected
        ]
        if mine:
            handler = mine[0]
            break
        await asyncio.sleep(0.2)
    finished = time.monotonic()
    cpu = cpu_seconds(sampler.pid) - cpu0
    sampler.interval = 0.5
    times = sorted(t for r in replies for t in r["times"])
    result: dict[str, Any] = {
        "trial": name,
        "publisher": publisher,
        "tracemalloc": trace,
        "expected": expected,
        "received": len(times),
        "still_open": sum(r["open"] for r in replies),
        "duplicates": sum(r["dups"] for r in replies),
        "http_ms": round((answered - sent) * 1000, 1),
        "all_received_s": round(times[-1] - answered, 3) if times else None,
        "first_received_s": round(times[0] - answered, 3) if times else None,
        "p50_received_s": round(percentile(times, 50) - answered, 3) if times else None,
        "p99_received_s": round(percentile(times, 99) - answered, 3) if times else None,
        "waited_s": round(received - answered, 3),
        "runtime_cpu_s": round(cpu, 1),
        "rss_before_mib": round(before),
        "rss_peak_mib": round(sampler.peak(sent, finished)),
    }
    if handler is not None:
        started_at = handler.pop("started_monotonic")
        handler.pop("event_names", None)
        result["poller_delay_s"] = round(started_at - answered, 3)
        result["handler"] = {
            k: round(v, 3) if isinstance(v, float) else v for k, v in handler.items()
        }
        if handler.get("push_s"):
            result["posts_per_s"] = round(handler["posts"] / handler["push_s"], 1)
    if memory is not None:
        result["tracemalloc_peak_mib"] = round(memory["peak"] / 2**20, 1)
        result["tracemalloc_current_mib"] = round(memory["current"] / 2**20, 1)
    return result


async def _scale(args: argparse.Namespace, log_path: Path) -> dict[str, Any]:
    from bench.push_latency import (
        Api,
        Arrivals,
        cpu_seconds,
        free_port,
        log,
        open_conn,
        rss_mib,
        start_runtime,
        stop_runtime,
        wait_quiet,
    )

    port = free_port()
    runtime = start_runtime(log_path, ("bench.fanout_scale", "serve"), BENCH_CONTROL_PORT=str(port))
    log(f"fanout_scale: runtime ready in {runtime.ready_s} s (pid {runtime.pid})")
    sampler = _Sampler(runtime.pid)
    sampler.start()
    api = Api(runtime.http_url)
    clients: list[_ClientProcess] = []
    publisher: Any = None
    extra: list[Any] = []

    def report(trial: dict[str, Any]) -> None:
        log(
            f"  {trial['trial']}: {trial['received']:,}/{trial['expected']:,} received; all after"
            f" {trial['all_received_s']} s (p50 {trial['p50_received_s']} s); handler"
            f" {trial.get('handler', {}).get('handler_s')} s"
            + (
                f"; tracemalloc peak {trial['tracemalloc_peak_mib']} MiB"
                if trial["tracemalloc"]
                else ""
            )
        )

    try:
        rss_ready = rss_mib(runtime.pid)[0]
        publisher = await open_conn(runtime.ws_url, PUBLISHER, Arrivals())
        log(
            f"fanout_scale: opening {args.subscribers:,} connections from {args.clients}"
            " client processes ..."
        )
        cpu0 = cpu_seconds(runtime.pid)
        clients, ramp = await _ramp(runtime.ws_url, args.subscribers, args.clients)
        ramp["runtime_cpu_s"] = round(cpu_seconds(runtime.pid) - cpu0, 1)
        log(
            f"  {ramp['opened']:,} open ({ramp['failed']} failed) in {ramp['seconds']} s"
            f" ({ramp['connects_per_s']}/s)"
        )
        ramp["settle_s"] = round(await wait_quiet(runtime, limit=300), 1)
        subscribers = [f"scale-sub{i:06d}" for i in range(args.subscribers)]
        t0 = time.monotonic()
        if args.subscribe == "api":
            from bench.push_latency import bounded

            await bounded(subscribers, lambda u: api.subscribe(u, [PUBLISHER]), 32)
            seeding = {"how": "subscribeUserStatus", "seconds": round(time.monotonic() - t0, 1)}
        else:
            seeding = {
                "how": "BatchWriteItem in the runtime process",
                **_control(
                    port, "/seed-subscriptions", {"target": PUBLISHER, "subscribers": subscribers}
                ),
            }
        check = await api.call("/v1/getSubscriptions", subscribers[-1], {})
        if check.get("userIDList") != [PUBLISHER]:
            raise RuntimeError(f"the seeded subscription does not read back: {check}")
        rss_ramped = rss_mib(runtime.pid)[0]
        log(f"  subscriptions: {seeding}; runtime RSS {rss_ready:.0f} -> {rss_ramped:.0f} MiB")
        expected = ramp["opened"] + 1  # and the publisher's own connection
        await wait_quiet(runtime, seconds=1.0)
        plain = await _trial(
            api, port, clients, sampler, PUBLISHER, ramp["opened"], "plain", trace=False
        )
        trials = [plain]
        report(plain)
        if args.trace_subscribers:
            audience = min(args.trace_subscribers, ramp["opened"])
            traced_publisher = PUBLISHER
            if audience < ramp["opened"]:
                traced_publisher = TRACE_PUBLISHER
                extra.append(await open_conn(runtime.ws_url, TRACE_PUBLISHER, Arrivals()))
                _control(
                    port,
                    "/seed-subscriptions",
                    {"target": TRACE_PUBLISHER, "subscribers": subscribers[:audience]},
                )
            await wait_quiet(runtime, seconds=1.0)
            traced = await _trial(
                api, port, clients, sampler, traced_publisher, audience, "tracemalloc", trace=True
            )
            trials.append(traced)
            report(traced)
        client_rss = []
        for client in clients:
            await client.send({"cmd": "rss"})
            client_rss.append(round((await client.read("rss"))["rss_mib"]))
        _, hwm = rss_mib(runtime.pid)
        return {
            "subscribers": args.subscribers,
            "expected_posts": expected,
            "ramp": ramp,
            "subscriptions": seeding,
            "trials": trials,
            "runtime_rss_mib": {
                "ready": round(rss_ready),
                "after_ramp": round(rss_ramped),
                "peak_vmhwm": round(hwm),
            },
            "client_rss_mib": client_rss,
            "fanout_max_workers": _max_workers(),
        }
    finally:
        sampler.stop()
        stop_runtime(runtime)
        for client in clients:
            with contextlib.suppress(Exception):
                await client.send({"cmd": "exit"})
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.process.wait(), 10)
            if client.process.returncode is None:
                client.process.kill()
        for conn in [publisher, *extra]:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.ws.close()
        await api.close()


def _max_workers() -> int:

    from presence import delivery

    return int(delivery.MAX_WORKERS)


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["serve"]:
        return serve()
    if args_list[:1] == ["client"]:
        parser = argparse.ArgumentParser(prog="python -m bench.fanout_scale client")
        parser.add_argument("--ws-url", required=True)
        parser.add_argument("--prefix", required=True)
        parser.add_argument("--start", type=int, required=True)
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--concurrency", type=int, default=16)
        return asyncio.run(_client(parser.parse_args(args_list[1:])))

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=SUBSCRIBERS)
    parser.add_argument("--clients", type=int, default=CLIENT_PROCESSES)
    parser.add_argument("--subscribe", choices=("seed", "api"), default="seed")
    parser.add_argument(
        "--trace-subscribers",
        type=int,
        default=TRACE_SUBSCRIBERS,
        help="audience of the tracemalloc trial (another publisher, subscribed by the first N"
        " subscribers); N >= --subscribers traces a second change of the main publisher; 0: none",
    )
    args = parser.parse_args(args_list)
    from bench.push_latency import log

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        log_path = Path(tmp) / "runtime.log"
        try:
            measured = asyncio.run(_scale(args, log_path))
        except BaseException:
            if log_path.exists():
                tail = log_path.read_text(errors="replace").splitlines()[-40:]
                print("runtime log (last 40 lines):\n" + "\n".join(tail), file=sys.stderr)
            raise
        log_lines = log_path.read_text(errors="replace").count("\n")
    from bench import _harness as h

    result = {
        "benchmark": "fanout_scale",
        "date": h.utc_now(),
        "machine": h.machine(),
        **measured,
        "runtime_log_lines": log_lines,
        "total_s": round(time.perf_counter() - started, 1),
    }
    path = h.write_result("fanout_scale", result)
    log(f"wrote {path.relative_to(h.ROOT)} ({result['total_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
