"""Delayed work from the SQS delay queue (API.md sections 3 and 6).

A timer names a user, a kind and when it is due. It may arrive twice, late, or after the user
came back: each kind re-reads the user's state and acts only if the change is still due, so a
stale timer does nothing. SQS delays at most 15 minutes; a timer due later hops through the
queue again until its time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from presence import clock, lifecycle, sessions, settings, store
from presence.lifecycle import PresenceState, Timer, TimerKind, Timing
from presence.observability import logger, metrics


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS)
    response = process_partial_response(
        event=event, record_handler=_handle_record, processor=processor, context=context
    )
    return dict(response)


def parse(body: str) -> Timer:
    value = json.loads(body)
    return Timer(int(value["dueAt"]), TimerKind(value["kind"]), str(value["userID"]))


def _handle_record(record: SQSRecord) -> None:
    run(parse(record.body))


def run(timer: Timer) -> None:
    metrics.add_metric(name="TimersRun", unit=MetricUnit.Count, value=1)
    now = clock.now_ms()
    if timer.due_at > now:
        store.send_timers([timer], now)  # not due yet: another hop through the queue
        return
    if timer.kind is TimerKind.TICK:
        sessions.on_tick(timer.user_id)
    elif timer.kind is TimerKind.CLEAR_CUSTOM_STATUS:
        clear_custom_status(timer.user_id)
    else:
        drop_subscriptions(timer.user_id)


def clear_custom_status(user_id: str) -> None:
    """Clear the custom status if the user is still not ONLINE and its time has come."""
    state = _due(user_id, TimerKind.CLEAR_CUSTOM_STATUS, lifecycle.custom_status_clear_due)
    if state is not None and not store.clear_custom_status(state):
        logger.info("custom status changed meanwhile; not cleared", extra={"userID": user_id})


def drop_subscriptions(user_id: str) -> None:
    """Drop the user's subscriptions once they have been away for the retention time."""
    if _due(user_id, TimerKind.DROP_SUBSCRIPTIONS, lifecycle.subscriptions_drop_due) is None:
        return
    held = [sub.target_id for sub in store.list_subscriptions(user_id)]
    if held:
        store.write_subscriptions(user_id, add=[], remove=held)
        logger.info("subscriptions dropped", extra={"userID": user_id, "count": len(held)})


def _due(
    user_id: str, kind: TimerKind, when: Callable[[PresenceState, Timing], int | None]
) -> PresenceState | None:
    """The user's stored state if `when` says the work is due now; None if it is not (any
    more). Work that is still wanted but not yet due goes back into the queue."""
    timing = settings.current().timing()
    state = store.get_presence(user_id)
    now = clock.now_ms()
    due = when(lifecycle.settle(state, now, timing).state, timing)
    if due is None:
        return None
    if due > now:
        store.send_timers([Timer(due, kind, user_id)], now)
        return None
    return state
