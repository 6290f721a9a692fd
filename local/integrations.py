"""API Gateway's AWS service integrations of WebSocket routes, as the local runtime and the
in-process harness run them (template.yaml's WsSeenIntegration: ping and beat write the frame's
time on its connection with DynamoDB UpdateItem, no function involved).

The request template is the integration's $default template, already resolved (table names);
what API Gateway substitutes per frame is `$context.connectionId` and `$context.requestTimeEpoch`,
the only context variables this template uses (anything else is refused, so a template that
needs more fails loudly here rather than silently on AWS). A failed call is API Gateway's
problem, not the client's: the route still answers with its response template.
"""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
from botocore.exceptions import ClientError

_CONTEXT = re.compile(r"\$context\.([A-Za-z.]+)")
_SUPPORTED = {"dynamodb:UpdateItem"}


def render(request_template: str, context: dict[str, Any]) -> dict[str, Any]:
    """The request an integration sends for a frame with this `requestContext`."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in ("connectionId", "requestTimeEpoch"):
            raise ValueError(f"$context.{name} is not supported by the local integration")
        return str(context[name])

    rendered: dict[str, Any] = json.loads(_CONTEXT.sub(value, request_template))
    return rendered


def call(service_action: str, request: dict[str, Any], client: Any = None) -> bool:
    """Make the integration's call; False when AWS refused it (e.g. its condition failed)."""
    if service_action not in _SUPPORTED:
        raise ValueError(f"service integration {service_action} is not supported locally")
    dynamodb = client if client is not None else boto3.client("dynamodb")
    try:
        dynamodb.update_item(**request)
    except ClientError:
        return False
    return True
