"""Admin settings routes (API.md section 5)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.conftest import Api, concurrently

DEFAULTS: dict[str, Any] = {
    "edition": "ultimate",
    "statusQueryAndNotify": True,
    "friendStatusNotify": False,
    "rateLimit": {"requests": 20, "windowSeconds": 5},
    "maxQueryUserIDs": 500,
    "maxSubscribeUserIDs": 100,
    "maxCustomStatusBytes": 100,
    "subscriptionQuota": 200,
    "customStatusClearSeconds": 30,
    "reconnectGraceSeconds": 5,
    "subscriptionRetentionSeconds": 3600,
    "offlineRetentionSeconds": 604800,
    "adminUserID": "administrator",
    "maxConnectionsPerUser": 10,
    "lastActiveTimeVisible": True,
    "statusChangeEvents": False,
}


def get_settings(api: Api) -> dict[str, Any]:
    return api.call("admin_get_settings", {}, user="administrator").data


def test_defaults_are_the_contracts(api: Api) -> None:
    assert get_settings(api) == DEFAULTS


def test_partial_update_returns_and_keeps_the_whole_object(api: Api) -> None:
    data = api.update_settings({"maxCustomStatusBytes": 10, "rateLimit": {"requests": 7}}).data
    expected = {
        **DEFAULTS,
        "maxCustomStatusBytes": 10,
        "rateLimit": {"requests": 7, "windowSeconds": 5},
    }
    assert data == expected
    assert get_settings(api) == expected
    # a later partial update keeps the earlier one
    data = api.update_settings({"rateLimit": {"windowSeconds": 9}}).data
    assert data["rateLimit"] == {"requests": 7, "windowSeconds": 9}
    assert data["maxCustomStatusBytes"] == 10


def test_update_takes_effect_once_the_cache_ages_out(api: Api, fresh_settings) -> None:  # type: ignore[no-untyped-def]
    api.update_settings({"maxCustomStatusBytes": 5})
    fresh_settings()  # the functions' cache lives at most a few seconds
    reply = api.set_self_status("123456")
    assert (reply.status, reply.code) == (400, 6017)
    assert api.set_self_status("12345").status == 200


@pytest.mark.parametrize(
    "patch",
    [
        {"edition": "premium"},
        {"statusQueryAndNotify": "yes"},
        {"maxQueryUserIDs": 0},
        {"maxQueryUserIDs": 501},
        {"maxQueryUserIDs": 5.5},
        {"maxQueryUserIDs": True},
        {"rateLimit": {"requests": 0}},
        {"rateLimit": {"burst": 3}},
        {"rateLimit": 20},
        {"customStatusClearSeconds": -1},
        {"adminUserID": ""},
        {"adminUserID": "x" * 33},
        {"noSuchSetting": 1},
        {"maxConnectionsPerUser": 0},
        {"maxConnectionsPerUser": 101},
        {"lastActiveTimeVisible": "no"},
        {"maxCustomStatusBytes": 50, "edition": "premium"},
    ],
)
def test_invalid_update_is_refused_and_changes_nothing(api: Api, patch: dict[str, Any]) -> None:
    reply = api.update_settings(patch)
    assert (reply.status, reply.code) == (400, 6017), reply.body
    named = next(iter(k for k in patch if k != "maxCustomStatusBytes"))
    assert named in reply.body["message"]
    assert get_settings(api) == DEFAULTS


def test_admin_user_id_can_be_moved(api: Api, fresh_settings) -> None:  # type: ignore[no-untyped-def]
    api.update_settings({"adminUserID": "ops"})
    fresh_settings()
    assert api.call("admin_get_settings", {}, user="ops").data["adminUserID"] == "ops"
    reply = api.call("admin_get_settings", {}, user="administrator")
    assert (reply.status, reply.code) == (403, 60010)


def test_settings_body_must_be_an_object(api: Api) -> None:
    reply = api.call("admin_update_settings", raw_body="[1]", user="administrator")
    assert (reply.status, reply.code) == (400, 6027)


# --- concurrent updates -------------------------------------------------------------------------

# Nine admins, each changing a different setting at the same moment.
CONCURRENT_PATCHES: list[dict[str, Any]] = [
    {"friendStatusNotify": True},
    {"maxQueryUserIDs": 400},
    {"maxSubscribeUserIDs": 90},
    {"maxCustomStatusBytes": 50},
    {"subscriptionQuota": 150},
    {"customStatusClearSeconds": 20},
    {"reconnectGraceSeconds": 7},
    {"subscriptionRetentionSeconds": 1800},
    {"offlineRetentionSeconds": 86400},
]


def update_all_at_once(api: Api, patches: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Send every patch at the same moment (threads released together): (status, code) each."""

    def update(i: int) -> tuple[int, int]:
        reply = api.update_settings(patches[i])
        return reply.status, reply.code

    return concurrently(update, len(patches))


@pytest.mark.usefixtures("atomic_dynamodb")
def test_concurrent_updates_of_different_fields_all_apply(api: Api) -> None:
    assert get_settings(api) == DEFAULTS  # warm the clients and the secret, as a live function
    expected = DEFAULTS.copy()
    for patch in CONCURRENT_PATCHES:
        expected.update(patch)
    for round_ in range(3):  # each round starts from the defaults again
        assert api.update_settings(DEFAULTS).status == 200
        outcomes = update_all_at_once(api, CONCURRENT_PATCHES)
        assert outcomes == [(200, 0)] * len(CONCURRENT_PATCHES), (round_, outcomes)
        assert get_settings(api) == expected, round_
