"""Rotating the UserSig key logs nobody out (API.md section 1), through the real handlers.

The key is the Secrets Manager secret's AWSCURRENT version; `put-secret-value` rotates it and
moves the old value to AWSPREVIOUS. While a rotation settles, UserSigs signed with either verify.
The functions cache the keys for a minute; `secret_clock` stands in for the passing of time.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from presence import store
from tests.integration.conftest import REGION, SECRET_KEY, Api, World, user_sig

KEY_A = SECRET_KEY  # the key the deployment starts with
KEY_B = "rotated-key-b-0123456789abcdef0123456789abcdef"
KEY_C = "rotated-key-c-fedcba9876543210fedcba9876543210"


class SecretClock:
    """What the key cache reads as the time (monotonic seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def secret_clock(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> SecretClock:
    clock = SecretClock()
    # raising=False: on a store without this clock the tests fail on what the client sees
    monkeypatch.setattr(store.secrets, "_secret_clock", clock, raising=False)
    return clock


@pytest.fixture
def rotate(aws: dict[str, str]) -> Any:
    """`aws secretsmanager put-secret-value --secret-id <arn> --secret-string <key>`."""
    client = boto3.client("secretsmanager", region_name=REGION)

    def put(key: str) -> None:
        client.put_secret_value(SecretId=aws["USERSIG_SECRET_ARN"], SecretString=key)

    return put


@pytest.fixture
def secret_reads(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The VersionStage of every GetSecretValue the functions make."""
    reads: list[str] = []
    client = store._secrets().client
    original = client.get_secret_value

    def counted(**kwargs: Any) -> Any:
        reads.append(kwargs.get("VersionStage", "AWSCURRENT"))
        return original(**kwargs)

    monkeypatch.setattr(client, "get_secret_value", counted)
    return reads


def status_code(api: Api, key: str, user: str = "alice") -> tuple[int, int]:
    reply = api.call("get_subscriptions", {}, token=user_sig(user, key=key))
    return reply.status, reply.code


def test_after_a_rotation_both_keys_verify_and_after_the_next_the_oldest_is_refused(
    api: Api, rotate: Any, secret_clock: SecretClock
) -> None:
    assert status_code(api, KEY_A) == (200, 0)  # the function has read (and cached) key A
    rotate(KEY_B)
    # no wait: a UserSig signed with the new key verifies at once (the secret is re-read) ...
    assert status_code(api, KEY_B) == (200, 0)
    # ... and one signed with the old key still does: nobody is logged out
    assert status_code(api, KEY_A) == (200, 0)
    secret_clock.now += store.USERSIG_KEY_MAX_AGE_SECONDS + 1  # long after
    assert status_code(api, KEY_A) == (200, 0)
    assert status_code(api, KEY_B) == (200, 0)

    rotate(KEY_C)
    assert status_code(api, KEY_C) == (200, 0)
    assert status_code(api, KEY_B) == (200, 0)
    # key A is two rotations old: refused once the cached keys age out (within a minute)
    secret_clock.now += store.USERSIG_KEY_MAX_AGE_SECONDS + 1
    assert status_code(api, KEY_A) == (401, 70009)
    assert status_code(api, KEY_B) == (200, 0)
    assert status_code(api, KEY_C) == (200, 0)


def test_a_rotation_is_picked_up_within_a_minute_without_any_new_usersig(
    api: Api, rotate: Any, secret_clock: SecretClock
) -> None:
    assert status_code(api, KEY_A) == (200, 0)
    rotate(KEY_B)
    rotate(KEY_C)  # A is now neither current nor previous
    secret_clock.now += store.USERSIG_KEY_MAX_AGE_SECONDS + 1
    assert status_code(api, KEY_A) == (401, 70009)


def test_a_websocket_opens_with_the_new_key_right_after_a_rotation(
    api: Api, world: World, rotate: Any, secret_clock: SecretClock
) -> None:
    _, answer = world.connect("alice", token=user_sig("alice", key=KEY_A))
    assert answer["statusCode"] == 200
    rotate(KEY_B)
    _, answer = world.connect("bob", token=user_sig("bob", key=KEY_B))
    assert answer["statusCode"] == 200, answer
    _, answer = world.connect("carol", token=user_sig("carol", key=KEY_A))
    assert answer["statusCode"] == 200, answer
    rotate(KEY_C)
    secret_clock.now += store.USERSIG_KEY_MAX_AGE_SECONDS + 1
    _, answer = world.connect("dave", token=user_sig("dave", key=KEY_A))
    assert (answer["statusCode"], json.loads(answer["body"])["code"]) == (401, 70009)


def test_a_key_that_was_never_the_deployments_is_refused(api: Api, rotate: Any) -> None:
    rotate(KEY_B)
    assert status_code(api, "someone-elses-key") == (401, 70009)
    assert status_code(api, KEY_B) == (200, 0)


def test_wrong_key_usersigs_re_read_the_secret_at_most_every_few_seconds(
    api: Api, secret_clock: SecretClock, secret_reads: list[str]
) -> None:
    assert status_code(api, KEY_A) == (200, 0)
    assert secret_reads == ["AWSCURRENT"]  # a cold start reads one version
    for _ in range(20):
        assert status_code(api, "someone-elses-key") == (401, 70009)
    # the previous version (absent before any rotation) and one re-read of the current one
    assert sorted(secret_reads) == ["AWSCURRENT", "AWSCURRENT", "AWSPREVIOUS"]
    secret_clock.now += store.USERSIG_KEY_REREAD_SECONDS
    for _ in range(20):
        assert status_code(api, "someone-elses-key") == (401, 70009)
    assert len(secret_reads) == 4


def test_old_usersigs_verify_right_after_the_functions_see_a_rotation(
    api: Api, rotate: Any, secret_clock: SecretClock
) -> None:
    # the function has cached "no previous key" (a wrong-key UserSig made it look) ...
    assert status_code(api, KEY_A) == (200, 0)
    secret_clock.now += 10
    assert status_code(api, "someone-elses-key") == (401, 70009)
    rotate(KEY_B)
    # ... and sees the rotation when its cached current key ages out: A is now the previous key
    secret_clock.now += store.USERSIG_KEY_MAX_AGE_SECONDS - 5
    assert status_code(api, KEY_A) == (200, 0)
    assert status_code(api, KEY_B) == (200, 0)


def test_keys_stay_in_force_when_secrets_manager_fails(
    api: Api, secret_clock: SecretClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert status_code(api, KEY_A) == (200, 0)

    def unavailable(**kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "InternalServiceError", "Message": "down"}}, "GetSecretValue"
        )

    monkeypatch.setattr(store._secrets().client, "get_secret_value", unavailable)
    secret_clock.now += store.USERSIG_KEY_MAX_AGE_SECONDS + 1
    assert status_code(api, KEY_A) == (200, 0)
    assert status_code(api, KEY_B) == (401, 70009)
