"""Lambda's event records, built in one place: what an event source mapping hands a function for
an SQS message or a DynamoDB stream record. The local runtime's pollers (local.pollers) and the
in-process harness of the tests and benchmarks (local.harness) both build their events here, so
a handler sees the same shape in both, and the shape Lambda sends:

- SQS: messageId, receiptHandle, body, attributes, messageAttributes (each with its
  stringListValues and binaryListValues), md5OfBody, eventSource "aws:sqs", eventSourceARN,
  awsRegion;
- DynamoDB Streams: the record as GetRecords returns it (eventID, eventName, eventVersion,
  dynamodb with Keys, images, SequenceNumber, SizeBytes, StreamViewType), in JSON types
  (ApproximateCreationDateTime in epoch seconds, binary values base64), with eventSource
  "aws:dynamodb", eventSourceARN (the stream's ARN) and awsRegion.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from local.lambdas import REGION


def json_safe(value: Any) -> Any:
    """What boto3 parsed back to JSON types, as Lambda's event JSON has them."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return int(value.timestamp())
    return value


def sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message as ReceiveMessage returns it (system and message attributes asked for
    with "All") -> the record Lambda's SQS event source sends."""
    attributes = {
        name: {key[0].lower() + key[1:]: json_safe(value) for key, value in attribute.items()}
        for name, attribute in (message.get("MessageAttributes") or {}).items()
    }
    for attribute in attributes.values():
        attribute.setdefault("stringListValues", [])
        attribute.setdefault("binaryListValues", [])
    body = str(message["Body"])
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def sqs_message(body: str, **attributes: str) -> dict[str, Any]:
    """A message as ReceiveMessage would return it, for a body that never went through a queue
    (the harness delivers timers itself, at the time it moves the clock to)."""
    return {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": base64.b64encode(uuid.uuid4().bytes).decode("ascii"),
        "Body": body,
        "MD5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "Attributes": {"ApproximateReceiveCount": "1", **attributes},
    }


def stream_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A DynamoDB stream record as boto3's GetRecords returns it -> the record Lambda's
    DynamoDB event source sends."""
    out: dict[str, Any] = json_safe(dict(record))
    out["eventSource"] = "aws:dynamodb"
    out["eventSourceARN"] = stream_arn
    out.setdefault("awsRegion", REGION)
    return out
