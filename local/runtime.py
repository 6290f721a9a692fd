"""The whole presence service on this machine, with no AWS account: `python -m local.runtime`.

- moto (server mode, in a process of its own, on a free 127.0.0.1 port) is the AWS endpoint: the
  template's tables and queues, and the UserSig secret in Secrets Manager;
- the HTTP API on 127.0.0.1:${PRESENCE_HTTP_PORT:-3000} and the WebSocket API (with its
  @connections management API) on 127.0.0.1:${PRESENCE_WS_PORT:-3001};
- pollers for the Status table stream (fan-out) and the timers queue, and a stand-in for
  EventBridge Scheduler (one-time schedules send their message to the timers queue when due);
- a pool of worker processes that run the invocations, several at once, one at a time each,
  as Lambda's execution environments do (local.lambdas).

Everything is read from template.yaml and runs the real handler code. Prints a line containing
"ready" once it accepts requests; Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from local import config as local_config
from local import template as cfn

LAYER_PATH = cfn.ROOT / "layers" / "presence"
HANDLER_THREADS = 16
REAP_INTERVAL_SECONDS = 5.0

_print_lock = threading.Lock()


def log(message: str) -> None:
    with _print_lock:
        print(f"[local] {message}", flush=True)


@dataclass
class Stack:
    """What `start` built and `stop` tears down."""

    moto: Any
    pollers: list[Any]
    executor: ThreadPoolExecutor
    functions: Any
    refs: dict[str, str]  # what !Ref / !GetAtt give in this stack (table names, parameters...)


def _function_ids(template: cfn.Template) -> list[str]:
    ids = [route.function for route in cfn.http_routes(template)]
    ids += [route.function for route in cfn.websocket_routes(template) if route.function]
    ids += [c.function for c in cfn.stream_consumers(template) + cfn.queue_consumers(template)]
    return list(dict.fromkeys(ids))


def _banner(settings: local_config.LocalConfig, http_url: str, ws_url: str) -> None:
    lines = [
        f"HTTP API   {http_url}   e.g. POST {http_url}/v1/setSelfStatus",
        f"WebSocket  {ws_url}/?userSig=<UserSig>&platform=web",
        f"SDKAppID   {settings.sdkappid}",
        f"Web demo   http://{settings.host}:{settings.demo_port}/   (Web SDK: /sdk/index.js)",
        "UserSig    make -s usersig USER=alice   (or: .venv/bin/python -m local.usersig alice)",
        "           the admin account is 'administrator': make -s usersig USER=administrator",
    ]
    for line in lines:
        log(line)
    if settings.callback_url:
        signed = "signed with PRESENCE_CALLBACK_TOKEN" if settings.callback_token else "unsigned"
        log(f"Callbacks  State.StateChange -> {settings.callback_url}  ({signed})")
    if settings.secret_key_is_default:
        log(
            "WARNING: PRESENCE_SECRET_KEY is not set; UserSigs are signed with the development"
            f" key {settings.secret_key!r}. For development only: anyone can mint UserSigs"
            " with it."
        )


async def serve(
    settings: local_config.LocalConfig, template: cfn.Template, stack: Stack, functions: Any
) -> None:
    from aiohttp import web

    from local.gateway import Cors, HttpApi, WebSocketApi

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)

    async def invoke(logical_id: str, event: dict[str, Any]) -> Any:
        return await loop.run_in_executor(stack.executor, functions.invoke, logical_id, event)

    cors = Cors.from_template(template, {})  # parameters at their defaults, as deployed
    http_api = HttpApi(cfn.http_routes(template), cors, invoke, log)
    stage = cfn.resolve(template, {"Ref": "WebSocketStageName"}, {})
    ws_api = WebSocketApi(cfn.websocket_routes(template, stack.refs), stage, invoke, log)

    runners: list[web.AppRunner] = []
    try:
        from local import demo

        sites = [(http_api.app(), settings.http_port), (ws_api.app(), settings.ws_port)]
        sites.append((demo.app(settings), settings.demo_port))  # the web demo and Web SDK
        for app, port in sites:
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            runners.append(runner)
            site = web.TCPSite(runner, settings.host, port, reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                raise _cannot_listen(settings.host, port, exc) from None
        for poller in stack.pollers:
            poller.start()
        http_url = f"http://{settings.host}:{settings.http_port}"
        ws_url = f"ws://{settings.host}:{settings.ws_port}"
        _banner(settings, http_url, ws_url)
        log(f"ready: HTTP {http_url}  WebSocket {ws_url}  (Ctrl-C stops)")
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), REAP_INTERVAL_SECONDS)
            await ws_api.reap_idle()
        log("stopping...")
    finally:
        # Pollers first, while the fronts still serve the @connections posts of an invocation
        # in flight; then the sockets and the servers.
        for poller in stack.pollers:
            poller.stop()
        await loop.run_in_executor(None, _join, stack.pollers)
        await ws_api.shutdown()
        for runner in reversed(runners):
            await runner.cleanup()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def start(settings: local_config.LocalConfig, template: cfn.Template) -> tuple[Stack, Any]:
    """moto, the resources, the functions' environment, the functions and the pollers."""
    from local import aws

    moto = aws.MotoServer()
    endpoint = moto.start()
    aws.offline_environment(endpoint)  # before any boto3 client exists
    resources = aws.create_resources(template, settings.secret_key)
    ids = _function_ids(template)
    refs = resources.refs(settings.sdkappid, settings.log_level)
    refs["LivenessTimeoutSeconds"] = str(settings.liveness_timeout_seconds)
    # the State.StateChange callback (stack parameters StateChangeCallbackUrl and ...Token)
    refs["StateChangeCallbackUrl"] = settings.callback_url
    refs["StateChangeCallbackToken"] = settings.callback_token
    if settings.callback_token:
        refs["StateChangeCallbackTokenSecret"] = aws.create_callback_token_secret(
            settings.callback_token
        )
    cfn.allow_liveness_timeout(template, settings.liveness_timeout_seconds)
    environment = aws.shared_environment(template, ids, refs)
    # The handlers' @connections client posts to <endpoint>/@connections/<id>: ours.
    environment["WS_MANAGEMENT_ENDPOINT"] = f"http://{settings.host}:{settings.ws_port}"
    environment.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon here
    # EMF metrics lines are for CloudWatch; keep them out of the console unless asked for.
    environment.setdefault(
        "POWERTOOLS_METRICS_DISABLED", os.environ.get("POWERTOOLS_METRICS_DISABLED", "true")
    )
    os.environ.update(environment)
    if str(LAYER_PATH) not in sys.path:
        sys.path.insert(0, str(LAYER_PATH))  # /opt/python in Lambda

    from local.lambdas import Functions
    from local.pollers import EventPrinter, QueuePoller, SchedulePoller, StreamPoller

    functions = Functions(template, ids)
    functions.start()
    for logical_id, error in functions.load_errors.items():
        log(f"WARNING: {logical_id} cannot be loaded; every call to it fails: {error}")
    pollers: list[Any] = []
    for consumer in cfn.stream_consumers(template):
        failure_queue = resources.queue_urls.get(consumer.on_failure or "")
        pollers.append(
            StreamPoller(
                functions, consumer, resources.table_names[consumer.source], failure_queue, log
            )
        )
    for consumer in cfn.queue_consumers(template):
        # Lambda runs several batches of a queue at once (a FIFO queue: one per message group
        # in flight), up to MaximumConcurrency if set; here as many pollers, within half the
        # workers (the first polls an empty queue often, and wakes the others: QueuePoller).
        pollers_per_queue = max(1, functions.workers // 2)
        lead: QueuePoller | None = None
        for _ in range(min(consumer.maximum_concurrency or pollers_per_queue, pollers_per_queue)):
            poller = QueuePoller(
                functions, consumer, resources.queue_urls[consumer.source], log, lead
            )
            lead = lead or poller
            pollers.append(poller)
    pollers.append(SchedulePoller(aws.SCHEDULE_GROUP, resources.queue_urls_by_arn(), log))
    for bus in resources.event_buses.values():
        events_queue = aws.deliver_events_to_a_queue(bus)
        log(f"status-change events (setting statusChangeEvents) -> rule -> {events_queue}")
        if os.environ.get("PRESENCE_PRINT_EVENTS") == "1":
            pollers.append(EventPrinter(events_queue, log))
    executor = ThreadPoolExecutor(max_workers=HANDLER_THREADS, thread_name_prefix="lambda")
    log(f"moto (DynamoDB, Streams, SQS, Scheduler, EventBridge, Secrets Manager) at {endpoint}")
    log(
        f"{len(resources.table_names)} tables, {len(resources.queue_urls)} queues,"
        f" {len(ids)} functions from {cfn.TEMPLATE_PATH.name},"
        f" {functions.workers} worker processes (PRESENCE_WORKERS)"
    )
    return Stack(moto, pollers, executor, functions, refs), functions


def _join(pollers: list[Any]) -> None:
    for poller in pollers:
        if poller.is_alive():
            poller.join(timeout=15)


def _force_exit(signum: int, frame: Any) -> None:
    log("forced stop")
    os._exit(128 + signum)


def stop(stack: Stack) -> None:
    """Stop the pollers (letting a running invocation finish), the workers and moto.
    Another Ctrl-C meanwhile ends the process at once."""
    signal.signal(signal.SIGINT, _force_exit)
    signal.signal(signal.SIGTERM, _force_exit)
    for poller in stack.pollers:
        poller.stop()
    _join(stack.pollers)
    stack.executor.shutdown(wait=True, cancel_futures=True)
    stack.functions.stop()
    stack.moto.stop()


def _cannot_listen(host: str, port: int, exc: OSError) -> SystemExit:
    # (worded so that no line before the ready line contains "ready")
    reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
    return SystemExit(
        f"cannot listen on {host}:{port}: {reason}"
        " (free it, or set PRESENCE_HTTP_PORT, PRESENCE_WS_PORT or PRESENCE_DEMO_PORT)"
    )


def check_ports(settings: local_config.LocalConfig) -> None:
    """Fail at once on a port that is taken, before moto and the workers start (seconds of
    work); `serve` still reports one taken meanwhile."""
    for port in (settings.http_port, settings.ws_port, settings.demo_port):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp's site
            try:
                probe.bind((settings.host, port))
            except OSError as exc:
                raise _cannot_listen(settings.host, port, exc) from None


def main() -> int:
    settings = local_config.load()
    template = cfn.load_template()
    stack: Stack | None = None
    try:
        check_ports(settings)
        stack, functions = start(settings, template)
        asyncio.run(serve(settings, template, stack, functions))
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were installed
        pass
    except SystemExit as exc:
        if exc.code not in (None, 0):
            log(f"error: {exc.code}")
            return 1
    finally:
        if stack is not None:
            stop(stack)
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
