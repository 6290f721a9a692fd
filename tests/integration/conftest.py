"""Handlers under moto: tables built from template.yaml, events from events/, real UserSigs.

`api` calls a function the way API Gateway would (the sample event of events/<dir>.json with the
caller's UserSig and body swapped in) and returns what the client would see; `world` is the
WebSocket side with the stream consumer, delivery and timers in the loop. Both come from
local.harness, which the benchmarks use too.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from moto.dynamodb.responses import DynamoHandler

from local.harness import REGION as REGION
from local.harness import ROOT as ROOT
from local.harness import SDKAPPID as SDKAPPID
from local.harness import SECRET_KEY as SECRET_KEY
from local.harness import Api as Api
from local.harness import Reply as Reply
from local.harness import StatusStream as StatusStream
from local.harness import World as World
from local.harness import drain_delivery_queue as drain_delivery_queue
from local.harness import handler_module as handler_module
from local.harness import lambda_context as lambda_context
from local.harness import moto_account
from local.harness import stream_consumer as stream_consumer
from local.harness import user_sig as user_sig
from presence import settings

# Powertools reads these when presence.observability is first imported, which may be at a
# test module's import time, before any fixture runs.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "presence")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Presence")


@pytest.fixture
def aws() -> Iterator[dict[str, str]]:
    """A fresh moto account with the template's tables and secret; the functions' environment."""
    with moto_account(SECRET_KEY) as env:
        yield env


@pytest.fixture
def api(aws: dict[str, str]) -> Api:
    return Api()


@pytest.fixture
def fresh_settings() -> Callable[[], None]:
    """Drop the settings cache, as if its short max age had passed."""
    return settings.clear_cache


@pytest.fixture
def world(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> World:
    return World(monkeypatch, aws["STATUS_TABLE"])


# --- concurrency --------------------------------------------------------------------------------


@pytest.fixture
def atomic_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serialise moto's DynamoDB requests: each one atomic, as DynamoDB's own are.

    moto is not a faithful stand-in for DynamoDB under threads: its UpdateItem reads the item,
    evaluates the condition and writes back with no lock, so concurrent conditional writes lose
    updates and pass conditions they should fail. DynamoDB applies each write to an item
    atomically; this gives moto that one guarantee and nothing more (a read followed by a
    separate write still races). The handlers share module-level Powertools Metrics, which
    Lambda never runs from two threads: printing metrics is turned off.
    """
    original = DynamoHandler.call_action
    lock = threading.Lock()

    def call_action(self: DynamoHandler) -> Any:
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")


def concurrently[R](call: Callable[[int], R], n: int) -> list[R]:
    """Run `n` calls at once, as n Lambda invocations (all threads released together)."""
    barrier = threading.Barrier(n)

    def one(i: int) -> R:
        barrier.wait()
        return call(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))
