"""Browser tests: the web demo and the Web SDK in headless Chromium, against the local runtime.

Debian's `chromium` (`apt-get install -y chromium`), driven by Playwright for Python with
`executable_path` set to it (Playwright's own browser download is never used). Without chromium
or Playwright every test here is skipped, saying why. The runtime starts once for the session,
as in tests/e2e (the same `start_runtime`), with the demo server on a free port.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from presence.auth import gen_user_sig
from tests.e2e.conftest import (
    SDKAPPID,
    SECRET_KEY,
    Runtime,
    free_port,
    start_runtime,
    stop_runtime,
)

CHROMIUM = shutil.which("chromium")
if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - requirements-dev.txt installs it
    sync_playwright = None  # type: ignore[assignment]
else:
    # the machine is shared (2 cores): a push may take longer than Playwright's default 5 s
    expect.set_options(timeout=15_000)

SKIP_REASON = (
    "chromium is not installed (apt-get install -y chromium)"
    if CHROMIUM is None
    else "Playwright for Python is not installed (pip install -r requirements-dev.txt)"
    if sync_playwright is None
    else None
)
ONLINE, OFFLINE, UNLOGINED = 1, 2, 3


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SKIP_REASON is None:
        return
    here = Path(__file__).parent
    for item in items:
        uses_browser = {"browser", "new_page"} & set(getattr(item, "fixturenames", ()))
        if uses_browser and here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=f"browser tests skipped: {SKIP_REASON}"))


@dataclass
class DemoRuntime:
    http_url: str
    ws_url: str
    demo_url: str
    log_path: Path
    runtime: Runtime

    def user_sig(self, user_id: str) -> str:
        return gen_user_sig(SDKAPPID, SECRET_KEY, user_id, 3600)

    def call(self, user_id: str, route: str, body: dict[str, Any]) -> dict[str, Any]:
        """An HTTP API call as `user_id` (outside the browser); returns `data`."""
        answer = httpx.post(
            f"{self.http_url}/v1/{route}",
            json=body,
            headers={"Authorization": f"Bearer {self.user_sig(user_id)}"},
            timeout=15,
        )
        payload = answer.json()
        assert payload.get("code") == 0, payload
        return dict(payload["data"])


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRuntime]:
    log_path = tmp_path_factory.mktemp("runtime") / "runtime.log"
    demo_port = free_port()
    runtime = start_runtime(log_path, PRESENCE_DEMO_PORT=str(demo_port))
    try:
        yield DemoRuntime(
            runtime.http_url, runtime.ws_url, f"http://127.0.0.1:{demo_port}", log_path, runtime
        )
    finally:
        stop_runtime(runtime)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    assert sync_playwright is not None and CHROMIUM is not None
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox"],  # root, as in CI
        )
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """A page in a browser context of its own (its own storage: a separate "window")."""
    contexts: list[BrowserContext] = []

    def make(width: int = 900, height: int = 640) -> Page:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        context.set_default_timeout(20_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.errors = errors  # type: ignore[attr-defined]
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def uid() -> Callable[[str], str]:
    """A userID of this test alone: uid("alice") -> "alice-1f2e3d"."""

    def make(name: str) -> str:
        return f"{name}-{uuid.uuid4().hex[:6]}"

    return make


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
