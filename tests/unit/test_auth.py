"""UserSig decoding and verification (presence.auth), against Tencent's own generator."""

import base64
import hashlib
import json
import types
import zlib
from typing import Any

import pytest
import TLSSigAPIv2

from presence.auth import (
    MAX_TOKEN_CHARS,
    USER_ID_MAX_BYTES,
    UserSig,
    decode_user_sig,
    gen_user_sig,
    is_valid_user_id,
    sign,
    verify_user_sig,
)
from presence.errors import Code, PresenceError

APP = 1400000000
KEY = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
T0 = 1_700_000_000  # issue time used by every fixed-time token
DAY = 86400


# ---------------------------------------------------------------- helpers


@pytest.fixture
def tencent_at(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Tencent's generator with its clock frozen at T0."""
    monkeypatch.setattr(TLSSigAPIv2, "time", types.SimpleNamespace(time=lambda: float(T0)))
    return TLSSigAPIv2.TLSSigAPIv2(APP, KEY)


def pack(doc: object) -> str:
    """JSON -> zlib -> base64 -> URL mapping, the way every generator wraps a UserSig."""
    raw = zlib.compress(json.dumps(doc).encode("utf-8"))
    return base64.b64encode(raw).decode().replace("+", "*").replace("/", "-").replace("=", "_")


def wrap(raw: bytes) -> str:
    return base64.b64encode(raw).decode().replace("+", "*").replace("/", "-").replace("=", "_")


def unpack(token: str) -> dict[str, Any]:
    raw = base64.b64decode(token.replace("*", "+").replace("-", "/").replace("_", "="))
    doc: dict[str, Any] = json.loads(zlib.decompress(raw))
    return doc


def signed_doc(
    identifier: str = "alice",
    sdkappid: int | str = APP,
    time: int | str = T0,
    expire: int | str = DAY,
    userbuf: str | None = None,
    key: str = KEY,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": sdkappid,
        "TLS.expire": expire,
        "TLS.time": time,
    }
    if userbuf is not None:
        doc["TLS.userbuf"] = userbuf
    doc["TLS.sig"] = sign(identifier, sdkappid, time, expire, userbuf, key)
    return doc


def verify(token: str | None, **kwargs: Any) -> str:
    kwargs.setdefault("sdkappid", APP)
    kwargs.setdefault("secret_key", KEY)
    kwargs.setdefault("now", T0 + 60)
    return verify_user_sig(token, **kwargs)


def code_of(token: str | None, **kwargs: Any) -> Code:
    with pytest.raises(PresenceError) as info:
        verify(token, **kwargs)
    assert KEY not in info.value.message
    return info.value.code


# ---------------------------------------------------------------- Tencent compatibility


def test_tencent_token_verifies_with_real_clock() -> None:
    token = TLSSigAPIv2.TLSSigAPIv2(APP, KEY).gen_sig("alice")
    assert verify_user_sig(token, sdkappid=APP, secret_key=KEY) == "alice"


def test_tencent_token_with_userbuf_verifies() -> None:
    token = TLSSigAPIv2.TLSSigAPIv2(APP, KEY).gen_sig_with_userbuf("bob", DAY, b"\x00abc\xff")
    assert verify_user_sig(token, sdkappid=APP, secret_key=KEY) == "bob"
    assert decode_user_sig(token).userbuf == base64.b64encode(b"\x00abc\xff").decode()


def test_tencent_token_decodes(tencent_at: Any) -> None:
    user_sig = decode_user_sig(tencent_at.gen_sig("alice", 3600))
    assert user_sig == UserSig(
        identifier="alice",
        sdkappid=APP,
        time=T0,
        expire=3600,
        userbuf=None,
        sig=user_sig.sig,
        sdkappid_text=str(APP),
        time_text=str(T0),
        expire_text="3600",
    )
    assert user_sig.sig == sign("alice", APP, T0, 3600, None, KEY)


@pytest.mark.parametrize("userbuf", [None, b"", b"abc", bytes(range(256))])
@pytest.mark.parametrize("user_id", ["alice", "a b~!@#$%^&*()", "x" * USER_ID_MAX_BYTES])
def test_gen_user_sig_is_byte_identical_to_tencent(
    tencent_at: Any, user_id: str, userbuf: bytes | None
) -> None:
    ours = gen_user_sig(APP, KEY, user_id, 7 * DAY, now=T0, userbuf=userbuf)
    if userbuf is None:
        theirs = tencent_at.gen_sig(user_id, 7 * DAY)
    else:
        theirs = tencent_at.gen_sig_with_userbuf(user_id, 7 * DAY, userbuf)
    assert ours == theirs
    assert verify(ours) == user_id


def test_gen_user_sig_default_expiry_matches_tencent(tencent_at: Any) -> None:
    assert gen_user_sig(APP, KEY, "alice", now=T0) == tencent_at.gen_sig("alice")


def test_gen_user_sig_with_real_clock_verifies() -> None:
    token = gen_user_sig(APP, KEY, "carol", userbuf=b"hello")
    assert verify_user_sig(token, sdkappid=APP, secret_key=KEY) == "carol"


def test_numbers_as_strings_verify() -> None:
    token = pack(signed_doc(sdkappid=str(APP), time=str(T0), expire=str(DAY)))
    assert verify(token) == "alice"
    user_sig = decode_user_sig(token)
    assert (user_sig.sdkappid, user_sig.time, user_sig.expire) == (APP, T0, DAY)


def test_numbers_are_signed_as_the_token_spelled_them() -> None:
    # "086400" was signed verbatim: it verifies, and a sig over "86400" does not.
    assert verify(pack(signed_doc(expire="086400"))) == "alice"
    doc = signed_doc(expire=DAY)
    doc["TLS.expire"] = "086400"
    assert code_of(pack(doc)) == Code.USERSIG_BAD_SIGNATURE


def test_token_without_base64_padding_is_accepted() -> None:
    padded = [gen_user_sig(APP, KEY, "alice", now=T0 + n) for n in range(20)]
    padded = [token for token in padded if token.endswith("_")]
    assert padded
    for token in padded:
        assert verify(token.rstrip("_"), now=T0) == "alice"


# ---------------------------------------------------------------- expiry


def test_expired_at_exact_deadline() -> None:
    token = gen_user_sig(APP, KEY, "alice", DAY, now=T0)
    with pytest.raises(PresenceError) as info:
        verify(token, now=T0 + DAY)
    assert info.value.code == Code.USERSIG_EXPIRED
    assert info.value.message == "UserSig expired at 2023-11-15T22:13:20Z"


def test_valid_one_second_before_expiry() -> None:
    token = gen_user_sig(APP, KEY, "alice", DAY, now=T0)
    assert verify(token, now=T0 + DAY - 1) == "alice"
    assert verify(token, now=T0 + DAY - 0.001) == "alice"


def test_zero_expire_is_already_expired() -> None:
    assert code_of(gen_user_sig(APP, KEY, "alice", 0, now=T0), now=T0) == Code.USERSIG_EXPIRED


# ---------------------------------------------------------------- signature, SDKAppID, userID


def test_tampered_sig() -> None:
    doc = unpack(gen_user_sig(APP, KEY, "alice", now=T0))
    sig = doc["TLS.sig"]
    doc["TLS.sig"] = ("B" if sig[0] == "A" else "A") + sig[1:]
    assert code_of(pack(doc)) == Code.USERSIG_BAD_SIGNATURE


def test_tampered_identifier() -> None:
    doc = unpack(gen_user_sig(APP, KEY, "alice", now=T0))
    doc["TLS.identifier"] = "administrator"
    with pytest.raises(PresenceError) as info:
        verify(pack(doc))
    assert info.value.code == Code.USERSIG_BAD_SIGNATURE
    assert "signature" in info.value.message


def test_tampered_expiry() -> None:
    doc = unpack(gen_user_sig(APP, KEY, "alice", DAY, now=T0))
    doc["TLS.expire"] = 3650 * DAY
    assert code_of(pack(doc), now=T0 + 2 * DAY) == Code.USERSIG_BAD_SIGNATURE


def test_tampered_userbuf() -> None:
    doc = unpack(gen_user_sig(APP, KEY, "alice", now=T0, userbuf=b"role=user"))
    doc["TLS.userbuf"] = base64.b64encode(b"role=admin").decode()
    assert code_of(pack(doc)) == Code.USERSIG_BAD_SIGNATURE
    del doc["TLS.userbuf"]
    assert code_of(pack(doc)) == Code.USERSIG_BAD_SIGNATURE


def test_wrong_key() -> None:
    token = TLSSigAPIv2.TLSSigAPIv2(APP, "another-key").gen_sig("alice")
    assert code_of(token, now=None) == Code.USERSIG_BAD_SIGNATURE


def test_wrong_sdkappid() -> None:
    token = gen_user_sig(APP + 1, KEY, "alice", now=T0)
    with pytest.raises(PresenceError) as info:
        verify(token)
    assert info.value.code == Code.SDKAPPID_MISMATCH
    assert str(APP + 1) in info.value.message


def test_checks_run_in_contract_order() -> None:
    # SDKAppID before signature, signature before expiry, expiry before claimed userID.
    assert code_of(gen_user_sig(APP + 1, "bad", "alice", now=T0)) == Code.SDKAPPID_MISMATCH
    expired_bad_key = gen_user_sig(APP, "bad", "alice", 1, now=T0)
    assert code_of(expired_bad_key) == Code.USERSIG_BAD_SIGNATURE
    expired = gen_user_sig(APP, KEY, "alice", 1, now=T0)
    assert code_of(expired, claimed_user_id="bob") == Code.USERSIG_EXPIRED
    assert code_of(gen_user_sig(APP, KEY, "", now=T0, userbuf=None)) == Code.USERSIG_INVALID


def test_claimed_user_id_mismatch() -> None:
    token = gen_user_sig(APP, KEY, "alice", now=T0)
    with pytest.raises(PresenceError) as info:
        verify(token, claimed_user_id="bob")
    assert info.value.code == Code.USERID_MISMATCH
    assert info.value.message == "userID 'bob' does not match the UserSig identifier 'alice'"
    assert code_of(token, claimed_user_id="") == Code.USERID_MISMATCH
    assert code_of(token, claimed_user_id="Alice") == Code.USERID_MISMATCH


def test_claimed_user_id_match() -> None:
    token = gen_user_sig(APP, KEY, "alice", now=T0)
    assert verify(token, claimed_user_id="alice") == "alice"


# ---------------------------------------------------------------- undecodable tokens (70003)


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "garbage",
        "not base64 at all!",
        "@@@@",
        "éééé",
        "eJ*L_ABC",  # padding in the middle
        wrap(b"this is not zlib data"),
        wrap(zlib.compress(b'{"TLS.identifier": "alice"')[:-6]),  # truncated stream
        wrap(zlib.compress(json.dumps(signed_doc()).encode()) + b"trailing"),
        wrap(zlib.compress(b"\xff\xfe not utf-8")),
        wrap(zlib.compress(b"not json")),
        wrap(zlib.compress(b'{"TLS.time": NaN}')),
        wrap(zlib.compress(b"[" * 8000 + b"]" * 8000)),
        pack(["TLS.identifier", "alice"]),
        pack("alice"),
        pack(None),
        pack(1700000000),
    ],
)
def test_undecodable(token: str | None) -> None:
    assert code_of(token) == Code.USERSIG_INVALID


def test_missing_token_message() -> None:
    with pytest.raises(PresenceError) as info:
        verify(None)
    assert (info.value.code, info.value.message) == (Code.USERSIG_INVALID, "UserSig is missing")


@pytest.mark.parametrize(
    "field", ["TLS.ver", "TLS.identifier", "TLS.sdkappid", "TLS.time", "TLS.expire", "TLS.sig"]
)
def test_missing_field(field: str) -> None:
    doc = signed_doc()
    del doc[field]
    with pytest.raises(PresenceError) as info:
        verify(pack(doc))
    assert info.value.code == Code.USERSIG_INVALID
    assert info.value.message == f"UserSig is missing the field {field}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("TLS.identifier", 42),
        ("TLS.identifier", None),
        ("TLS.identifier", ["alice"]),
        ("TLS.sdkappid", 1400000000.0),
        ("TLS.sdkappid", True),
        ("TLS.sdkappid", None),
        ("TLS.time", "17e8"),
        ("TLS.time", "-5"),
        ("TLS.time", -5),
        ("TLS.time", " 1700000000"),
        ("TLS.time", ""),
        ("TLS.time", "\u0661\u0667\u0660\u0660"),  # Arabic-Indic digits: isdigit(), not ASCII
        ("TLS.time", 10**30),
        ("TLS.expire", "1" * 30),
        ("TLS.expire", {"seconds": 86400}),
        ("TLS.sig", 123),
        ("TLS.sig", None),
        ("TLS.userbuf", 7),
        ("TLS.userbuf", None),
        ("TLS.ver", 2.0),
        ("TLS.ver", 2),
        ("TLS.ver", None),
        ("TLS.ver", ["2.0"]),
        ("TLS.ver", "2"),
        ("TLS.ver", "1.0"),
        ("TLS.ver", "2.0 "),
        ("TLS.ver", ""),
    ],
)
def test_wrong_field_type(field: str, value: object) -> None:
    doc = signed_doc()
    doc[field] = value
    with pytest.raises(PresenceError) as info:
        verify(pack(doc))
    assert info.value.code == Code.USERSIG_INVALID
    assert field in info.value.message


@pytest.mark.parametrize("field", ["TLS.ver", "TLS.identifier", "TLS.userbuf", "TLS.sig"])
@pytest.mark.parametrize("text", ["\ud800", "\udfff", "ab\udc00cd", "\udc00\ud800"])
def test_string_field_that_is_not_valid_unicode_is_70003(field: str, text: str) -> None:
    # json.dumps spells a lone surrogate as the escape \ud800, which json.loads turns back into
    # a str that no UTF-8 can encode.
    doc = signed_doc(userbuf="YWJj")
    doc[field] = text
    assert "\\ud" in json.dumps(doc)
    with pytest.raises(PresenceError) as info:
        verify(pack(doc))
    assert info.value.code == Code.USERSIG_INVALID
    assert field in info.value.message
    assert "Unicode" in info.value.message


def test_a_surrogate_pair_is_valid_unicode_and_only_fails_as_a_user_id() -> None:
    # "\ud83d\ude00" in JSON is one character (U+1F600): valid text, but not printable ASCII.
    with pytest.raises(PresenceError) as info:
        verify(pack(signed_doc(identifier="\U0001f600")))
    assert info.value.code == Code.USERSIG_INVALID
    assert "identifier is not a valid userID" in info.value.message
    # and valid Unicode elsewhere is signed as its UTF-8 bytes, like every generator does
    assert verify(pack(signed_doc(userbuf="caf\u00e9\U0001f600"))) == "alice"


@pytest.mark.parametrize(
    "identifier",
    ["", "x" * (USER_ID_MAX_BYTES + 1), "ali\tce", "ali\nce", "bob\x00", "\x7f", "josé", "用户"],
)
def test_identifier_not_a_user_id(identifier: str) -> None:
    # Correctly signed by both generators, but the identifier is not a valid userID.
    token = TLSSigAPIv2.TLSSigAPIv2(APP, KEY).gen_sig(identifier)
    with pytest.raises(PresenceError) as info:
        verify_user_sig(token, sdkappid=APP, secret_key=KEY)
    assert info.value.code == Code.USERSIG_INVALID
    assert "identifier" in info.value.message
    assert code_of(gen_user_sig(APP, KEY, identifier, now=T0)) == Code.USERSIG_INVALID


def test_oversized_token() -> None:
    noise = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(125))  # incompressible
    token = gen_user_sig(APP, KEY, "alice", now=T0, userbuf=noise)
    assert len(token) > MAX_TOKEN_CHARS
    with pytest.raises(PresenceError) as info:
        verify(token)
    assert info.value.code == Code.USERSIG_INVALID
    assert "too long" in info.value.message
    assert code_of("A" * (MAX_TOKEN_CHARS + 1)) == Code.USERSIG_INVALID


def test_decompression_bomb() -> None:
    doc = signed_doc(userbuf="A" * 1_000_000)
    token = pack(doc)
    assert len(token) < MAX_TOKEN_CHARS  # small on the wire, 1 MB once inflated
    with pytest.raises(PresenceError) as info:
        verify(token)
    assert info.value.code == Code.USERSIG_INVALID
    assert "too large" in info.value.message


def test_decode_user_sig_rejects_empty() -> None:
    with pytest.raises(PresenceError) as info:
        decode_user_sig("")
    assert info.value.code == Code.USERSIG_INVALID


# ---------------------------------------------------------------- userID syntax


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a", True),
        ("x" * 32, True),
        ("x" * 33, False),
        ("", False),
        (" ", True),
        ("a b", True),
        ("~!@#$%^&*()_+-=[]{};':\",./<>?`|\\", True),
        ("a\tb", False),
        ("a\nb", False),
        ("\x7f", False),
        ("\x1f", False),
        ("é", False),
        ("e\u0301", False),
        (None, False),
        (42, False),
        (b"alice", False),
        (["alice"], False),
    ],
)
def test_is_valid_user_id(value: object, expected: bool) -> None:
    assert is_valid_user_id(value) is expected


# ---------------------------------------------------------------- key rotation

OLD_KEY = "the-previous-key-0123456789abcdef"


def test_a_usersig_signed_with_the_current_or_the_previous_key_verifies() -> None:
    keys = (KEY, OLD_KEY)
    assert verify(gen_user_sig(APP, KEY, "alice", now=T0), secret_key=keys) == "alice"
    assert verify(gen_user_sig(APP, OLD_KEY, "bob", now=T0), secret_key=keys) == "bob"
    tencent = TLSSigAPIv2.TLSSigAPIv2(APP, OLD_KEY).gen_sig("carol")
    assert verify_user_sig(tencent, sdkappid=APP, secret_key=keys) == "carol"
    assert code_of(gen_user_sig(APP, "a-third-key", "dave", now=T0), secret_key=keys) == (
        Code.USERSIG_BAD_SIGNATURE
    )


def test_other_keys_are_asked_for_only_when_no_key_matches() -> None:
    asked: list[int] = []

    def other_keys() -> tuple[str, ...]:
        asked.append(1)
        return (KEY,)

    token = gen_user_sig(APP, KEY, "alice", now=T0)
    assert verify(token, secret_key=KEY, other_keys=other_keys) == "alice"
    assert asked == []
    # signed with the key the other keys hold (the previous one, or one just rotated in)
    assert verify(token, secret_key=OLD_KEY, other_keys=other_keys) == "alice"
    assert asked == [1]


@pytest.mark.parametrize("others", [(), ("still-not-it",), ("still-not-it", "nor-this")])
def test_no_matching_other_key_is_70009(others: tuple[str, ...]) -> None:
    token = gen_user_sig(APP, KEY, "alice", now=T0)
    assert code_of(token, secret_key=OLD_KEY, other_keys=lambda: others) == (
        Code.USERSIG_BAD_SIGNATURE
    )


def test_other_keys_are_not_asked_for_a_token_refused_before_the_signature() -> None:
    def other_keys() -> tuple[str, ...]:
        raise AssertionError("asked")

    assert code_of("garbage", other_keys=other_keys) == Code.USERSIG_INVALID
    other_app = gen_user_sig(APP + 1, KEY, "alice", now=T0)
    assert code_of(other_app, other_keys=other_keys) == Code.SDKAPPID_MISMATCH
