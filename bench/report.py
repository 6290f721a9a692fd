"""Write docs/performance.md from bench/results/*.json (run by `make bench` after the benchmarks).

Run: PYTHONPATH=layers/presence:. .venv/bin/python -m bench.report [--elapsed SECONDS]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "performance.md"

FANOUT_HEADER = [
    "unrelated users",
    "subscribers",
    "UpdateItem",
    "BatchGetItem",
    "Query",
    "DynamoDB requests",
    "items read",
    "@connections posts",
    "timer messages",
    "Lambda invocations",
]
OPS_HEADER = [
    "operation",
    "DynamoDB requests",
    "RRU",
    "WRU",
    "SQS messages (requests)",
    "Lambda invocations",
    "HTTP API requests",
    "WebSocket messages",
    "$ per million ops",
    "minimum $ per million",
]
COLD_HEADER = [
    "function",
    "init ms (median)",
    "x baseline (medians)",
    "x baseline (fastest samples)",
    "+ first DynamoDB client, ms",
]
SPLIT_HEADER = [
    "operation",
    "DynamoDB",
    "Lambda",
    "API Gateway",
    "SQS",
    "DynamoDB requests",
    "Lambda invocations",
]


def load(name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((RESULTS / f"{name}.json").read_text())
    return value


def table(header: list[str], rows: list[list[Any]], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def fanout_section(data: dict[str, Any]) -> str:
    rows = []
    for world in data["worlds"]:
        for r in world["rows"]:
            d = r["dynamodb_requests"]
            rows.append(
                [
                    f"{r['unrelated_users']:,}",
                    f"{r['subscribers']:,}",
                    d.get("UpdateItem", 0),
                    d.get("BatchGetItem", 0),
                    d.get("Query", 0),
                    r["dynamodb_requests_total"],
                    f"{r['items_read']:,}",
                    f"{r['ws_posts']:,}",
                    r["sqs_messages"],
                    sum(r["lambda_invocations"].values()),
                ]
            )
    identical = all(data["identical_across_unrelated"].values())
    formula = all(data["matches_design_formula"].values())
    populations = " and ".join(f"{w['unrelated_users']:,}" for w in data["worlds"])
    seeding = " and ".join(
        f"{w['seed_unrelated_s']} s for {w['unrelated_users']:,} unrelated users "
        f"({w['unrelated_users'] * 3:,} items)"
        for w in data["worlds"]
    )
    return f"""## Fan-out cost of one status change

`bench/fanout_cost.py`. One user (ONLINE, one connection) calls setSelfStatus through the real
handler; the records that write leaves on moto's Status stream go to the real status_fanout
handler. Each subscriber is ONLINE with one live connection. The unrelated users are each ONLINE
with their own connection (Status and Connections items), every 10th has a custom status, and each
subscribes to another unrelated user. Requests are counted on `presence.store`'s DynamoDB client;
"items read" is what GetItem/BatchGetItem/Query returned; posts are calls of
`presence.store.post_to_connection` (replaced by a counter). Settings cache warm.

{table(FANOUT_HEADER, rows)}

- Identical with {populations} unrelated users:
  **{"yes" if identical else "NO"}** (requests, items read, posts, timers, invocations).
- Equal to the design's formula (fanout.py): 1 UpdateItem + 1 strongly consistent BatchGetItem of
  the changed user + 1 byTarget Query page + ceil(S/100) BatchGetItem of the subscribers' Status
  items; items read 2S+1; posts S+1 (the subscribers and the user's own device):
  **{"yes" if formula else "NO"}**.
- 100,000 unrelated users run fine in moto in-process, no reduction needed. Seeding with
  BatchWriteItem (25 items a call) took {seeding}; the whole benchmark {data["total_s"]} s, peak
  RSS {data["peak_rss_mib"]:,} MiB. moto's GSI Query walks the whole table, which shows in its run
  time (not in the request counts).
"""


def cold_start_section(data: dict[str, Any]) -> str:
    base = data["baseline"]["ms"]
    rows = [
        [
            f"`{r['function']}`",
            f"{r['init_ms']:.0f}",
            f"{r['ratio_to_baseline']:.2f}",
            f"{r['ratio_of_minima']:.2f}",
            "" if r["first_dynamodb_client_ms"] is None else f"{r['first_dynamodb_client_ms']:.0f}",
        ]
        for r in data["functions"]
    ]
    dom = data["slowest_importtime"]
    packages = [
        [f"`{p['package']}`", f"{p['self_ms']:.0f}", f"{p['share']:.0%}"]
        for p in dom["top_packages"]
    ]
    modules = ", ".join(f"`{m['module']}` {m['self_ms']:.0f} ms" for m in dom["top_modules_self"])
    venv = data["whole_venv"]["same_round_robin"]
    venv_top = ", ".join(
        f"`{p['package']}` {p['self_ms']:.0f} ms"
        for p in data["whole_venv"]["importtime"]["top_packages"]
    )
    ratios = [r["ratio_to_baseline"] for r in data["functions"]]
    steady = [r["ratio_of_minima"] for r in data["functions"]]
    return f"""## Cold start (import and initialisation of each handler module)

`bench/cold_start.py`. Each sample is a fresh `{Path(data["interpreter"]).name}` process
(Python {data["machine"]["python"]}) with the environment Lambda gives the function (the template's
variables plus the runtime's: `LAMBDA_TASK_ROOT`, `AWS_LAMBDA_FUNCTION_NAME`, ... so Powertools'
Tracer patches as in Lambda), timing `import app` + `app.lambda_handler` with interpreter start-up
excluded and no AWS call. The packages are those `layers/presence/requirements.txt` installs, the
.venv's own files seen through a folder of links (`python -S`), like `/opt/python` in Lambda.
Baseline: `import boto3; boto3.client("dynamodb", region_name="us-east-1")` the same way:
**{base:.0f} ms** (median; fastest sample {data["baseline"]["min_ms"]:.0f} ms). {data["runs"]}
runs, round-robin. The machine is shared with other busy work (see the samples in
`bench/results/cold_start.json`): read the ratios, not the milliseconds. Noise only ever adds
time, so the ratio of the fastest samples is the steadier one; differences of less than ~0.2
between functions are noise.

{table(COLD_HEADER, rows)}

Every handler costs **{min(ratios):.2f} to {max(ratios):.2f} x** the baseline by medians,
**{min(steady):.2f} to {max(steady):.2f} x** by fastest samples: they all import boto3
(through `presence.store`), pydantic, Powertools (Logger, Metrics, Tracer with X-Ray's patches)
and the `presence` package (ping and $default need neither boto3 nor pydantic), so they differ
by little more than noise. The DynamoDB client itself
is made on the first request (lazily), the last column.

Dominant imports of the slowest, `{dom["function"]}` (`-X importtime` self time summed by
top-level package, median of {dom["runs"]}; `-X importtime` inflates times, total
{dom["total_ms"]:.0f} ms):

{table(["package", "self ms", "share"], packages)}

Top modules by self time: {modules}.

**The goal is at most 1.3 x.** By fastest samples the handlers are at or within a few hundredths
of it; by medians most are a few hundredths over, inside this machine's noise. What stands
between them and the baseline is what the service needs on every request beyond boto3:
pydantic (settings are validated on every load; HTTP bodies are validated models), Powertools'
Logger, Metrics and Tracer with the X-Ray SDK, and the `presence` package itself. Already
removed: Powertools' `data_classes` import (each HTTP handler reads its two fields itself),
X-Ray patching every installed library (only botocore is patched), request-body models in
functions that take no body, and frozen dataclasses compiled at import; ping and $default no
longer import boto3 or pydantic at all. Measured but not made: pinning `wrapt<2` for the X-Ray
SDK (its 2.x imports asyncio; about -0.065 for HTTP and WebSocket handlers), a hand-written
partial-batch loop instead of Powertools' batch processor in the fan-out and timers (about
-0.08), and one body model per HTTP function (about -0.015). The libraries alone (boto3,
Powertools Logger/Metrics/Tracer, pydantic and its first model) already come to about 1.13 x.

**The whole dev `.venv` for comparison.** Run there, the same function
took {venv["whole_venv"]["function_ms"]:.0f} ms against a baseline of
{venv["whole_venv"]["baseline_ms"]:.0f} ms (x {venv["whole_venv"]["ratio"]:.2f}, fastest samples
x {venv["whole_venv"]["ratio_of_minima"]:.2f}; the layer view in the same round-robin:
x {venv["layer_view"]["ratio"]:.2f}, fastest x {venv["layer_view"]["ratio_of_minima"]:.2f}).
Top packages there: {venv_top}. With the default `Tracer()`, X-Ray's `patch_all` imported every
patchable library installed (the `.venv` has httpx and aiohttp for the tests), which made the
dev venv look much slower; the Tracer now patches botocore only, so both views agree and the
layer view above is the one that applies in Lambda.
"""


def op_cost_section(data: dict[str, Any]) -> str:
    rows = []
    for o in data["operations"]:
        c = o["usd_per_million"]
        rows.append(
            [
                o["operation"],
                o["dynamodb_requests_total"],
                num(o["rru"]),
                f"{num(o['wru_table'])} + {num(o['wru_index'])}",
                f"{o['sqs_messages']} ({o['sqs_requests']})",
                sum(o["lambda_invocations"].values()),
                o["http_requests"],
                o["ws_messages"],
                f"{c['total']:,.2f}",
                f"{o['minimum']['usd_per_million']:,.2f}",
            ]
        )
    split = [
        [
            o["operation"],
            f"{o['usd_per_million']['dynamodb']:,.2f}",
            f"{o['usd_per_million']['lambda']:,.2f}",
            f"{o['usd_per_million']['api_gateway']:,.2f}",
            f"{o['usd_per_million']['sqs']:,.2f}",
            ", ".join(f"{k} {v}" for k, v in o["dynamodb_requests"].items()),
            ", ".join(f"{k} {v}" for k, v in o["lambda_invocations"].items()),
        ]
        for o in data["operations"]
    ]
    excess = []
    for o in data["operations"]:
        m = o["minimum"]
        lines = [f"- **{o['operation']}** ({o['description']}). Minimum: {m['basis']}."]
        lines.append(
            f"  Measured {o['dynamodb_requests_total']} requests / {num(o['rru'])} RRU / "
            f"{num(o['wru_table'] + o['wru_index'])} WRU / "
            f"{sum(o['lambda_invocations'].values())} invocations against "
            f"{m['dynamodb_requests']} / {num(m['rru'])} / {num(m['wru'])} / "
            f"{m['lambda_invocations']}."
        )
        lines += [f"  - excess: {e}" for e in o["excess"]] or ["  - no excess."]
        excess.append("\n".join(lines))
    prices = []
    for key, price in data["prices"].items():
        usd = price["usd"]
        shown = f"${usd:.10f}".rstrip("0") if usd > 1e-5 else f"${usd * 1e6:g} per million"
        prices.append([key, shown, price["unit"], price["source"]])
    assumptions = "\n".join(f"- **{k}**: {v}" for k, v in data["assumptions"].items())
    return f"""## Cost per operation

`bench/op_cost.py`. Each operation runs through the real handlers under moto and is followed by
everything it sets off: its stream records go to status_fanout, its timers are delivered to
status_timers when the bench clock reaches them, with their own fan-outs. DynamoDB read and write
request units are computed from the items' sizes with DynamoDB's published rules (reads in 4 KB
units, eventually consistent = half, BatchGetItem per item, Query per page on the summed size, a
missing key still charged; writes in 1 KB units on the larger of the before/after image, failed
conditions still charged, one more write per secondary-index entry put or deleted). WRU is
"table + secondary indexes".

{table(OPS_HEADER, rows)}

Split by service ($ per million operations) and what ran:

{table(SPLIT_HEADER, split, "lrrrrll")}

What dominates: **every push is an API Gateway WebSocket message ($1.00 per million)**, so an
operation that reaches N connections costs about $N per million whatever else it does; DynamoDB
adds $0.0625 per million per subscriber (one eventually consistent read of its Status item). Not
per operation: a WebSocket connection costs $0.25 per million connection-minutes (a client
connected 8 hours a day: about $0.0036 a month) plus its keep-alive pings (one message each).

### Measured against the minimum

{chr(10).join(excess)}

### Prices (us-east-1) and assumptions

{table(["price", "USD", "unit", "source"], prices, "lrll")}

{data["price_note"]}

{assumptions}
"""


LATENCY_HEADER = [
    "subscribers",
    "changes",
    "push p50",
    "push p99",
    "last subscriber p50",
    "last subscriber p99",
    "first subscriber p50",
    "setSelfStatus HTTP p50",
    "pushes missing",
]
LATENCY_SETUP_HEADER = [
    "subscribers",
    "new connections",
    "connects/s",
    "subscribes/s",
    "step s",
    "runtime CPU s",
]
SCALE_HEADER = [
    "trial",
    "audience",
    "received",
    "first",
    "p50",
    "all",
    "handler",
    "reads",
    "posts",
    "posts/s",
    "poll wait ms",
]


def load_optional(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return load(name) if path.exists() else None


def machine_line(data: dict[str, Any]) -> str:
    m = data["machine"]
    return (
        f"Measured {data['date'][:10]} on {m['cores']} cores ({m['cpu']}), Python {m['python']};"
        f" the benchmark took {data['total_s']:.0f} s"
    )


def ms(summary: dict[str, Any], key: str = "p50_ms") -> str:
    return "-" if not summary.get("n") else f"{summary[key]:,.0f}"


def push_latency_section(data: dict[str, Any]) -> str:
    rows = []
    for p in data["latency"]:
        rows.append(
            [
                f"{p['subscribers']:,}",
                p["changes"],
                ms(p["push_after_response"]),
                ms(p["push_after_response"], "p99_ms"),
                ms(p["last_subscriber_after_response"]),
                ms(p["last_subscriber_after_response"], "p99_ms"),
                ms(p["first_subscriber_after_response"]),
                ms(p["http_setSelfStatus"]),
                p["pushes_missing"],
            ]
        )
    setup_rows = [
        [
            f"{p['subscribers']:,}",
            f"{p['setup']['new_connections']:,}",
            p["setup"]["connects_per_s"] or "-",
            p["setup"]["subscribes_per_s"] or "-",
            f"{p['seconds']:.0f}",
            f"{p['runtime_cpu_s']:.0f}",
        ]
        for p in data["latency"]
    ]
    t = data["throughput"]
    pushed = t["changes_pushed_to_all_subscribers"]
    share = pushed / t["requests"] if t["requests"] else 0.0
    largest = data["latency"][-1]
    http, push = t["http_setSelfStatus"], t["push_after_response"]
    throughput_rows = [
        [
            "setSelfStatus requests/s",
            f"**{t['requests_per_s']:,.1f}** ({t['requests']:,} requests, {t['errors']} errors)",
        ],
        ["HTTP latency p50 / p99", f"{ms(http)} / {ms(http, 'p99_ms')} ms"],
        ["changes pushed to all their subscribers", f"{pushed:,} ({share:.0%})"],
        ["changes the fan-out skipped as superseded", f"{t['fanout_skipped_as_superseded']:,}"],
        [
            "pushes received during the load",
            f"{t['pushes_received_during_load']:,} ({t['pushes_per_s_during_load']:,.1f}/s)",
        ],
        ["push latency p50 / p99 (pushed changes)", f"{ms(push)} / {ms(push, 'p99_ms')} ms"],
        [
            "lag at the end (last response to every subscriber holding the final value)",
            f"**{t['lag_at_end_ms']:,.0f} ms**",
        ],
        [
            "final values delivered to every subscriber",
            "yes" if t["final_values_delivered"] else "NO",
        ],
    ]
    rewrite_ms = 1000 * t["publishers"] / max(t["requests_per_s"], 1e-9)
    last_p50 = ms(largest["last_subscriber_after_response"])
    return f"""## Push latency through the local runtime

`bench/push_latency.py`. {machine_line(data)}. The real local runtime (`python -m
local.runtime`, a subprocess on free ports with its own secret key) and real sockets: this
process holds every WebSocket connection (asyncio `websockets`) and makes the HTTP calls
(aiohttp). One publisher, ONLINE with one web connection, calls setSelfStatus with a new
customStatus; each subscriber is its own user with one web connection, subscribed through
subscribeUserStatus. Latency = a push's arrival at a subscriber minus the arrival of the
setSelfStatus HTTP response (`time.monotonic()`, both in this process); the next change starts
after every subscriber got the push and a random 0-100 ms pause. Settings: the defaults
(reconnectGraceSeconds {data["settings"]["reconnectGraceSeconds"]}; nothing needed changing: no
connection closes until the runtime stops). Milliseconds:

{table(LATENCY_HEADER, rows)}

Setup of each step (connections are added to the same publisher's audience):

{table(LATENCY_SETUP_HEADER, setup_rows)}

**Sustained setSelfStatus with fan-out**: {t["publishers"]} users with {t["subscribers_each"]}
subscribers each (own connections), {t["http_clients"]} HTTP clients calling setSelfStatus back to
back for {t["seconds"]:.0f} s, each user written by one client only (so its last response is its
final value):

{table(["measure", "value"], throughput_rows)}

What the figures are made of:

- **The stream poll.** `local/pollers.py` reads the Status stream every 100 ms when idle (50 ms
  for 2 s after records arrived), so 0-100 ms of every latency above is waiting for the poll;
  one subscriber's p50 is mostly that.
- **Reads and posts in one process.** Then the fan-out handler reads the audience from moto
  (strongly consistent BatchGetItem of the publisher, the byTarget Query, one BatchGetItem per
  100 subscribers) and posts each frame over HTTP to the local @connections API on
  `fanout.MAX_WORKERS` (32) threads. moto, the handlers, the WebSocket server and the posting
  threads share one Python process and one GIL (the runtime CPU column: one core is the
  ceiling), and `local/lambdas.py` runs one invocation at a time, so the time to the last of
  {largest["subscribers"]:,} subscribers (p50 {last_p50} ms) grows
  linearly with the audience; see the next section for the split at 10,000.
- **Throughput** is bounded by the same one-invocation-at-a-time rule: every setSelfStatus and
  every fan-out batch queue for one lock, so requests/s is about 1 / (handler time), and the
  fan-out competes with the HTTP handlers for it.
- **Superseded changes are not pushed.** The fan-out pushes a user's change only if the user's
  item still holds it when the fan-out reads it (`presence/fanout.py` `_resolve`: "a newer record
  exists and pushes itself"). Here each user is rewritten every
  ~{rewrite_ms:,.0f} ms,
  faster than a fan-out batch completes, so most intermediate values are skipped; the fan-out
  still kept up (the final values reached everyone {t["lag_at_end_ms"]:,.0f} ms after the load
  stopped). A user who changes status continuously faster than the fan-out cycle would not be
  pushed at all until they pause (not a realistic presence pattern, but see the issue list in
  the plan below).
- In AWS the same code runs with a stream-to-Lambda hop instead of the 50-100 ms poll, DynamoDB
  and API Gateway calls over the network instead of moto and loopback, and one process per
  invocation: read these figures as how the code scales with its audience on one core, not as
  AWS latencies.
"""


def fanout_scale_section(data: dict[str, Any]) -> str:
    ramp = data["ramp"]
    rss = data["runtime_rss_mib"]
    rows = []
    for t in data["trials"]:
        h = t.get("handler", {})
        rows.append(
            [
                "tracemalloc on" if t["tracemalloc"] else "untraced",
                f"{t['expected']:,}",
                f"{t['received']:,}",
                f"{t['first_received_s']:.2f}",
                f"{t['p50_received_s']:.2f}",
                f"**{t['all_received_s']:.2f}**",
                f"{h.get('handler_s', 0):.2f}",
                f"{h.get('resolve_s', 0):.2f}",
                f"{h.get('push_s', 0):.2f}",
                f"{t.get('posts_per_s', 0):,.0f}",
                f"{t['poller_delay_s'] * 1000:.0f}",
            ]
        )
    plain = data["trials"][0]
    h = plain["handler"]
    traced = next((t for t in data["trials"] if t["tracemalloc"]), None)
    subscribers = plain["expected"]
    batches = -(-subscribers // 100)
    per_connection_kib = (rss["after_ramp"] - rss["ready"]) * 1024 / max(ramp["opened"], 1)
    traced_text = ""
    if traced is not None:
        th = traced["handler"]
        held = th.get("traced_after_resolve_mib", 0)
        traced_text = f"""
- **tracemalloc** (second trial, {traced["expected"]:,} subscribers of another publisher; the
  first {traced["expected"]:,} of the same connections): peak
  **{traced["tracemalloc_peak_mib"]} MiB** of Python allocations during the fan-out (traced
  from just before setSelfStatus until the last arrival), {held:.1f} MiB held once all
  recipients were read (before the first post). The peak includes the local @connections
  server's allocations for the posts it receives (same process): an upper bound for the handler
  itself. tracemalloc slows the process about 3x, hence a smaller audience and its own row."""
    return f"""## Fan-out of one change to {subscribers:,} connections

`bench/fanout_scale.py`. {machine_line(data)}. The local runtime as a subprocess, wrapped
(`python -m bench.fanout_scale serve`: `local.runtime.main()` unchanged, plus a probe that times
`presence.fanout.handle`, its `_resolve` (reads) and `_push` (posts) phases and every
`presence.store.post_to_connection` call, and a control port). {subscribers:,} subscribers, each
its own user with one web connection, opened by {ramp["client_processes"]} client processes
(asyncio `websockets`, {ramp["concurrency"]} handshakes in flight in all); their subscriptions to
the publisher were written straight into the Subscriptions table with the items
`store.write_subscriptions` writes ({data["subscriptions"]["seconds"]} s; subscribeUserStatus
through the single-threaded runtime runs at ~40-60/s) and read back through getSubscriptions.
Then one setSelfStatus; each client timestamps arrivals with CLOCK_MONOTONIC (shared across
processes). Seconds after the HTTP response:

{table(SCALE_HEADER, rows)}

- **Ramp-up**: {ramp["opened"]:,} connections in {ramp["seconds"]:.0f} s
  (**{ramp["connects_per_s"]:.1f}/s**, {ramp["failed"]} failed); the runtime used
  {ramp["runtime_cpu_s"]:.0f} s of CPU meanwhile: each $connect is an invocation (UserSig check,
  Connections item, conditional Status write) plus its stream record's fan-out to the user's own
  device, one at a time, about {1000 * ramp["runtime_cpu_s"] / max(ramp["opened"], 1):.0f} ms of
  CPU each. That, not memory or file descriptors, is what limits the local runtime's scale.
- **The handler's own wall time** (timed around `fanout.handle`, i.e. without the poll wait):
  {h["handler_s"]:.1f} s = reads {h["resolve_s"]:.1f} s (the {batches + 1} BatchGetItem of
  the publisher's and the subscribers' Status items {h.get("get_presences_s", 0):.1f} s, the
  byTarget Query {h.get("subscribers_of_s", 0):.1f} s, in moto) + posts {h["push_s"]:.1f} s.
  The first subscriber hears nothing until every read is done
  ({plain["first_received_s"]:.1f} s): the fan-out reads the whole audience before its first
  post.
- **Posts concurrency**: {h["posts"]:,} posts on the `fanout.MAX_WORKERS` =
  {data["fanout_max_workers"]} pool: {h["peak_posts_in_flight"]} in flight at most, on
  {h["post_threads"]} threads, {plain.get("posts_per_s", 0):,.0f} posts/s; one post p50
  {h["post_p50_ms"]:.0f} ms, p99 {h["post_p99_ms"]:.0f} ms (32 threads contending for the GIL
  with the @connections server in the same process). urllib3 discarded
  {h.get("pool_discards", 0)} connections at the end of the batch: the @connections client keeps
  botocore's default pool of 10, so 22 of the 32 threads open a connection of their own each
  invocation (a TLS handshake each in AWS).
- **Memory**: the runtime's RSS was {rss["ready"]} MiB when ready, {rss["after_ramp"]:,} MiB with
  {ramp["opened"]:,} open connections (~{per_connection_kib:.0f} KiB per connection: aiohttp's
  WebSocket state in the local gateway, which API Gateway holds in AWS); sampled every 50 ms
  during the fan-out it peaked at {plain["rss_peak_mib"]:,} MiB
  (+{plain["rss_peak_mib"] - plain["rss_before_mib"]} MiB over the {plain["rss_before_mib"]:,} MiB
  before it). Highest RSS over the whole run (VmHWM): {rss["peak_vmhwm"]:,} MiB. Client processes:
  {", ".join(f"{r} MiB" for r in data["client_rss_mib"])}.{traced_text}
- Every connection got the push exactly once ({plain["duplicates"]} duplicates,
  {plain["still_open"]:,} connections still open afterwards).
"""


def scale_plan_section(scale: dict[str, Any] | None, latency: dict[str, Any] | None) -> str:
    if scale is None:
        return ""
    plain = scale["trials"][0]
    h = plain["handler"]
    n = plain["expected"]
    factor = 100_000 / n
    posts_per_s = plain.get("posts_per_s") or 1.0
    batches = -(-n // 100)
    get_ms = 1000 * h.get("get_presences_s", 0) / batches
    traced = next((t for t in scale["trials"] if t["tracemalloc"]), None)
    growth = plain["rss_peak_mib"] - plain["rss_before_mib"]
    memory_line = (
        f"- **Memory** grows with the audience too: the local runtime's RSS grew {growth} MiB"
        f" during the {n:,}-wide fan-out (~{1024 * growth / max(n, 1):.0f} KiB per recipient, the"
        f" local @connections server included), i.e. ~{growth * factor:,.0f} MiB at 100,000"
    )
    if traced is not None:
        held = traced["handler"].get("traced_after_resolve_mib", 0.0)
        per_recipient_kib = 1024 * held / max(traced["expected"], 1)
        memory_line += (
            f"; the handler's own data once the audience is read is ~{per_recipient_kib:.1f} KiB"
            f" per recipient (tracemalloc, {traced['expected']:,}-wide trial), i.e."
            f" ~{per_recipient_kib * 100_000 / 1024:,.0f} MiB at 100,000, on top of the ~100 MB"
            " a Python function with boto3, Powertools and pydantic loaded typically uses (not"
            " measured here), against the function's 256 MB (template Globals)"
        )
        total_100k = per_recipient_kib * 100_000 / 1024 + 100
        verdict = "does not fit" if total_100k > 256 else "would still fit"
        memory_line += f": a 100,000-wide fan-out in one invocation {verdict}"
        chunk_mib = per_recipient_kib * 1_000 / 1024
    else:
        chunk_mib = 1024 * growth / max(n, 1) * 1_000 / 1024
    memory_line += "."
    return f"""## Plan: 100,000+ subscribers of one user

**Where one fan-out invocation stands today.** `presence/fanout.py` does everything for a stream
batch in ONE invocation: a strongly consistent BatchGetItem of the changed users, the whole
byTarget Query per changed user, ceil(S/100) BatchGetItem of the watchers, then S posts on a
pool of `MAX_WORKERS` = {scale["fanout_max_workers"]} threads, and returns only after the last
post. Every step is linear in the audience S, nothing is posted before everything is read, and
while it runs the stream shard waits (one batch at a time per shard: every other user whose
change landed on that shard waits behind it). Measured locally at {n:,}: {h["handler_s"]:.1f} s
in the handler, ~{get_ms:.0f} ms per BatchGetItem of 100 in moto and {posts_per_s:,.0f} posts/s;
linear extrapolation to 100,000 on this machine: ~{h["handler_s"] * factor / 60:,.0f} minutes in
one invocation.

What bounds one invocation in AWS:

- **Lambda timeout**: the fan-out function has `Timeout: 60` (template.yaml; Lambda's maximum is
  15 minutes). A timeout fails the whole batch, which is retried (up to 5 times, then the
  failure queue): every retry re-posts to every recipient already served.
- **PostToConnection** is one HTTPS request per connection and per frame. At an assumed
  10-30 ms per call from Lambda in the same Region (not measurable here), 32 threads give
  ~1,000-3,000 posts/s, i.e. **35-100 s for 100,000**: past the 60 s timeout even before the
  reads. Raising MAX_WORKERS helps only until the function's vCPU share (256 MB ≈ 1/7 vCPU) is
  busy signing and serialising requests.
- **API Gateway's account throttle**: 10,000 requests/s per account and Region (token bucket,
  5,000 burst), shared by the HTTP API, the WebSocket API and the @connections callback API. One
  change to 100,000 subscribers is 100,000 callback requests: at least 10 s of the whole
  account's budget, throttled (429) beyond it, and every client request competes with it. A
  throttled post that exhausts botocore's 4 attempts marks the record failed and the whole
  audience is re-posted on retry.
- **Reads**: 1,000 BatchGetItem calls of 100 keys (~5-10 ms each in AWS, sequential today:
  5-10 s) plus the byTarget pages (KEYS_ONLY entries of ~60 bytes, ~17,000 per 1 MB page).
{memory_line}

**Design: shard the audience across invocations.**

1. *The stream handler stays the single ordering point.* It parses, coalesces and checks the
   changed user's current item as today, and posts inline when the audience is small (below a
   threshold T, e.g. 1,000 connections: one hop fewer for the common case).
2. *Above T it only pages the index.* It queries byTarget with `Limit = N` (e.g. N = 1,000
   subscriber IDs, KEYS_ONLY, so ~60 KB a page) and turns each page into one message on a new
   **FanoutChunks** SQS queue: `{{userID, status frame bytes, version, subscriberIDs[N]}}`
   (≤ 40 KB, under SQS's 256 KB), sent 10 per SendMessageBatch. 100,000 subscribers = 100 pages +
   10 SendMessageBatch calls, ~1-2 s, and the shard moves on. Friends (friendStatusNotify) are
   paged the same way from the Friends table. For an audience too large even for that (millions),
   the handler enqueues only the first page's ExclusiveStartKey and each chunk worker enqueues the
   next page before posting (a chain that pages the index in parallel with the posting).
3. *A FanoutChunk function* (SQS event source, batch size 1, ReportBatchItemFailures, its own
   DLQ) takes one chunk: 10 BatchGetItem of 100 (eventually consistent: the recipients' Status
   items), then the posts on the 32-thread pool with the 410 handling of today. Before posting it
   reads the changed user's item (one strongly consistent GetItem) and drops the chunk if the
   item no longer shows the chunk's state (the rule `_resolve` applies today: the newer change's
   own chunks follow), so parallel chunks of successive changes never deliver an older status
   last. A failure retries one chunk (1,000 recipients), not the audience.
4. *Parallelism is set, not unbounded*: the event source's MaximumConcurrency C bounds the posts
   per second to ~C x (1,000-3,000); choose C so that peak fan-out stays well under the account's
   10,000 requests/s (e.g. C = 3-5 for ~5,000 posts/s), and request a quota increase for more.
   100,000 subscribers then take ~20-35 s end to end at 3,000-5,000 posts/s, bounded by the
   account throttle rather than by any one invocation; each chunk invocation runs ~0.5-1.5 s
   (Timeout 30 s is ample) in constant memory (~{chunk_mib:.0f} MiB for 1,000 recipients by the
   figures above), whatever the audience.
5. *Costs stay linear and small per push*: one SQS message and one invocation per 1,000
   recipients ($0.40 + ~$0.20 per million messages/requests, i.e. under $0.001 per 100,000-wide
   change), next to the 100,000 API Gateway messages ($0.10) that dominate anyway.

Also worth fixing on the way (the product code was not changed here):

- `presence/store.py` `sockets()` uses `_BOTO_CONFIG` with botocore's default
  `max_pool_connections=10` while `fanout.MAX_WORKERS` is 32: give the @connections client
  `max_pool_connections=MAX_WORKERS` so warm containers reuse 32 connections instead of opening
  22 new ones per invocation.
- A failed post retries the stream records, hence the whole audience (duplicate pushes); with
  chunks, only the chunk.
- The superseded-change rule in `_resolve` (`presence/fanout.py`) can starve a user who is
  rewritten faster than the fan-out cycle: their subscribers hear nothing until the writes
  pause (see the throughput figures above). Pushing the user's *current* state instead of
  skipping keeps the order (the reads are strongly consistent and a shard is processed in
  order) and never starves; the newer record then pushes the same state again unless the last
  pushed stream sequence number per user is kept somewhere outside the Status stream (or an
  occasional duplicate is accepted).
"""


def delivery_scale_section(d: dict[str, Any]) -> str:
    p = d["projection"]
    requests = ", ".join(f"{n:,} {op}" for op, n in sorted(d["dynamodb_requests"].items()))
    once = f"**{d['misses']} / {d['duplicates']}** ({d['posts']:,} posts, each connection once)"
    cpu = (
        f"stream consumer {p['stream_consumer_cpu_s']:.3f} s; delivery"
        f" {p['delivery_cpu_s_code']:.1f} s of code + {p['delivery_cpu_s_posts']:.0f} s of posts"
        " (1 ms each, measured: TOOLING.md)"
    )
    return f"""## One change to {d["connections"]:,} connections: the two-stage delivery

`bench/delivery_scale.py`, in-process under moto with a recording @connections fake (no
sockets). {d["connections"]:,} subscribers of one user, each with one live connection; one
setSelfStatus through the real handler, the real stream consumer on its stream records, then the
real delivery function on the DeliveryQueue, batch after batch (10 messages), until it is empty.

| | |
|---|---|
| misses / duplicates | {once} |
| jobs | {p["jobs"].get("post", 0):,} post jobs, {p["jobs"].get("page", 0)} page jobs |
| invocations | 1 stream consumer, {p["delivery_invocations"]} delivery (batches of 10) |
| DynamoDB requests | {p["dynamodb_requests"]:,} ({requests}) |
| CPU outside moto | {cpu} |

**Projected AWS time to the last recipient: {p["projected_last_recipient_s"]:.1f} s** (goal: 10 s).
Method: {p["method"]}. The parts: stream consumer {p["projected_stream_consumer_s"]:.2f} s;
CPU-bound delivery {p["projected_cpu_bound_s"]:.1f} s (16 invocations at 1,024 MB); the account's
@connections throttle alone {p["projected_throttle_bound_s"]:.1f} s; the chain of page jobs
{p["projected_page_chain_s"]:.1f} s (overlapping the posts). The stream consumer's own work does
not grow with the audience (it read {100} subscribers and queued the rest), so other users'
changes on the same shard wait for it a fraction of a second, not for the delivery.

Where the goal is missed, and what stands in the way: the posts. A post costs ~1 ms of CPU and
PostToConnection has no batch form, so 100,000 posts are ~100 CPU-seconds; 16 delivery
invocations at 1,024 MB (~0.58 vCPU each, ~9,300 posts/s together) keep under the account's
default 10,000 @connections requests/s, which is itself a 10 s floor for 100,000 posts. With the
quota raised to 32,000/s (a Service Quotas request) and `MaximumConcurrency` 32 at 1,769 MB, the
same projection gives about 4 s ({p["delivery_cpu_s_code"] + p["delivery_cpu_s_posts"]:.0f}
CPU-seconds over 32 vCPUs).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elapsed", type=float, help="seconds `make bench` took")
    args = parser.parse_args(argv)
    fanout, cold, ops = load("fanout_cost"), load("cold_start"), load("op_cost")
    latency, scale = load_optional("push_latency"), load_optional("fanout_scale")
    delivery = load_optional("delivery_scale")
    runtime_parts = ""
    if latency is not None:
        runtime_parts += f", push latency {latency['total_s']:.0f} s"
    if scale is not None:
        runtime_parts += f", fan-out scale {scale['total_s']:.0f} s"
    m = fanout["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    elapsed = (
        f"`make bench` took {args.elapsed / 60:.1f} min on this machine"
        if args.elapsed
        else "`make bench` run time not recorded (report run by hand)"
    )
    doc = f"""# Performance

Generated by `make bench` (`bench/report.py`) on {fanout["date"][:10]}; do not edit by hand.
Benchmarks are not tests: `make test` does not run them. Raw results: `bench/results/*.json`.

- Machine: {m["cores"]} cores, {m["cpu"]}, {m["memory_gib"]} GiB memory, {m["arch"]}, {m["os"]}.
- Python {m["python"]}; {packages}.
- {elapsed} (fan-out {fanout["total_s"]:.0f} s, cold start {cold["total_s"]:.0f} s, cost per
  operation {ops["total_s"]:.0f} s{runtime_parts}). The machine is shared with other work: wall
  times are indicative only.

{delivery_scale_section(delivery) if delivery is not None else ""}
*The sections below were measured before the fan-out became two stages (bench/fanout_cost.py
and bench/fanout_scale.py drive the single-stage functions; the 10,000-connection run and the
plan for 100,000+ are kept for comparison: the plan is now built, above).*

{fanout_section(fanout)}
{cold_start_section(cold)}
{op_cost_section(ops)}
{push_latency_section(latency) if latency is not None else ""}
{fanout_scale_section(scale) if scale is not None else ""}
{scale_plan_section(scale, latency)}"""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(doc.rstrip() + "\n")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
