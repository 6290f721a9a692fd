"""What every table module shares: the one conditional-write helper, batch reads and writes
with their leftovers retried, paginated queries, chunking."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from presence.errors import Code, PresenceError
from presence.store._clients import dynamodb

BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25
_RETRIES = 6


class Written(NamedTuple):
    """What a conditional write came to: whether it was made, and the write's response (when
    its condition failed: the error response, whose "Item" is the item as it was when the
    write asked for ReturnValuesOnConditionCheckFailure=ALL_OLD)."""

    done: bool
    response: dict[str, Any]


def conditional_write(write: Callable[..., Any], **request: Any) -> Written:
    """One PutItem or UpdateItem with a ConditionExpression. A failed condition is an answer
    (another writer got there first, or there is nothing to do), not an error."""
    try:
        return Written(True, write(**request))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return Written(False, dict(exc.response))
        raise


def number(item: dict[str, Any], name: str) -> int | None:
    """A number attribute of an item in DynamoDB JSON; None when it is absent."""
    value = item.get(name)
    return int(value["N"]) if value else None


def chunks[T](values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def batch_get(table: str, keys: Sequence[dict[str, Any]], **options: Any) -> list[dict[str, Any]]:
    """The items of `keys` (those that exist), in ceil(n/100) BatchGetItem calls, retrying
    the keys a call leaves unprocessed."""
    found: list[dict[str, Any]] = []
    for chunk in chunks(keys, BATCH_GET_MAX):
        request: dict[str, Any] = {table: {"Keys": list(chunk), **options}}
        for attempt in range(_RETRIES):
            response = dynamodb().batch_get_item(RequestItems=request)
            found.extend(response.get("Responses", {}).get(table, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            _backoff(attempt)
        else:
            raise PresenceError(Code.SERVER_FAULT, "the status table is busy; try again")
    return found


def batch_write(table: str, requests: Sequence[dict[str, Any]]) -> None:
    """Put and delete requests in ceil(n/25) BatchWriteItem calls, retrying leftovers."""
    for chunk in chunks(requests, BATCH_WRITE_MAX):
        pending: dict[str, Any] = {table: list(chunk)}
        for attempt in range(_RETRIES):
            response = dynamodb().batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                break
            _backoff(attempt)
        else:
            raise PresenceError(Code.SERVER_FAULT, "the table is busy; some writes were not made")


def _backoff(attempt: int) -> None:
    time.sleep(min(0.05 * 2**attempt, 1.0))


def query_all(**request: Any) -> Iterator[dict[str, Any]]:
    """Every item a Query returns, page after page."""
    while True:
        response = dynamodb().query(**request)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
