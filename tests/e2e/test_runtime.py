"""The runtime as a developer runs it: its UserSig tool, a quiet Ctrl-C, a clear error on a busy
port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from local import runner
from tests.e2e.conftest import (
    ROOT,
    SECRET_KEY,
    Http,
    Runtime,
    start_runtime,
    stop_runtime,
    user_sig,
)


def usersig_tool(*args: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "presence"), str(ROOT)]),
        "PRESENCE_SECRET_KEY": SECRET_KEY,
    }
    result = subprocess.run(
        [sys.executable, "-m", "local.usersig", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_the_usersig_tool_signs_for_the_runtime(http: Http) -> None:
    token = usersig_tool("carol-cli")
    reply = http.call("/v1/setSelfStatus", {"customStatus": "from the CLI"}, token=token)
    assert reply.data["userID"] == "carol-cli"
    short = usersig_tool("carol-cli", "--expire", "1")
    assert short != token


def test_the_runtime_prints_what_a_developer_needs(runtime: Runtime) -> None:
    log = runtime.log_text()
    assert runtime.http_url in log and runtime.ws_url in log
    assert "1400000000" in log
    assert "usersig" in log
    # a key was given, so no development-key warning
    assert "development key" not in log


@contextlib.contextmanager
def sigint_as_in_a_terminal() -> Iterator[None]:
    """Children started inside get SIGINT's default action, as under an interactive shell, even
    when these tests run with SIGINT ignored (started in the background by a script): an
    ignored signal would stay ignored in the runtime's workers and prove nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def live_processes_in_group(pgid: int) -> list[str]:
    """The processes of a process group that are still running (not zombies), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after its ")"
            state, _ppid, group = stat.read_text().rpartition(")")[2].split()[:3]
            if int(group) == pgid and state != "Z":
                found.append(stat.parent.name)
    return found


def test_ctrl_c_stops_everything_cleanly(tmp_path: Path) -> None:
    """Ctrl-C in the terminal of `make run`: SIGINT to every process of the foreground group
    (the runtime, its moto server and its workers) stops it with one line, no traceback, and
    leaves no process behind."""
    with sigint_as_in_a_terminal():
        runtime = runner.start_runtime_as_make_run(tmp_path / "runtime.log", secret_key=SECRET_KEY)
    try:
        ws = connect(f"{runtime.ws_url}/?userSig={user_sig('dave')}", open_timeout=10)
    except BaseException:
        stop_runtime(runtime)
        raise
    os.killpg(runtime.pid, signal.SIGINT)
    code = stop_runtime(runtime, signal.SIGINT)  # (already signalled: waits)
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(10):  # frames pushed before the stop come first
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001  # going away
    log = runtime.log_text()
    assert code == 0, log
    assert log.splitlines()[-1] == "[local] stopped", log
    # no uncaught exception anywhere in the group (the functions' JSON logs may quote
    # tracebacks of their own, never at the start of a line)
    assert not any(line.startswith("Traceback") for line in log.splitlines()), log
    assert "KeyboardInterrupt" not in log, log
    if Path("/proc/self/stat").exists():
        deadline = time.monotonic() + 5
        while live_processes_in_group(runtime.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert live_processes_in_group(runtime.pid) == []


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"cannot listen on 127.0.0.1:{port}"):
            start_runtime(tmp_path / "runtime.log", PRESENCE_HTTP_PORT=str(port))
