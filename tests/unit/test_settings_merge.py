"""Settings (presence.settings): a partial update merged into what is stored, validated whole,
defaults from the contract. No AWS: the store's reads and writes are faked."""

from __future__ import annotations

from typing import Any

import pytest

from presence import settings, store
from presence.errors import Code, PresenceError
from presence.settings import Settings, _build, _merge


def test_a_patch_replaces_top_level_values_and_merges_nested_objects() -> None:
    stored = {"maxQueryUserIDs": 100, "rateLimit": {"requests": 5, "windowSeconds": 10}}
    patch = {"rateLimit": {"requests": 7}, "edition": "standard"}
    assert _merge(stored, patch) == {
        "maxQueryUserIDs": 100,
        "rateLimit": {"requests": 7, "windowSeconds": 10},
        "edition": "standard",
    }
    assert stored == {"maxQueryUserIDs": 100, "rateLimit": {"requests": 5, "windowSeconds": 10}}


def test_an_object_over_a_value_and_a_value_over_an_object_replace_it() -> None:
    assert _merge({"a": 1}, {"a": {"b": 2}}) == {"a": {"b": 2}}
    assert _merge({"a": {"b": 2}}, {"a": 3}) == {"a": 3}


def test_nothing_stored_is_the_contracts_defaults() -> None:
    defaults = _build({})
    assert defaults == Settings()
    assert defaults.to_wire()["rateLimit"] == {"requests": 20, "windowSeconds": 5}
    assert defaults.timing().grace_ms == 5_000


@pytest.mark.parametrize(
    "overrides",
    [{"maxQueryUserIDs": 0}, {"edition": "gold"}, {"nope": 1}, {"rateLimit": {"requests": "5"}}],
)
def test_an_invalid_result_is_6017(overrides: dict[str, Any]) -> None:
    with pytest.raises(PresenceError) as caught:
        _build(overrides)
    assert caught.value.code is Code.INVALID_PARAMETER


class FakeItem:
    """The Settings item: get_settings_item / put_settings_item, with a write counter."""

    def __init__(self, overrides: dict[str, Any] | None, *, races: int = 0) -> None:
        self.stored = None if overrides is None else store.StoredSettings(overrides, 1)
        self.races = races
        self.writes = 0

    def get(self, *, consistent: bool = False) -> store.StoredSettings | None:
        return self.stored

    def put(self, overrides: dict[str, Any], *, expected_version: int | None) -> bool:
        self.writes += 1
        if self.races:  # another admin wrote first: the item moved on
            self.races -= 1
            version = self.stored.version if self.stored else 0
            self.stored = store.StoredSettings({"statusChangeEvents": True}, version + 1)
            return False
        assert expected_version == (self.stored.version if self.stored else None)
        self.stored = store.StoredSettings(overrides, (expected_version or 0) + 1)
        return True


@pytest.fixture
def item(monkeypatch: pytest.MonkeyPatch) -> FakeItem:
    fake = FakeItem({"maxQueryUserIDs": 50})
    monkeypatch.setattr(store, "get_settings_item", fake.get)
    monkeypatch.setattr(store, "put_settings_item", fake.put)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    return fake


def test_an_update_keeps_what_it_does_not_name(item: FakeItem) -> None:
    updated = settings.update({"friendStatusNotify": True})
    assert (updated.maxQueryUserIDs, updated.friendStatusNotify) == (50, True)
    assert item.stored == store.StoredSettings(
        {"maxQueryUserIDs": 50, "friendStatusNotify": True}, 2
    )


def test_an_update_that_lost_a_race_merges_into_the_newer_item(item: FakeItem) -> None:
    item.races = 2
    updated = settings.update({"friendStatusNotify": True})
    assert updated.statusChangeEvents and updated.friendStatusNotify  # neither change lost
    assert item.writes == 3


def test_an_invalid_update_writes_nothing(item: FakeItem) -> None:
    with pytest.raises(PresenceError):
        settings.update({"maxQueryUserIDs": 501})
    assert item.writes == 0
