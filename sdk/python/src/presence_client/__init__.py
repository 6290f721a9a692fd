"""Python client for the presence (user status) service.

- `AsyncPresenceClient` (asyncio) and `PresenceClient` (blocking, runs the asyncio client on a
  background thread): setSelfStatus, getUserStatus, subscribe/unsubscribeUserStatus,
  getSubscriptions over HTTP; `login()`/`logout()` for the WebSocket that receives pushes, with
  heartbeats, reconnects and re-sync; `on(USER_STATUS_UPDATED, callback)` or `updates()`.
- `gen_user_sig` mints UserSigs (TLSSigAPIv2) on your server.
- Every failure raises `PresenceError` (`.code`, `.message`, `.http_status`).
"""

from .aio import DEFAULT_HTTP_URL, DEFAULT_WS_URL, PLATFORMS, VERSION, AsyncPresenceClient
from .errors import ErrorCode, PresenceError
from .models import (
    ERROR,
    KICKED_OUT,
    NET_STATE_CHANGE,
    USER_STATUS_UPDATED,
    EventName,
    FailedUser,
    KickedOut,
    KickReason,
    NetState,
    NetStateChange,
    StatusType,
    UserStatus,
    UserStatusResult,
)
from .sync import PresenceClient
from .usersig import UserSigInfo, gen_user_sig, read_user_sig

__version__ = VERSION

__all__ = [
    "DEFAULT_HTTP_URL",
    "DEFAULT_WS_URL",
    "ERROR",
    "KICKED_OUT",
    "NET_STATE_CHANGE",
    "PLATFORMS",
    "USER_STATUS_UPDATED",
    "AsyncPresenceClient",
    "ErrorCode",
    "EventName",
    "FailedUser",
    "KickReason",
    "KickedOut",
    "NetState",
    "NetStateChange",
    "PresenceClient",
    "PresenceError",
    "StatusType",
    "UserSigInfo",
    "UserStatus",
    "UserStatusResult",
    "__version__",
    "gen_user_sig",
    "read_user_sig",
]
