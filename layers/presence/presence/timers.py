"""Delayed work from the timers queue (API.md sections 3 and 6).

A timer names a user, a kind and when it is due (and, for the per-connection kinds, which
connection). The stream consumer derives timers from every Status write (lifecycle.followups);
those due within 15 minutes come through SQS's delay, later ones through a one-time EventBridge
Scheduler schedule that drops the same message into this queue. A timer may arrive twice, late,
or after the user came back: each kind re-reads the user's state and acts only if its work is
still due, so a stale timer does nothing; one that arrives early (clock skew) is queued once
more only if its work is still wanted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from presence import clock, lifecycle, messages, sessions, settings, store
from presence.lifecycle import PresenceState, Timer, TimerKind, Timing
from presence.observability import logger, metrics


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Every message failing is reported like any partial failure (each returns to the queue).
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=event, record_handler=_handle_record, processor=processor, context=context
    )
    return dict(response)


def _handle_record(record: SQSRecord) -> None:
    run(messages.decode_timer(record.body))


def run(timer: Timer) -> None:
    metrics.add_metric(name="TimersRun", unit=MetricUnit.Count, value=1)
    now = clock.now_ms()
    if timer.due_at > now:
        # early: a schedule fires up to SCHEDULE_LEAD_MS ahead (the Scheduler's precision is
        # a minute), or clock skew; the SQS delay takes it the rest of the way, to the second
        store.send_timers([timer], now)
        return
    if timer.kind is TimerKind.TICK:
        tick(timer)
    elif timer.kind is TimerKind.CLEAR_CUSTOM_STATUS:
        clear_custom_status(timer.user_id)
    elif timer.kind is TimerKind.DROP_SUBSCRIPTIONS:
        drop_subscriptions(timer.user_id)
    elif timer.kind is TimerKind.VERIFY_CONNECTION:
        sessions.verify(timer.user_id, timer.subject)
    elif timer.kind is TimerKind.CHECK_LIVENESS:
        check_liveness(timer)
    elif timer.kind is TimerKind.EXPIRE_CUSTOM_STATUS:
        expire_custom_status(timer.user_id)
    else:
        expire_user_sig(timer)


def tick(timer: Timer) -> None:
    """Settle what time has finished (a grace or the OFFLINE retention ended).

    Every pending end has a TICK of its own (derived from the write that started it), so one
    that finds nothing due is stale and ends here: no timer ever re-queues itself on a guess."""
    now = clock.now_ms()
    state = store.get_presence(timer.user_id)
    due = lifecycle.next_change_due(state, settings.current().timing())
    if due is not None and due <= now:
        sessions.on_tick(timer.user_id)


def check_liveness(timer: Timer) -> None:
    """API.md section 6, liveness: drop a live connection whose device has sent no frame for
    the liveness timeout (or that API Gateway's 2 hours have ended without a $disconnect).

    The check reads when the device last sent a frame (the Connections item, which API
    Gateway's ping and beat integration writes) and, while the deadline is ahead, looks again
    then: one SQS message and one read per timeout per live connection. Only a deadline that
    has passed reads the user's Status item; a connection that is no longer live there (logged
    out, dropped, kicked) ends the chain."""
    timing = settings.current().timing()
    now = clock.now_ms()
    seen = store.connection_seen(timer.subject)
    if seen is not None:
        deadline = lifecycle.liveness_deadline(seen.connected_at, seen.seen_at, timing)
        if deadline > now:
            again = timer._replace(due_at=lifecycle.next_liveness_check(deadline, now))
            store.send_timers([again], now)
            return
    conn = store.get_presence(timer.user_id).connections.get(timer.subject)
    if conn is None:
        return  # logged out, kicked, forgotten or settled: nothing to watch
    if conn.dropped_at is not None:
        if conn.timed_out:
            store.close_connection(timer.subject)  # a retry after the drop was written
        return
    seen_at = conn.connected_at if seen is None else seen.seen_at
    deadline = lifecycle.liveness_deadline(conn.connected_at, seen_at, timing)
    if deadline > now:  # (no Connections item: only the 2 hours can end it)
        store.send_timers(
            [timer._replace(due_at=lifecycle.next_liveness_check(deadline, now))], now
        )
        return
    silent = not lifecycle.aged_out(conn.connected_at, deadline)
    sessions.time_out(timer.user_id, timer.subject, deadline, silent=silent)


def expire_user_sig(timer: Timer) -> None:
    """Close the connection (as a logout of that device) once its UserSig has expired."""
    state = store.get_presence(timer.user_id)
    conn = state.connections.get(timer.subject)
    if conn is None or conn.dropped_at is not None or conn.sig_expires_at is None:
        return
    now = clock.now_ms()
    if conn.sig_expires_at > now:
        store.send_timers([timer._replace(due_at=conn.sig_expires_at)], now)
        return
    sessions.expire_user_sig(timer.user_id, timer.subject)


def clear_custom_status(user_id: str) -> None:
    """Clear the custom status if the user is still not ONLINE and its time has come."""
    state = _due(user_id, TimerKind.CLEAR_CUSTOM_STATUS, lifecycle.custom_status_clear_due)
    if state is not None and not store.clear_custom_status(state):
        logger.info("custom status changed meanwhile; not cleared", extra={"userID": user_id})


def expire_custom_status(user_id: str) -> None:
    """Clear a custom status whose expiry (customStatusExpiresIn) has come, if it is still the
    status with that expiry (a newer one, or a clear, replaced it: nothing to do)."""
    state = store.get_presence(user_id)
    due = lifecycle.custom_status_expiry_due(state)
    if due is None or due > clock.now_ms():
        return  # replaced or cleared (a later expiry has its own timer)
    if not store.expire_custom_status(state):
        logger.info("custom status changed meanwhile; not expired", extra={"userID": user_id})


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
    more). A custom-status clear that is still wanted but not yet due (the status was set while
    the user only looked ONLINE) is queued once more, at most customStatusClearSeconds ahead;
    a later subscription drop belongs to a later absence, whose own timer is already queued."""
    timing = settings.current().timing()
    state = store.get_presence(user_id)
    now = clock.now_ms()
    due = when(lifecycle.settle(state, now, timing).state, timing)
    if due is None:
        return None
    if due > now:
        if kind is TimerKind.CLEAR_CUSTOM_STATUS:
            store.send_timers([Timer(due, kind, user_id)], now)
        return None
    return state
