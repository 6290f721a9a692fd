"""The Subscriptions table: who subscribes to whom, with the subscription's sequence number
(oldest first), and its byTarget index (a user's subscribers).

Item: subscriberID S (key), targetID S (sort key; byTarget's key), seq N, createdAt N (epoch s).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from presence import clock, config
from presence.store._dynamo import batch_write, query_all, query_page, writes


class Subscription(NamedTuple):
    """One subscription of a subscriber: to whom, and its sequence number."""

    target_id: str
    seq: int


def subscription_item(subscriber_id: str, sub: Subscription, created_at_s: int) -> dict[str, Any]:
    """The item of one subscription."""
    return {
        "subscriberID": {"S": subscriber_id},
        "targetID": {"S": sub.target_id},
        "seq": {"N": str(sub.seq)},
        "createdAt": {"N": str(created_at_s)},
    }


def list_subscriptions(subscriber_id: str, *, consistent: bool = False) -> list[Subscription]:
    """The subscriber's subscriptions, oldest first: one Query (paginated), sorted by `seq`.

    Every caller needs the whole list (to order it, to apply the quota), and it is at most
    `subscriptionQuota` small items, so sorting here beats paying for an index on every write.
    """
    found = [
        Subscription(item["targetID"]["S"], int(item["seq"]["N"]))
        for item in query_all(
            TableName=config.subscriptions_table(),
            KeyConditionExpression="subscriberID = :s",
            ExpressionAttributeValues={":s": {"S": subscriber_id}},
            ProjectionExpression="targetID, seq",
            ConsistentRead=consistent,
        )
    ]
    return sorted(found, key=lambda sub: (sub.seq, sub.target_id))


def write_subscriptions(
    subscriber_id: str, add: Sequence[Subscription], remove: Iterable[str]
) -> None:
    """Add and remove subscriptions in ceil(n/25) BatchWriteItem calls, retrying leftovers."""
    now = clock.now_ms() // 1000
    requests = writes(
        puts=[subscription_item(subscriber_id, sub, now) for sub in add],
        deletes=[{"subscriberID": {"S": subscriber_id}, "targetID": {"S": t}} for t in remove],
    )
    batch_write(config.subscriptions_table(), requests)


def subscribers_page(user_id: str, cursor: Any, limit: int) -> tuple[list[str], Any]:
    """Up to `limit` of the user's subscribers (a Query on the byTarget index) from `cursor`;
    and the cursor of the next page (None: no more). (store.watchers_page's half.)"""
    return query_page(
        "subscriberID",
        cursor,
        limit,
        TableName=config.subscriptions_table(),
        IndexName="byTarget",
        KeyConditionExpression="targetID = :u",
        ExpressionAttributeValues={":u": {"S": user_id}},
    )
