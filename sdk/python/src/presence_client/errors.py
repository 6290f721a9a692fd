"""The one exception the client raises, and the contract's error codes (API.md sections 1-2)."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ErrorCode", "PresenceError"]


class ErrorCode(IntEnum):
    """Error codes: the service's (positive, Tencent's values) and the client's own (negative)."""

    # the client's own: no contract code came back
    NETWORK_ERROR = -1
    """The service could not be reached (connection refused, DNS, TLS, timeout)."""
    UNEXPECTED_RESPONSE = -2
    """An answer without a contract code, e.g. API Gateway's own 404 or 502."""
    TIMEOUT = -3
    """The service did not answer in time (e.g. no `loggedOut` after a logout)."""
    # auth (API.md section 1)
    USERSIG_EXPIRED = 70001
    USERSIG_INVALID = 70003
    USERSIG_BAD_SIGNATURE = 70009
    USERID_MISMATCH = 70013
    SDKAPPID_MISMATCH = 70014
    NOT_ADMIN = 60010
    # requests (API.md section 2)
    INVALID_JSON = 6027
    INVALID_PARAMETER = 6017
    INVALID_USER_ID = 7003
    EDITION_NOT_ULTIMATE = 7013
    SWITCH_OFF = 72001
    RATE_LIMITED = 7008
    SERVER_FAULT = 7012


class PresenceError(Exception):
    """Every failure: an HTTP error answer, a refused WebSocket handshake, an `error` frame, or
    no answer at all.

    `code` is the contract's code (an `int`; compare with `ErrorCode`), `message` the service's
    text, `http_status` the HTTP status when there was one (None for frames and network errors).
    """

    def __init__(self, code: int, message: str, *, http_status: int | None = None) -> None:
        super().__init__(code, message)
        self.code = int(code)
        self.message = message
        self.http_status = http_status

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def __repr__(self) -> str:
        return (
            f"PresenceError(code={self.code}, message={self.message!r},"
            f" http_status={self.http_status})"
        )

    @property
    def is_auth_error(self) -> bool:
        """True for a UserSig problem (401/403): retrying with the same UserSig cannot help."""
        return self.http_status in (401, 403) or self.code in _AUTH_CODES


_AUTH_CODES = frozenset(
    {
        ErrorCode.USERSIG_EXPIRED,
        ErrorCode.USERSIG_INVALID,
        ErrorCode.USERSIG_BAD_SIGNATURE,
        ErrorCode.USERID_MISMATCH,
        ErrorCode.SDKAPPID_MISMATCH,
        ErrorCode.NOT_ADMIN,
    }
)
