"""UserSig (TLSSigAPIv2 format) for server-side use: mint tokens the service accepts.

The same algorithm as Tencent's public `tls-sig-api-v2` generators (API.md section 1):
`TLS.sig` = base64(HMAC-SHA256(key, the signed lines)); the token is the JSON document,
zlib-compressed, base64-encoded, then `+`->`*`, `/`->`-`, `=`->`_`.

Keep the secret key on your servers: anyone who has it can act as any user.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import zlib
from dataclasses import dataclass

__all__ = ["DEFAULT_EXPIRE_SECONDS", "UserSigInfo", "gen_user_sig", "read_user_sig"]

DEFAULT_EXPIRE_SECONDS = 180 * 86400  # Tencent's generators' default: 180 days

_FROM_BASE64 = str.maketrans("+/=", "*-_")
_TO_BASE64 = str.maketrans("*-_", "+/=")
_MAX_DECOMPRESSED_BYTES = 8 * 1024


def _sign(
    identifier: str, sdkappid: int, issued: int, expire: int, userbuf: str | None, key: str
) -> str:
    content = (
        f"TLS.identifier:{identifier}\n"
        f"TLS.sdkappid:{sdkappid}\n"
        f"TLS.time:{issued}\n"
        f"TLS.expire:{expire}\n"
    )
    if userbuf is not None:
        content += f"TLS.userbuf:{userbuf}\n"
    digest = hmac.new(key.encode("utf-8"), content.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def gen_user_sig(
    sdkappid: int,
    key: str,
    user_id: str,
    expire: int = DEFAULT_EXPIRE_SECONDS,
    *,
    now: int | None = None,
    userbuf: bytes | None = None,
) -> str:
    """A UserSig for `user_id`, valid `expire` seconds from `now` (default: the current time).

    Byte-for-byte what Tencent's TLSSigAPIv2 `gen_sig` produces for the same inputs.
    """
    issued = int(time.time()) if now is None else int(now)
    sdkappid, expire = int(sdkappid), int(expire)
    userbuf_b64 = None if userbuf is None else base64.b64encode(userbuf).decode("ascii")
    doc: dict[str, object] = {
        "TLS.ver": "2.0",
        "TLS.identifier": str(user_id),
        "TLS.sdkappid": sdkappid,
        "TLS.expire": expire,
        "TLS.time": issued,
    }
    if userbuf_b64 is not None:
        doc["TLS.userbuf"] = userbuf_b64
    doc["TLS.sig"] = _sign(str(user_id), sdkappid, issued, expire, userbuf_b64, key)
    compressed = zlib.compress(json.dumps(doc).encode("utf-8"))
    return base64.b64encode(compressed).decode("ascii").translate(_FROM_BASE64)


@dataclass(frozen=True)
class UserSigInfo:
    """What a UserSig says about itself (read without the key: not verified)."""

    user_id: str
    sdkappid: int
    issued_at: int
    expire: int

    @property
    def expires_at(self) -> int:
        return self.issued_at + self.expire

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at <= (time.time() if now is None else now)


def read_user_sig(token: str) -> UserSigInfo | None:
    """Decode a UserSig's identifier, SDKAppID and validity, or None if it cannot be read.

    No signature check: only the service (which has the key) can tell whether it is genuine.
    """
    try:
        b64 = token.strip().translate(_TO_BASE64)
        b64 += "=" * (-len(b64) % 4)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(base64.b64decode(b64, validate=True), _MAX_DECOMPRESSED_BYTES)
        doc = json.loads(raw.decode("utf-8"))
        return UserSigInfo(
            user_id=str(doc["TLS.identifier"]),
            sdkappid=int(doc["TLS.sdkappid"]),
            issued_at=int(doc["TLS.time"]),
            expire=int(doc["TLS.expire"]),
        )
    except (binascii.Error, zlib.error, UnicodeError, ValueError, KeyError, TypeError):
        return None
