"""Wire shapes: the status object (API.md section 3) and the request bodies (section 4)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictBool, StrictStr


class StatusType(IntEnum):
    """Tencent's TIM.TYPES.USER_STATUS_* values."""

    UNKNOWN = 0
    ONLINE = 1
    OFFLINE = 2
    UNLOGINED = 3


@dataclass(frozen=True)
class UserStatus:
    user_id: str
    status_type: StatusType = StatusType.UNLOGINED
    custom_status: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {
            "userID": self.user_id,
            "statusType": int(self.status_type),
            "customStatus": self.custom_status,
        }


def failure(user_id: str, code: int, message: str) -> dict[str, Any]:
    """One entry of a failureUserList."""
    return {"userID": user_id, "code": code, "message": message}


class RequestBody(BaseModel):
    """Request bodies ignore unknown fields (clients may send more) but check types strictly."""

    model_config = ConfigDict(extra="ignore", strict=True)


class SetSelfStatusBody(RequestBody):
    customStatus: StrictStr


class UserIDListBody(RequestBody):
    # Entries are checked one by one later: an invalid userID is a per-entry failure (7003),
    # but an entry that is not a string at all is a malformed request (6017).
    userIDList: list[StrictStr] = Field(min_length=1)


class UnsubscribeBody(RequestBody):
    userIDList: list[StrictStr] | None = None


class EmptyBody(RequestBody):
    pass


class AnyObject(RootModel[dict[str, Any]]):
    """A body whose fields the operation checks itself (a partial settings object)."""


def dedupe(values: list[str]) -> list[str]:
    """The list without repeats, first occurrences kept in order."""
    return list(dict.fromkeys(values))


class FriendPair(RequestBody):
    userID: StrictStr
    friendID: StrictStr


class FriendPairsBody(RequestBody):
    pairs: list[FriendPair] = Field(min_length=1)


class QueryOnlineStatusBody(UserIDListBody):
    includeDevices: StrictBool = False


class KickUserBody(RequestBody):
    userID: StrictStr
