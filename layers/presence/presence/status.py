"""Reading and setting user status (API.md sections 3 and 4)."""

from __future__ import annotations

from typing import Any

from presence import ratelimit, settings, store
from presence.auth import is_valid_user_id
from presence.errors import Code, PresenceError
from presence.models import UserStatus, dedupe, failure


def set_self_status(user_id: str, custom_status: str) -> UserStatus:
    """Set (or with "" clear) the caller's custom status. Never gated, never rate limited."""
    limit = settings.current().maxCustomStatusBytes
    try:
        size = len(custom_status.encode("utf-8"))
    except UnicodeEncodeError:
        raise PresenceError(
            Code.INVALID_PARAMETER, "customStatus is not valid Unicode text"
        ) from None
    if size > limit:
        raise PresenceError(
            Code.INVALID_PARAMETER,
            f"customStatus is {size} UTF-8 bytes; at most {limit} are allowed",
        )
    status, _changed = store.set_custom_status(user_id, custom_status)
    return status


def get_user_status(caller_id: str, user_ids: list[str]) -> dict[str, Any]:
    """Statuses of up to maxQueryUserIDs users; asking only about yourself is never gated."""
    current = settings.current()
    check_list_length("userIDList", user_ids, current.maxQueryUserIDs)
    wanted = dedupe(user_ids)
    if wanted != [caller_id]:
        current.require_status_query()
        ratelimit.enforce(caller_id, ratelimit.GET_USER_STATUS, current)
    valid, failures = split_user_ids(wanted)
    statuses = store.get_statuses(valid)
    return {
        "successUserList": [statuses[user_id].to_wire() for user_id in valid],
        "failureUserList": failures,
    }


def check_list_length(field: str, values: list[str], most: int) -> None:
    if len(values) > most:
        raise PresenceError(
            Code.INVALID_PARAMETER,
            f"{field} has {len(values)} entries; at most {most} are allowed",
        )


def split_user_ids(user_ids: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """Valid userIDs, and a failureUserList entry (7003) for each invalid one."""
    valid: list[str] = []
    failures: list[dict[str, Any]] = []
    for user_id in user_ids:
        if is_valid_user_id(user_id):
            valid.append(user_id)
        else:
            failures.append(
                failure(
                    user_id,
                    Code.INVALID_USER_ID,
                    "userID must be 1-32 printable ASCII characters",
                )
            )
    return valid, failures
