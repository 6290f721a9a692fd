"""Wire shapes: the status object (API.md section 3) and the failure entries of the routes' lists.

The request bodies are in presence.bodies: only HTTP functions need them (and pydantic for them).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, NamedTuple


class StatusType(IntEnum):
    """Tencent's TIM.TYPES.USER_STATUS_* values."""

    UNKNOWN = 0
    ONLINE = 1
    OFFLINE = 2
    UNLOGINED = 3


class UserStatus(NamedTuple):
    """A user's status as a client sees it."""

    user_id: str
    status_type: StatusType = StatusType.UNLOGINED
    custom_status: str = ""
    last_active_time: int = 0  # epoch ms the latest ONLINE period ended; 0 while ONLINE/never
    version: int = 0  # grows with every change of the user's status; 0: nothing stored
    custom_status_expires_at: int = 0  # epoch ms the custom status clears itself; 0: never
    invisible: bool = False  # only in what a user is told about itself (API.md section 3)

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "userID": self.user_id,
            "statusType": int(self.status_type),
            "customStatus": self.custom_status,
            "lastActiveTime": self.last_active_time,
            "version": self.version,
            "customStatusExpiresAt": self.custom_status_expires_at,
        }
        if self.invisible:
            wire["invisible"] = True
        return wire

    def as_seen_by_others(self, last_active_time_visible: bool) -> UserStatus:
        """What other users see: lastActiveTime hidden (0) when the setting says so."""
        return self if last_active_time_visible else self._replace(last_active_time=0)


def failure(user_id: str, code: int, message: str) -> dict[str, Any]:
    """One entry of a failureUserList."""
    return {"userID": user_id, "code": code, "message": message}


def dedupe(values: list[str]) -> list[str]:
    """The list without repeats, first occurrences kept in order."""
    return list(dict.fromkeys(values))
