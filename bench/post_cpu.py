"""CPU per @connections post: boto3's `post_to_connection` against the lean path
(presence.store.poster: botocore's SigV4Auth over pooled keep-alive `http.client` connections), side
by side in one run, both over TLS.

A local HTTPS endpoint (aiohttp, in a process of its own, a self-signed certificate made here
with `cryptography`) answers every POST /prod/@connections/<id> with 200, as API Gateway does.
This process is the client: per path and thread count, WARMUP posts first (connections opened,
code paths warm), then POSTS posts, and the process CPU they took (time.process_time, all
threads) divided by the number of posts. Rounds alternate the paths; the figure is the median
of ROUNDS. Goal (the delivery issue): at most 0.35 ms of CPU per post on the lean path.

Run: PYTHONPATH=layers/presence:. .venv/bin/python -m bench.post_cpu
     writes bench/results/post_cpu.json
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import machine, utc_now, write_result

POSTS = 2000
WARMUP = 200
ROUNDS = 5
THREADS = (1, 8)
FRAME = (
    b'{"event":"onUserStatusUpdated","data":[{"userID":"alice","statusType":1,'
    b'"customStatus":"in a meeting","lastActiveTime":0,"version":1796630420957001}]}'
)

SERVER = r"""
import ssl, sys
from aiohttp import web

async def post(request):
    await request.read()
    return web.Response(status=200)

app = web.Application()
app.router.add_post("/prod/@connections/{cid}", post)
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(sys.argv[2], sys.argv[3])
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), ssl_context=context, print=None,
            access_log=None)
"""


def self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit("the HTTPS endpoint did not start")


def boto3_path(endpoint: str, cafile: Path) -> Callable[[str], Any]:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint,
        region_name="us-east-1",
        verify=str(cafile),
        config=Config(max_pool_connections=32, retries={"mode": "standard", "max_attempts": 4}),
    )
    return lambda cid: client.post_to_connection(ConnectionId=cid, Data=FRAME)


def lean_path(endpoint: str, cafile: Path) -> Callable[[str], Any]:
    from presence.store.poster import Poster, botocore_credentials

    context = ssl.create_default_context(cafile=str(cafile))
    poster = Poster(endpoint, "us-east-1", botocore_credentials(), ssl_context=context)
    return lambda cid: poster.post(cid, FRAME)


def cpu_per_post(post: Callable[[str], Any], threads: int) -> float:
    """Process CPU milliseconds per post over POSTS posts (after WARMUP)."""

    def run(n: int) -> None:
        ids = [f"L0SM9cOFvHcCIhw{i % 1000:04d}=" for i in range(n)]
        if threads == 1:
            for cid in ids:
                post(cid)
        else:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(post, ids))

    run(WARMUP)
    started = time.process_time()
    run(POSTS)
    return (time.process_time() - started) * 1000 / POSTS


def main() -> int:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
    directory = Path(tempfile.mkdtemp(prefix="bench-post-cpu-"))
    cert, key = self_signed(directory)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), str(cert), str(key)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(port)
        endpoint = f"https://127.0.0.1:{port}/prod"
        paths = {"boto3": boto3_path(endpoint, cert), "lean": lean_path(endpoint, cert)}
        samples: dict[str, dict[int, list[float]]] = {p: {t: [] for t in THREADS} for p in paths}
        for round_ in range(ROUNDS):
            for threads in THREADS:
                order = list(paths) if round_ % 2 == 0 else list(reversed(paths))
                for name in order:
                    samples[name][threads].append(cpu_per_post(paths[name], threads))
            print(f"post_cpu: round {round_ + 1}/{ROUNDS}", flush=True)
    finally:
        server.terminate()
        server.wait(10)
    result: dict[str, Any] = {
        "benchmark": "post_cpu",
        "date": utc_now(),
        "machine": machine(),
        "posts": POSTS,
        "rounds": ROUNDS,
        "tls": True,
        "cpu_ms_per_post": {
            name: {
                str(t): {
                    "median": round(statistics.median(v), 3),
                    "min": round(min(v), 3),
                    "max": round(max(v), 3),
                }
                for t, v in by_threads.items()
            }
            for name, by_threads in samples.items()
        },
    }
    result["ratio_lean_to_boto3"] = {
        str(t): round(
            result["cpu_ms_per_post"]["lean"][str(t)]["median"]
            / result["cpu_ms_per_post"]["boto3"][str(t)]["median"],
            2,
        )
        for t in THREADS
    }
    path = write_result("post_cpu", result)
    print(result["cpu_ms_per_post"], result["ratio_lean_to_boto3"])
    print(f"post_cpu: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
