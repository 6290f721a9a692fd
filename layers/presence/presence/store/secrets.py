"""The UserSig key: the Secrets Manager secret's AWSCURRENT version, and while a rotation
settles its AWSPREVIOUS version (API.md section 1), cached.

Its settings (USERSIG_KEY_MAX_AGE_SECONDS, USERSIG_KEY_REREAD_SECONDS, `_secret_clock`) are
read from this module when used: patch them here (presence.store.secrets), not on the package.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

import boto3
from botocore.exceptions import ClientError

from presence import clock, config
from presence.errors import Code, PresenceError
from presence.store._clients import BOTO_CONFIG

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider


@cache
def _secrets() -> SecretsProvider:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    # (its client from boto3's default session: a session of its own would load and resolve
    # every service model again, in each cold start)
    return SecretsProvider(boto3_client=boto3.client("secretsmanager", config=BOTO_CONFIG))


# The UserSig key is the Secrets Manager secret's AWSCURRENT version; while a rotation settles,
# its AWSPREVIOUS version (the key before the last `put-secret-value`) verifies too, so rotating
# logs nobody out (API.md section 1). Each is cached for USERSIG_KEY_MAX_AGE_SECONDS, and the
# previous one is only read when a UserSig does not verify with the current one (so a cold
# start still makes one GetSecretValue call). Powertools' SecretsProvider caches by secret name,
# not by VersionStage, so it cannot hold the two versions apart: its client is used directly.
# A UserSig that verifies with neither also re-reads the current version at once (at most every
# USERSIG_KEY_REREAD_SECONDS per process): a key just rotated in works at once, and garbage
# tokens cannot turn into a stream of Secrets Manager calls.

USERSIG_KEY_MAX_AGE_SECONDS = 60.0
USERSIG_KEY_REREAD_SECONDS = 5.0
_CURRENT, _PREVIOUS = "AWSCURRENT", "AWSPREVIOUS"
_secret_clock = clock.monotonic


class _CachedKey(NamedTuple):
    value: str | None  # None: no version carries this stage
    read_at: float


_secret_versions: dict[tuple[str, str], _CachedKey] = {}  # by (secret ARN, stage)
_secret_reread_at: dict[str, float] = {}  # by secret ARN: last re-read after a mismatch


def _read_secret_version(arn: str, stage: str) -> str | None:
    """The secret's value at `stage`, now; None when no version carries that stage."""
    try:
        response = _secrets().client.get_secret_value(SecretId=arn, VersionStage=stage)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise
    value = response.get("SecretString")
    return value if isinstance(value, str) and value else None


def _secret_version(arn: str, stage: str, now: float) -> str | None:
    """The secret's value at `stage`, cached; the cached value while Secrets Manager fails."""
    key = (arn, stage)
    cached = _secret_versions.get(key)
    if cached is not None and now - cached.read_at < USERSIG_KEY_MAX_AGE_SECONDS:
        return cached.value
    try:
        value = _read_secret_version(arn, stage)
    except Exception:
        if cached is None and stage == _CURRENT:
            raise
        from presence.observability import logger

        logger.warning("could not read the UserSig secret; trying again soon", exc_info=True)
        stale = cached.value if cached is not None else None
        retry_at = now - USERSIG_KEY_MAX_AGE_SECONDS + USERSIG_KEY_REREAD_SECONDS
        _secret_versions[key] = _CachedKey(stale, retry_at)
        return stale
    if stage == _CURRENT and cached is not None and cached.value != value:
        # rotated: the previous version has moved too; do not trust its cached value
        _secret_versions.pop((arn, _PREVIOUS), None)
    _secret_versions[key] = _CachedKey(value, now)
    return value


def usersig_secret_key() -> str:
    """The current UserSig key (AWSCURRENT): what new UserSigs are signed with."""
    value = _secret_version(config.usersig_secret_arn(), _CURRENT, _secret_clock())
    if value is None:
        raise PresenceError(Code.SERVER_FAULT, "the UserSig secret key is not set")
    return value


def other_usersig_secret_keys() -> Iterator[str]:
    """The keys to try, in turn, when a UserSig does not verify with `usersig_secret_key()`.

    First the previous key (AWSPREVIOUS) if there is one; then, only if asked for more and the
    secret was rotated since this process last read it, the new current key and its previous
    one (the current version is re-read at most every USERSIG_KEY_REREAD_SECONDS).
    """
    arn = config.usersig_secret_arn()
    now = _secret_clock()
    previous = _secret_version(arn, _PREVIOUS, now)
    if previous is not None:
        yield previous
    last = _secret_reread_at.get(arn)
    if last is not None and now - last < USERSIG_KEY_REREAD_SECONDS:
        return
    _secret_reread_at[arn] = now
    try:
        current = _read_secret_version(arn, _CURRENT)
        cached = _secret_versions.get((arn, _CURRENT))
        if current is None or (cached is not None and cached.value == current):
            return  # not rotated since we last read it
        # rotated: the previous version has moved too (to what was the current one)
        new_previous = _read_secret_version(arn, _PREVIOUS)
    except Exception:
        from presence.observability import logger

        logger.warning("could not re-read the UserSig secret", exc_info=True)
        return
    _secret_versions[(arn, _CURRENT)] = _CachedKey(current, now)
    _secret_versions[(arn, _PREVIOUS)] = _CachedKey(new_previous, now)
    yield current
    if new_previous is not None and new_previous != previous:
        yield new_previous


def callback_token() -> str:
    """The State.StateChange callback's authentication token (its secret's current value,
    cached like the UserSig key); "" when the deployment has none (presence.callbacks)."""
    arn = config.callback_token_secret_arn()
    if not arn:
        return ""
    return _secret_version(arn, _CURRENT, _secret_clock()) or ""
