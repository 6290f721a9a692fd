"""Cold-start import cost of every handler module, against importing boto3 and making one client.

For each functions/<dir>/app.py, a fresh interpreter (the project's .venv, Python 3.13) gets the
environment Lambda would give it: the template's variables for that function plus the runtime's
own (LAMBDA_TASK_ROOT, AWS_LAMBDA_FUNCTION_NAME, AWS_EXECUTION_ENV ...), so Powertools
initialises as in Lambda, X-Ray tracer included. It times `import app` + reading
`app.lambda_handler` (the INIT phase's own code; interpreter start-up excluded), and separately
the DynamoDB client the first request creates. No AWS call is made. The baseline is
`import boto3; boto3.client("dynamodb", region_name="us-east-1")` with the same interpreter,
packages and environment. Median of --runs fresh processes each, run round-robin so machine noise
spreads evenly; then `python -X importtime` on the slowest function says which imports dominate.

What the interpreter can import matters: X-Ray's patch_all (Powertools' `Tracer()` by default)
imports every library it knows how to patch *if it is installed*, and the dev .venv holds
test-only packages (httpx, aiohttp, moto ...) that the Lambda layer does not. The service's
Tracer patches botocore only, but the main figures still run with `python -S` and a "layer
view": a folder of links to exactly the distributions layers/presence/requirements.txt pulls in
(same files, same versions as the .venv), like /opt/python in Lambda. The whole .venv is
measured too, for the slowest function, to show any difference.

Run: PYTHONPATH=layers/presence:. .venv/bin/python -m bench.cold_start [--runs 7]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from bench.common import ROOT, machine, utc_now, write_result
from local import template as cfn

LAYER_SRC = ROOT / "layers" / "presence"
LAYER_REQUIREMENTS = LAYER_SRC / "requirements.txt"

TIMED_IMPORT = """
import json, sys, time
sys.path[:0] = {paths!r}
t0 = time.perf_counter()
import app
handler = app.lambda_handler
t1 = time.perf_counter()
client_ms = None
store = sys.modules.get("presence.store")
if store is not None:
    t2 = time.perf_counter()
    store.dynamodb()
    client_ms = (time.perf_counter() - t2) * 1000
print(json.dumps({{"ms": (t1 - t0) * 1000, "client_ms": client_ms, "modules": len(sys.modules)}}))
"""

BASELINE = """
import json, sys, time
sys.path[:0] = {paths!r}
t0 = time.perf_counter()
import boto3
boto3.client("dynamodb", region_name="us-east-1")
t1 = time.perf_counter()
print(json.dumps({{"ms": (t1 - t0) * 1000, "client_ms": None, "modules": len(sys.modules)}}))
"""

IMPORTTIME = """
import sys
sys.path[:0] = {paths!r}
sys.stderr.write("-- bench marker --\\n")
sys.stderr.flush()
import app
app.lambda_handler
"""


def dummy_refs() -> dict[str, str]:
    """Values for the template's references, named as the local runtime names its resources
    (nothing is called)."""
    from local.aws import NAME_PREFIX, Resources

    tpl = cfn.load_template()
    base = "sqs.us-east-1.amazonaws.com/123456789012"
    queues = {q: f"https://{base}/{NAME_PREFIX}-{q}" for q in cfn.queue_specs(tpl)}
    buses = [r for r, v in tpl["Resources"].items() if v.get("Type") == "AWS::Events::EventBus"]
    return Resources(
        table_names={t: f"{NAME_PREFIX}-{t}" for t in cfn.table_specs(tpl)},
        queue_urls=queues,
        queue_arns={q: f"arn:aws:sqs:us-east-1:123456789012:{NAME_PREFIX}-{q}" for q in queues},
        secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:presence-usersig-AbCdEf",
        event_buses={b: f"{NAME_PREFIX}-{b}" for b in buses},
    ).refs(1400000000, None)


# ------------------------------------------------------------------------------ environments


def layer_distributions() -> list[importlib.metadata.Distribution]:
    """The distributions layers/presence/requirements.txt installs, dependencies included."""
    todo = [
        Requirement(line.split("#", 1)[0].strip())
        for line in LAYER_REQUIREMENTS.read_text().splitlines()
        if line.split("#", 1)[0].strip()
    ]
    found: dict[str, importlib.metadata.Distribution] = {}
    while todo:
        requirement = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        dist = importlib.metadata.distribution(requirement.name)
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in found:
            continue
        found[key] = dist
        todo += [Requirement(r) for r in dist.requires or []]
    return list(found.values())


def build_layer_view(dest: Path) -> list[str]:
    """Links, in `dest`, to every top-level module and .dist-info of the layer's distributions;
    the distribution names, sorted."""
    names = []
    for dist in layer_distributions():
        names.append(f"{dist.metadata['Name']}=={dist.version}")
        site = Path(str(dist.locate_file("")))
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            source = site / top
            if source.exists() and not (dest / top).exists():
                (dest / top).symlink_to(source)
    return sorted(names, key=str.lower)


@dataclass(frozen=True)
class Interpreter:
    """How a child interpreter finds packages."""

    name: str
    flags: tuple[str, ...]  # "-S": no site-packages at all
    extra_paths: tuple[str, ...]  # after the task root and the layer source

    def paths(self, function_dir: str | None) -> list[str]:
        first = [] if function_dir is None else [str(ROOT / "functions" / function_dir)]
        return [*first, str(LAYER_SRC), *self.extra_paths]

    def run(
        self, code: str, env: dict[str, str], *, importtime: bool = False
    ) -> subprocess.CompletedProcess[str]:
        argv = [
            sys.executable,
            *self.flags,
            *(("-X", "importtime") if importtime else ()),
            "-c",
            code,
        ]
        out = subprocess.run(argv, env=env, cwd="/", capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"child failed ({self.name}):\n{out.stderr[-4000:]}")
        return out


def functions() -> dict[str, str]:
    """Function folder -> logical id, for every AWS::Serverless::Function of the template."""
    out = {}
    for logical_id, resource in cfn.load_template()["Resources"].items():
        if resource.get("Type") == "AWS::Serverless::Function":
            out[Path(resource["Properties"]["CodeUri"]).name] = logical_id
    missing = {p.parent.name for p in (ROOT / "functions").glob("*/app.py")} - out.keys()
    assert not missing, f"functions without a template entry: {missing}"
    return dict(sorted(out.items()))


def lambda_env(function_dir: str | None, logical_id: str | None) -> dict[str, str]:
    """What Lambda's python3.13 runtime puts in the environment, plus the template's variables."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "example-secret-access-key",
        "AWS_SESSION_TOKEN": "example-session-token",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "_HANDLER": "app.lambda_handler",
    }
    if function_dir is not None and logical_id is not None:
        env["LAMBDA_TASK_ROOT"] = str(ROOT / "functions" / function_dir)
        env["AWS_LAMBDA_FUNCTION_NAME"] = f"presence-{logical_id}"
        env.update(cfn.function_environment(cfn.load_template(), logical_id, dummy_refs()))
    return env


# ------------------------------------------------------------------------------ measuring


def timed(
    interpreter: Interpreter, function_dir: str | None, env: dict[str, str]
) -> dict[str, Any]:
    paths = interpreter.paths(function_dir)
    code = (BASELINE if function_dir is None else TIMED_IMPORT).format(paths=paths)
    value: dict[str, Any] = json.loads(interpreter.run(code, env).stdout.strip().splitlines()[-1])
    return value


Job = tuple[str, Interpreter, str | None, str | None]  # key, interpreter, function dir, logical id


def sample(jobs: list[Job], runs: int, label: str) -> dict[str, list[dict[str, Any]]]:
    """`runs` samples of every job, round-robin (so machine noise falls evenly on all of them)."""
    envs = {key: lambda_env(function_dir, logical_id) for key, _, function_dir, logical_id in jobs}
    for key, interpreter, function_dir, _ in jobs:  # untimed: bytecode caches, as a layer ships
        timed(interpreter, function_dir, envs[key])
    samples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in range(runs):
        for key, interpreter, function_dir, _ in jobs:
            samples[key].append(timed(interpreter, function_dir, envs[key]))
        print(f"cold_start [{label}]: run {run + 1}/{runs}", flush=True)
    return samples


def median_ms(samples: list[dict[str, Any]]) -> float:
    return float(statistics.median(float(s["ms"]) for s in samples))


def min_ms(samples: list[dict[str, Any]]) -> float:
    return min(float(s["ms"]) for s in samples)


def row(
    function_dir: str, logical_id: str, got: list[dict[str, Any]], baseline: list[dict[str, Any]]
) -> dict[str, Any]:
    ms = median_ms(got)
    clients = [s["client_ms"] for s in got if s["client_ms"] is not None]
    return {
        "function": function_dir,
        "logical_id": logical_id,
        "init_ms": round(ms, 1),
        "ratio_to_baseline": round(ms / median_ms(baseline), 2),
        # noise on a shared machine only ever adds time: the fastest sample is the steadiest
        "min_ms": round(min_ms(got), 1),
        "ratio_of_minima": round(min_ms(got) / min_ms(baseline), 2),
        "first_dynamodb_client_ms": round(statistics.median(clients), 1) if clients else None,
        "modules_loaded": got[0]["modules"],
        "samples_ms": [round(s["ms"], 1) for s in got],
    }


def importtime(
    interpreter: Interpreter, function_dir: str, logical_id: str, runs: int
) -> dict[str, Any]:
    """Which imports dominate `import app`: self time summed by top-level package, and the
    modules with the most self time (medians over `runs` runs of `python -X importtime`)."""
    code = IMPORTTIME.format(paths=interpreter.paths(function_dir))
    per_package: dict[str, list[float]] = defaultdict(list)
    per_module: dict[str, list[float]] = defaultdict(list)
    cumulative: dict[str, list[float]] = defaultdict(list)
    totals = []
    for _ in range(runs):
        err = interpreter.run(code, lambda_env(function_dir, logical_id), importtime=True).stderr
        package_us: dict[str, float] = defaultdict(float)
        total = 0.0
        for line in err.split("-- bench marker --\n", 1)[1].splitlines():
            if not line.startswith("import time:") or "imported package" in line:
                continue
            self_us, cumulative_us, raw_name = line[len("import time:") :].split("|", 2)
            name = raw_name.strip()
            depth = (len(raw_name) - len(raw_name.lstrip()) - 1) // 2
            package_us[name.split(".")[0]] += float(self_us)
            per_module[name].append(float(self_us))
            if depth <= 2:  # `app` and what it imports directly and one level below
                cumulative[name].append(float(cumulative_us))
            total += float(self_us)
        for package, us in package_us.items():
            per_package[package].append(us)
        totals.append(total)

    def median_ms(values: list[float]) -> float:
        return statistics.median(values + [0.0] * (runs - len(values))) / 1000

    total_ms = statistics.median(totals) / 1000
    packages = sorted(((p, median_ms(v)) for p, v in per_package.items()), key=lambda x: -x[1])
    modules = sorted(((m, median_ms(v)) for m, v in per_module.items()), key=lambda x: -x[1])
    chains = sorted(((m, median_ms(v)) for m, v in cumulative.items()), key=lambda x: -x[1])
    return {
        "function": function_dir,
        "interpreter": interpreter.name,
        "runs": runs,
        "total_ms": round(total_ms, 1),
        "top_packages": [
            {"package": p, "self_ms": round(ms, 1), "share": round(ms / total_ms, 3)}
            for p, ms in packages[:5]
        ],
        "top_modules_self": [{"module": m, "self_ms": round(ms, 1)} for m, ms in modules[:5]],
        "top_imports_cumulative": [
            {"module": m, "cumulative_ms": round(ms, 1)} for m, ms in chains[:8]
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    if args.runs < 5:
        parser.error("--runs must be at least 5 (medians of fewer are noise on this machine)")
    started = time.perf_counter()
    funcs = functions()
    view_dir = Path(tempfile.mkdtemp(prefix="presence-layer-view-"))
    try:
        layer_dists = build_layer_view(view_dir)
        layer = Interpreter(
            "layer view (python -S + the layer's distributions)", ("-S",), (str(view_dir),)
        )
        venv = Interpreter("whole dev .venv (site-packages with test tools)", (), ())

        jobs: list[Job] = [("baseline", layer, None, None)]
        jobs += [(d, layer, d, logical_id) for d, logical_id in funcs.items()]
        samples = sample(jobs, args.runs, "layer view")
        baseline_ms = median_ms(samples["baseline"])
        rows = sorted(
            (row(d, funcs[d], samples[d], samples["baseline"]) for d in funcs),
            key=lambda r: -r["init_ms"],
        )
        slowest = rows[0]["function"]
        print(f"cold_start: -X importtime on the slowest, {slowest} ...", flush=True)
        dominant = importtime(layer, slowest, funcs[slowest], args.runs)

        # the same function and baseline, layer view vs whole .venv, in one round-robin
        pair: list[Job] = [
            ("layer baseline", layer, None, None),
            ("layer", layer, slowest, funcs[slowest]),
            ("venv baseline", venv, None, None),
            ("venv", venv, slowest, funcs[slowest]),
        ]
        versus = sample(pair, args.runs, "layer view vs whole .venv")
        venv_dominant = importtime(venv, slowest, funcs[slowest], args.runs)
    finally:
        shutil.rmtree(view_dir, ignore_errors=True)

    print(f"\nbaseline (import boto3 + dynamodb client): {baseline_ms:.0f} ms")
    print(f"{'function':<28} {'init ms':>8} {'ratio':>6} {'min ratio':>9} {'+client ms':>10}")
    for r in rows:
        client = (
            "" if r["first_dynamodb_client_ms"] is None else f"{r['first_dynamodb_client_ms']:.0f}"
        )
        print(
            f"{r['function']:<28} {r['init_ms']:>8.0f} {r['ratio_to_baseline']:>6.2f} "
            f"{r['ratio_of_minima']:>9.2f} {client:>10}"
        )
    print(f"\ndominant imports of {slowest} (self time, median of {args.runs}):")
    for p in dominant["top_packages"]:
        print(f"  {p['package']:<24} {p['self_ms']:>7.1f} ms  {p['share']:.0%}")
    comparison = {}
    for name, key in (("layer_view", "layer"), ("whole_venv", "venv")):
        base, func = median_ms(versus[f"{key} baseline"]), median_ms(versus[key])
        comparison[name] = {
            "baseline_ms": round(base, 1),
            "function_ms": round(func, 1),
            "ratio": round(func / base, 2),
            "ratio_of_minima": round(min_ms(versus[key]) / min_ms(versus[f"{key} baseline"]), 2),
        }
    print(
        f"\n{slowest}, same round-robin: layer view {comparison['layer_view']}, whole .venv "
        f"{comparison['whole_venv']}; whole .venv top packages: "
        + ", ".join(f"{p['package']} {p['self_ms']:.0f} ms" for p in venv_dominant["top_packages"])
    )

    result = {
        "benchmark": "cold_start",
        "date": utc_now(),
        "machine": machine(),
        "interpreter": sys.executable,
        "runs": args.runs,
        "method": (
            "fresh interpreter per sample with the Lambda runtime's and the template's "
            "environment (Powertools Tracer enabled, as in Lambda); time of `import app` + "
            "`app.lambda_handler`, interpreter start-up excluded; bytecode caches warm; median "
            "of the runs, round-robin"
        ),
        "layer_distributions": layer_dists,
        "baseline": {
            "code": 'import boto3; boto3.client("dynamodb", region_name="us-east-1")',
            "ms": round(baseline_ms, 1),
            "min_ms": round(min_ms(samples["baseline"]), 1),
            "samples_ms": [round(x["ms"], 1) for x in samples["baseline"]],
        },
        "functions": rows,
        "slowest_importtime": dominant,
        "whole_venv": {
            "note": (
                "the dev .venv as is, test-only libraries (httpx, aiohttp ...) included; the "
                "Lambda layer has none of them (X-Ray's patch_all would import them; the "
                "service's Tracer patches botocore only)"
            ),
            "function": slowest,
            "same_round_robin": comparison,
            "importtime": venv_dominant,
        },
        "total_s": round(time.perf_counter() - started, 1),
    }
    path = write_result("cold_start", result)
    print(f"wrote {path.relative_to(ROOT)} ({result['total_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
