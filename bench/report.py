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
and the `presence` package, so they differ by little more than noise. The DynamoDB client itself
is made on the first request (lazily), the last column.

Dominant imports of the slowest, `{dom["function"]}` (`-X importtime` self time summed by
top-level package, median of {dom["runs"]}; `-X importtime` inflates times, total
{dom["total_ms"]:.0f} ms):

{table(["package", "self ms", "share"], packages)}

Top modules by self time: {modules}.

**Test tools inflate a dev-venv measurement.** Run in the whole dev `.venv`, the same function
took {venv["whole_venv"]["function_ms"]:.0f} ms against a baseline of
{venv["whole_venv"]["baseline_ms"]:.0f} ms (x {venv["whole_venv"]["ratio"]:.2f}, fastest samples
x {venv["whole_venv"]["ratio_of_minima"]:.2f}; the layer view in the same round-robin:
x {venv["layer_view"]["ratio"]:.2f}, fastest x {venv["layer_view"]["ratio_of_minima"]:.2f}).
Top packages there: {venv_top}. X-Ray's `patch_all` (Powertools' `Tracer()`) imports every
library it can patch that is installed, and the `.venv` has httpx (which pulls in rich and
pygments) and aiohttp for the end-to-end tests. The Lambda layer does not, so the layer-view
figures above are the ones that apply.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elapsed", type=float, help="seconds `make bench` took")
    args = parser.parse_args(argv)
    fanout, cold, ops = load("fanout_cost"), load("cold_start"), load("op_cost")
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
  operation {ops["total_s"]:.0f} s). The machine is shared with other work: wall times are
  indicative only.

{fanout_section(fanout)}
{cold_start_section(cold)}
{op_cost_section(ops)}"""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(doc.rstrip() + "\n")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
