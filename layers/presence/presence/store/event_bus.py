"""The stack's EventBridge bus: status-change events for app backends (presence.events; the
entries' Detail is presence.messages' StatusChange)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3

from presence import config
from presence.store._clients import BOTO_CONFIG

if TYPE_CHECKING:
    from mypy_boto3_events.client import EventBridgeClient


@cache
def events() -> EventBridgeClient:
    return boto3.client("events", config=BOTO_CONFIG)


def put_events(entries: Sequence[dict[str, Any]]) -> int | None:
    """Publish up to 10 events to the stack's bus, in order; the index of the first one that
    was not accepted (None: all were)."""
    bus = config.status_event_bus()
    response = events().put_events(
        Entries=[
            {
                "Source": entry["Source"],
                "DetailType": entry["DetailType"],
                "Detail": entry["Detail"],
                "EventBusName": bus,
            }
            for entry in entries
        ]
    )
    if not response.get("FailedEntryCount"):
        return None
    return next(
        i for i, result in enumerate(response.get("Entries", [])) if result.get("ErrorCode")
    )
