"""The lean @connections post path (presence.store.poster) against a local HTTP endpoint that
answers as API Gateway's @connections API does: 200, 410 Gone, 429 / LimitExceededException,
5xx."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.credentials import Credentials

from presence.store.poster import THROTTLE_ATTEMPTS, Poster, PostError


class Endpoint(ThreadingHTTPServer):
    """Answers by connection id: 'drop...' 200 then closes the socket, 'gone...' 410,
    'slow<n>...' 429 n times then 200, 'limit...' 400 LimitExceededException once, 'bad...'
    500, anything else 200. Records each request and the client ports it came from."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict[str, Any]] = []
        self.throttled: dict[str, int] = {}
        self.connections: set[int] = set()  # client ports


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: Endpoint

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        cid = self.path.rsplit("/", 1)[1]
        self.server.requests.append(
            {"path": self.path, "headers": dict(self.headers), "body": body}
        )
        self.server.connections.add(self.client_address[1])
        status, payload = 200, b""
        if cid.startswith("gone"):
            status, payload = 410, b'{"message": "Gone"}'
        elif cid.startswith("slow"):
            times = int(cid[4])
            seen = self.server.throttled.get(cid, 0)
            if seen < times:
                self.server.throttled[cid] = seen + 1
                status, payload = 429, b'{"message": "Too Many Requests"}'
        elif cid.startswith("limit") and cid not in self.server.throttled:
            self.server.throttled[cid] = 1
            status, payload = 400, b'{"__type": "LimitExceededException"}'
        elif cid.startswith("bad"):
            status, payload = 500, b'{"message": "Internal server error"}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        if cid.startswith("drop"):
            self.close_connection = True  # closed after answering, without saying so

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )  # shutdown() waits for a poll interval (0.5 s by default)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def poster(endpoint: Endpoint) -> Iterator[Poster]:
    port = endpoint.server_address[1]
    credentials = Credentials("AKIDEXAMPLE", "secret", "token")
    made = Poster(
        f"http://127.0.0.1:{port}/prod", "us-east-1", lambda: credentials, sleep=lambda _s: None
    )
    yield made
    made.close()


def test_a_post_is_signed_for_execute_api_and_sent_to_the_stage(
    poster: Poster, endpoint: Endpoint
) -> None:
    assert poster.post("L0SM9cOFvHcCIhw=", b'{"event": "x"}') is True
    (request,) = endpoint.requests
    assert request["path"] == "/prod/@connections/L0SM9cOFvHcCIhw%3D"
    assert request["body"] == b'{"event": "x"}'
    auth = request["headers"]["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/execute-api/aws4_request" in auth
    assert request["headers"]["X-Amz-Security-Token"] == "token"


def test_gone_is_false(poster: Poster) -> None:
    assert poster.post("gone1", b"x") is False


def test_keep_alive_connections_are_reused(poster: Poster, endpoint: Endpoint) -> None:
    for i in range(20):
        assert poster.post(f"c{i}", b"x") is True
    assert len(endpoint.connections) == 1


def test_throttled_posts_wait_and_go_again(poster: Poster, endpoint: Endpoint) -> None:
    assert poster.post("slow2x", b"x") is True
    assert poster.post("limit1", b"x") is True
    assert [r["path"].rsplit("/", 1)[1] for r in endpoint.requests] == [
        "slow2x",
        "slow2x",
        "slow2x",
        "limit1",
        "limit1",
    ]


def test_throttled_past_the_attempts_raises(poster: Poster) -> None:
    assert THROTTLE_ATTEMPTS <= 9
    with pytest.raises(PostError, match="429"):
        poster.post("slow9x", b"x")


def test_a_server_error_raises_for_the_caller_to_retry(poster: Poster) -> None:
    with pytest.raises(PostError, match="500"):
        poster.post("bad1", b"x")


def test_a_keep_alive_connection_the_server_closed_is_replaced(
    poster: Poster, endpoint: Endpoint
) -> None:
    assert poster.post("drop1", b"x") is True  # its connection goes back to the pool, dead
    assert poster.post("c2", b"x") is True  # sent again on a new connection
    assert [r["path"].rsplit("/", 1)[1] for r in endpoint.requests] == ["drop1", "c2"]
    assert len(endpoint.connections) == 2


def test_no_credentials_is_an_error(endpoint: Endpoint) -> None:
    port = endpoint.server_address[1]
    poster = Poster(f"http://127.0.0.1:{port}/prod", "us-east-1", lambda: None)
    with pytest.raises(PostError, match="credentials"):
        poster.post("c1", b"x")
