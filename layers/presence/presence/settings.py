"""Runtime settings (API.md section 5): one validated model, stored as one DynamoDB item.

The item holds only what an admin has overridden; everything else takes the contract's defaults.
Every function caches the settings for at most MAX_AGE_SECONDS, so an update reaches all of them
within 5 seconds with no redeploy.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from presence import clock, config, retry, store
from presence.auth import is_valid_user_id
from presence.errors import Code, PresenceError
from presence.lifecycle import Timing
from presence.validation import describe_validation_error

MAX_AGE_SECONDS = 3.0
_DAY = 86400


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    requests: int = Field(20, ge=1, le=100_000)
    windowSeconds: int = Field(5, ge=1, le=3600)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    edition: Literal["ultimate", "standard"] = "ultimate"
    statusQueryAndNotify: bool = True
    friendStatusNotify: bool = False
    rateLimit: RateLimit = RateLimit()
    maxQueryUserIDs: int = Field(500, ge=1, le=500)
    maxSubscribeUserIDs: int = Field(100, ge=1, le=100)
    maxCustomStatusBytes: int = Field(100, ge=1, le=4096)
    subscriptionQuota: int = Field(200, ge=1, le=1000)
    # Timers run from an SQS delay queue, whose longest delay is 15 minutes.
    customStatusClearSeconds: int = Field(30, ge=0, le=900)
    reconnectGraceSeconds: int = Field(5, ge=0, le=900)
    subscriptionRetentionSeconds: int = Field(3600, ge=0, le=30 * _DAY)
    offlineRetentionSeconds: int = Field(7 * _DAY, ge=0, le=90 * _DAY)
    adminUserID: str = "administrator"
    # At most 100: a user's connections live in their Status item, written on every connect.
    maxConnectionsPerUser: int = Field(10, ge=1, le=100)
    lastActiveTimeVisible: bool = True
    statusChangeEvents: bool = False

    @field_validator("adminUserID")
    @classmethod
    def _admin_is_a_user_id(cls, value: str) -> str:
        if not is_valid_user_id(value):
            raise ValueError("must be 1-32 printable ASCII characters")
        return value

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def timing(self) -> Timing:
        return Timing(
            grace_ms=self.reconnectGraceSeconds * 1000,
            offline_retention_ms=self.offlineRetentionSeconds * 1000,
            custom_status_clear_ms=self.customStatusClearSeconds * 1000,
            subscription_retention_ms=self.subscriptionRetentionSeconds * 1000,
            liveness_ms=config.liveness_timeout_seconds() * 1000,
        )

    def require_status_query(self) -> None:
        """The plan and console-switch gates (7013, then 72001) of API.md section 2."""
        if self.edition != "ultimate":
            raise PresenceError(
                Code.EDITION_NOT_ULTIMATE,
                f"this API needs the 'ultimate' edition; the deployment is on '{self.edition}'",
            )
        if not self.statusQueryAndNotify:
            raise PresenceError(
                Code.SWITCH_OFF, "the statusQueryAndNotify switch is off for this deployment"
            )


_cache: tuple[float, Settings] | None = None


def max_age_seconds() -> float:
    """How stale a function's copy of the settings may be (SETTINGS_MAX_AGE_SECONDS, default
    MAX_AGE_SECONDS: within the contract's 5 seconds; the local tests use less)."""
    try:
        return float(os.environ.get("SETTINGS_MAX_AGE_SECONDS") or MAX_AGE_SECONDS)
    except ValueError:
        return MAX_AGE_SECONDS


def current() -> Settings:
    """The settings in force, at most max_age_seconds() old."""
    global _cache
    now = clock.monotonic()
    if _cache is not None and now - _cache[0] < max_age_seconds():
        return _cache[1]
    settings = load()
    _cache = (now, settings)
    return settings


def load(*, consistent: bool = False) -> Settings:
    """The stored settings, read now (no cache)."""
    stored = store.get_settings_item(consistent=consistent)
    return _build(stored.overrides if stored else {})


def clear_cache() -> None:
    global _cache
    _cache = None


def update(patch: dict[str, Any]) -> Settings:
    """Merge a partial settings object into the stored one: all of it valid, or nothing changes.

    The write is conditional on the item's version, so two admins updating at once never lose
    each other's change: the one that lost the race reads the new item, merges its patch into
    it again and retries (presence.retry: full-jitter backoff within a time budget). Each
    attempt validates the merged result, so a bad value is 6017 at once and never retried.
    """

    def attempt() -> Settings | None:
        stored = store.get_settings_item(consistent=True)
        overrides = _merge(stored.overrides if stored else {}, patch)
        settings = _build(overrides)
        if store.put_settings_item(overrides, expected_version=stored.version if stored else None):
            clear_cache()
            return settings
        return None

    return retry.until_done(attempt, what="the settings")


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _build(overrides: dict[str, Any]) -> Settings:
    try:
        return Settings.model_validate(overrides)
    except ValidationError as exc:
        raise PresenceError(Code.INVALID_PARAMETER, describe_validation_error(exc)) from None
