"""Lambda's event source mappings, locally: the Status table stream and the timers queue; and
EventBridge Scheduler's one-time schedules.

moto runs no event source mappings (creating one makes it try Docker and clear the stream), so
these threads poll like Lambda does and invoke the consumer functions with the same event shapes:
`{"Records": [...]}` (local.records) in batches of the template's BatchSize, honouring
`batchItemFailures`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import boto3

from local import template as cfn
from local.lambdas import ACCOUNT_ID, REGION, FunctionError
from local.records import sqs_record, stream_record

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams.client import DynamoDBStreamsClient
    from mypy_boto3_sqs.client import SQSClient

Log = Callable[[str], None]


class Invoker(Protocol):
    """What the pollers need of `local.lambdas.Functions`."""

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any: ...


STREAM_POLL_BUSY_SECONDS = 0.05  # right after records arrived
STREAM_POLL_IDLE_SECONDS = 0.1
QUEUE_POLL_SECONDS = 0.1
# A queue's further pollers (a queue has several, as Lambda runs several batches at once) poll
# an empty queue this seldom: the first one polls it every QUEUE_POLL_SECONDS and wakes them
# as soon as it receives messages (there may be more). An idle runtime makes a third fewer
# requests to moto; a backlog is read by every poller at once, as before.
QUEUE_FOLLOWER_IDLE_SECONDS = 1.0
RETRY_BACKOFF_SECONDS = (0.1, 0.2, 0.5, 1.0, 2.0)


def _batch_failures(result: Any, identifiers: list[str]) -> set[str] | None:
    """The failed item identifiers of a partial batch response; None when the whole batch
    failed (as Lambda reads a malformed response or an identifier not in the batch)."""
    if result is None or (isinstance(result, dict) and not result.get("batchItemFailures")):
        return set()
    if not isinstance(result, dict) or not isinstance(result["batchItemFailures"], list):
        return None
    failed: set[str] = set()
    for item in result["batchItemFailures"]:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in identifiers:
            return None
        failed.add(identifier)
    return failed


class _Poller(threading.Thread):
    def __init__(self, name: str, log: Log) -> None:
        super().__init__(name=name, daemon=True)
        self._log = log
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; False when stopping."""
        return not self._stop_event.wait(seconds)

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # keep polling: moto restarts nothing, so log and go on
                if self._stop_event.is_set():
                    return
                self._log(f"{self.name}: poll failed: {exc!r}")
                self._sleep(1.0)

    def poll_once(self) -> None:
        """One round of reading the source and invoking the consumer; each poller defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define poll_once")


class _ConsumerPoller(_Poller):
    """A poller that feeds a function (an event source mapping)."""

    def __init__(self, name: str, functions: Invoker, consumer: cfn.Consumer, log: Log) -> None:
        super().__init__(name, log)
        self._functions = functions
        self._consumer = consumer
        self._reports_failures = "ReportBatchItemFailures" in consumer.function_response_types


class StreamPoller(_ConsumerPoller):
    """A DynamoDB stream event source (one shard in moto) with Lambda's retry semantics:
    a partial failure is retried from the lowest failed sequence number; after
    MaximumRetryAttempts the failing records go to the on-failure destination (SQS)."""

    def __init__(
        self,
        functions: Invoker,
        consumer: cfn.Consumer,
        table_name: str,
        failure_queue_url: str | None,
        log: Log,
    ) -> None:
        super().__init__(f"stream:{consumer.function}", functions, consumer, log)
        self._table_name = table_name
        self._failure_queue_url = failure_queue_url
        self._streams: DynamoDBStreamsClient = boto3.client("dynamodbstreams")
        self._sqs: SQSClient = boto3.client("sqs")
        self._buffer: list[dict[str, Any]] = []  # read, not yet handled, in order
        self._read_up_to = -1  # highest sequence number read into the buffer
        self._attempts = 0
        self._limit = consumer.batch_size
        self._busy_until = 0.0
        description = boto3.client("dynamodb").describe_table(TableName=table_name)["Table"]
        self.stream_arn = description["LatestStreamArn"]
        self._shard_id, self._iterator = self._open_shard(consumer.starting_position or "LATEST")

    def _open_shard(self, position: str, after: int | None = None) -> tuple[str, str]:
        shards = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"][
            "Shards"
        ]
        open_shards = [s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
        shard_id = (open_shards or shards)[-1]["ShardId"]
        if after is not None:
            # moto's AFTER_SEQUENCE_NUMBER may hand that record back again: it is filtered out
            iterator = self._streams.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                SequenceNumber=str(after),
            )
        else:
            iterator = self._streams.get_shard_iterator(
                StreamArn=self.stream_arn,
                ShardId=shard_id,
                ShardIteratorType=position,  # type: ignore[arg-type]
            )
        return shard_id, iterator["ShardIterator"]

    def poll_once(self) -> None:
        self._read()
        if self._buffer:
            self._deliver()
            return
        busy = time.monotonic() < self._busy_until
        self._sleep(STREAM_POLL_BUSY_SECONDS if busy else STREAM_POLL_IDLE_SECONDS)

    def _read(self) -> None:
        try:
            response = self._streams.get_records(ShardIterator=self._iterator, Limit=1000)
        except (
            self._streams.exceptions.ExpiredIteratorException,
            self._streams.exceptions.TrimmedDataAccessException,
            self._streams.exceptions.ResourceNotFoundException,
        ):
            after = self._read_up_to if self._read_up_to >= 0 else None
            self._shard_id, self._iterator = self._open_shard("TRIM_HORIZON", after)
            return
        next_iterator = response.get("NextShardIterator")
        if next_iterator:
            self._iterator = next_iterator
        else:  # the shard closed: go on with its child
            after = self._read_up_to if self._read_up_to >= 0 else None
            self._shard_id, self._iterator = self._open_shard("TRIM_HORIZON", after)
        for record in response.get("Records", []):
            sequence = int(record["dynamodb"]["SequenceNumber"])
            if sequence > self._read_up_to:
                self._read_up_to = sequence
                self._buffer.append(stream_record(record, self.stream_arn))
        if response.get("Records"):
            self._busy_until = time.monotonic() + 2.0

    @staticmethod
    def _sequence(record: dict[str, Any]) -> str:
        return str(record["dynamodb"]["SequenceNumber"])

    def _deliver(self) -> None:
        self._expire_old_records()
        if not self._buffer:
            return
        batch = self._buffer[: self._limit]
        sequences = [self._sequence(r) for r in batch]
        function_error = False
        try:
            result = self._functions.invoke(self._consumer.function, {"Records": batch})
            failed = _batch_failures(result, sequences) if self._reports_failures else set()
        except FunctionError as exc:
            self._log(f"{self._consumer.function} raised; the batch is retried:\n{exc.trace}")
            failed, function_error = None, True
        if failed is not None and not failed:
            del self._buffer[: len(batch)]
            self._attempts = 0
            self._limit = self._consumer.batch_size
            return
        # retry from the lowest failed record: the ones before it are done (checkpoint)
        start = 0 if failed is None else min(sequences.index(s) for s in failed)
        del self._buffer[:start]
        remaining = batch[start:]
        self._attempts += 1
        if function_error and self._consumer.bisect_batch_on_function_error:
            self._limit = max(1, len(remaining) // 2)
        retries = self._consumer.maximum_retry_attempts
        if retries is not None and self._attempts > retries:
            self._log(
                f"{self._consumer.function}: {len(remaining)} record(s) from sequence"
                f" {self._sequence(remaining[0])} failed {self._attempts} times; sent to the"
                " on-failure destination and skipped"
            )
            self._send_to_failure_destination(remaining, "RetryAttemptsExhausted")
            del self._buffer[: len(remaining)]
            self._attempts = 0
            self._limit = self._consumer.batch_size
            return
        backoff = RETRY_BACKOFF_SECONDS[min(self._attempts, len(RETRY_BACKOFF_SECONDS)) - 1]
        self._sleep(backoff)

    def _expire_old_records(self) -> None:
        max_age = self._consumer.maximum_record_age_seconds
        if max_age is None:
            return
        oldest_allowed = time.time() - max_age
        expired = 0
        for record in self._buffer:
            created = record["dynamodb"].get("ApproximateCreationDateTime")
            if not isinstance(created, int | float) or created >= oldest_allowed:
                break
            expired += 1
        if expired:
            self._send_to_failure_destination(self._buffer[:expired], "RecordAgeExceeded")
            del self._buffer[:expired]
            self._attempts = 0

    def _send_to_failure_destination(self, records: list[dict[str, Any]], condition: str) -> None:
        """Lambda's on-failure record for a stream: the batch's metadata, not its data."""
        if self._failure_queue_url is None:
            return

        def arrival(record: dict[str, Any]) -> str:
            created = record["dynamodb"].get("ApproximateCreationDateTime")
            moment = datetime.fromtimestamp(float(created or time.time()), UTC)
            return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

        name = f"presence-{self._consumer.function}"
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}",
                "condition": condition,
                "approximateInvokeCount": self._attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": self._shard_id,
                "startSequenceNumber": self._sequence(records[0]),
                "endSequenceNumber": self._sequence(records[-1]),
                "approximateArrivalOfFirstRecord": arrival(records[0]),
                "approximateArrivalOfLastRecord": arrival(records[-1]),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        self._sqs.send_message(QueueUrl=self._failure_queue_url, MessageBody=json.dumps(message))


class QueuePoller(_ConsumerPoller):
    """An SQS event source: receive up to BatchSize, invoke, delete what did not fail.

    Short polls every 100 ms rather than long polls: moto's long poll does not wake up when a
    delayed message becomes visible, which would add up to a second to every timer. A queue's
    further pollers name its first as their `lead`: they poll an empty queue only every
    QUEUE_FOLLOWER_IDLE_SECONDS, or at once when the lead receives messages.
    """

    def __init__(
        self,
        functions: Invoker,
        consumer: cfn.Consumer,
        queue_url: str,
        log: Log,
        lead: QueuePoller | None = None,
    ) -> None:
        super().__init__(f"queue:{consumer.function}", functions, consumer, log)
        self._queue_url = queue_url
        self._sqs: SQSClient = boto3.client("sqs")
        self._followers: list[QueuePoller] = []
        self._woken = threading.Event()
        self._is_follower = lead is not None
        self.queue_arn: str
        if lead is not None:
            lead._followers.append(self)
            self.queue_arn = lead.queue_arn
        else:
            self.queue_arn = self._sqs.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]

    def stop(self) -> None:
        super().stop()
        self._woken.set()

    def _idle(self) -> None:
        if not self._is_follower:
            self._sleep(QUEUE_POLL_SECONDS)
            return
        self._woken.wait(QUEUE_FOLLOWER_IDLE_SECONDS)
        self._woken.clear()

    def poll_once(self) -> None:
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(10, self._consumer.batch_size),
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            self._idle()
            return
        for follower in self._followers:
            follower._woken.set()
        batch = [sqs_record(m, self.queue_arn) for m in messages]
        ids = [r["messageId"] for r in batch]
        try:
            result = self._functions.invoke(self._consumer.function, {"Records": batch})
            failed = _batch_failures(result, ids) if self._reports_failures else set()
        except FunctionError as exc:
            self._log(
                f"{self._consumer.function} raised; the messages return to the queue:\n{exc.trace}"
            )
            failed = None
        done = [m for m in messages if failed is not None and m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )


class SchedulePoller(_Poller):
    """EventBridge Scheduler's one-time schedules, locally: moto stores the schedules the
    functions create but never fires them. This sends each `at(...)` schedule's Input to its
    SQS target once it is due and deletes it (ActionAfterCompletion DELETE), as Scheduler does.

    It lists the group's schedules on every poll, which only a local stand-in may do (the
    deployed service never lists them)."""

    def __init__(self, group: str, queue_urls_by_arn: dict[str, str], log: Log) -> None:
        super().__init__("scheduler", log)
        self._group = group
        self._queues = queue_urls_by_arn
        self._scheduler = boto3.client("scheduler")
        self._sqs: SQSClient = boto3.client("sqs")
        self.fired = 0

    def poll_once(self) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        pages = self._scheduler.get_paginator("list_schedules").paginate(GroupName=self._group)
        for page in pages:
            for summary in page.get("Schedules", []):
                schedule = self._scheduler.get_schedule(GroupName=self._group, Name=summary["Name"])
                expression = schedule.get("ScheduleExpression", "")
                if (
                    not expression.startswith("at(")
                    or datetime.fromisoformat(expression[3:-1]) > now
                ):
                    continue
                target = schedule["Target"]
                self._sqs.send_message(
                    QueueUrl=self._queues[target["Arn"]], MessageBody=target.get("Input", "")
                )
                self._scheduler.delete_schedule(GroupName=self._group, Name=summary["Name"])
                self.fired += 1
        self._sleep(QUEUE_POLL_SECONDS * 5)


class EventPrinter(_Poller):
    """Prints each status-change event the local rule delivered to its queue (and takes it off
    the queue), when PRESENCE_PRINT_EVENTS=1."""

    def __init__(self, queue_url: str, log: Log) -> None:
        super().__init__("events", log)
        self._queue_url = queue_url
        self._sqs: SQSClient = boto3.client("sqs")

    def poll_once(self) -> None:
        messages = self._sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        for message in messages:
            try:
                event = json.loads(message["Body"])
                self._log(f"event {event.get('detail-type')}: {json.dumps(event.get('detail'))}")
            except ValueError:
                self._log(f"event (not JSON): {message['Body'][:200]}")
            self._sqs.delete_message(
                QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
        if not messages:
            self._sleep(QUEUE_POLL_SECONDS * 2)
