"""Lambda's event records as the local runtime's pollers and the tests' harness build them (one
builder, local.records): the fields Lambda sends, the same as the sample events in events/."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from local.records import sqs_message, sqs_record, stream_record
from local.template import ROOT

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:presence-TimersQueue"
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/presence-StatusTable/stream/x"


def sample(name: str) -> dict[str, object]:
    event = json.loads((ROOT / "events" / f"{name}.json").read_text())
    (record,) = event["Records"]
    return dict(record)


def test_an_sqs_record_has_every_field_lambda_sends() -> None:
    received = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh",
        "Body": '{"kind": "tick"}',
        "MD5OfBody": hashlib.md5(b'{"kind": "tick"}').hexdigest(),
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1"},
        "MessageAttributes": {"trace": {"DataType": "String", "StringValue": "abc"}},
    }
    record = sqs_record(received, QUEUE_ARN)
    assert record.keys() == sample("status_timers").keys()
    assert record["messageId"] == "m-1" and record["receiptHandle"] == "rh"
    assert (record["eventSource"], record["eventSourceARN"]) == ("aws:sqs", QUEUE_ARN)
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"] == {"ApproximateReceiveCount": "2", "SentTimestamp": "1"}
    assert record["messageAttributes"] == {
        "trace": {
            "dataType": "String",
            "stringValue": "abc",
            "stringListValues": [],
            "binaryListValues": [],
        }
    }


def test_a_body_delivered_without_a_queue_gets_a_true_md5() -> None:
    record = sqs_record(sqs_message('{"x": 1}'), QUEUE_ARN)
    assert record["md5OfBody"] == hashlib.md5(b'{"x": 1}').hexdigest()
    assert record.keys() == sample("status_timers").keys()
    assert record["messageId"] != sqs_record(sqs_message('{"x": 1}'), QUEUE_ARN)["messageId"]


def test_a_stream_record_is_lambdas_json() -> None:
    created = datetime(2026, 12, 7, 8, 0, 0, tzinfo=UTC)
    parsed = {
        "eventID": "e1",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": created,
            "Keys": {"userID": {"S": "alice"}},
            "NewImage": {"userID": {"S": "alice"}, "blob": {"B": b"\x00\xff"}},
            "OldImage": {"userID": {"S": "alice"}},
            "SequenceNumber": "100",
            "SizeBytes": 10,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }
    record = stream_record(parsed, STREAM_ARN)
    assert record.keys() == sample("status_fanout").keys()
    assert (record["eventSource"], record["eventSourceARN"]) == ("aws:dynamodb", STREAM_ARN)
    assert record["dynamodb"]["ApproximateCreationDateTime"] == int(created.timestamp())
    assert record["dynamodb"]["NewImage"]["blob"] == {"B": "AP8="}
    assert json.loads(json.dumps(record)) == record  # plain JSON, as Lambda's event is
