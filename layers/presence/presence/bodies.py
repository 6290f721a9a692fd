"""Request bodies of the HTTP routes (API.md section 4), validated by pydantic.

A module of their own, so that only HTTP functions define them: each pydantic model costs
every cold start that imports it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StrictBool,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError


class RequestBody(BaseModel):
    """Request bodies ignore unknown fields (clients may send more) but check types strictly."""

    model_config = ConfigDict(extra="ignore", strict=True)


def _optional(schema: dict[str, Any]) -> Any:
    """A field that may be left out but never be null: its schema is `schema`, without null."""
    return WithJsonSchema({**schema, "default": None})


class SetSelfStatusBody(RequestBody):
    # Each may be left out (presence.status checks which go together), none may be null.
    customStatus: Annotated[
        StrictStr | None,
        _optional({"type": "string", "description": "'' clears it; required unless invisible"}),
    ] = None
    customStatusExpiresIn: Annotated[
        StrictInt | None,
        Field(ge=1, le=604_800),
        _optional(
            {
                "type": "integer",
                "minimum": 1,
                "maximum": 604_800,
                "description": "seconds until the (non-empty) custom status clears itself",
            }
        ),
    ] = None
    invisible: Annotated[
        StrictBool | None,
        _optional({"type": "boolean", "description": "true: appear offline; false: visible"}),
    ] = None

    @field_validator("customStatus", "customStatusExpiresIn", "invisible", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("not_null", "must not be null")
        return value


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
