"""The runtime as a developer runs it: its UserSig tool, a clean Ctrl-C, a clear error on a busy
port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

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


def test_ctrl_c_stops_everything_cleanly(tmp_path: Path) -> None:
    runtime = start_runtime(tmp_path / "runtime.log")
    try:
        ws = connect(f"{runtime.ws_url}/?userSig={user_sig('dave')}", open_timeout=10)
    except BaseException:
        stop_runtime(runtime)
        raise
    code = stop_runtime(runtime, signal.SIGINT)
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(10):  # frames pushed before the stop come first
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001  # going away
    log = runtime.log_text()
    assert code == 0, log
    assert "stopped" in log.splitlines()[-1], log
    # no uncaught exception (the functions' JSON logs may quote tracebacks of their own)
    assert not any(line.startswith("Traceback") for line in log.splitlines()), log


def test_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"cannot listen on 127.0.0.1:{port}"):
            start_runtime(tmp_path / "runtime.log", PRESENCE_HTTP_PORT=str(port))
