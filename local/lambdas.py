"""The template's functions as local callables: loaded from their CodeUri, invoked like Lambda.

Lambda runs each invocation in an execution environment of its own (a process that handles one
invocation at a time), many of them at once. So does this: a pool of worker processes
(`PRESENCE_WORKERS`, default 4), each of which imports every handler module (`functions/<dir>/
app.py`, by path, as the integration tests do) and runs one invocation at a time with a
Lambda-like context object. Invocations run concurrently, so the races AWS would show show here
too; the moto server they all call handles one request at a time (local.aws), which makes each
DynamoDB call atomic, as DynamoDB's own are.

Workers are spawned (not forked) after the runtime has set the functions' environment, which
they inherit; an invocation's event and result cross the process boundary as pickles (plain
JSON-like values). They ignore SIGINT: a terminal's Ctrl-C reaches every process of the
foreground group, and the runtime alone decides how to stop (letting an invocation in flight
finish, then shutting the pool down), so a worker never dies of it with a traceback.
"""

from __future__ import annotations

import contextlib
import importlib.util
import multiprocessing
import os
import signal
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from local import template as cfn

Handler = Callable[[dict[str, Any], Any], Any]

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
DEFAULT_WORKERS = 4


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    invoked_function_arn: str = ""
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        left = self.timeout_seconds - (time.monotonic() - self.started)
        return max(0, int(left * 1000))


@dataclass(frozen=True)
class FunctionSpec:
    """One AWS::Serverless::Function: where its handler is and how Lambda would size it."""

    logical_id: str
    code_dir: Path
    module_name: str
    attribute: str
    memory_mb: int
    timeout_seconds: int

    def context(self) -> LambdaContext:
        name = f"presence-{self.logical_id}"
        return LambdaContext(
            function_name=name,
            memory_limit_in_mb=self.memory_mb,
            timeout_seconds=self.timeout_seconds,
            log_group_name=f"/aws/lambda/{name}",
            invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
        )


class FunctionError(Exception):
    """The handler raised (or timed out): Lambda reports a function error."""

    def __init__(self, logical_id: str, message: str, trace: str = "") -> None:
        super().__init__(logical_id, message, trace)
        self.logical_id = logical_id
        self.trace = trace or message

    @classmethod
    def of(cls, logical_id: str, exc: BaseException) -> FunctionError:
        return cls(
            logical_id, f"{logical_id} failed: {exc!r}", "".join(traceback.format_exception(exc))
        )

    def __str__(self) -> str:
        return str(self.args[1])


def specs(template: cfn.Template, logical_ids: Iterable[str]) -> dict[str, FunctionSpec]:
    globals_ = template.get("Globals", {}).get("Function", {})
    found: dict[str, FunctionSpec] = {}
    for logical_id in dict.fromkeys(logical_ids):
        props = template["Resources"][logical_id].get("Properties", {})
        handler_path = str(props.get("Handler", globals_.get("Handler")))
        module_name, _, attribute = handler_path.rpartition(".")
        found[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=Path(str(props.get("CodeUri", globals_.get("CodeUri")))),
            module_name=module_name,
            attribute=attribute,
            memory_mb=int(props.get("MemorySize", globals_.get("MemorySize", 128))),
            timeout_seconds=int(props.get("Timeout", globals_.get("Timeout", 3))),
        )
    return found


@contextlib.contextmanager
def sigint_ignored_by_children() -> Iterator[None]:
    """Processes started inside this block ignore SIGINT for life (an ignored signal stays
    ignored across exec, and Python then installs no KeyboardInterrupt handler), so a
    terminal's Ctrl-C, sent to the whole foreground process group, leaves them to the runtime's
    orderly stop. Only the main thread can change a signal's handler: elsewhere this does
    nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def load_module(code_dir: Path, module_name: str) -> ModuleType:
    path = cfn.ROOT / code_dir / f"{module_name}.py"
    spec = importlib.util.spec_from_file_location(f"functions_{code_dir.name}_{module_name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- inside a worker process (one Lambda execution environment) -------------------------------

_handlers: dict[str, Handler] = {}
_specs: dict[str, FunctionSpec] = {}
_load_errors: dict[str, str] = {}


def _worker_init(function_specs: dict[str, FunctionSpec]) -> None:
    """Import every handler once (the cold start), as a deployed function would at init."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # (already, when spawned by `start`)
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    _specs.update(function_specs)
    for logical_id, spec in function_specs.items():
        try:
            module = load_module(spec.code_dir, spec.module_name)
            _handlers[logical_id] = getattr(module, spec.attribute)
        except Exception as exc:
            # Lambda deploys it anyway and every invocation fails (Runtime.ImportModuleError)
            _load_errors[logical_id] = f"{spec.code_dir}/{spec.module_name}.py: {exc!r}"
    _warm_clients()


def _exit_with(parent: int) -> None:
    """End this worker when the runtime is gone, even killed (a pool's workers outlive it)."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _warm_clients() -> None:
    """Create the shared package's boto3 clients and read the secret once, before the first
    invocation (a warm Lambda environment has them from its first invocation on)."""
    try:
        from presence import store
    except ImportError:
        return
    for name in ("dynamodb", "sqs", "scheduler", "sockets", "_secrets"):
        factory: Callable[[], Any] | None = getattr(store, name, None)
        if callable(factory):
            factory()
    with contextlib.suppress(Exception):
        store.usersig_secret_key()


def _worker_ready(pause: float) -> dict[str, str]:
    time.sleep(pause)  # keeps this worker busy so that the pool starts the next one
    return dict(_load_errors)


def _worker_invoke(logical_id: str, event: dict[str, Any]) -> Any:
    handler = _handlers.get(logical_id)
    try:
        if handler is None:
            raise ImportError(f"Runtime.ImportModuleError: {_load_errors.get(logical_id)}")
        return handler(event, _specs[logical_id].context())
    except Exception as exc:
        raise FunctionError.of(logical_id, exc) from None


# --- the parent ---------------------------------------------------------------------------------


class Functions:
    """Every function of the template that some route or event source uses, run by a pool of
    worker processes: concurrent invocations, one at a time per worker, like Lambda's."""

    def __init__(
        self, template: cfn.Template, logical_ids: Iterable[str], workers: int | None = None
    ) -> None:
        self._specs = specs(template, logical_ids)
        self.workers = workers or int(os.environ.get("PRESENCE_WORKERS") or DEFAULT_WORKERS)
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
            initargs=(self._specs,),
        )
        self.load_errors: dict[str, str] = {}

    def start(self) -> None:
        """Start every worker and wait until each has imported the handlers."""
        # Each submit to a busy pool spawns the next worker, in this thread: all of them here.
        with sigint_ignored_by_children():
            futures = [self._pool.submit(_worker_ready, 0.5) for _ in range(self.workers)]
        for future in futures:
            self.load_errors.update(future.result())

    def __contains__(self, logical_id: str) -> bool:
        return logical_id in self._specs

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Run one invocation in a free worker (blocking; call it from a thread). Raises
        FunctionError when the handler raised or ran past the function's timeout."""
        spec = self._specs[logical_id]
        future = self._pool.submit(_worker_invoke, logical_id, event)
        try:
            # (queueing for a free worker counts too: Lambda would have started another)
            return future.result(timeout=spec.timeout_seconds + 30)
        except FutureTimeout:
            raise FunctionError(logical_id, f"{logical_id}: Task timed out") from None

    def stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
