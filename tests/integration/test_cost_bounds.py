"""What each request costs in DynamoDB calls (DESIGN.md principle 2: cost grows with the request,
never with the number of users), counted on the client the code uses.

Every test first warms the settings cache with one call, as a running function would have it, and
stretches the cache's max age so a slow moto call cannot make it expire mid-test (the cold cost,
one settings GetItem more, is checked on its own).
"""

from __future__ import annotations

import ast
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient

from presence import settings, store
from tests.integration.conftest import ROOT, Api

# unsubscribe costs its BatchWriteItem calls plus this many others: one Query for the
# subscriber's current list (one page: a list within the quota is far below 1 MB of keys) and
# one UpdateItem on the rate-limit counter. A subscribe that adds reads the list once more after
# its write, to trim to the quota exactly even when calls race (presence.subscriptions.trim).
UNSUBSCRIBE_CONSTANT = 2
SUBSCRIBE_CONSTANT = UNSUBSCRIBE_CONSTANT + 1


class DynamoCalls:
    """DynamoDB operations made while counting, by name."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.on = False

    def hook(self, model: Any, **kwargs: Any) -> None:
        if self.on:
            self.counts[model.name] += 1

    def __enter__(self) -> DynamoCalls:
        self.counts.clear()
        self.on = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.on = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@pytest.fixture
def calls(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoCalls]:
    monkeypatch.setattr(settings, "MAX_AGE_SECONDS", 3600.0)
    assert api.set_self_status("warm", user="warmup").status == 200  # clients and settings warm
    counter = DynamoCalls()
    client = store.dynamodb()
    client.meta.events.register("before-call.dynamodb", counter.hook)

    # Guard: a DynamoDB call through any other client would escape the hook above.
    elsewhere: Counter[str] = Counter()
    original = BaseClient._make_api_call  # type: ignore[attr-defined]

    def make_api_call(self: BaseClient, operation_name: str, api_params: Any) -> Any:
        if counter.on and self.meta.service_model.service_name == "dynamodb" and self is not client:
            elsewhere[operation_name] += 1
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
    yield counter
    client.meta.events.unregister("before-call.dynamodb", counter.hook)
    assert store.dynamodb() is client, "the code switched DynamoDB clients mid-test"
    assert not elsewhere, f"DynamoDB calls through another client: {dict(elsewhere)}"


def seed_statuses(api: Api, user_ids: list[str]) -> set[str]:
    """Every 50th user sets a custom status (through the API); the rest never logged in."""
    seeded = set(user_ids[::50])
    for user_id in seeded:
        assert api.set_self_status(f"cs-{user_id}", user=user_id).status == 200
    return seeded


# --- setSelfStatus ------------------------------------------------------------------------------


def test_set_self_status_is_one_update_item(api: Api, calls: DynamoCalls) -> None:
    with calls:
        assert api.set_self_status("first").data["customStatus"] == "first"
    assert calls.counts == {"UpdateItem": 1}


def test_set_self_status_unchanged_or_cleared_is_still_one_update_item(
    api: Api, calls: DynamoCalls
) -> None:
    api.set_self_status("same")
    for value in ("same", "", ""):
        with calls:
            assert api.set_self_status(value).data["customStatus"] == value
        assert calls.counts == {"UpdateItem": 1}, value


def test_cold_settings_cost_one_get_item_more(api: Api, calls: DynamoCalls) -> None:
    settings.clear_cache()
    with calls:
        assert api.set_self_status("cold").status == 200
    assert calls.counts == {"GetItem": 1, "UpdateItem": 1}
    with calls:
        assert api.set_self_status("warm again").status == 200
    assert calls.counts == {"UpdateItem": 1}


# --- getUserStatus ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 100, 101, 250, 500])
def test_get_user_status_costs_ceil_n_over_100_batch_gets(
    api: Api, calls: DynamoCalls, n: int
) -> None:
    users = [f"user{i:03d}" for i in range(n)]
    seeded = seed_statuses(api, users)
    with calls:
        data = api.get_user_status(users).data
    # what the user sees is complete: every status, read from the table
    assert [s["userID"] for s in data["successUserList"]] == users
    assert {s["userID"]: s["customStatus"] for s in data["successUserList"]} == {
        u: f"cs-{u}" if u in seeded else "" for u in users
    }
    assert calls.counts["BatchGetItem"] <= math.ceil(n / 100)
    assert calls.counts["UpdateItem"] == 1  # the rate-limit counter
    assert set(calls.counts) <= {"BatchGetItem", "UpdateItem"}, calls.counts


def test_get_user_status_of_yourself_is_one_batch_get_and_no_rate_limit_write(
    api: Api, calls: DynamoCalls
) -> None:
    with calls:
        assert api.get_user_status(["alice"]).status == 200
    assert calls.counts == {"BatchGetItem": 1}


def test_duplicates_and_invalid_ids_cost_nothing_extra(api: Api, calls: DynamoCalls) -> None:
    with calls:
        data = api.get_user_status(["bob"] * 499 + [""]).data
    assert len(data["successUserList"]) == 1 and len(data["failureUserList"]) == 1
    assert calls.counts == {"BatchGetItem": 1, "UpdateItem": 1}


def test_refused_requests_cost_no_reads(api: Api, calls: DynamoCalls) -> None:
    with calls:
        assert api.get_user_status([f"u{i}" for i in range(501)]).code == 6017
        assert api.call("get_user_status", raw_body="nope").code == 6027
        assert api.call("get_user_status", {"userIDList": ["bob"]}, user=None).code == 70003
    assert calls.total == 0, calls.counts


# --- subscribe / unsubscribe / getSubscriptions -------------------------------------------------


@pytest.mark.parametrize("n", [1, 25, 26, 100])
def test_subscribe_costs_ceil_n_over_25_batch_writes_plus_a_constant(
    api: Api, calls: DynamoCalls, n: int
) -> None:
    targets = [f"t{i:03d}" for i in range(n)]
    with calls:
        assert api.subscribe(targets).data == {"failureUserList": []}
    assert api.subscriptions() == targets
    assert calls.counts["BatchWriteItem"] <= math.ceil(n / 25)
    others = calls.total - calls.counts["BatchWriteItem"]
    assert others <= SUBSCRIBE_CONSTANT, calls.counts
    assert set(calls.counts) <= {"BatchWriteItem", "Query", "UpdateItem"}, calls.counts


def test_subscribing_again_writes_nothing(api: Api, calls: DynamoCalls) -> None:
    targets = [f"t{i}" for i in range(30)]
    api.subscribe(targets)
    with calls:
        assert api.subscribe(targets).status == 200
    assert calls.counts == {"Query": 1, "UpdateItem": 1}


def test_subscribe_over_the_quota_costs_the_evictions_too(api: Api, calls: DynamoCalls) -> None:
    # quota 200 full, 100 new: 100 puts + 100 deletes, still in batches of 25
    for start in range(0, 200, 100):
        api.subscribe([f"old{i:03d}" for i in range(start, start + 100)])
    with calls:
        assert api.subscribe([f"new{i:03d}" for i in range(100)]).status == 200
    assert len(api.subscriptions()) == 200
    assert calls.counts["BatchWriteItem"] <= math.ceil((100 + 100) / 25)
    assert calls.total - calls.counts["BatchWriteItem"] <= SUBSCRIBE_CONSTANT, calls.counts


@pytest.mark.parametrize("n", [1, 25, 26, 100])
def test_unsubscribe_costs_ceil_n_over_25_batch_writes_plus_a_constant(
    api: Api, calls: DynamoCalls, n: int
) -> None:
    targets = [f"t{i:03d}" for i in range(n)]
    api.subscribe(targets)
    with calls:
        assert api.unsubscribe(targets).status == 200
    assert api.subscriptions() == []
    assert calls.counts["BatchWriteItem"] <= math.ceil(n / 25)
    assert calls.total - calls.counts["BatchWriteItem"] <= UNSUBSCRIBE_CONSTANT, calls.counts
    assert set(calls.counts) <= {"BatchWriteItem", "Query", "UpdateItem"}, calls.counts


def test_get_subscriptions_is_one_query(api: Api, calls: DynamoCalls) -> None:
    api.subscribe([f"t{i}" for i in range(100)])
    api.subscribe([f"s{i}" for i in range(100)])
    with calls:
        assert len(api.subscriptions()) == 200
    assert calls.counts == {"Query": 1}


# --- no Scan anywhere ---------------------------------------------------------------------------


def source_files() -> list[Path]:
    files = [*(ROOT / "layers" / "presence").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    return sorted(f for f in files if not {".aws-sam", "__pycache__"} & set(f.parts))


def scan_uses(source: str) -> list[int]:
    """Lines of code that call or name DynamoDB's Scan: `.scan`, `scan(...)`, `import scan`, or a
    string that is exactly "scan"/"Scan" (an operation or paginator name, a getattr). Comments and
    docstrings that merely mention Scan are not code and do not count."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if (
            (isinstance(node, ast.Attribute) and node.attr.lower() == "scan")
            or (isinstance(node, ast.Name) and node.id.lower() == "scan")
            or (isinstance(node, ast.alias) and node.name.split(".")[-1].lower() == "scan")
            or (isinstance(node, ast.Constant) and str(node.value).lower() == "scan")
        ):
            lines.append(node.lineno)
    return sorted(lines)


def test_the_scan_check_finds_a_scan() -> None:
    # the check below is not blind: each way of reaching Scan is caught, a mention is not
    for code in (
        "dynamodb().scan(TableName=t)",
        "client.get_paginator('scan').paginate()",
        "client._make_api_call('Scan', {})",
        "f = table.scan",
        "getattr(client, 'sc' 'an')(TableName=t)",
        "from boto3.dynamodb import scan",
    ):
        assert scan_uses(code) == [1], code
    assert scan_uses('"""Nothing here scans; never Scan."""\n# no .scan( either\nx = 1') == []


def test_no_source_file_calls_scan() -> None:
    files = source_files()
    assert ROOT / "layers/presence/presence/store/status.py" in files, files
    assert len([f for f in files if f.name == "app.py"]) >= 7, files
    found = [
        f"{f.relative_to(ROOT)}:{line}"
        for f in files
        for line in scan_uses(f.read_text(encoding="utf-8"))
    ]
    assert found == []
