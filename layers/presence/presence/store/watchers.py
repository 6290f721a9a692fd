"""Who watches a user: its subscribers (Subscriptions' byTarget index) or its friends (the
Friends table), a page at a time, for the fan-out and its page jobs."""

from __future__ import annotations

from typing import Any

from presence.store.friends import friends_page
from presence.store.subscriptions import subscribers_page


def watchers_page(user_id: str, source: str, cursor: Any, limit: int) -> tuple[list[str], Any]:
    """Up to `limit` of the user's watchers of `source`: its "subscribers" (a Query on the
    byTarget index) or its "friends" (a Query of the Friends table), from `cursor` (a
    LastEvaluatedKey, None for the start); and the cursor of the next page (None: no more).

    DynamoDB may return fewer than `limit` (its 1 MB page) with a cursor; that is a page too."""
    if source == "subscribers":
        return subscribers_page(user_id, cursor, limit)
    if source == "friends":
        return friends_page(user_id, cursor, limit)
    raise ValueError(f"unknown watcher source {source!r}")
