"""Admin routes of API.md section 5 (settings for now)."""

from __future__ import annotations

from typing import Any

from presence import settings


def get_settings() -> dict[str, Any]:
    return settings.load(consistent=True).to_wire()


def update_settings(patch: dict[str, Any]) -> dict[str, Any]:
    return settings.update(patch).to_wire()
