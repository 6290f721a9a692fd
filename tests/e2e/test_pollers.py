"""The runtime's event source pollers, against moto, with a stand-in function: Lambda's batch,
partial-failure, retry and on-failure semantics for the stream, and deletes for the queue."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from local import pollers
from local import template as cfn
from local.lambdas import FunctionError

REGION = "us-east-1"


class Recorder:
    """A function that records its events and answers with `respond(event)`."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.respond: Callable[[dict[str, Any]], Any] = lambda event: {"batchItemFailures": []}

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        self.events.append(json.loads(json.dumps(event)))  # what Lambda sends is JSON
        return self.respond(event)

    def sequences(self) -> list[list[str]]:
        return [[r["dynamodb"]["SequenceNumber"] for r in e["Records"]] for e in self.events]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto in server mode, as the runtime uses it (in-process mocks lack DynamoDB Streams here)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This test's own tables and queues (fresh names) in the shared moto server."""
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(pollers, "RETRY_BACKOFF_SECONDS", (0.0,))
    prefix = uuid.uuid4().hex[:8]
    template = cfn.load_template()
    names = {logical_id: f"{prefix}-{logical_id}" for logical_id in cfn.table_specs(template)}
    cfn.create_tables(boto3.client("dynamodb"), template, names)
    queues = cfn.create_queues(
        boto3.client("sqs"),
        template,
        {logical_id: f"{prefix}-{logical_id}" for logical_id in cfn.queue_specs(template)},
    )
    return {**names, **queues}


def consumer(kind: str, **changes: Any) -> cfn.Consumer:
    template = cfn.load_template()
    if kind == "stream":
        (base,) = cfn.stream_consumers(template)
    else:
        (base,) = [c for c in cfn.queue_consumers(template) if c.source == "TimersQueue"]
    return dataclasses.replace(base, **changes)


def put_status(aws: dict[str, str], user: str, value: str) -> None:
    boto3.client("dynamodb").put_item(
        TableName=aws["StatusTable"],
        Item={"userID": {"S": user}, "customStatus": {"S": value}},
    )


def failure_messages(url: str) -> list[dict[str, Any]]:
    response = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in response.get("Messages", [])]


def test_the_template_gives_the_stream_its_lambda_settings() -> None:
    (stream,) = cfn.stream_consumers(cfn.load_template())
    assert stream.starting_position == "LATEST"
    assert stream.maximum_retry_attempts == 5
    assert stream.maximum_record_age_seconds == 3600
    assert stream.bisect_batch_on_function_error is True


def test_stream_records_arrive_as_lambda_events_in_batches(aws: dict[str, str]) -> None:
    function = Recorder()
    poller = pollers.StreamPoller(
        function, consumer("stream", batch_size=2), aws["StatusTable"], None, print
    )
    for i in range(3):
        put_status(aws, f"u{i}", "x")
    poller.poll_once()
    poller.poll_once()
    poller.poll_once()  # nothing new: no invocation
    assert [len(e["Records"]) for e in function.events] == [2, 1]
    record = function.events[0]["Records"][0]
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"] == poller.stream_arn
    assert record["eventName"] == "INSERT"
    assert record["dynamodb"]["Keys"] == {"userID": {"S": "u0"}}
    assert record["dynamodb"]["NewImage"]["customStatus"] == {"S": "x"}
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    all_sequences = [s for batch in function.sequences() for s in batch]
    assert len(set(all_sequences)) == 3  # each record once, despite moto's iterator quirk


def test_a_partial_failure_is_retried_from_the_lowest_failed_record(aws: dict[str, str]) -> None:
    function = Recorder()
    poller = pollers.StreamPoller(function, consumer("stream"), aws["StatusTable"], None, print)
    for i in range(4):
        put_status(aws, f"u{i}", "x")
    calls = 0

    def respond(event: dict[str, Any]) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # the 2nd and 4th records failed
            records = event["Records"]
            return {
                "batchItemFailures": [
                    {"itemIdentifier": records[i]["dynamodb"]["SequenceNumber"]} for i in (3, 1)
                ]
            }
        return {"batchItemFailures": []}

    function.respond = respond
    poller.poll_once()
    poller.poll_once()
    first, retry = function.sequences()
    assert retry == first[1:]


def test_records_that_keep_failing_go_to_the_failure_queue(aws: dict[str, str]) -> None:
    function = Recorder()
    stream = consumer("stream", maximum_retry_attempts=2)
    queue_url = aws["FanoutFailureQueue"]
    poller = pollers.StreamPoller(function, stream, aws["StatusTable"], queue_url, print)
    put_status(aws, "good", "x")
    put_status(aws, "poison", "x")

    def respond(event: dict[str, Any]) -> Any:
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
                for r in event["Records"]
                if r["dynamodb"]["Keys"]["userID"]["S"] == "poison"
            ]
        }

    function.respond = respond
    for _ in range(3):  # the first try and 2 retries
        poller.poll_once()
    poison = function.sequences()[0][1]
    assert function.sequences()[1:] == [[poison], [poison]]
    (message,) = failure_messages(queue_url)
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    info = message["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (poison, poison)
    assert info["streamArn"] == poller.stream_arn
    # and the stream moves on
    put_status(aws, "next", "y")
    function.respond = lambda event: {"batchItemFailures": []}
    poller.poll_once()
    assert [r["dynamodb"]["Keys"]["userID"]["S"] for r in function.events[-1]["Records"]] == [
        "next"
    ]


def test_a_function_error_retries_the_batch_halved(aws: dict[str, str]) -> None:
    function = Recorder()
    poller = pollers.StreamPoller(function, consumer("stream"), aws["StatusTable"], None, print)
    for i in range(4):
        put_status(aws, f"u{i}", "x")

    def fail_once(event: dict[str, Any]) -> Any:
        function.respond = lambda event: None
        raise FunctionError.of("StatusFanoutFunction", RuntimeError("boom"))

    function.respond = fail_once
    poller.poll_once()
    poller.poll_once()
    poller.poll_once()
    assert [len(batch) for batch in function.sequences()] == [4, 2, 2]


def test_queue_messages_arrive_as_sqs_events_and_only_failures_stay(
    aws: dict[str, str],
) -> None:
    sqs = boto3.client("sqs")
    url = aws["TimersQueue"]
    for body in ("keep", "done"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    function = Recorder()
    poller = pollers.QueuePoller(function, consumer("queue"), url, print)

    def respond(event: dict[str, Any]) -> Any:
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "keep"
            ]
        }

    function.respond = respond
    poller.poll_once()
    (event,) = function.events
    record = event["Records"][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == poller.queue_arn
    assert {"messageId", "receiptHandle", "body", "attributes", "md5OfBody"} <= record.keys()
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    # the failed one stays in the queue (visible again after the visibility timeout)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    left = int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )
    assert left == 1
