"""The Connections table: an API Gateway connectionId back to its user, for $disconnect and
logout (their events carry only the connectionId), and the device's last frame (liveness).

Item: connectionId S (key), userID S, platform S, connectedAt N (epoch ms), expiresAt N (TTL,
epoch s: past API Gateway's 2-hour limit), seenAt N (epoch ms, the device's last frame: written
by API Gateway's ping and beat integration, template.yaml's WsSeenIntegration, and `note_seen`).
"""

from __future__ import annotations

from typing import NamedTuple

from presence import clock, config
from presence.store._clients import dynamodb
from presence.store._dynamo import conditional_write, number

CONNECTION_TTL_SECONDS = 3 * 3600


class Seen(NamedTuple):
    """What the Connections item says of a connection's device: when it connected, and when
    it last sent a frame (API Gateway's ping and beat integration writes `seenAt`)."""

    connected_at: int
    seen_at: int


def put_connection(connection_id: str, user_id: str, platform: str, connected_at_ms: int) -> None:
    dynamodb().put_item(
        TableName=config.connections_table(),
        Item={
            "connectionId": {"S": connection_id},
            "userID": {"S": user_id},
            "platform": {"S": platform},
            "connectedAt": {"N": str(connected_at_ms)},
            "expiresAt": {"N": str(connected_at_ms // 1000 + CONNECTION_TTL_SECONDS)},
        },
    )


def get_connection_user(connection_id: str) -> str | None:
    """Whose connection this is, or None if it is unknown or past its TTL."""
    response = dynamodb().get_item(
        TableName=config.connections_table(),
        Key={"connectionId": {"S": connection_id}},
        ConsistentRead=True,
    )
    item = response.get("Item")
    if not item or int(item["expiresAt"]["N"]) <= clock.now_s():
        return None
    return item["userID"]["S"]


def connection_seen(connection_id: str) -> Seen | None:
    """The connection's connect and last frame (epoch ms); None if the item is gone."""
    response = dynamodb().get_item(
        TableName=config.connections_table(),
        Key={"connectionId": {"S": connection_id}},
        ProjectionExpression="connectedAt, seenAt",
        ConsistentRead=True,
    )
    item = response.get("Item")
    if not item:
        return None
    connected_at = int(item["connectedAt"]["N"])
    return Seen(connected_at, max(connected_at, number(item, "seenAt") or 0))


def note_seen(connection_id: str, at_ms: int) -> None:
    """A frame from the device (a route served by a function): the same write API Gateway's
    ping and beat integration makes (template.yaml, WsSeenIntegration). Nothing for a
    connection whose item is gone."""
    conditional_write(
        dynamodb().update_item,
        TableName=config.connections_table(),
        Key={"connectionId": {"S": connection_id}},
        UpdateExpression="SET seenAt = :t",
        ConditionExpression="attribute_exists(connectionId)",
        ExpressionAttributeValues={":t": {"N": str(at_ms)}},
    )


def delete_connection(connection_id: str) -> None:
    dynamodb().delete_item(
        TableName=config.connections_table(), Key={"connectionId": {"S": connection_id}}
    )
