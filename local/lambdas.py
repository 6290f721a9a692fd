"""The template's functions as local callables: loaded from their CodeUri, invoked like Lambda.

Each function's handler module (`functions/<dir>/app.py`) is imported by path, as the integration
tests do, and called with a Lambda-like context object. Invocations run one at a time: in Lambda
each invocation has a process of its own, while here every function shares one process and the
module-level state of Powertools' logger and metrics, which is not built for concurrent threads.
"""

from __future__ import annotations

import importlib.util
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from local import template as cfn

Handler = Callable[[dict[str, Any], Any], Any]

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


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
class Function:
    """One AWS::Serverless::Function, ready to invoke."""

    logical_id: str
    code_dir: Path
    handler: Handler
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
    """The handler raised: Lambda reports an Unhandled function error."""

    def __init__(self, logical_id: str, exc: BaseException) -> None:
        super().__init__(f"{logical_id} failed: {exc!r}")
        self.logical_id = logical_id
        self.trace = "".join(traceback.format_exception(exc))


def _load_module(code_dir: Path, module_name: str) -> ModuleType:
    path = cfn.ROOT / code_dir / f"{module_name}.py"
    spec = importlib.util.spec_from_file_location(f"functions_{code_dir.name}_{module_name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _failing_handler(error: Exception) -> Handler:
    def handler(event: dict[str, Any], context: Any) -> Any:
        raise ImportError(f"Runtime.ImportModuleError: {error!r}")

    return handler


class Functions:
    """Every function of the template that some route or event source uses, loaded once."""

    def __init__(self, template: cfn.Template, logical_ids: Iterable[str]) -> None:
        globals_ = template.get("Globals", {}).get("Function", {})
        self._functions: dict[str, Function] = {}
        self.load_errors: dict[str, str] = {}
        self._lock = threading.Lock()
        for logical_id in dict.fromkeys(logical_ids):
            props = template["Resources"][logical_id].get("Properties", {})
            code_dir = Path(str(props.get("CodeUri", globals_.get("CodeUri"))))
            handler_path = str(props.get("Handler", globals_.get("Handler")))
            module_name, _, attribute = handler_path.rpartition(".")
            try:
                module = _load_module(code_dir, module_name)
                handler = getattr(module, attribute)
            except Exception as exc:
                # Lambda deploys it anyway and every invocation fails (Runtime.ImportModuleError)
                self.load_errors[logical_id] = f"{code_dir}/{module_name}.py: {exc!r}"
                handler = _failing_handler(exc)
            self._functions[logical_id] = Function(
                logical_id=logical_id,
                code_dir=code_dir,
                handler=handler,
                memory_mb=int(props.get("MemorySize", globals_.get("MemorySize", 128))),
                timeout_seconds=int(props.get("Timeout", globals_.get("Timeout", 3))),
            )

    def __contains__(self, logical_id: str) -> bool:
        return logical_id in self._functions

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Call the handler (blocking; run it in a worker thread). Raises FunctionError."""
        function = self._functions[logical_id]
        with self._lock:
            try:
                return function.handler(event, function.context())
            except Exception as exc:
                raise FunctionError(logical_id, exc) from exc
