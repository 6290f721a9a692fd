"""`make smoke` (tests/smoke.py) against the local runtime: the same check a deployment gets."""

from __future__ import annotations

from tests import smoke
from tests.e2e.conftest import SDKAPPID, SECRET_KEY, Runtime


def test_the_smoke_test_passes_against_the_local_runtime(runtime: Runtime) -> None:
    lines: list[tuple[str, bool]] = []
    checker = smoke.Smoke(runtime.http_url, runtime.ws_url, SDKAPPID, SECRET_KEY)
    assert checker.run(lambda name, passed, detail: lines.append((name, passed)))
    assert [name for name, _ in lines] == [
        "WebSocket opens",
        "ping answers pong",
        "subscribe",
        "setSelfStatus",
        "the push arrives",
        "getUserStatus reads it",
        "logout",
    ]
    assert all(passed for _, passed in lines)


def test_the_smoke_test_fails_with_the_wrong_key(runtime: Runtime) -> None:
    lines: list[tuple[str, bool]] = []
    checker = smoke.Smoke(runtime.http_url, runtime.ws_url, SDKAPPID, "not-the-key")
    assert not checker.run(lambda name, passed, detail: lines.append((name, passed)))
    assert lines[0] == ("WebSocket opens", False)
