"""What the tests and the benchmarks share to run the real handlers in-process: each function's
handler module (loaded by path, as Lambda loads `functions/<dir>/app.py`), a Lambda-like
context, and the Status table's stream read the way Lambda's event source mapping reads it.

(The local runtime runs the handlers in worker processes instead: local.lambdas.)
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
from botocore.config import Config

from local.lambdas import ACCOUNT_ID, REGION, load_module


@cache
def handler_module(function_dir: str) -> ModuleType:
    """functions/<function_dir>/app.py, imported once."""
    return load_module(Path("functions") / function_dir, "app")


def lambda_context(function_dir: str, memory_mb: int = 256) -> SimpleNamespace:
    return SimpleNamespace(
        function_name=f"presence-{function_dir}",
        function_version="$LATEST",
        memory_limit_in_mb=memory_mb,
        invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_dir}",
        aws_request_id="00000000-0000-0000-0000-000000000000",
        get_remaining_time_in_millis=lambda: 30_000,
    )


class StatusStream:
    """The Status table's stream, read like Lambda's poller reads it (moto keeps one shard)."""

    def __init__(self, table_name: str) -> None:
        # botocore routes Streams to an account-based endpoint moto does not serve: turn it off.
        self.client = boto3.client(
            "dynamodbstreams",
            region_name=REGION,
            config=Config(account_id_endpoint_mode="disabled"),
        )
        table = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=table_name)
        self.arn = table["Table"]["LatestStreamArn"]
        self.seen: set[str] = set()
        self.iterators: dict[str, str | None] = {}

    def skip(self) -> None:
        """Start after everything written so far (what a benchmark seeded is nobody's change)."""
        shards = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        for shard in shards:
            self.iterators[shard["ShardId"]] = self.client.get_shard_iterator(
                StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]

    def _new_records(self) -> list[dict[str, Any]]:
        """What the shards hold past what was read before (each shard's next iterator kept)."""
        records: list[Any] = []
        shards = self.client.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]
        for shard in shards:
            iterator = (
                self.iterators.get(shard["ShardId"])
                or self.client.get_shard_iterator(
                    StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            )
            while iterator:
                response = self.client.get_records(ShardIterator=iterator, Limit=1000)
                records += response["Records"]
                iterator = response.get("NextShardIterator")
                self.iterators[shard["ShardId"]] = iterator
                if not response["Records"]:
                    break
        return [self._as_lambda_record(r) for r in records]

    def _as_lambda_record(self, record: Any) -> dict[str, Any]:
        """boto3's parsed record -> the JSON Lambda sends (epoch seconds, eventSourceARN)."""
        lambda_record = json.loads(json.dumps(record, default=str))
        created = record["dynamodb"].get("ApproximateCreationDateTime")
        if created is not None:
            lambda_record["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
        lambda_record["eventSourceARN"] = self.arn
        return dict(lambda_record)

    def take(self) -> list[dict[str, Any]]:
        """Records not handed out before, oldest first."""
        fresh = [r for r in self._new_records() if r["dynamodb"]["SequenceNumber"] not in self.seen]
        self.seen.update(r["dynamodb"]["SequenceNumber"] for r in fresh)
        return fresh
