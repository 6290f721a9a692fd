"""StateChangeCallbackQueue -> Tencent's State.StateChange callbacks to the app backend's URL
(signed, retried with backoff; partial batch failures)."""

from typing import Any

from presence import callbacks
from presence.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return callbacks.handle(event, context)
