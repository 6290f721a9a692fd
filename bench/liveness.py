"""Liveness through the local runtime: devices that vanish without closing their sockets, and
devices that keep beating.

The real `python -m local.runtime` runs as a subprocess (local.runner) with a liveness timeout
of TIMEOUT seconds; this process is every client (asyncio `websockets`) and the HTTP calls.

- Vanishing devices, four kinds of KIND_SIZE each: web and native (`ios`), each either idle or
  receiving a push every PUSH_EVERY seconds (they subscribe to a publisher that keeps changing
  its custom status: on AWS such a socket is never idle, so only the device's own frames can
  tell). Each sends one beat, then nothing (its socket stays open and keeps reading). A
  watcher subscribed to all of them notes when each one's status changes (UNLOGINED for web,
  OFFLINE for native); detection time = that moment minus the device's last frame. Bound:
  timeout + grace + 10 s.
- Beating devices (web and native) send `beat` every heartbeatSeconds (announced in pong) for
  3 x the timeout, one in ten a whole interval late (a throttled background tab): any push of a
  status change about them is a flap; there must be none.

Run: PYTHONPATH=layers/presence:. .venv/bin/python -m bench.liveness [--timeout 30]
     writes bench/results/liveness.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from bench import cost
from bench.common import machine, percentile, utc_now, write_result
from local.runner import Runtime, start_runtime, stop_runtime
from presence.auth import gen_user_sig

SDKAPPID = 1400000000
SECRET_KEY = "bench-liveness-secret-key-0123456789abcdef"
EVENT = "onUserStatusUpdated"
GRACE = 5  # reconnectGraceSeconds: the default
KIND_SIZE = 10
BEATING = 10  # per platform
PUSH_EVERY = 3.0
SLACK = 10.0
KINDS = (("web", True), ("web", False), ("ios", True), ("ios", False))  # (platform, pushed)


def log(message: str) -> None:
    print(message, flush=True)


class Clients:
    def __init__(self, runtime: Runtime, run: str) -> None:
        self.runtime, self.run = runtime, run
        self.http: aiohttp.ClientSession | None = None
        self.sockets: list[ClientConnection] = []

    def sig(self, user: str) -> str:
        return gen_user_sig(SDKAPPID, SECRET_KEY, user, expire=86400)

    async def call(self, route: str, user: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.http is not None
        async with self.http.post(
            f"{self.runtime.http_url}/v1/{route}",
            json=body,
            headers={"Authorization": f"Bearer {self.sig(user)}"},
        ) as response:
            reply: dict[str, Any] = await response.json()
        assert reply.get("code") == 0, (route, reply)
        return reply

    async def open(self, user: str, platform: str) -> ClientConnection:
        url = f"{self.runtime.ws_url}/?userSig={self.sig(user)}&platform={platform}"
        ws = await ws_connect(url, ping_interval=None, max_queue=None)
        self.sockets.append(ws)
        return ws


async def drain(ws: ClientConnection) -> None:
    """Read and drop whatever arrives (a silent device's socket still takes its pushes)."""
    with contextlib.suppress(Exception):
        async for _ in ws:
            pass


async def heartbeat_seconds(ws: ClientConnection) -> int:
    await ws.send(json.dumps({"action": "ping"}))
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("event") == "pong":
            return int(frame["heartbeatSeconds"])


async def scenario(runtime: Runtime, timeout: int) -> dict[str, Any]:
    run = str(int(time.time()))[-6:]
    clients = Clients(runtime, run)
    async with aiohttp.ClientSession() as http:
        clients.http = http
        admin = "administrator"
        await clients.call("admin/updateSettings", admin, {"reconnectGraceSeconds": GRACE})
        await asyncio.sleep(6)  # every worker's settings cache
        publisher, watcher = f"pub-{run}", f"watch-{run}"
        silent = {
            f"{platform}-{'pushed' if pushed else 'idle'}-{i}-{run}": (platform, pushed)
            for platform, pushed in KINDS
            for i in range(KIND_SIZE)
        }
        beating = {f"beat-{p}-{i}-{run}": p for p in ("web", "ios") for i in range(BEATING)}
        watch_ws = await clients.open(watcher, "web")
        hb = await heartbeat_seconds(watch_ws)
        for chunk in range(0, len(silent) + len(beating), 100):
            users = [*silent, *beating][chunk : chunk + 100]
            await clients.call("subscribeUserStatus", watcher, {"userIDList": users})
        changes: dict[str, list[tuple[float, int]]] = {}

        async def watch() -> None:
            async for raw in watch_ws:
                frame = json.loads(raw)
                if frame.get("event") != EVENT:
                    continue
                for s in frame["data"]:
                    changes.setdefault(s["userID"], []).append((time.monotonic(), s["statusType"]))

        async def keep(ws: ClientConnection, every: float, late_every: int = 0) -> None:
            n = 0
            with contextlib.suppress(Exception):
                while True:
                    n += 1
                    late = late_every and n % late_every == 0
                    await asyncio.sleep(every * (2 if late else 1))
                    await ws.send(json.dumps({"action": "beat"}))

        tasks = [asyncio.create_task(watch()), asyncio.create_task(keep(watch_ws, hb))]
        last_frame: dict[str, float] = {}
        for user, (platform, pushed) in silent.items():
            ws = await clients.open(user, platform)
            if pushed:
                await clients.call("subscribeUserStatus", user, {"userIDList": [publisher]})
            await ws.send(json.dumps({"action": "beat"}))
            last_frame[user] = time.monotonic()
            tasks.append(asyncio.create_task(drain(ws)))
        beaters_started = time.monotonic()
        for user, platform in beating.items():
            ws = await clients.open(user, platform)
            tasks.append(asyncio.create_task(drain(ws)))
            tasks.append(asyncio.create_task(keep(ws, hb, late_every=10)))

        async def publish() -> None:
            n = 0
            while True:
                n += 1
                await clients.call("setSelfStatus", publisher, {"customStatus": f"tick {n}"})
                await asyncio.sleep(PUSH_EVERY)

        tasks.append(asyncio.create_task(publish()))
        deadline = time.monotonic() + max(timeout + GRACE + SLACK + 5, 3 * timeout + 5)
        gone = {"web": 3, "ios": 2}
        while time.monotonic() < deadline:
            await asyncio.sleep(1)
        for task in tasks:
            task.cancel()
        for ws in clients.sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        by_kind: dict[str, list[float]] = {}
        missed: list[str] = []
        for user, (platform, pushed) in silent.items():
            seen = [t for t, st in changes.get(user, []) if st == gone[platform]]
            kind = f"{platform}, {'receiving pushes' if pushed else 'idle'}"
            if not seen:
                missed.append(user)
                continue
            by_kind.setdefault(kind, []).append(seen[0] - last_frame[user])
        flaps = {user: [st for _t, st in changes.get(user, []) if st != 1] for user in beating}
        return {
            "heartbeat_seconds": hb,
            "detection_s": {
                kind: {
                    "n": len(values),
                    "p50": round(percentile(values, 50), 2),
                    "p99": round(percentile(values, 99), 2),
                    "max": round(max(values), 2),
                }
                for kind, values in sorted(by_kind.items())
            },
            "bound_s": timeout + GRACE + SLACK,
            "never_detected": missed,
            "beating_devices": len(beating),
            "beating_observed_s": round(time.monotonic() - beaters_started, 1),
            "flaps": sum(len(v) for v in flaps.values()),
        }


# --------------------------------------------------------------------------- the report

CURVE_TIMEOUTS = (30, 60, 90, 180, 600, 0)
MEASURED_TIMEOUT = 90  # bench/cost.py's day: the default LivenessTimeoutSeconds
SCALE_DEVICES = (10_000, 100_000, 1_000_000)
APIGW_THROTTLE_RPS = 10_000  # account and region, all APIs (docs: API Gateway quotas)
TABLE_WRU_PER_S = 40_000  # on-demand, per table (docs: DynamoDB quotas)
CHECK_HOP_S = 900
SCALE_SQS = 1.2 / 3  # SQS requests per check at scale / in the cost model (send, receive, delete)
SCALE_LAMBDA = 0.2  # invocations / 10, with a batch's GB-s about twice one check's


def heartbeat(timeout: int) -> int:
    return timeout // 3 if timeout else 540


def check_every(timeout: int) -> float:
    """Seconds between liveness checks of a beating device: the deadline is the last frame
    plus the timeout, and the last frame is on average half a heartbeat old at a check."""
    return timeout - heartbeat(timeout) / 2 if timeout else CHECK_HOP_S


def curve(cost_result: dict[str, Any]) -> list[dict[str, Any]]:
    """Upkeep per user-month at each timeout, scaled from the cost benchmark's measured day (at
    the default 90 s): heartbeat messages and their seenAt writes go with 1/heartbeat, the
    checks with 1/check interval; the rest of the upkeep does not depend on the timeout."""
    usd = cost_result["usd_per_user_month"]
    per_day = cost_result["per_day"]
    write_usd = (
        per_day["liveness"]["wru"] * cost.PRICES["dynamodb_wru"]["usd"] * cost.DAYS_PER_MONTH
    )
    checks_usd = usd["liveness"]["total"] - write_usd
    live = usd["liveness"]
    # at scale the timers queue is busy: Lambda receives 10 messages a poll and deletes them in
    # one batch, and one invocation runs 10 checks; each re-arm is still one send (presence.
    # timers sends them one by one): SQS requests per check 3 -> 1.2, invocations 1 -> 0.1
    checks_at_scale = (
        live["dynamodb"] - write_usd + live["sqs"] * SCALE_SQS + live["lambda"] * SCALE_LAMBDA
    )
    fixed = sum(usd[row]["total"] for row in ("connection minutes", "reconnects", "timers"))
    base_hb = heartbeat(MEASURED_TIMEOUT)
    rows = []
    for timeout in CURVE_TIMEOUTS:
        frames = base_hb / heartbeat(timeout)
        beats = usd["heartbeats"]["total"] * frames
        writes = write_usd * frames
        fewer = check_every(MEASURED_TIMEOUT) / check_every(timeout)
        checks = checks_usd * fewer
        rows.append(
            {
                "timeout_s": timeout,
                "heartbeat_s": heartbeat(timeout),
                "detected_within_s": (timeout or 7200) + GRACE,
                "heartbeat_usd": beats,
                "liveness_usd": writes + checks,
                "upkeep_usd": fixed + beats + writes + checks,
                "upkeep_at_scale_usd": fixed + beats + writes + checks_at_scale * fewer,
            }
        )
    return rows


def quotas(timeout: int = MEASURED_TIMEOUT) -> list[list[str]]:
    """What N connected devices ask of the account's quotas, liveness alone."""
    rows = []
    for n in SCALE_DEVICES:
        frames = n / heartbeat(timeout)  # every heartbeat: one API Gateway request, one write
        checks = n / check_every(timeout)
        rows.append(
            [
                f"{n:,}",
                f"{frames:,.0f} ({frames / APIGW_THROTTLE_RPS:.0%})",
                f"{frames:,.0f} ({frames / TABLE_WRU_PER_S:.0%})",
                f"{checks:,.0f}",
                f"{checks / 10:,.0f}",
            ]
        )
    return rows


def report(data: dict[str, Any]) -> str:
    from bench.report import load, table  # (bench.report imports this module's report)

    detection = table(
        ["device", "n", "p50 s", "p99 s", "max s"],
        [
            [kind, v["n"], f"{v['p50']:.1f}", f"{v['p99']:.1f}", f"{v['max']:.1f}"]
            for kind, v in data["detection_s"].items()
        ],
    )
    missed = len(data["never_detected"])
    parts = [
        "## Liveness",
        "",
        f"`bench/liveness.py`, {data['date']}: the real `python -m local.runtime` with a "
        f"liveness timeout of {data['timeout_s']} s (grace {data['grace_s']} s). "
        f"{data['devices_per_kind']} devices of each kind connect, send one beat and go silent "
        f"without closing (the pushed ones keep receiving a push every {data['push_every_s']:g} "
        "s: they are never idle for API Gateway); a watcher subscribed to all of them notes "
        "when each is shown gone (UNLOGINED for web, OFFLINE for native). Time from the "
        f"device's last frame; the bound is timeout + grace + 10 s = {data['bound_s']} s.",
        "",
        detection,
        "",
        f"Never detected: {missed}. {data['beating_devices']} beating devices (every "
        f"heartbeatSeconds = {data['heartbeat_seconds']} s, one beat in ten a whole interval "
        f"late) watched for {data['beating_observed_s']:g} s: {data['flaps']} flaps.",
    ]
    cost_result = load("cost")
    if cost_result is not None and "liveness" in cost_result["usd_per_user_month"]:
        rows = curve(cost_result)
        parts += [
            "",
            "### Detection time against cost",
            "",
            "Upkeep per user-month (the typical user of the cost table below: connected 8 h a "
            "day): connection minutes, heartbeats, liveness (each frame's seenAt write and the "
            "checks), reconnects and timers; the other rows do not depend on the timeout. "
            f"Measured at {MEASURED_TIMEOUT} s by `bench/cost.py`, scaled to the others: "
            "heartbeat messages and writes with 1/heartbeatSeconds, checks with 1/(timeout - "
            "heartbeat/2). The cost model receives and deletes every SQS message alone and runs "
            "one check per invocation (low traffic); 'at scale' is the same with the queue busy "
            "(10 messages per receive and per invocation: SQS requests per check 3 -> 1.2, "
            "invocations 1 -> 0.1). Before liveness (a ping every 60 s, MOCK, no checks) the "
            "upkeep was $0.035; the goal with detection on is at most $0.04.",
            "",
            "At the default 90 s the goal is missed: about 45% of the liveness row is the 1-WRU "
            "write of every heartbeat frame, which every frame must make (any frame counts, "
            "and API Gateway's integration makes one call per frame), and most of the rest is "
            "the check's SQS message. What would reach it at 90 s: re-arming a batch's checks "
            "in one SendMessageBatch and grouping connections due together into one message "
            "(SQS and Lambda per check / 10), and evidence cheaper than one DynamoDB write per "
            "frame (e.g. frames to a Kinesis stream through the same kind of integration, $0.014 "
            "per million, folded by a consumer into one packed item per time bucket: not built, "
            "not measured).",
            "",
            table(
                [
                    "timeout s",
                    "heartbeat s",
                    "a vanished device gone within s",
                    "heartbeats",
                    "liveness",
                    "upkeep / user-month",
                    "upkeep at scale",
                ],
                [
                    [
                        r["timeout_s"] or "0 (off)",
                        r["heartbeat_s"],
                        r["detected_within_s"] if r["timeout_s"] else "7,205 (2 h)",
                        f"${r['heartbeat_usd']:.4f}",
                        f"${r['liveness_usd']:.4f}",
                        f"**${r['upkeep_usd']:.4f}**",
                        f"${r['upkeep_at_scale_usd']:.4f}",
                    ]
                    for r in rows
                ],
            ),
        ]
    parts += [
        "",
        f"### Quotas at scale (timeout {MEASURED_TIMEOUT} s, liveness alone)",
        "",
        table(
            [
                "connected devices",
                "API Gateway requests/s (of 10,000)",
                "Connections WRU/s (of 40,000 per table)",
                "checks/s (SQS messages, GetItem)",
                "timers invocations/s (10 a batch)",
            ],
            quotas(),
        ),
        "",
        "Every heartbeat is one WebSocket request against the account's API Gateway throttle "
        "(10,000 requests/s per account and region, shared by HTTP, WebSocket and @connections "
        "calls) and one write to the Connections table (on-demand: 40,000 WRU/s per table). At "
        "10^4 and 10^5 devices both fit. At 10^6 devices the heartbeats alone are 33,333 "
        'requests/s: raise API Gateway\'s "Throttle quota per account, per Region" '
        "(L-8A5B8E43) to at least 50,000 (pushes share it), and the Connections table's "
        'writes are 83% of the per-table quota: raise "Table-level write throughput '
        'limit" for headroom (connects write it too). Any heartbeat does this: the 60 s '
        "ping before liveness was 16,667 requests/s at 10^6. The checks go through SQS "
        "(standard queues have no practical throughput limit) and the timers function "
        "(about 1,333 invocations/s of ~40 ms: ~55 concurrent, within the default 1,000). "
        "DeleteConnection (@connections) is called only for devices that vanished.",
    ]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=int, default=30, help="liveness timeout, seconds")
    args = parser.parse_args(argv)
    log_path = Path(tempfile.mkdtemp(prefix="bench-liveness-")) / "runtime.log"
    runtime = start_runtime(
        log_path,
        secret_key=SECRET_KEY,
        sdkappid=SDKAPPID,
        PRESENCE_LIVENESS_TIMEOUT_SECONDS=str(args.timeout),
    )
    started = time.monotonic()
    try:
        measured = asyncio.run(scenario(runtime, args.timeout))
    finally:
        stop_runtime(runtime)
    result = {
        "benchmark": "liveness",
        "date": utc_now(),
        "machine": machine(),
        "timeout_s": args.timeout,
        "grace_s": GRACE,
        "devices_per_kind": KIND_SIZE,
        "push_every_s": PUSH_EVERY,
        "elapsed_s": round(time.monotonic() - started, 1),
        **measured,
    }
    path = write_result("liveness", result)
    log(json.dumps({k: result[k] for k in ("detection_s", "never_detected", "flaps")}, indent=1))
    log(f"liveness: wrote {path}")
    ok = not measured["never_detected"] and measured["flaps"] == 0
    ok = ok and all(v["max"] <= result["bound_s"] for v in measured["detection_s"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
