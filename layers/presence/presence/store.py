"""All DynamoDB and Secrets Manager access. The only module that talks to boto3.

Every read is a GetItem, Query or BatchGetItem on a key or index: nothing here scans.
Clients are created on first use (never at import time), so mocks and local endpoints apply.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from presence import config
from presence.errors import Code, PresenceError
from presence.models import StatusType, UserStatus

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from mypy_boto3_dynamodb.client import DynamoDBClient

SETTINGS_ID = "settings"
SECRET_MAX_AGE_SECONDS = 300
BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25
_RETRIES = 6

_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2)


@cache
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=_BOTO_CONFIG)


@cache
def _secrets() -> SecretsProvider:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto_config=_BOTO_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests start a fresh mock per test)."""
    dynamodb.cache_clear()
    _secrets.cache_clear()


def _is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _backoff(attempt: int) -> None:
    time.sleep(min(0.05 * 2**attempt, 1.0))


# --- secret -------------------------------------------------------------------------------------


def usersig_secret_key() -> str:
    """The UserSig signing key, cached for a few minutes so a rotation is picked up."""
    value = _secrets().get(config.usersig_secret_arn(), max_age=SECRET_MAX_AGE_SECONDS)
    if not isinstance(value, str) or not value:
        raise PresenceError(Code.SERVER_FAULT, "the UserSig secret key is not set")
    return value


# --- settings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredSettings:
    overrides: dict[str, Any]
    version: int


def get_settings_item(*, consistent: bool = False) -> StoredSettings | None:
    response = dynamodb().get_item(
        TableName=config.settings_table(),
        Key={"id": {"S": SETTINGS_ID}},
        ConsistentRead=consistent,
    )
    item = response.get("Item")
    if item is None:
        return None
    return StoredSettings(json.loads(item["value"]["S"]), int(item["version"]["N"]))


def put_settings_item(overrides: dict[str, Any], *, expected_version: int | None) -> bool:
    """Write the overrides if nobody else wrote since `expected_version`; False on a race."""
    condition: dict[str, Any]
    if expected_version is None:
        condition = {"ConditionExpression": "attribute_not_exists(id)"}
    else:
        condition = {
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
        }
    try:
        dynamodb().put_item(
            TableName=config.settings_table(),
            Item={
                "id": {"S": SETTINGS_ID},
                "value": {"S": json.dumps(overrides, sort_keys=True)},
                "version": {"N": str((expected_version or 0) + 1)},
                "updatedAt": {"N": str(int(time.time()))},
            },
            **condition,
        )
    except ClientError as exc:
        if _is_conditional_failure(exc):
            return False
        raise
    return True


# --- status -------------------------------------------------------------------------------------


def _status_from_item(user_id: str, item: dict[str, Any] | None) -> UserStatus:
    if not item:
        return UserStatus(user_id)
    return UserStatus(
        user_id,
        StatusType(int(item.get("statusType", {}).get("N", StatusType.UNLOGINED))),
        item.get("customStatus", {}).get("S", ""),
    )


def get_statuses(user_ids: Sequence[str]) -> dict[str, UserStatus]:
    """The status of each user, UNLOGINED for users with no item; ceil(n/100) BatchGetItem calls."""
    found: dict[str, dict[str, Any]] = {}
    table = config.status_table()
    for chunk in _chunks(user_ids, BATCH_GET_MAX):
        request: dict[str, Any] = {
            table: {
                "Keys": [{"userID": {"S": user_id}} for user_id in chunk],
                "ProjectionExpression": "userID, statusType, customStatus",
            }
        }
        for attempt in range(_RETRIES):
            response = dynamodb().batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                found[item["userID"]["S"]] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            _backoff(attempt)
        else:
            raise PresenceError(Code.SERVER_FAULT, "the status table is busy; try again")
    return {user_id: _status_from_item(user_id, found.get(user_id)) for user_id in user_ids}


def set_custom_status(user_id: str, custom_status: str) -> tuple[UserStatus, bool]:
    """Store the custom status in one conditional write; (status after, whether it changed).

    The condition makes an unchanged value a no-op: no write, no stream record, no push.
    """
    if custom_status:
        condition = "attribute_not_exists(customStatus) OR customStatus <> :cs"
    else:
        condition = "attribute_exists(customStatus) AND customStatus <> :cs"
    try:
        response = dynamodb().update_item(
            TableName=config.status_table(),
            Key={"userID": {"S": user_id}},
            UpdateExpression=(
                "SET customStatus = :cs, statusType = if_not_exists(statusType, :unlogined),"
                " customStatusSetAt = :now"
            ),
            ConditionExpression=condition,
            ExpressionAttributeValues={
                ":cs": {"S": custom_status},
                ":unlogined": {"N": str(int(StatusType.UNLOGINED))},
                ":now": {"N": str(int(time.time()))},
            },
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if _is_conditional_failure(exc):
            return _status_from_item(user_id, exc.response.get("Item")), False  # type: ignore[arg-type]
        raise
    return _status_from_item(user_id, response.get("Attributes")), True


# --- rate limits --------------------------------------------------------------------------------


def take_rate_limit_slot(key: str, limit: int, expires_at: int) -> bool:
    """Count one request against `key`; False once `limit` requests were counted.

    One atomic conditional ADD: concurrent callers can never push the count past the limit.
    """
    try:
        dynamodb().update_item(
            TableName=config.rate_limits_table(),
            Key={"pk": {"S": key}},
            UpdateExpression="ADD #count :one SET expiresAt = if_not_exists(expiresAt, :expires)",
            ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
            ExpressionAttributeNames={"#count": "count"},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":limit": {"N": str(limit)},
                ":expires": {"N": str(expires_at)},
            },
        )
    except ClientError as exc:
        if _is_conditional_failure(exc):
            return False
        raise
    return True


# --- subscriptions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    target_id: str
    seq: int


def list_subscriptions(subscriber_id: str) -> list[Subscription]:
    """The subscriber's subscriptions, oldest first (Query on the bySeq index, paginated)."""
    return list(_query_subscriptions(subscriber_id))


def _query_subscriptions(subscriber_id: str) -> Iterator[Subscription]:
    request: dict[str, Any] = {
        "TableName": config.subscriptions_table(),
        "IndexName": "bySeq",
        "KeyConditionExpression": "subscriberID = :s",
        "ExpressionAttributeValues": {":s": {"S": subscriber_id}},
    }
    while True:
        response = dynamodb().query(**request)
        for item in response.get("Items", []):
            yield Subscription(item["targetID"]["S"], int(item["seq"]["N"]))
        if "LastEvaluatedKey" not in response:
            return
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def write_subscriptions(
    subscriber_id: str, add: Sequence[Subscription], remove: Iterable[str]
) -> None:
    """Add and remove subscriptions in ceil(n/25) BatchWriteItem calls, retrying leftovers."""
    now = str(int(time.time()))
    requests: list[dict[str, Any]] = [
        {
            "PutRequest": {
                "Item": {
                    "subscriberID": {"S": subscriber_id},
                    "targetID": {"S": sub.target_id},
                    "seq": {"N": str(sub.seq)},
                    "createdAt": {"N": now},
                }
            }
        }
        for sub in add
    ]
    requests += [
        {"DeleteRequest": {"Key": {"subscriberID": {"S": subscriber_id}, "targetID": {"S": t}}}}
        for t in remove
    ]
    _batch_write(config.subscriptions_table(), requests)


def _batch_write(table: str, requests: list[dict[str, Any]]) -> None:
    for chunk in _chunks(requests, BATCH_WRITE_MAX):
        pending: dict[str, Any] = {table: list(chunk)}
        for attempt in range(_RETRIES):
            response = dynamodb().batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                break
            _backoff(attempt)
        else:
            raise PresenceError(Code.SERVER_FAULT, "the table is busy; some writes were not made")


def _chunks[T](values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
