"""The one retry policy (presence.retry) and the store's helpers built on it: a batch call's
leftovers asked for again, a failed condition as an answer. Fake clients and a fake clock: no
AWS, no sleeping."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from presence import retry
from presence.errors import Code, PresenceError
from presence.store import _dynamo


class Clock:
    """presence.clock.monotonic and time.sleep: sleeping moves the clock."""

    def __init__(self) -> None:
        self.now = 100.0
        self.pauses: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("presence.clock.monotonic", fake.monotonic)
    monkeypatch.setattr("time.sleep", fake.sleep)
    return fake


def failing(times: int, result: Any = "done") -> Any:
    calls = [0]

    def attempt() -> Any:
        calls[0] += 1
        return None if calls[0] <= times else result

    attempt.calls = calls  # type: ignore[attr-defined]
    return attempt


def test_a_result_ends_the_retries(clock: Clock) -> None:
    attempt = failing(3)
    assert retry.until_done(attempt, what="x") == "done"
    assert attempt.calls == [4]
    assert len(clock.pauses) == 3


def test_false_and_zero_are_results_only_none_is_a_retry(clock: Clock) -> None:
    assert retry.until_done(failing(1, False), what="x") is False
    assert retry.until_done(failing(0, 0), what="x") == 0


def test_pauses_are_full_jitter_under_a_doubling_cap(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ceilings: list[float] = []

    def uniform(low: float, high: float) -> float:
        ceilings.append(high)
        return high

    monkeypatch.setattr("random.uniform", uniform)
    retry.until_done(failing(7), what="x")
    assert ceilings == [0.02, 0.04, 0.08, 0.16, 0.32, 0.4, 0.4]
    assert all(0 <= p <= retry.CAP_SECONDS for p in clock.pauses)


def test_a_race_lost_for_the_whole_budget_is_7012(clock: Clock) -> None:
    with pytest.raises(PresenceError) as caught:
        retry.until_done(lambda: None, what="the status of 'alice'")
    assert caught.value.code is Code.SERVER_FAULT
    assert caught.value.message == "the status of 'alice' is changing too fast; try again"
    assert clock.now - 100.0 <= retry.BUDGET_SECONDS


def test_a_bounded_number_of_tries_and_its_own_message(clock: Clock) -> None:
    attempt = failing(10)
    with pytest.raises(PresenceError, match=r"^the table is busy$"):
        retry.until_done(attempt, what="x", tries=3, gave_up="the table is busy")
    assert attempt.calls == [3]
    assert len(clock.pauses) == 2  # between the tries, none after the last


# --- the store's batches and conditional writes -------------------------------------------------


class FakeDynamoDB:
    """BatchGetItem / BatchWriteItem that leave part of each request for the next call."""

    def __init__(self, leave: int, rounds: int) -> None:
        self.leave, self.rounds = leave, rounds
        self.requests: list[dict[str, Any]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(RequestItems)
        (table, request), *_ = RequestItems.items()
        keys = request["Keys"]
        leave = self.leave if len(self.requests) <= self.rounds else 0
        done, left = keys[: len(keys) - leave], keys[len(keys) - leave :]
        response: dict[str, Any] = {"Responses": {table: [dict(k, v={"N": "1"}) for k in done]}}
        if left:
            response["UnprocessedKeys"] = {table: {**request, "Keys": left}}
        return response

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(RequestItems)
        (table, requests), *_ = RequestItems.items()
        leave = self.leave if len(self.requests) <= self.rounds else 0
        left = requests[len(requests) - leave :] if leave else []
        return {"UnprocessedItems": {table: left}} if left else {}


def test_a_batch_gets_every_key_asking_again_for_the_unprocessed(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDynamoDB(leave=30, rounds=2)
    monkeypatch.setattr(_dynamo, "dynamodb", lambda: fake)
    keys = [{"userID": {"S": f"u{i:03d}"}} for i in range(150)]
    items = _dynamo.batch_get("Status", keys, ConsistentRead=True)
    assert sorted(item["userID"]["S"] for item in items) == [f"u{i:03d}" for i in range(150)]
    # 100 (30 left), those 30 (all left again), the 50 after them (all done)
    assert [len(r["Status"]["Keys"]) for r in fake.requests] == [100, 30, 30, 50]
    assert all(r["Status"]["ConsistentRead"] for r in fake.requests)


def test_a_batch_that_stays_unprocessed_is_7012(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_dynamo, "dynamodb", lambda: FakeDynamoDB(leave=1, rounds=10**6))
    with pytest.raises(PresenceError, match="the status table is busy; try again"):
        _dynamo.batch_get("Status", [{"userID": {"S": "u"}}])
    with pytest.raises(PresenceError, match="the table is busy; some writes were not made"):
        _dynamo.batch_write("Friends", [{"PutRequest": {"Item": {}}}])


def test_a_batch_write_makes_every_request_in_chunks_of_25(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDynamoDB(leave=5, rounds=1)
    monkeypatch.setattr(_dynamo, "dynamodb", lambda: fake)
    _dynamo.batch_write("Friends", [{"PutRequest": {"Item": {"n": i}}} for i in range(30)])
    assert [len(r["Friends"]) for r in fake.requests] == [25, 5, 5]


def error(code: str) -> ClientError:
    response: Any = {"Error": {"Code": code}, "Item": {"v": {"N": "7"}}}
    return ClientError(response, "UpdateItem")


def test_a_failed_condition_is_an_answer_with_the_item_as_it_was() -> None:
    def write(**request: Any) -> dict[str, Any]:
        raise error("ConditionalCheckFailedException")

    written = _dynamo.conditional_write(write, Key={})
    assert written.done is False
    assert written.response["Item"] == {"v": {"N": "7"}}


def test_a_condition_that_held_returns_the_response() -> None:
    written = _dynamo.conditional_write(lambda **request: {"Attributes": request}, Key={"k": 1})
    assert written == _dynamo.Written(True, {"Attributes": {"Key": {"k": 1}}})


def test_any_other_error_is_raised() -> None:
    def write(**request: Any) -> dict[str, Any]:
        raise error("ProvisionedThroughputExceededException")

    with pytest.raises(ClientError):
        _dynamo.conditional_write(write)
