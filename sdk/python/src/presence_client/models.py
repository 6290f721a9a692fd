"""What the client hands back: statuses, failures, and the payloads of its events."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any, Final, Literal

from .errors import PresenceError

__all__ = [
    "ERROR",
    "KICKED_OUT",
    "NET_STATE_CHANGE",
    "USER_STATUS_UPDATED",
    "EventName",
    "FailedUser",
    "KickReason",
    "KickedOut",
    "NetState",
    "NetStateChange",
    "StatusType",
    "UserStatus",
    "UserStatusResult",
]

# Event names: the values of Tencent's TIM.EVENT constants.
USER_STATUS_UPDATED: Final = "onUserStatusUpdated"
"""Statuses changed: the callback gets a `list[UserStatus]`."""
KICKED_OUT: Final = "kickedOut"
"""The session ended for good (admin kick, UserSig expired): the callback gets a `KickedOut`."""
NET_STATE_CHANGE: Final = "netStateChange"
"""The WebSocket connected, is reconnecting, or is closed: the callback gets a `NetStateChange`."""
ERROR: Final = "error"
"""Something failed in the background (an error frame, a failed re-sync): a `PresenceError`."""

EventName = Literal["onUserStatusUpdated", "kickedOut", "netStateChange", "error"]


class StatusType(IntEnum):
    """`statusType` (Tencent's TIM.TYPES.USER_STATUS_* values)."""

    UNKNOWN = 0
    ONLINE = 1
    OFFLINE = 2
    UNLOGINED = 3

    @property
    def label(self) -> str:
        return self.name.lower()


def _status_type(value: Any) -> StatusType:
    try:
        return StatusType(int(value))
    except (TypeError, ValueError):
        return StatusType.UNKNOWN


@dataclass(frozen=True)
class UserStatus:
    """A user's status: `{"userID", "statusType", "customStatus", "lastActiveTime", "version",
    "customStatusExpiresAt", "invisible"}` on the wire. `last_active_time` is when the user's
    latest ONLINE period ended (epoch ms; 0 while ONLINE, for a user never ONLINE, or when the
    deployment hides it); `version` grows with every change of the user's status (0: nothing
    stored, or an older server); `custom_status_expires_at` is when the custom status clears
    itself (epoch ms, 0: no expiry); `invisible` is True only about oneself while appearing
    offline to everyone else."""

    user_id: str
    status_type: StatusType
    custom_status: str = ""
    last_active_time: int = 0
    version: int = 0
    custom_status_expires_at: int = 0
    invisible: bool = False

    def __str__(self) -> str:
        custom = f" {self.custom_status!r}" if self.custom_status else ""
        return f"{self.user_id} {self.status_type.name}{custom}"

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> UserStatus:
        return cls(
            user_id=str(obj.get("userID", "")),
            status_type=_status_type(obj.get("statusType", 0)),
            custom_status=str(obj.get("customStatus") or ""),
            last_active_time=_int(obj.get("lastActiveTime")),
            version=_int(obj.get("version")),
            custom_status_expires_at=_int(obj.get("customStatusExpiresAt")),
            invisible=obj.get("invisible") is True,
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "userID": self.user_id,
            "statusType": int(self.status_type),
            "customStatus": self.custom_status,
            "lastActiveTime": self.last_active_time,
            "version": self.version,
            "customStatusExpiresAt": self.custom_status_expires_at,
            **({"invisible": True} if self.invisible else {}),
        }

    @property
    def online(self) -> bool:
        return self.status_type == StatusType.ONLINE

    def supersedes(self, held: UserStatus | None) -> bool:
        """Whether this status should replace `held` (the last one seen of the same user):
        a higher version wins, whichever way (push or read) each came; an equal or lower one
        is old news. Without versions (an older server), any different status is news."""
        if held is None:
            return True
        if self.version and held.version:
            return self.version > held.version
        return self != held


@dataclass(frozen=True)
class FailedUser:
    """An entry of a `failureUserList`: this user was not served, and why."""

    user_id: str
    code: int
    message: str

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> FailedUser:
        return cls(
            user_id=str(obj.get("userID", "")),
            code=int(obj.get("code", 0)),
            message=str(obj.get("message", "")),
        )

    def to_wire(self) -> dict[str, Any]:
        return {"userID": self.user_id, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class UserStatusResult:
    """The answer of getUserStatus."""

    success_user_list: list[UserStatus]
    failure_user_list: list[FailedUser]

    def __iter__(self) -> Iterator[UserStatus]:
        """Iterating gives the statuses found (`for status in result`)."""
        return iter(self.success_user_list)

    def get(self, user_id: str) -> UserStatus | None:
        return next((s for s in self.success_user_list if s.user_id == user_id), None)


class NetState(StrEnum):
    """The WebSocket's state (Tencent's TIM.TYPES.NET_STATE_* values)."""

    CONNECTED = "connected"
    CONNECTING = "connecting"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class NetStateChange:
    """Payload of NET_STATE_CHANGE.

    While CONNECTING: `attempt` counts reconnect attempts (1 is the immediate one), `retry_in`
    is the wait before this attempt and `error` why the previous one failed (if it did).
    """

    state: NetState
    attempt: int = 0
    retry_in: float = 0.0
    error: PresenceError | None = None


class KickReason(StrEnum):
    KICKED = "kicked"
    """An admin kicked this user (the server's `{"event": "kickedOut", "reason":
    "REST_API_Kick"}`, tim-js-sdk's KICKED_OUT_REST_API)."""
    MULTIPLE_ACCOUNT = "multipleAccount"
    """The user opened more connections than the deployment allows; this, the oldest, was
    closed (KICKED_OUT_MULT_ACCOUNT)."""
    USERSIG_EXPIRED = "userSigExpired"
    """The UserSig expired: the server closed the connection, or a reconnect was refused with
    70001. Log in again with a new UserSig."""
    REFUSED = "refused"
    """A reconnect was refused for another reason (401/403/400; see `error`)."""


@dataclass(frozen=True)
class KickedOut:
    """Payload of KICKED_OUT: the session is over and the client will not reconnect."""

    reason: KickReason
    error: PresenceError | None = None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


KICK_REASONS: Final = {
    "REST_API_Kick": KickReason.KICKED,
    "multipleAccount": KickReason.MULTIPLE_ACCOUNT,
    "userSigExpired": KickReason.USERSIG_EXPIRED,
}
"""The server's `kickedOut` reasons (tim-js-sdk's TIM.TYPES.KICKED_OUT_* values)."""
