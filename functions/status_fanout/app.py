"""Status table stream -> onUserStatusUpdated pushes (partial batch response)."""

from typing import Any

from presence import fanout
from presence.observability import logger, metrics, tracer


@tracer.capture_lambda_handler
@metrics.log_metrics(raise_on_empty_metrics=False)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return fanout.handle(event, context)
