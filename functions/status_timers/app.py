"""Timers from the SQS delay queue: end a reconnect grace, expire OFFLINE, clear a custom
status, drop an absent subscriber's subscriptions. Reports partial batch failures."""

from typing import Any

from presence import timers
from presence.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return timers.handle(event, context)
