"""API Gateway's @connections API of the WebSocket stage: post a frame to a connection (on the
lean path: presence.store.poster), close it, ask whether it exists (410 Gone: it does not;
boto3's client, as these are rare). The local runtime serves its own endpoint."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from presence import config
from presence.store._clients import BOTO_CONFIG
from presence.store.poster import Poster, botocore_credentials

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi.client import ApiGatewayManagementApiClient

SOCKET_POOL_SIZE = 32  # = presence.delivery.MAX_WORKERS


@cache
def sockets() -> ApiGatewayManagementApiClient:
    """The @connections API of the WebSocket stage (local runtime: its own endpoint)."""
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=config.ws_management_endpoint(),
        # one pooled connection per fan-out worker, so concurrent posts reuse their TLS sessions
        config=BOTO_CONFIG.merge(Config(max_pool_connections=SOCKET_POOL_SIZE)),
    )


@cache
def poster() -> Poster:
    """PostToConnection on the lean path (presence.store.poster): botocore's signer over pooled
    keep-alive connections, kept for the life of the execution environment."""
    return Poster(config.ws_management_endpoint(), config.region(), botocore_credentials())


def post_to_connection(connection_id: str, data: bytes) -> bool:
    """Send one frame; False if the connection is gone (410). Other errors raise (a throttled
    post waits and goes again first: presence.store.poster)."""
    return poster().post(connection_id, data)


def close_connection(connection_id: str) -> None:
    """Close a socket; closing one that is already gone is not an error."""
    try:
        sockets().delete_connection(ConnectionId=connection_id)
    except sockets().exceptions.GoneException:
        pass


def connection_exists(connection_id: str) -> bool:
    """Whether API Gateway knows this connection (GetConnection; 410 Gone: it does not)."""
    try:
        sockets().get_connection(ConnectionId=connection_id)
    except sockets().exceptions.GoneException:
        return False
    return True
