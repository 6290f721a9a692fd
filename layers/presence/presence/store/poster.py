"""PostToConnection on a lean path: botocore's own SigV4 signer over persistent HTTP(S)
connections, reused across invocations (issue: delivery at the floor).

boto3's `post_to_connection` spends about two thirds of a post's CPU in its request pipeline
(parameter validation, serialisation, event hooks, endpoint rules), not in the signature or the
socket. Here a post is: one `SigV4Auth.add_auth` (botocore's, the same signature boto3 makes,
with credentials from botocore's resolver: Lambda's environment, refreshed when they rotate)
and one request on a keep-alive connection taken from a small pool (the standard library's
`http.client`; urllib3's pool costs about 0.1 ms more per post, measured in bench/post_cpu.py).

Answers, as boto3's would surface them:
- 200: posted (True); 410: the connection is gone (False);
- 429, or 400 with `LimitExceededException` (the account's @connections throttle): the post
  waits (jittered, growing) and is sent again, up to THROTTLE_ATTEMPTS times, then raises;
- anything else, a timeout or a broken connection: raises `PostError` (the caller retries that
  post alone); a keep-alive connection the server closed is replaced and the post sent once more.
"""

from __future__ import annotations

import http.client
import random
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials

TIMEOUT_SECONDS = 5.0
THROTTLE_ATTEMPTS = 5
THROTTLE_BASE_SECONDS = 0.05
POOL_SIZE = 32  # = the delivery's parallel posts (presence.delivery.MAX_WORKERS)


class PostError(Exception):
    """A post that neither arrived nor found the connection gone (the caller may retry it)."""


def _is_throttled(status: int, body: bytes) -> bool:
    return status == 429 or (status == 400 and b"LimitExceeded" in body)


class Poster:
    """Posts frames to one WebSocket stage's @connections API. Thread-safe: each post takes a
    connection from the pool (or opens one) and gives it back when the answer has been read."""

    def __init__(
        self,
        endpoint: str,
        region: str,
        credentials: Callable[[], Credentials | None],
        *,
        ssl_context: ssl.SSLContext | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"not an @connections endpoint: {endpoint!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._netloc = parts.netloc
        self._base = parts.path.rstrip("/")
        self._region = region
        self._credentials = credentials
        self._ssl = ssl_context if ssl_context is not None else ssl.create_default_context()
        self._sleep = sleep
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def post(self, connection_id: str, data: bytes) -> bool:
        """Send one frame: True when posted, False when the connection is gone (410)."""
        path = f"{self._base}/@connections/{quote(connection_id, safe='')}"
        for attempt in range(THROTTLE_ATTEMPTS):
            status, body = self._send(path, data)
            if status == 200:
                return True
            if status == 410:
                return False
            if not _is_throttled(status, body) or attempt + 1 == THROTTLE_ATTEMPTS:
                raise PostError(f"PostToConnection answered {status}: {body[:200]!r}")
            self._sleep(random.uniform(0, THROTTLE_BASE_SECONDS * 2**attempt))
        raise PostError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # --- one request --------------------------------------------------------------------------

    def _headers(self, path: str, data: bytes) -> dict[str, str]:
        credentials = self._credentials()
        if credentials is None:
            raise PostError("no AWS credentials to sign the post with")
        frozen: ReadOnlyCredentials = credentials.get_frozen_credentials()
        request = AWSRequest(
            method="POST",
            url=f"{'https' if self._https else 'http'}://{self._netloc}{path}",
            data=data,
        )
        SigV4Auth(frozen, "execute-api", self._region).add_auth(request)
        return dict(request.headers.items())

    def _send(self, path: str, data: bytes) -> tuple[int, bytes]:
        headers = self._headers(path, data)
        for fresh in (False, True):
            conn = self._checkout(fresh)
            try:
                conn.request("POST", path, body=data, headers=headers)
                response = conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if fresh:
                    raise PostError("the @connections endpoint closed the connection") from None
                continue  # a keep-alive connection the server had closed: once more, anew
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise PostError(f"PostToConnection failed: {exc!r}") from exc
            if response.will_close:
                conn.close()
            else:
                self._checkin(conn)
            return response.status, body
        raise PostError("unreachable")  # pragma: no cover

    def _checkout(self, fresh: bool) -> http.client.HTTPConnection:
        if not fresh:
            with self._lock:
                if self._idle:
                    return self._idle.pop()
        if self._https:
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=TIMEOUT_SECONDS, context=self._ssl
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=TIMEOUT_SECONDS)

    def _checkin(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < POOL_SIZE:
                self._idle.append(conn)
                return
        conn.close()


def botocore_credentials() -> Callable[[], Credentials | None]:
    """Credentials as boto3 finds them (Lambda: its environment), resolved once per process;
    a refreshable set refreshes itself when asked for its frozen values."""
    import botocore.session

    session = botocore.session.get_session()
    cached: dict[str, Any] = {}

    def get() -> Credentials | None:
        if "value" not in cached:
            cached["value"] = session.get_credentials()
        value: Credentials | None = cached["value"]
        return value

    return get
