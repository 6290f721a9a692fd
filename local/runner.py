"""The local runtime as a subprocess, for the end-to-end tests and the benchmarks alike:
`python -m local.runtime` on free ports with a given key, started and stopped the same way.

    runtime = start_runtime(log_path, secret_key="...")   # returns once it printed `ready`
    ... runtime.http_url, runtime.ws_url, runtime.log_text() ...
    stop_runtime(runtime)
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.config import DEFAULT_SDKAPPID

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT_SECONDS = 120


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
    ready_s: float = 0.0

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def moto_endpoint(self) -> str:
        """The runtime's moto server, from its start-up line "moto (...) at http://..."."""
        found = re.search(r"^\[local\] moto .* at (http://\S+)$", self.log_text(), re.MULTILINE)
        if found is None:
            raise RuntimeError("the runtime did not print its moto endpoint")
        return found.group(1)


def queued_messages(runtime: Runtime, *, delayed: bool = True) -> int:
    """Messages the runtime's timers and delivery queues hold (visible, in flight and, unless
    `delayed` is False, delayed): 0 when nothing is left to run. With liveness on, every open
    connection always has a delayed check queued, so "nothing to run now" leaves delayed ones
    out. (The local runtime recounts them at most once a second.)"""
    import boto3

    sqs = boto3.client(
        "sqs",
        endpoint_url=runtime.moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    names: list[Any] = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    if delayed:
        names.append("ApproximateNumberOfMessagesDelayed")
    total = 0
    for url in sqs.list_queues().get("QueueUrls", []):
        if "Timers" in url or "Delivery" in url:
            found = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=names,
            )["Attributes"]
            total += sum(int(value) for value in found.values())
    return total


def seed_subscriptions(runtime: Runtime, pairs: Sequence[tuple[str, str]]) -> None:
    """Write (subscriber, target) subscriptions straight into the runtime's table, as
    subscribeUserStatus stores them (`presence.store.write_subscriptions`): for setting up
    audiences larger than the API's rate limits make practical. Points this process's boto3
    at the runtime's moto server."""
    from local.aws import NAME_PREFIX, offline_environment
    from presence import store

    offline_environment(runtime.moto_endpoint)
    os.environ["SUBSCRIPTIONS_TABLE"] = f"{NAME_PREFIX}-SubscriptionsTable"
    store.reset_clients()
    seq = time.time_ns() // 1000
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(
            pool.map(
                lambda n: store.write_subscriptions(
                    pairs[n][0], add=[store.Subscription(pairs[n][1], seq + n)], remove=[]
                ),
                range(len(pairs)),
            )
        )


def start_runtime(
    log_path: Path, *, secret_key: str, sdkappid: int = DEFAULT_SDKAPPID, **extra_env: str
) -> Runtime:
    """`python -m local.runtime` on free ports (or those `extra_env` names), its output in
    `log_path`; returns once it printed its `[local] ready` line."""
    return _start(log_path, secret_key, sdkappid, extra_env, own_process_group=False)


def start_runtime_as_make_run(log_path: Path, *, secret_key: str, **extra_env: str) -> Runtime:
    """`start_runtime`, the runtime leading a process group of its own (with its moto server
    and its workers) as `make run` does in a terminal's foreground: `os.killpg(runtime.pid,
    signal.SIGINT)` is the terminal's Ctrl-C."""
    return _start(log_path, secret_key, DEFAULT_SDKAPPID, extra_env, own_process_group=True)


def _start(
    log_path: Path,
    secret_key: str,
    sdkappid: int,
    extra_env: dict[str, str],
    *,
    own_process_group: bool,
) -> Runtime:
    http_port = int(extra_env.get("PRESENCE_HTTP_PORT") or free_port())
    ws_port = int(extra_env.get("PRESENCE_WS_PORT") or free_port())
    demo_port = int(extra_env.get("PRESENCE_DEMO_PORT") or free_port())  # never the default 3002
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "presence"), str(ROOT)]),
        "PRESENCE_HTTP_PORT": str(http_port),
        "PRESENCE_WS_PORT": str(ws_port),
        "PRESENCE_DEMO_PORT": str(demo_port),
        "PRESENCE_SECRET_KEY": secret_key,
        "PRESENCE_SDKAPPID": str(sdkappid),
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.runtime"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            process_group=0 if own_process_group else None,
        )
    runtime = Runtime(
        process, log_path, f"http://127.0.0.1:{http_port}", f"ws://127.0.0.1:{ws_port}"
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
    raise RuntimeError(
        f"the runtime was not ready in {READY_TIMEOUT_SECONDS} s:\n{runtime.log_text()}"
    )


def stop_runtime(runtime: Runtime, signum: int = signal.SIGTERM, timeout: float = 60) -> int:
    """Signal the runtime (SIGTERM: it closes every socket without $disconnect), then wait."""
    if runtime.process.poll() is None:
        runtime.process.send_signal(signum)
        try:
            runtime.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            runtime.process.kill()
            runtime.process.wait()
    return int(runtime.process.returncode)
