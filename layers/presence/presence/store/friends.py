"""The Friends table: one item per direction (userID -> friendID), so a user's friends are one
Query.

Item: userID S (key), friendID S (sort key), createdAt N (epoch s).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from presence import clock, config
from presence.store._dynamo import batch_write, query_page, writes


def write_friendships(pairs: Sequence[tuple[str, str]], *, delete: bool = False) -> None:
    """Make (or with delete=True, unmake) each pair friends both ways; BatchWriteItem, retried."""
    directed = dict.fromkeys(
        direction for a, b in pairs for direction in ((a, b), (b, a))
    )  # a batch may not name one key twice
    keys = [
        {"userID": {"S": user_id}, "friendID": {"S": friend_id}} for user_id, friend_id in directed
    ]
    if delete:
        requests = writes(deletes=keys)
    else:
        created_at = {"createdAt": {"N": str(clock.now_ms() // 1000)}}
        requests = writes(puts=[{**key, **created_at} for key in keys])
    batch_write(config.friends_table(), requests)


def friends_page(user_id: str, cursor: Any, limit: int) -> tuple[list[str], Any]:
    """Up to `limit` of the user's friends from `cursor`; and the cursor of the next page
    (None: no more). (store.watchers_page's half.)"""
    return query_page(
        "friendID",
        cursor,
        limit,
        TableName=config.friends_table(),
        KeyConditionExpression="userID = :u",
        ProjectionExpression="friendID",
        ExpressionAttributeValues={":u": {"S": user_id}},
    )
