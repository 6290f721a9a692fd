"""The Settings table's one item: the overrides an admin made (presence.settings applies the
contract's defaults to the rest), and its write counter.

Item: id S (key, always "settings"), value S (the overrides as JSON), version N, updatedAt N
(epoch s).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from presence import clock, config
from presence.store._clients import dynamodb
from presence.store._dynamo import conditional_write

SETTINGS_ID = "settings"


class StoredSettings(NamedTuple):
    """The settings item: the overrides an admin made, and the item's write counter."""

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
    return conditional_write(
        dynamodb().put_item,
        TableName=config.settings_table(),
        Item={
            "id": {"S": SETTINGS_ID},
            "value": {"S": json.dumps(overrides, sort_keys=True)},
            "version": {"N": str((expected_version or 0) + 1)},
            "updatedAt": {"N": str(clock.now_ms() // 1000)},
        },
        **condition,
    ).done
