"""UserSig (TLSSigAPIv2 format) decoding, signing and verification (API.md section 1).

A UserSig is JSON, zlib-compressed, base64-encoded, then made URL-friendly (`+`->`*`, `/`->`-`,
`=`->`_`). Its `TLS.sig` is base64(HMAC-SHA256(secret key, the signed lines)). Tokens from
Tencent's public `tls-sig-api-v2` generators (any language) must verify here, so the numbers are
signed exactly as the token carried them (some generators emit them as JSON strings).

Standard library only: this module runs in every function's cold start.
"""

import base64
import binascii
import hashlib
import hmac
import json
import time as _time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from presence import clock
from presence.errors import Code, PresenceError

__all__ = [
    "MAX_DECOMPRESSED_BYTES",
    "MAX_TOKEN_CHARS",
    "USER_ID_MAX_BYTES",
    "UserSig",
    "decode_user_sig",
    "gen_user_sig",
    "is_valid_user_id",
    "sign",
    "verify_user_sig",
]

USER_ID_MAX_BYTES = 32
MAX_TOKEN_CHARS = 4096
MAX_DECOMPRESSED_BYTES = 8 * 1024
_MAX_NUMBER_DIGITS = 19  # fits a signed 64-bit integer, like every generator's types
DEFAULT_EXPIRE_SECONDS = 180 * 86400
TLS_VERSION = "2.0"

_PRINTABLE_FIRST, _PRINTABLE_LAST = 0x20, 0x7E

_TO_BASE64 = str.maketrans("*-_", "+/=")
_FROM_BASE64 = str.maketrans("+/=", "*-_")


def is_valid_user_id(value: object) -> bool:
    """True for a str of 1-32 characters, each printable ASCII (0x20-0x7e)."""
    if not isinstance(value, str) or not 1 <= len(value) <= USER_ID_MAX_BYTES:
        return False
    return all(_PRINTABLE_FIRST <= ord(ch) <= _PRINTABLE_LAST for ch in value)


@dataclass(frozen=True)
class UserSig:
    """A decoded (not yet verified) UserSig.

    The `*_text` fields keep each number as the token spelled it, which is what was signed;
    when left empty (a UserSig built by hand) the integer's decimal form is used.
    """

    identifier: str
    sdkappid: int
    time: int
    expire: int
    userbuf: str | None
    sig: str
    sdkappid_text: str = field(default="", kw_only=True, repr=False)
    time_text: str = field(default="", kw_only=True, repr=False)
    expire_text: str = field(default="", kw_only=True, repr=False)

    def expected_sig(self, key: str) -> str:
        """The `TLS.sig` this token should carry if it was signed with `key`."""
        return sign(
            self.identifier,
            self.sdkappid_text or str(self.sdkappid),
            self.time_text or str(self.time),
            self.expire_text or str(self.expire),
            self.userbuf,
            key,
        )


def _invalid(message: str) -> PresenceError:
    return PresenceError(Code.USERSIG_INVALID, message)


def _number_field(obj: dict[str, object], name: str) -> tuple[int, str]:
    """A required non-negative integer field: its value and its text as the token spelled it."""
    if name not in obj:
        raise _invalid(f"UserSig is missing the field {name}")
    value = obj[name]
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
        if value < 0 or len(text) > _MAX_NUMBER_DIGITS:
            raise _invalid(f"UserSig field {name} is out of range")
        return value, text
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            raise _invalid(f"UserSig field {name} must be an integer")
        if len(value) > _MAX_NUMBER_DIGITS:
            raise _invalid(f"UserSig field {name} is out of range")
        return int(value), value
    raise _invalid(f"UserSig field {name} must be an integer")


def _string_field(obj: dict[str, object], name: str) -> str:
    """A required string field, valid Unicode (what is signed is its UTF-8 encoding)."""
    if name not in obj:
        raise _invalid(f"UserSig is missing the field {name}")
    value = obj[name]
    if not isinstance(value, str):
        raise _invalid(f"UserSig field {name} must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # JSON can spell a lone surrogate ("\ud800"), which no UTF-8 text can hold.
        raise _invalid(
            f"UserSig field {name} is not valid Unicode (it contains a lone surrogate)"
        ) from None
    return value


def _check_version(obj: dict[str, object]) -> None:
    """`TLS.ver` must be the string "2.0", the only format this service reads."""
    version = _string_field(obj, "TLS.ver")
    if version != TLS_VERSION:
        raise _invalid(f'UserSig field TLS.ver must be "{TLS_VERSION}"')


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def decode_user_sig(token: str) -> UserSig:
    """Decode a UserSig without checking its signature. Any failure raises 70003."""
    if not isinstance(token, str) or not token:
        raise _invalid("UserSig is missing")
    if len(token) > MAX_TOKEN_CHARS:
        raise _invalid(f"UserSig is too long (more than {MAX_TOKEN_CHARS} characters)")
    if not token.isascii():
        raise _invalid("UserSig is not valid base64")
    b64 = token.translate(_TO_BASE64)
    if len(b64) % 4:
        # Tolerate a generator that drops the padding; validate=True still rejects junk.
        b64 += "=" * (-len(b64) % 4)
    try:
        compressed = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("UserSig is not valid base64") from None

    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(compressed, MAX_DECOMPRESSED_BYTES)
    except zlib.error:
        raise _invalid("UserSig is not zlib-compressed data") from None
    if not inflater.eof:
        if inflater.unconsumed_tail or len(raw) >= MAX_DECOMPRESSED_BYTES:
            raise _invalid(
                f"UserSig is too large once decompressed (over {MAX_DECOMPRESSED_BYTES} bytes)"
            )
        raise _invalid("UserSig compressed data is truncated")
    if inflater.unused_data:
        raise _invalid("UserSig has trailing data after its compressed content")

    try:
        obj = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _invalid("UserSig content is not valid JSON") from None
    if not isinstance(obj, dict):
        raise _invalid("UserSig content is not a JSON object")

    _check_version(obj)
    identifier = _string_field(obj, "TLS.identifier")
    sdkappid, sdkappid_text = _number_field(obj, "TLS.sdkappid")
    issued, time_text = _number_field(obj, "TLS.time")
    expire, expire_text = _number_field(obj, "TLS.expire")
    sig = _string_field(obj, "TLS.sig")
    userbuf = _string_field(obj, "TLS.userbuf") if "TLS.userbuf" in obj else None
    return UserSig(
        identifier=identifier,
        sdkappid=sdkappid,
        time=issued,
        expire=expire,
        userbuf=userbuf,
        sig=sig,
        sdkappid_text=sdkappid_text,
        time_text=time_text,
        expire_text=expire_text,
    )


def sign(
    identifier: str,
    sdkappid: int | str,
    time: int | str,
    expire: int | str,
    userbuf: str | None,
    key: str,
) -> str:
    """base64(HMAC-SHA256(key, signed lines)), exactly as TLSSigAPIv2 computes `TLS.sig`.

    Numbers given as str are used verbatim (as the token spelled them); ints as decimal.
    `userbuf` is the base64 text carried in `TLS.userbuf`, or None when absent.
    """
    content = (
        f"TLS.identifier:{identifier}\n"
        f"TLS.sdkappid:{sdkappid}\n"
        f"TLS.time:{time}\n"
        f"TLS.expire:{expire}\n"
    )
    if userbuf is not None:
        content += f"TLS.userbuf:{userbuf}\n"
    digest = hmac.new(key.encode("utf-8"), content.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _utc(ts: int) -> str:
    try:
        return _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(ts))
    except (OverflowError, OSError, ValueError):
        return f"unix time {ts}"


def _signed_with_one_of(user_sig: UserSig, keys: Iterable[str]) -> bool:
    """Whether `TLS.sig` is the signature of one of `keys`, tried in turn (constant time each;
    stopping at the match tells only which key it was, nothing of any key)."""
    given = user_sig.sig.encode("utf-8")
    return any(
        hmac.compare_digest(user_sig.expected_sig(key).encode("ascii"), given) for key in keys
    )


def verify_user_sig(
    token: str | None,
    *,
    sdkappid: int,
    secret_key: str | Sequence[str],
    claimed_user_id: str | None = None,
    now: float | None = None,
    other_keys: Callable[[], Iterable[str]] | None = None,
) -> str:
    """Verify a UserSig and return the caller's userID (its `TLS.identifier`).

    `secret_key` is the deployment's key (or several): a UserSig signed with any of them
    verifies. When none matches, `other_keys` (if given) is asked for more keys, tried in turn
    (and no further once one matches) before refusing: while a key is rotated, the previous
    one (API.md section 1).

    Checks, in order: present and decodable (70003), identifier a valid userID (70003),
    SDKAppID (70014), signature (70009), expiry (70001), claimed userID (70013).
    """
    if not token:
        raise _invalid("UserSig is missing")
    user_sig = decode_user_sig(token)
    if not is_valid_user_id(user_sig.identifier):
        raise _invalid(
            "UserSig identifier is not a valid userID "
            f"(1-{USER_ID_MAX_BYTES} printable ASCII characters)"
        )
    if user_sig.sdkappid != sdkappid:
        raise PresenceError(
            Code.SDKAPPID_MISMATCH,
            f"UserSig is for SDKAppID {user_sig.sdkappid}, this service is SDKAppID {sdkappid}",
        )
    keys = (secret_key,) if isinstance(secret_key, str) else tuple(secret_key)
    if not _signed_with_one_of(user_sig, keys):
        more = other_keys() if other_keys is not None else ()
        if not _signed_with_one_of(user_sig, more):
            raise PresenceError(
                Code.USERSIG_BAD_SIGNATURE,
                "UserSig signature does not verify (signed with another key, or altered)",
            )
    current = clock.now_s() if now is None else now
    expires_at = user_sig.time + user_sig.expire
    if expires_at <= current:
        raise PresenceError(Code.USERSIG_EXPIRED, f"UserSig expired at {_utc(expires_at)}")
    if claimed_user_id is not None and claimed_user_id != user_sig.identifier:
        raise PresenceError(
            Code.USERID_MISMATCH,
            f"userID {claimed_user_id!r} does not match the UserSig identifier "
            f"{user_sig.identifier!r}",
        )
    return user_sig.identifier


def gen_user_sig(
    sdkappid: int,
    key: str,
    user_id: str,
    expire: int = DEFAULT_EXPIRE_SECONDS,
    *,
    now: int | None = None,
    userbuf: bytes | None = None,
) -> str:
    """Generate a UserSig byte-for-byte as Tencent's TLSSigAPIv2 does (dev tools and tests).

    Like Tencent's generator it does not validate `user_id`; verification rejects a bad one.
    """
    issued = int(clock.now_s()) if now is None else int(now)
    userbuf_b64 = None if userbuf is None else base64.b64encode(userbuf).decode("ascii")
    doc: dict[str, object] = {
        "TLS.ver": TLS_VERSION,
        "TLS.identifier": str(user_id),
        "TLS.sdkappid": int(sdkappid),
        "TLS.expire": int(expire),
        "TLS.time": issued,
    }
    if userbuf_b64 is not None:
        doc["TLS.userbuf"] = userbuf_b64
    doc["TLS.sig"] = sign(user_id, sdkappid, issued, expire, userbuf_b64, key)
    compressed = zlib.compress(json.dumps(doc).encode("utf-8"))
    return base64.b64encode(compressed).decode("ascii").translate(_FROM_BASE64)
