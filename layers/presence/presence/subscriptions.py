"""Subscribing to other users' status (API.md section 4).

A subscriber's subscriptions carry a sequence number, so the list comes back oldest first and
the quota evicts the oldest ones.
"""

from __future__ import annotations

import time
from typing import Any

from presence import ratelimit, settings, store
from presence.errors import Code
from presence.models import dedupe, failure
from presence.status import check_list_length, split_user_ids

MAX_UNSUBSCRIBE_USER_IDS = 100


def subscribe(subscriber_id: str, user_ids: list[str]) -> dict[str, Any]:
    current = settings.current()
    check_list_length("userIDList", user_ids, current.maxSubscribeUserIDs)
    current.require_status_query()
    ratelimit.enforce(subscriber_id, ratelimit.SUBSCRIBE, current)

    wanted = dedupe(user_ids)
    failures = [
        failure(subscriber_id, Code.INVALID_PARAMETER, "you cannot subscribe to yourself")
        for user_id in wanted
        if user_id == subscriber_id
    ]
    targets, invalid = split_user_ids([u for u in wanted if u != subscriber_id])
    failures += invalid

    existing = store.list_subscriptions(subscriber_id)
    held = {sub.target_id for sub in existing}
    first_seq = max([time.time_ns() // 1000, *(sub.seq + 1 for sub in existing)])
    added = [
        store.Subscription(target, first_seq + i)
        for i, target in enumerate(t for t in targets if t not in held)
    ]
    # Over the quota, the oldest subscriptions give way (new ones too, if more than the quota
    # arrived at once): the newest `subscriptionQuota` remain.
    combined = [*existing, *added]
    evicted = combined[: max(0, len(combined) - current.subscriptionQuota)]
    gone = {sub.target_id for sub in evicted}
    store.write_subscriptions(
        subscriber_id,
        add=[sub for sub in added if sub.target_id not in gone],
        remove=[sub.target_id for sub in evicted if sub.target_id in held],
    )
    return {"failureUserList": failures}


def unsubscribe(subscriber_id: str, user_ids: list[str] | None) -> dict[str, Any]:
    """Cancel the listed subscriptions, or all of them when the list is missing or empty."""
    if user_ids:
        check_list_length("userIDList", user_ids, MAX_UNSUBSCRIBE_USER_IDS)
    current = settings.current()
    current.require_status_query()
    ratelimit.enforce(subscriber_id, ratelimit.UNSUBSCRIBE, current)

    held = {sub.target_id for sub in store.list_subscriptions(subscriber_id)}
    if user_ids:
        valid, failures = split_user_ids(dedupe(user_ids))
        remove = [user_id for user_id in valid if user_id in held]
    else:
        failures, remove = [], sorted(held)
    if remove:
        store.write_subscriptions(subscriber_id, add=[], remove=remove)
    return {"failureUserList": failures}


def list_targets(subscriber_id: str) -> dict[str, Any]:
    return {"userIDList": [sub.target_id for sub in store.list_subscriptions(subscriber_id)]}
