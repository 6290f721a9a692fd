"""What every table module shares: the one conditional-write helper, batch reads and writes
with their leftovers retried (presence.retry), paginated queries, chunking."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from presence import retry
from presence.store._clients import dynamodb

BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25


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
    """The items of `keys` (those that exist), in ceil(n/100) BatchGetItem calls; the keys a
    call leaves unprocessed are asked for again (presence.retry)."""
    found: list[dict[str, Any]] = []
    for chunk in chunks(keys, BATCH_GET_MAX):
        _until_processed(
            lambda request: _got(dynamodb().batch_get_item(RequestItems=request), table, found),
            {table: {"Keys": list(chunk), **options}},
            gave_up="the status table is busy; try again",
        )
    return found


def _got(response: Any, table: str, found: list[dict[str, Any]]) -> dict[str, Any]:
    found.extend(response.get("Responses", {}).get(table, []))
    return dict(response.get("UnprocessedKeys") or {})


def writes(
    puts: Iterable[dict[str, Any]] = (), deletes: Iterable[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """BatchWriteItem's requests: put these items, delete these keys."""
    return [{"PutRequest": {"Item": item}} for item in puts] + [
        {"DeleteRequest": {"Key": key}} for key in deletes
    ]


def batch_write(table: str, requests: Sequence[dict[str, Any]]) -> None:
    """Put and delete requests (`writes`) in ceil(n/25) BatchWriteItem calls; the requests a
    call leaves unprocessed are made again (presence.retry)."""
    for chunk in chunks(requests, BATCH_WRITE_MAX):
        _until_processed(
            lambda request: dict(
                dynamodb().batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            ),
            {table: list(chunk)},
            gave_up="the table is busy; some writes were not made",
        )


def _until_processed(
    call: Callable[[dict[str, Any]], dict[str, Any]], request: dict[str, Any], *, gave_up: str
) -> None:
    """Make a batch call, then again with what it left unprocessed, until nothing is left."""
    pending = request

    def attempt() -> bool | None:
        nonlocal pending
        pending = call(pending)
        return None if pending else True

    retry.until_done(attempt, what="a batch", gave_up=gave_up)


def query_page(attribute: str, cursor: Any, limit: int, **request: Any) -> tuple[list[str], Any]:
    """One page of a Query from `cursor` (a LastEvaluatedKey; None: the start): each item's
    string `attribute`, and the cursor of the next page (None: no more)."""
    if cursor:
        request["ExclusiveStartKey"] = cursor
    response = dynamodb().query(Limit=limit, **request)
    found = [item[attribute]["S"] for item in response.get("Items", [])]
    return found, response.get("LastEvaluatedKey")


def query_all(**request: Any) -> Iterator[dict[str, Any]]:
    """Every item a Query returns, page after page."""
    while True:
        response = dynamodb().query(**request)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
