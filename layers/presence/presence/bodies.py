"""Request bodies of the HTTP routes (API.md section 4), validated by pydantic.

A module of their own, so that only HTTP functions define them: each pydantic model costs
every cold start that imports it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictBool, StrictInt, StrictStr


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


class FriendPair(RequestBody):
    userID: StrictStr
    friendID: StrictStr


class FriendPairsBody(RequestBody):
    pairs: list[FriendPair] = Field(min_length=1)


class QueryOnlineStatusBody(UserIDListBody):
    includeDevices: StrictBool = False


class KickUserBody(RequestBody):
    userID: StrictStr


# --- Tencent's REST API (API.md section 10): Tencent's field names --------------------------


class TencentQueryOnlineStatusBody(RequestBody):
    # Entries are checked one by one: an invalid userID is an ErrorList entry (70107), an
    # entry that is not a string at all a malformed request (6017). Tencent's IsReturnInstid
    # and other fields are ignored.
    To_Account: list[StrictStr] = Field(min_length=1, max_length=500)
    IsNeedDetail: StrictInt = Field(default=0, ge=0, le=1)
    IsReturnCustomStatus: StrictInt = Field(default=0, ge=0, le=1)


class TencentKickBody(RequestBody):
    UserID: StrictStr
