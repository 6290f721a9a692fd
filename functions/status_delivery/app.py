"""DeliveryQueue -> onUserStatusUpdated pushes: post jobs and page jobs of large audiences
(the second stage of the fan-out; presence.delivery). Reports partial batch failures."""

from typing import Any

from presence import delivery
from presence.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return delivery.handle(event, context)
