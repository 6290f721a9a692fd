"""An app backend's State.StateChange callback URL for the tests (API.md section 10): a small
HTTP server on 127.0.0.1 that records every request (with when it came) and answers what its
`policies` say, by default Tencent's "taken". The integration tests post to it from the
callback function under moto, the end-to-end tests from the local runtime."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TAKEN = {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}
Answer = tuple[int, Any, float]  # HTTP status, JSON body, seconds to wait before answering
Policy = Callable[[dict[str, Any]], Answer | None]


class Callee:
    """Records each request (`at`, `path`, `query`, `body`, `content_type`); answers with the
    first of `policies` that has an answer for it (None: ask the next), else 200 TAKEN."""

    def __init__(self, path: str = "/tencent/callback") -> None:
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.policies: list[Policy] = []
        callee = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                split = urlsplit(self.path)
                request = {
                    "at": time.time(),
                    "path": split.path,
                    "query": dict(parse_qsl(split.query)),
                    "body": json.loads(self.rfile.read(length)),
                    "content_type": self.headers.get("Content-Type"),
                }
                with callee.lock:
                    callee.received.append(request)
                status, answer, delay = callee.answer(request)
                time.sleep(delay)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the caller gave up waiting

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        # a short poll interval: shutdown() at teardown waits for it (0.5 s by default)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def answer(self, request: dict[str, Any]) -> Answer:
        for policy in list(self.policies):
            found = policy(request)
            if found is not None:
                return found
        return 200, TAKEN, 0

    def of(self, user: str) -> list[dict[str, Any]]:
        """The requests about `user`, in order."""
        with self.lock:
            return [r for r in self.received if r["body"]["Info"]["To_Account"] == user]

    def events(self) -> list[tuple[str, str, str, str]]:
        """(To_Account, Action, Reason, OptPlatform) of each callback received, in order."""
        with self.lock:
            return [
                (
                    r["body"]["Info"]["To_Account"],
                    r["body"]["Info"]["Action"],
                    r["body"]["Info"]["Reason"],
                    r["query"]["OptPlatform"],
                )
                for r in self.received
            ]

    def wait(
        self, user: str, action: str, reason: str, count: int = 1, timeout: float = 15
    ) -> list[dict[str, Any]]:
        """The first `count` requests about `user` with this Action and Reason, once they came."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                r
                for r in self.of(user)
                if (r["body"]["Info"]["Action"], r["body"]["Info"]["Reason"]) == (action, reason)
            ]
            if len(found) >= count:
                return found[:count]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no {count} x {action}/{reason} for {user} in {timeout} s: {self.of(user)}"
                )
            time.sleep(0.05)
