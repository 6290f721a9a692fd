"""The boto3 clients of the tables and queues, created on first use (never at import time, so
mocks and local endpoints apply), with the service's transport retries: botocore's standard
mode, 4 attempts, for throttling and 5xx answers (presence.retry is the policy above them)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_scheduler.client import EventBridgeSchedulerClient
    from mypy_boto3_sqs.client import SQSClient

BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2)


@cache
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=BOTO_CONFIG)


@cache
def sqs() -> SQSClient:
    return boto3.client("sqs", config=BOTO_CONFIG)


@cache
def scheduler() -> EventBridgeSchedulerClient:
    return boto3.client("scheduler", config=BOTO_CONFIG)
