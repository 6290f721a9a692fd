"""Admin routes of API.md section 5: settings, friends, server-side status query, kick.

The admin account (setting `adminUserID`) is checked by presence.http before any of these run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from presence import clock, lifecycle, sessions, settings, store
from presence.auth import is_valid_user_id
from presence.errors import Code, PresenceError
from presence.models import dedupe
from presence.status import check_list_length, shown_status, split_user_ids

if TYPE_CHECKING:
    from presence.bodies import FriendPair

MAX_FRIEND_PAIRS = 500
MAX_QUERY_USER_IDS = 500


def get_settings() -> dict[str, Any]:
    return settings.load(consistent=True).to_wire()


def update_settings(patch: dict[str, Any]) -> dict[str, Any]:
    return settings.update(patch).to_wire()


def import_friends(pairs: list[FriendPair]) -> dict[str, Any]:
    """Make each valid pair friends both ways; invalid pairs are listed, the rest applied."""
    valid, failures = _check_pairs(pairs)
    store.write_friendships(valid)
    return {"failureList": failures}


def delete_friends(pairs: list[FriendPair]) -> dict[str, Any]:
    valid, failures = _check_pairs(pairs)
    store.write_friendships(valid, delete=True)
    return {"failureList": failures}


def _check_pairs(pairs: list[FriendPair]) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    if len(pairs) > MAX_FRIEND_PAIRS:
        raise PresenceError(
            Code.INVALID_PARAMETER,
            f"pairs has {len(pairs)} entries; at most {MAX_FRIEND_PAIRS} are allowed",
        )
    valid: list[tuple[str, str]] = []
    failures: list[dict[str, Any]] = []
    for pair in pairs:
        bad = [name for name in ("userID", "friendID") if not is_valid_user_id(getattr(pair, name))]
        if bad:
            code, message = (
                Code.INVALID_USER_ID,
                f"{bad[0]} must be 1-32 printable ASCII characters",
            )
        elif pair.userID == pair.friendID:
            code, message = Code.INVALID_PARAMETER, "a user cannot be their own friend"
        else:
            valid.append((pair.userID, pair.friendID))
            continue
        failures.append(
            {
                "userID": pair.userID,
                "friendID": pair.friendID,
                "code": int(code),
                "message": message,
            }
        )
    return valid, failures


def query_online_status(user_ids: list[str], include_devices: bool) -> dict[str, Any]:
    """Like getUserStatus, never gated or rate limited, optionally with each user's devices."""
    check_list_length("userIDList", user_ids, MAX_QUERY_USER_IDS)
    valid, failures = split_user_ids(dedupe(user_ids))
    states = store.get_presences(valid)
    now, timing = clock.now_ms(), settings.current().timing()
    entries = []
    for user_id in valid:
        entry = shown_status(states[user_id], now, timing).to_wire()
        if include_devices:
            settled = lifecycle.settle(states[user_id], now, timing).state
            entry["devices"] = [
                {"platform": conn.platform, "connectedAt": conn.connected_at}
                for conn in sorted(settled.connections.values(), key=lambda c: c.connected_at)
                if lifecycle.is_live(conn)
            ]
        entries.append(entry)
    return {"successUserList": entries, "failureUserList": failures}


def kick_user(user_id: str) -> dict[str, Any]:
    if not is_valid_user_id(user_id):
        raise PresenceError(
            Code.INVALID_PARAMETER, "userID must be 1-32 printable ASCII characters"
        )
    sessions.kick(user_id)
    return {}
