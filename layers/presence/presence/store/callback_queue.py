"""The CallbacksQueue (SQS standard): State.StateChange callbacks waiting to be posted to the
app backend (presence.callbacks), each retried with its own backoff."""

from __future__ import annotations

from collections.abc import Sequence

from presence import config
from presence.store._clients import sqs


def send_callbacks(bodies: Sequence[str]) -> int | None:
    """Queue callback messages, 10 per SendMessageBatch, in order; the index of the first one
    that was not queued (None: all were)."""
    for start in range(0, len(bodies), 10):
        chunk = bodies[start : start + 10]
        response = sqs().send_message_batch(
            QueueUrl=config.callbacks_queue_url(),
            Entries=[{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)],
        )
        failed = sorted(int(entry["Id"]) for entry in response.get("Failed", []))
        if failed:
            return start + failed[0]
    return None


def retry_callback_in(receipt_handle: str, seconds: int) -> None:
    """Make a callback message that was not delivered visible again `seconds` from now (its
    backoff); the consumer then reports it failed, so SQS keeps it."""
    sqs().change_message_visibility(
        QueueUrl=config.callbacks_queue_url(),
        ReceiptHandle=receipt_handle,
        VisibilityTimeout=seconds,
    )
