"""Smoke test of a running deployment (a stack on AWS, or `make run`): a few real calls that
show the service works end to end, with users of its own that it leaves as it found them.

    make smoke HTTP_URL=https://....amazonaws.com WS_URL=wss://....amazonaws.com/prod \\
               SECRET_KEY=<the UserSig key> [SDKAPPID=1400000000]

Steps: a WebSocket opens and answers a ping; one user subscribes to another; the other sets a
custom status and the first one's socket gets the push; a read shows it; the watcher logs out
(loggedOut, then the socket closes). Exits 0 when every step passed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
from websockets.sync.client import ClientConnection, connect

from presence.auth import gen_user_sig

EVENT = "onUserStatusUpdated"


class Smoke:
    def __init__(self, http_url: str, ws_url: str, sdkappid: int, key: str) -> None:
        self.http = httpx.Client(base_url=http_url.rstrip("/"), timeout=15)
        self.ws_url = ws_url.rstrip("/")
        self.sdkappid, self.key = sdkappid, key
        tag = uuid.uuid4().hex[:8]
        self.watcher, self.star = f"smoke-{tag}-watcher", f"smoke-{tag}-star"

    def sig(self, user: str) -> str:
        return gen_user_sig(self.sdkappid, self.key, user, expire=600)

    def call(self, user: str, route: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = self.http.post(
            f"/v1/{route}", json=body, headers={"Authorization": f"Bearer {self.sig(user)}"}
        )
        payload = reply.json()
        if reply.status_code != 200 or payload.get("code") != 0:
            raise AssertionError(f"{route} answered {reply.status_code} {payload}")
        return dict(payload["data"])

    def socket(self, user: str) -> ClientConnection:
        query = urlencode({"userSig": self.sig(user), "platform": "web"})
        return connect(f"{self.ws_url}/?{query}", open_timeout=15)

    def run(self, report: Callable[[str, bool, str], None]) -> bool:
        ok = True

        def step(name: str, action: Callable[[], str]) -> bool:
            nonlocal ok
            try:
                detail = action()
            except Exception as exc:  # report and stop: later steps depend on this one
                report(name, False, f"{type(exc).__name__}: {exc}")
                ok = False
                return False
            report(name, True, detail)
            return True

        opened: list[ClientConnection] = []

        def open_socket() -> str:
            opened.append(self.socket(self.watcher))
            return "connected"

        try:
            if not step("WebSocket opens", open_socket):
                return False
            ws_ = opened[0]
            step("ping answers pong", lambda: _ping(ws_))
            step(
                "subscribe",
                lambda: str(
                    self.call(self.watcher, "subscribeUserStatus", {"userIDList": [self.star]})
                ),
            )
            version = [0]

            def set_status() -> str:
                data = self.call(self.star, "setSelfStatus", {"customStatus": "smoke test"})
                version[0] = int(data["version"])
                return f"version {version[0]}"

            step("setSelfStatus", set_status)
            step("the push arrives", lambda: _await_push(ws_, self.star, "smoke test"))
            step("getUserStatus reads it", lambda: _read(self, version[0]))
            step("logout", lambda: _logout(ws_))
        finally:
            for ws in opened:
                ws.close()
            for cleanup in (
                lambda: self.call(self.watcher, "unsubscribeUserStatus", {}),
                lambda: self.call(self.star, "setSelfStatus", {"customStatus": ""}),
            ):
                try:
                    cleanup()
                except Exception as exc:
                    report("clean up", False, str(exc))
        return ok


def _frames(ws: ClientConnection, until: Callable[[dict[str, Any]], bool], seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        frame = json.loads(ws.recv(timeout=left))
        if until(frame):
            return json.dumps(frame)[:120]
    raise TimeoutError(f"nothing matching in {seconds} s")


def _ping(ws: ClientConnection) -> str:
    ws.send('{"action": "ping"}')
    return _frames(ws, lambda f: f.get("event") == "pong", 10)


def _await_push(ws: ClientConnection, user: str, custom: str) -> str:
    def matches(frame: dict[str, Any]) -> bool:
        return frame.get("event") == EVENT and any(
            s.get("userID") == user and s.get("customStatus") == custom for s in frame["data"]
        )

    return _frames(ws, matches, 15)


def _read(smoke: Smoke, version: int) -> str:
    data = smoke.call(smoke.watcher, "getUserStatus", {"userIDList": [smoke.star]})
    (status,) = data["successUserList"]
    assert status["customStatus"] == "smoke test" and status["version"] >= version, status
    return json.dumps(status)


def _logout(ws: ClientConnection) -> str:
    ws.send('{"action": "logout"}')
    _frames(ws, lambda f: f.get("event") == "loggedOut", 10)
    try:
        ws.recv(timeout=10)
    except Exception:
        return "loggedOut, then closed"
    raise AssertionError("the socket stayed open after loggedOut")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--http-url", required=True)
    parser.add_argument("--ws-url", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--sdkappid", type=int, default=1400000000)
    args = parser.parse_args(argv)

    def report(name: str, passed: bool, detail: str) -> None:
        print(f"{'ok  ' if passed else 'FAIL'} {name}: {detail}", flush=True)

    smoke = Smoke(args.http_url, args.ws_url, args.sdkappid, args.secret_key)
    passed = smoke.run(report)
    print("smoke test passed" if passed else "smoke test FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
