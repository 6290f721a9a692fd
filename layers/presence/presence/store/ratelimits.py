"""The RateLimits table: one counter item per user, API and window (presence.ratelimit).

Item: pk S (key: api#windowSeconds#windowStart#userID), count N, expiresAt N (TTL, epoch s).
"""

from __future__ import annotations

from presence import config
from presence.store._clients import dynamodb
from presence.store._dynamo import conditional_write


def take_rate_limit_slot(key: str, limit: int, expires_at: int) -> bool:
    """Count one request against `key`; False once `limit` requests were counted.

    One atomic conditional ADD: concurrent callers can never push the count past the limit.
    """
    return conditional_write(
        dynamodb().update_item,
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
    ).done
