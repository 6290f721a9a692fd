"""The contract's error codes and their HTTP statuses, in one place (API.md sections 1 and 2)."""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    OK = 0
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


HTTP_STATUS: dict[Code, int] = {
    Code.USERSIG_EXPIRED: 401,
    Code.USERSIG_INVALID: 401,
    Code.USERSIG_BAD_SIGNATURE: 401,
    Code.USERID_MISMATCH: 401,
    Code.SDKAPPID_MISMATCH: 401,
    Code.NOT_ADMIN: 403,
    Code.INVALID_JSON: 400,
    Code.INVALID_PARAMETER: 400,
    Code.INVALID_USER_ID: 400,
    Code.EDITION_NOT_ULTIMATE: 403,
    Code.SWITCH_OFF: 403,
    Code.RATE_LIMITED: 429,
    Code.SERVER_FAULT: 500,
}


class PresenceError(Exception):
    """A failure the client is told about: a contract code and a message naming the field."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]
