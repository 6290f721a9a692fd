"""The DeliveryQueue (SQS FIFO): delivery jobs (presence.messages' post and page jobs) for the
delivery function."""

from __future__ import annotations

from collections.abc import Sequence

from presence import config
from presence.errors import Code, PresenceError
from presence.messages import DeliveryJob
from presence.store._clients import sqs
from presence.store._dynamo import chunks


def send_delivery_jobs(jobs: Sequence[DeliveryJob]) -> None:
    """Queue delivery jobs, 10 per SendMessageBatch; raises if any was not queued (the caller's
    batch is then retried, and SQS drops the ones it already has by their deduplication id)."""
    for chunk in chunks(jobs, 10):
        response = sqs().send_message_batch(
            QueueUrl=config.delivery_queue_url(),
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": job.body,
                    "MessageGroupId": job.group,
                    "MessageDeduplicationId": job.dedup,
                }
                for i, job in enumerate(chunk)
            ],
        )
        if response.get("Failed"):
            raise PresenceError(Code.SERVER_FAULT, "delivery jobs could not be queued")
