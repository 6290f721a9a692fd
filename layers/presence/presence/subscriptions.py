"""Subscribing to other users' status (API.md section 4).

A subscriber's subscriptions carry a sequence number, so the list comes back oldest first and
the quota evicts the oldest ones. A subscribe writes what it adds, then trims to the quota.
"""

from __future__ import annotations

from typing import Any

from presence import clock, ratelimit, settings, store
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
    first_seq = max([clock.now_ms() * 1000, *(sub.seq + 1 for sub in existing)])
    added = [
        store.Subscription(target, first_seq + i)
        for i, target in enumerate(t for t in targets if t not in held)
    ]
    quota = current.subscriptionQuota
    if added:
        # More than the quota at once: only the newest `quota` of them could stay anyway.
        store.write_subscriptions(subscriber_id, add=added[-quota:], remove=[])
        trim(subscriber_id, quota)
    return {"failureUserList": failures}


def trim(subscriber_id: str, quota: int) -> None:
    """Over the quota, the oldest subscriptions give way: the newest `quota` remain.

    Run after every write that added some, on a strongly consistent read: of concurrent
    subscribe calls, the last to read sees every one's additions, so when they have all
    returned the subscriber holds exactly the quota (each trim removes only subscriptions that
    are among the oldest of everything written, so the trims agree)."""
    held = store.list_subscriptions(subscriber_id, consistent=True)
    if len(held) > quota:
        evicted = [sub.target_id for sub in held[: len(held) - quota]]
        store.write_subscriptions(subscriber_id, add=[], remove=evicted)


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
