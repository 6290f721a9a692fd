"""Timers: due within 15 minutes on the SQS delay queue (TimersQueue), later as a one-time
EventBridge Scheduler schedule that sends the same message to that queue when it is due. The
message is presence.messages' timer."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

from presence import config
from presence.errors import Code, PresenceError
from presence.lifecycle import Timer
from presence.messages import encode_timer
from presence.store._clients import scheduler, sqs
from presence.store._dynamo import chunks

MAX_DELAY_SECONDS = 900  # SQS's longest delay
# A schedule fires this far ahead of its timer: EventBridge Scheduler invokes its target with
# 60-second precision (any time in the minute of its `at`), and the timers function sends an
# early timer on through the delay queue, which keeps the second (presence.timers.run).
SCHEDULE_LEAD_MS = 120_000


def send_timers(timers: Sequence[Timer], now_ms: int) -> None:
    """Queue each timer: due within 15 minutes on the SQS delay queue, later as a one-time
    EventBridge Scheduler schedule that sends the same message to the queue when it is due.
    One message per timer, however long its delay (no re-queueing chains)."""
    soon = [t for t in timers if t.due_at - now_ms <= MAX_DELAY_SECONDS * 1000]
    for timer in timers:
        if timer not in soon:
            _schedule(timer)
    for chunk in chunks(soon, 10):
        entries: list[Any] = [
            {
                "Id": str(i),
                "MessageBody": encode_timer(timer),
                "DelaySeconds": max(0, -(-(timer.due_at - now_ms) // 1000)),
            }
            for i, timer in enumerate(chunk)
        ]
        response = sqs().send_message_batch(QueueUrl=config.timers_queue_url(), Entries=entries)
        if response.get("Failed"):
            raise PresenceError(Code.SERVER_FAULT, "timers could not be queued")


def schedule_name(timer: Timer) -> str:
    """A name that is the same for the same timer, so scheduling it twice makes one schedule
    (a retried stream record): [0-9A-Za-z_.-], at most 64 characters."""
    digest = hashlib.sha256(encode_timer(timer).encode()).hexdigest()[:40]
    return f"{timer.kind}-{digest}"[:64]


def _schedule(timer: Timer) -> None:
    at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((timer.due_at - SCHEDULE_LEAD_MS) // 1000))
    try:
        scheduler().create_schedule(
            Name=schedule_name(timer),
            GroupName=config.schedule_group(),
            ScheduleExpression=f"at({at})",
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            Target={
                "Arn": config.timers_queue_arn(),
                "RoleArn": config.scheduler_role_arn(),
                "Input": encode_timer(timer),
            },
        )
    except scheduler().exceptions.ConflictException:
        pass  # already scheduled (the same timer, derived again from a retried record)
