"""All DynamoDB and Secrets Manager access. The only module that talks to boto3.

Every read is a GetItem, Query or BatchGetItem on a key or index: nothing here scans.
Clients are created on first use (never at import time), so mocks and local endpoints apply.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from presence import clock, config
from presence.errors import Code, PresenceError
from presence.lifecycle import Connection, PresenceState, Timer
from presence.messages import DeliveryJob
from presence.messages import encode_timer as timer_body  # (its name before presence.messages)
from presence.models import StatusType

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from mypy_boto3_apigatewaymanagementapi.client import ApiGatewayManagementApiClient
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_scheduler.client import EventBridgeSchedulerClient
    from mypy_boto3_sqs.client import SQSClient

SETTINGS_ID = "settings"
BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25
_RETRIES = 6
SOCKET_POOL_SIZE = 32  # = presence.fanout.MAX_WORKERS

_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=2)


@cache
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=_BOTO_CONFIG)


@cache
def sqs() -> SQSClient:
    return boto3.client("sqs", config=_BOTO_CONFIG)


@cache
def scheduler() -> EventBridgeSchedulerClient:
    return boto3.client("scheduler", config=_BOTO_CONFIG)


@cache
def sockets() -> ApiGatewayManagementApiClient:
    """The @connections API of the WebSocket stage (local runtime: its own endpoint)."""
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=config.ws_management_endpoint(),
        # one pooled connection per fan-out worker, so concurrent posts reuse their TLS sessions
        config=_BOTO_CONFIG.merge(Config(max_pool_connections=SOCKET_POOL_SIZE)),
    )


@cache
def _secrets() -> SecretsProvider:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    # (its client from boto3's default session: a session of its own would load and resolve
    # every service model again, in each cold start)
    return SecretsProvider(boto3_client=boto3.client("secretsmanager", config=_BOTO_CONFIG))


def reset_clients() -> None:
    """Forget cached clients (tests start a fresh mock per test)."""
    for client in (dynamodb, sqs, scheduler, sockets, events, _secrets):
        client.cache_clear()


def _is_conditional_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _backoff(attempt: int) -> None:
    time.sleep(min(0.05 * 2**attempt, 1.0))


# --- secret -------------------------------------------------------------------------------------
# The UserSig key is the Secrets Manager secret's AWSCURRENT version; while a rotation settles,
# its AWSPREVIOUS version (the key before the last `put-secret-value`) verifies too, so rotating
# logs nobody out (API.md section 1). Each is cached for USERSIG_KEY_MAX_AGE_SECONDS, and the
# previous one is only read when a UserSig does not verify with the current one (so a cold
# start still makes one GetSecretValue call). Powertools' SecretsProvider caches by secret name,
# not by VersionStage, so it cannot hold the two versions apart: its client is used directly.
# A UserSig that verifies with neither also re-reads the current version at once (at most every
# USERSIG_KEY_REREAD_SECONDS per process): a key just rotated in works at once, and garbage
# tokens cannot turn into a stream of Secrets Manager calls.

USERSIG_KEY_MAX_AGE_SECONDS = 60.0
USERSIG_KEY_REREAD_SECONDS = 5.0
_CURRENT, _PREVIOUS = "AWSCURRENT", "AWSPREVIOUS"
_secret_clock = clock.monotonic


class _CachedKey(NamedTuple):
    value: str | None  # None: no version carries this stage
    read_at: float


_secret_versions: dict[tuple[str, str], _CachedKey] = {}  # by (secret ARN, stage)
_secret_reread_at: dict[str, float] = {}  # by secret ARN: last re-read after a mismatch


def _read_secret_version(arn: str, stage: str) -> str | None:
    """The secret's value at `stage`, now; None when no version carries that stage."""
    try:
        response = _secrets().client.get_secret_value(SecretId=arn, VersionStage=stage)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise
    value = response.get("SecretString")
    return value if isinstance(value, str) and value else None


def _secret_version(arn: str, stage: str, now: float) -> str | None:
    """The secret's value at `stage`, cached; the cached value while Secrets Manager fails."""
    key = (arn, stage)
    cached = _secret_versions.get(key)
    if cached is not None and now - cached.read_at < USERSIG_KEY_MAX_AGE_SECONDS:
        return cached.value
    try:
        value = _read_secret_version(arn, stage)
    except Exception:
        if cached is None and stage == _CURRENT:
            raise
        from presence.observability import logger

        logger.warning("could not read the UserSig secret; trying again soon", exc_info=True)
        stale = cached.value if cached is not None else None
        retry_at = now - USERSIG_KEY_MAX_AGE_SECONDS + USERSIG_KEY_REREAD_SECONDS
        _secret_versions[key] = _CachedKey(stale, retry_at)
        return stale
    if stage == _CURRENT and cached is not None and cached.value != value:
        # rotated: the previous version has moved too; do not trust its cached value
        _secret_versions.pop((arn, _PREVIOUS), None)
    _secret_versions[key] = _CachedKey(value, now)
    return value


def usersig_secret_key() -> str:
    """The current UserSig key (AWSCURRENT): what new UserSigs are signed with."""
    value = _secret_version(config.usersig_secret_arn(), _CURRENT, _secret_clock())
    if value is None:
        raise PresenceError(Code.SERVER_FAULT, "the UserSig secret key is not set")
    return value


def other_usersig_secret_keys() -> Iterator[str]:
    """The keys to try, in turn, when a UserSig does not verify with `usersig_secret_key()`.

    First the previous key (AWSPREVIOUS) if there is one; then, only if asked for more and the
    secret was rotated since this process last read it, the new current key and its previous
    one (the current version is re-read at most every USERSIG_KEY_REREAD_SECONDS).
    """
    arn = config.usersig_secret_arn()
    now = _secret_clock()
    previous = _secret_version(arn, _PREVIOUS, now)
    if previous is not None:
        yield previous
    last = _secret_reread_at.get(arn)
    if last is not None and now - last < USERSIG_KEY_REREAD_SECONDS:
        return
    _secret_reread_at[arn] = now
    try:
        current = _read_secret_version(arn, _CURRENT)
        cached = _secret_versions.get((arn, _CURRENT))
        if current is None or (cached is not None and cached.value == current):
            return  # not rotated since we last read it
        # rotated: the previous version has moved too (to what was the current one)
        new_previous = _read_secret_version(arn, _PREVIOUS)
    except Exception:
        from presence.observability import logger

        logger.warning("could not re-read the UserSig secret", exc_info=True)
        return
    _secret_versions[(arn, _CURRENT)] = _CachedKey(current, now)
    _secret_versions[(arn, _PREVIOUS)] = _CachedKey(new_previous, now)
    yield current
    if new_previous is not None and new_previous != previous:
        yield new_previous


# --- settings -----------------------------------------------------------------------------------


class StoredSettings(NamedTuple):
    """The settings item: the overrides an admin made, and the item's write counter."""

    overrides: dict[str, Any]
    version: int


def get_settings_item(*, consistent: bool = False) -> StoredSettings | None:
    response = dynamodb().get_item(
        TableName=config.settings_table(),
        Key={"id": {"S": SETTINGS_ID}},
        ConsistentRead=consistent,
    )
    item = response.get("Item")
    if item is None:
        return None
    return StoredSettings(json.loads(item["value"]["S"]), int(item["version"]["N"]))


def put_settings_item(overrides: dict[str, Any], *, expected_version: int | None) -> bool:
    """Write the overrides if nobody else wrote since `expected_version`; False on a race."""
    condition: dict[str, Any]
    if expected_version is None:
        condition = {"ConditionExpression": "attribute_not_exists(id)"}
    else:
        condition = {
            "ConditionExpression": "version = :expected",
            "ExpressionAttributeValues": {":expected": {"N": str(expected_version)}},
        }
    try:
        dynamodb().put_item(
            TableName=config.settings_table(),
            Item={
                "id": {"S": SETTINGS_ID},
                "value": {"S": json.dumps(overrides, sort_keys=True)},
                "version": {"N": str((expected_version or 0) + 1)},
                "updatedAt": {"N": str(clock.now_ms() // 1000)},
            },
            **condition,
        )
    except ClientError as exc:
        if _is_conditional_failure(exc):
            return False
        raise
    return True


# --- status -------------------------------------------------------------------------------------
# One item per user in the Status table; every status change is one conditional write to it, and
# its stream is the only source of pushes. Attributes (times in epoch ms):
#   userID, statusType, customStatus, customStatusSetAt,
#   conns       {connectionId: {platform, connectedAt, droppedAt?, sigExpiresAt?, timedOut?}}
#   background  {platform: until}          native apps logged in but not connected (OFFLINE)
#   notOnlineSince, version                last time the user stopped being ONLINE; write counter
#   closing     {connectionId}             connections a kick is still closing (string set)
#   pushedVersion                          the fan-out's marker (mark_pushed): not a change
# A connect and a drop write only their connection's entry (and bump `version`), so a user's
# devices never contend; logout, kick and timers write the whole lifecycle, conditioned on
# `version`, and retry when a device wrote in between.
# `version` (API.md section 3) starts at the item's creation time in microseconds and grows by
# one with every write: it only grows, also across an item written anew (a local runtime
# restarted, a table restored), so a client that still holds an old version is never stuck.


def first_version(now_ms: int) -> int:
    """What a new item's `version` counts up from (epoch microseconds, below 2**53)."""
    return now_ms * 1000


_PRESENCE_ATTRIBUTES = (
    "userID, statusType, customStatus, customStatusSetAt, conns, background, notOnlineSince,"
    " version, closing, pushedVersion"
)


def _number(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if value else None


def presence_from_item(user_id: str, item: dict[str, Any] | None) -> PresenceState:
    """A Status item (DynamoDB JSON, as GetItem or a stream image gives it) as a PresenceState."""
    if not item:
        return PresenceState(user_id)
    connections = {
        connection_id: Connection(
            platform=value["M"]["platform"]["S"],
            connected_at=int(value["M"]["connectedAt"]["N"]),
            dropped_at=_number(value["M"], "droppedAt"),
            sig_expires_at=_number(value["M"], "sigExpiresAt"),
            timed_out=value["M"].get("timedOut", {}).get("BOOL", False),
        )
        for connection_id, value in item.get("conns", {}).get("M", {}).items()
    }
    background = {
        platform: int(value["N"])
        for platform, value in item.get("background", {}).get("M", {}).items()
    }
    return PresenceState(
        user_id=user_id,
        status_type=StatusType(_number(item, "statusType") or StatusType.UNLOGINED),
        custom_status=item.get("customStatus", {}).get("S", ""),
        custom_status_set_at=_number(item, "customStatusSetAt"),
        connections=connections,
        background=background,
        not_online_since=_number(item, "notOnlineSince"),
        version=_number(item, "version") or 0,
        closing=frozenset(item.get("closing", {}).get("SS", [])),
        pushed_version=_number(item, "pushedVersion") or 0,
    )


def _connection_value(conn: Connection) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "platform": {"S": conn.platform},
        "connectedAt": {"N": str(conn.connected_at)},
    }
    if conn.dropped_at is not None:
        entry["droppedAt"] = {"N": str(conn.dropped_at)}
    if conn.sig_expires_at is not None:
        entry["sigExpiresAt"] = {"N": str(conn.sig_expires_at)}
    if conn.timed_out:
        entry["timedOut"] = {"BOOL": True}
    return {"M": entry}


def _connections_value(connections: dict[str, Connection]) -> dict[str, Any]:
    return {"M": {cid: _connection_value(conn) for cid, conn in connections.items()}}


def get_presence(user_id: str) -> PresenceState:
    """The user's stored state (strongly consistent), a fresh UNLOGINED state if none."""
    response = dynamodb().get_item(
        TableName=config.status_table(),
        Key={"userID": {"S": user_id}},
        ConsistentRead=True,
    )
    return presence_from_item(user_id, response.get("Item"))


def get_presences(user_ids: Sequence[str], *, consistent: bool = False) -> dict[str, PresenceState]:
    """Each user's stored state, in ceil(n/100) BatchGetItem calls (UNLOGINED when absent).

    `consistent` reads strongly: the fan-out compares a stream record with the user's current
    item, and an eventually consistent read could return the state from before that record.
    """
    found: dict[str, dict[str, Any]] = {}
    table = config.status_table()
    for chunk in _chunks(user_ids, BATCH_GET_MAX):
        request: dict[str, Any] = {
            table: {
                "Keys": [{"userID": {"S": user_id}} for user_id in chunk],
                "ProjectionExpression": _PRESENCE_ATTRIBUTES,
                "ConsistentRead": consistent,
            }
        }
        for attempt in range(_RETRIES):
            response = dynamodb().batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                found[item["userID"]["S"]] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
            _backoff(attempt)
        else:
            raise PresenceError(Code.SERVER_FAULT, "the status table is busy; try again")
    return {user_id: presence_from_item(user_id, found.get(user_id)) for user_id in user_ids}


def save_presence(before: PresenceState, after: PresenceState) -> bool:
    """Write a lifecycle transition if nobody wrote the user's lifecycle since `before` was read.

    Touches only the lifecycle attributes, so a concurrent setSelfStatus is never overwritten.
    False when another writer got there first (the caller reads again and retries).
    """
    start = before.version or first_version(clock.now_ms())
    values: dict[str, Any] = {
        ":st": {"N": str(int(after.status_type))},
        ":conns": _connections_value(after.connections),
        ":bg": {"M": {p: {"N": str(t)} for p, t in after.background.items()}},
        ":next": {"N": str(start + 1)},
        ":seen": {"N": str(before.version)},
    }
    sets = ["statusType = :st", "conns = :conns", "background = :bg", "version = :next"]
    removes: list[str] = []
    if after.not_online_since is None:
        removes.append("notOnlineSince")
    else:
        sets.append("notOnlineSince = :nos")
        values[":nos"] = {"N": str(after.not_online_since)}
    if after.closing:
        sets.append("closing = :closing")
        values[":closing"] = {"SS": sorted(after.closing)}
    else:
        removes.append("closing")
    update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    condition = "version = :seen"
    if before.version == 0:
        condition = "attribute_not_exists(version) OR version = :seen"
    return _conditional_update(
        Key={"userID": {"S": after.user_id}},
        UpdateExpression=update,
        ConditionExpression=condition,
        ExpressionAttributeValues=values,
    )


def add_connection(user_id: str, connection_id: str, conn: Connection) -> PresenceState:
    """Store a new live connection of the user (ONLINE now) and return the state after it.

    One write of that connection's entry, with no condition on the rest of the item, so any
    number of the user's devices can connect at once without retrying. (A connection always
    makes the user ONLINE; tidying connections that ended meanwhile is left to the next settle,
    and reads settle anyway.)
    """
    names = {"#cid": connection_id, "#platform": conn.platform}
    values = {
        ":conn": _connection_value(conn),
        ":online": {"N": str(int(StatusType.ONLINE))},
        ":first": {"N": str(first_version(conn.connected_at))},
        ":one": {"N": "1"},
    }
    for _attempt in range(3):
        try:
            response = dynamodb().update_item(
                TableName=config.status_table(),
                Key={"userID": {"S": user_id}},
                UpdateExpression=(
                    "SET conns.#cid = :conn, statusType = :online,"
                    " version = if_not_exists(version, :first) + :one"
                    " REMOVE notOnlineSince, background.#platform"
                ),
                ConditionExpression="attribute_exists(conns) AND attribute_exists(background)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if not _is_conditional_failure(exc):
                raise
            _ensure_maps(user_id)  # a first connection: the maps must exist to hold an entry
            continue
        return presence_from_item(user_id, response.get("Attributes"))
    raise PresenceError(Code.SERVER_FAULT, f"the status of {user_id!r} could not be stored")


def _ensure_maps(user_id: str) -> None:
    """Give the user's item the (empty) maps that per-connection writes update into."""
    dynamodb().update_item(
        TableName=config.status_table(),
        Key={"userID": {"S": user_id}},
        UpdateExpression=(
            "SET conns = if_not_exists(conns, :empty), background = if_not_exists(background,"
            " :empty), statusType = if_not_exists(statusType, :unlogined)"
        ),
        ExpressionAttributeValues={
            ":empty": {"M": {}},
            ":unlogined": {"N": str(int(StatusType.UNLOGINED))},
        },
    )


def mark_dropped(user_id: str, connection_id: str, at_ms: int, *, timed_out: bool = False) -> bool:
    """Note that a connection closed without logging out (its grace starts at `at_ms`);
    `timed_out`: its device went silent (liveness) rather than closing it.

    One write of that connection's entry; False if the connection is unknown, already dropped
    or gone (a repeated or late $disconnect), which changes nothing.
    """
    update = "SET conns.#cid.droppedAt = :at, version = version + :one"
    values: dict[str, Any] = {":at": {"N": str(at_ms)}, ":one": {"N": "1"}}
    if timed_out:
        update += ", conns.#cid.timedOut = :yes"
        values[":yes"] = {"BOOL": True}
    return _conditional_update(
        Key={"userID": {"S": user_id}},
        UpdateExpression=update,
        ConditionExpression=(
            "attribute_exists(conns.#cid) AND attribute_not_exists(conns.#cid.droppedAt)"
        ),
        ExpressionAttributeNames={"#cid": connection_id},
        ExpressionAttributeValues=values,
    )


def finish_closing(user_id: str, connection_ids: Iterable[str]) -> None:
    """Take connections a kick has closed off the user's `closing` set (atomic, no race)."""
    closed = sorted(connection_ids)
    if not closed:
        return
    dynamodb().update_item(
        TableName=config.status_table(),
        Key={"userID": {"S": user_id}},
        UpdateExpression="DELETE closing :closed",
        ExpressionAttributeValues={":closed": {"SS": closed}},
    )


def mark_pushed(user_id: str, version: int) -> bool:
    """Note that the user's status at `version` has been pushed (posted, or its delivery jobs
    queued) before its own stream record reached the fan-out, which then pushes nothing.

    Not a status change: `version` is not bumped, so no conditional writer is disturbed and no
    queued delivery job counts as superseded; the stream record this write makes shows no
    change. Only ever raises the marker, only on an item that exists; False if it was as high.
    """
    return _conditional_update(
        Key={"userID": {"S": user_id}},
        UpdateExpression="SET pushedVersion = :v",
        ConditionExpression=(
            "attribute_exists(version) AND"
            " (attribute_not_exists(pushedVersion) OR pushedVersion < :v)"
        ),
        ExpressionAttributeValues={":v": {"N": str(version)}},
    )


def _conditional_update(**request: Any) -> bool:
    """One conditional UpdateItem on the Status table; False when its condition failed."""
    try:
        dynamodb().update_item(TableName=config.status_table(), **request)
    except ClientError as exc:
        if _is_conditional_failure(exc):
            return False
        raise
    return True


def set_custom_status(user_id: str, custom_status: str, now_ms: int) -> tuple[PresenceState, bool]:
    """Store the custom status in one conditional write; (state after, whether it changed).

    The condition makes an unchanged value a no-op: no write, no stream record, no push.
    """
    if custom_status:
        condition = "attribute_not_exists(customStatus) OR customStatus <> :cs"
    else:
        condition = "attribute_exists(customStatus) AND customStatus <> :cs"
    try:
        response = dynamodb().update_item(
            TableName=config.status_table(),
            Key={"userID": {"S": user_id}},
            UpdateExpression=(
                "SET customStatus = :cs, statusType = if_not_exists(statusType, :unlogined),"
                " customStatusSetAt = :now, version = if_not_exists(version, :first) + :one"
            ),
            ConditionExpression=condition,
            ExpressionAttributeValues={
                ":cs": {"S": custom_status},
                ":unlogined": {"N": str(int(StatusType.UNLOGINED))},
                ":now": {"N": str(now_ms)},
                ":first": {"N": str(first_version(now_ms))},
                ":one": {"N": "1"},
            },
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except ClientError as exc:
        if _is_conditional_failure(exc):
            old: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            return presence_from_item(user_id, old), False
        raise
    return presence_from_item(user_id, response.get("Attributes")), True


def clear_custom_status(state: PresenceState) -> bool:
    """Clear the custom status if it is still the value (and set time) `state` saw."""
    values: dict[str, Any] = {
        ":empty": {"S": ""},
        ":cs": {"S": state.custom_status},
        ":one": {"N": "1"},
        ":first": {"N": str(first_version(clock.now_ms()))},
    }
    condition = "customStatus = :cs"
    if state.custom_status_set_at is None:
        condition += " AND attribute_not_exists(customStatusSetAt)"
    else:
        condition += " AND customStatusSetAt = :at"
        values[":at"] = {"N": str(state.custom_status_set_at)}
    return _conditional_update(
        Key={"userID": {"S": state.user_id}},
        UpdateExpression=(
            "SET customStatus = :empty, version = if_not_exists(version, :first) + :one"
        ),
        ConditionExpression=condition,
        ExpressionAttributeValues=values,
    )


# --- connections --------------------------------------------------------------------------------
# The Connections table maps an API Gateway connectionId back to its user, for $disconnect and
# logout (their events carry only the connectionId). TTL past API Gateway's 2-hour limit.

CONNECTION_TTL_SECONDS = 3 * 3600


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


class Seen(NamedTuple):
    """What the Connections item says of a connection's device: when it connected, and when
    it last sent a frame (API Gateway's ping and beat integration writes `seenAt`)."""

    connected_at: int
    seen_at: int


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
    return Seen(connected_at, max(connected_at, _number(item, "seenAt") or 0))


def note_seen(connection_id: str, at_ms: int) -> None:
    """A frame from the device (a route served by a function): the same write API Gateway's
    ping and beat integration makes (template.yaml, WsSeenIntegration)."""
    try:
        dynamodb().update_item(
            TableName=config.connections_table(),
            Key={"connectionId": {"S": connection_id}},
            UpdateExpression="SET seenAt = :t",
            ConditionExpression="attribute_exists(connectionId)",
            ExpressionAttributeValues={":t": {"N": str(at_ms)}},
        )
    except ClientError as exc:
        if not _is_conditional_failure(exc):
            raise


def delete_connection(connection_id: str) -> None:
    dynamodb().delete_item(
        TableName=config.connections_table(), Key={"connectionId": {"S": connection_id}}
    )


# --- sockets (API Gateway @connections) ---------------------------------------------------------


def post_to_connection(connection_id: str, data: bytes) -> bool:
    """Send one frame; False if the connection is gone (410). Other errors raise."""
    try:
        sockets().post_to_connection(ConnectionId=connection_id, Data=data)
    except sockets().exceptions.GoneException:
        return False
    return True


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


# --- timers (SQS delay queue; EventBridge Scheduler past SQS's 15 minutes) ----------------------

MAX_DELAY_SECONDS = 900  # SQS's longest delay


def send_timers(timers: Sequence[Timer], now_ms: int) -> None:
    """Queue each timer: due within 15 minutes on the SQS delay queue, later as a one-time
    EventBridge Scheduler schedule that sends the same message to the queue when it is due.
    One message per timer, however long its delay (no re-queueing chains)."""
    soon = [t for t in timers if t.due_at - now_ms <= MAX_DELAY_SECONDS * 1000]
    for timer in timers:
        if timer not in soon:
            _schedule(timer)
    for chunk in _chunks(soon, 10):
        entries: list[Any] = [
            {
                "Id": str(i),
                "MessageBody": timer_body(timer),
                "DelaySeconds": max(0, -(-(timer.due_at - now_ms) // 1000)),
            }
            for i, timer in enumerate(chunk)
        ]
        response = sqs().send_message_batch(QueueUrl=config.timers_queue_url(), Entries=entries)
        if response.get("Failed"):
            raise PresenceError(Code.SERVER_FAULT, "timers could not be queued")


def schedule_name(timer: Timer) -> str:
    """A name that is the same for the same timer, so scheduling it twice makes one schedule
    (a retried stream record): [0-9A-Za-z_.-], at most 64 characters."""
    digest = hashlib.sha256(timer_body(timer).encode()).hexdigest()[:40]
    return f"{timer.kind}-{digest}"[:64]


def _schedule(timer: Timer) -> None:
    at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(-(-timer.due_at // 1000)))
    try:
        scheduler().create_schedule(
            Name=schedule_name(timer),
            GroupName=config.schedule_group(),
            ScheduleExpression=f"at({at})",
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            Target={
                "Arn": config.timers_queue_arn(),
                "RoleArn": config.scheduler_role_arn(),
                "Input": timer_body(timer),
            },
        )
    except scheduler().exceptions.ConflictException:
        pass  # already scheduled (the same timer, derived again from a retried record)


# --- delivery jobs (SQS FIFO) -------------------------------------------------------------------


def send_delivery_jobs(jobs: Sequence[DeliveryJob]) -> None:
    """Queue delivery jobs, 10 per SendMessageBatch; raises if any was not queued (the caller's
    batch is then retried, and SQS drops the ones it already has by their deduplication id)."""
    for chunk in _chunks(jobs, 10):
        response = sqs().send_message_batch(
            QueueUrl=config.delivery_queue_url(),
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": job.body,
                    "MessageGroupId": job.group,
                    "MessageDeduplicationId": job.dedup,
                }
                for i, job in enumerate(chunk)
            ],
        )
        if response.get("Failed"):
            raise PresenceError(Code.SERVER_FAULT, "delivery jobs could not be queued")


# --- status-change events (EventBridge) ---------------------------------------------------------


@cache
def events() -> EventBridgeClient:
    return boto3.client("events", config=_BOTO_CONFIG)


def put_events(entries: Sequence[dict[str, Any]]) -> int | None:
    """Publish up to 10 events to the stack's bus, in order; the index of the first one that
    was not accepted (None: all were)."""
    bus = config.status_event_bus()
    response = events().put_events(
        Entries=[
            {
                "Source": entry["Source"],
                "DetailType": entry["DetailType"],
                "Detail": entry["Detail"],
                "EventBusName": bus,
            }
            for entry in entries
        ]
    )
    if not response.get("FailedEntryCount"):
        return None
    return next(
        i for i, result in enumerate(response.get("Entries", [])) if result.get("ErrorCode")
    )


# --- rate limits --------------------------------------------------------------------------------


def take_rate_limit_slot(key: str, limit: int, expires_at: int) -> bool:
    """Count one request against `key`; False once `limit` requests were counted.

    One atomic conditional ADD: concurrent callers can never push the count past the limit.
    """
    try:
        dynamodb().update_item(
            TableName=config.rate_limits_table(),
            Key={"pk": {"S": key}},
            UpdateExpression="ADD #count :one SET expiresAt = if_not_exists(expiresAt, :expires)",
            ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
            ExpressionAttributeNames={"#count": "count"},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":limit": {"N": str(limit)},
                ":expires": {"N": str(expires_at)},
            },
        )
    except ClientError as exc:
        if _is_conditional_failure(exc):
            return False
        raise
    return True


# --- subscriptions ------------------------------------------------------------------------------


class Subscription(NamedTuple):
    """One subscription of a subscriber: to whom, and its sequence number."""

    target_id: str
    seq: int


def list_subscriptions(subscriber_id: str, *, consistent: bool = False) -> list[Subscription]:
    """The subscriber's subscriptions, oldest first: one Query (paginated), sorted by `seq`.

    Every caller needs the whole list (to order it, to apply the quota), and it is at most
    `subscriptionQuota` small items, so sorting here beats paying for an index on every write.
    """
    found = [
        Subscription(item["targetID"]["S"], int(item["seq"]["N"]))
        for item in _query(
            TableName=config.subscriptions_table(),
            KeyConditionExpression="subscriberID = :s",
            ExpressionAttributeValues={":s": {"S": subscriber_id}},
            ProjectionExpression="targetID, seq",
            ConsistentRead=consistent,
        )
    ]
    return sorted(found, key=lambda sub: (sub.seq, sub.target_id))


def _query(**request: Any) -> Iterator[dict[str, Any]]:
    """Every item a Query returns, page after page."""
    while True:
        response = dynamodb().query(**request)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def watchers_page(user_id: str, source: str, cursor: Any, limit: int) -> tuple[list[str], Any]:
    """Up to `limit` of the user's watchers of `source`: its "subscribers" (a Query on the
    byTarget index) or its "friends" (a Query of the Friends table), from `cursor` (a
    LastEvaluatedKey, None for the start); and the cursor of the next page (None: no more).

    DynamoDB may return fewer than `limit` (its 1 MB page) with a cursor; that is a page too."""
    if source == "subscribers":
        request: dict[str, Any] = {
            "TableName": config.subscriptions_table(),
            "IndexName": "byTarget",
            "KeyConditionExpression": "targetID = :u",
        }
        field = "subscriberID"
    elif source == "friends":
        request = {
            "TableName": config.friends_table(),
            "KeyConditionExpression": "userID = :u",
            "ProjectionExpression": "friendID",
        }
        field = "friendID"
    else:
        raise ValueError(f"unknown watcher source {source!r}")
    request["ExpressionAttributeValues"] = {":u": {"S": user_id}}
    request["Limit"] = limit
    if cursor:
        request["ExclusiveStartKey"] = cursor
    response = dynamodb().query(**request)
    found = [item[field]["S"] for item in response.get("Items", [])]
    return found, response.get("LastEvaluatedKey")


def get_version(user_id: str) -> int:
    """The user's status version now (strongly consistent; 0 when nothing is stored)."""
    response = dynamodb().get_item(
        TableName=config.status_table(),
        Key={"userID": {"S": user_id}},
        ConsistentRead=True,
        ProjectionExpression="version",
    )
    return _number(response.get("Item") or {}, "version") or 0


def write_subscriptions(
    subscriber_id: str, add: Sequence[Subscription], remove: Iterable[str]
) -> None:
    """Add and remove subscriptions in ceil(n/25) BatchWriteItem calls, retrying leftovers."""
    now = str(clock.now_ms() // 1000)
    requests: list[dict[str, Any]] = [
        {
            "PutRequest": {
                "Item": {
                    "subscriberID": {"S": subscriber_id},
                    "targetID": {"S": sub.target_id},
                    "seq": {"N": str(sub.seq)},
                    "createdAt": {"N": now},
                }
            }
        }
        for sub in add
    ]
    requests += [
        {"DeleteRequest": {"Key": {"subscriberID": {"S": subscriber_id}, "targetID": {"S": t}}}}
        for t in remove
    ]
    _batch_write(config.subscriptions_table(), requests)


def _batch_write(table: str, requests: list[dict[str, Any]]) -> None:
    for chunk in _chunks(requests, BATCH_WRITE_MAX):
        pending: dict[str, Any] = {table: list(chunk)}
        for attempt in range(_RETRIES):
            response = dynamodb().batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                break
            _backoff(attempt)
        else:
            raise PresenceError(Code.SERVER_FAULT, "the table is busy; some writes were not made")


def _chunks[T](values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --- fan-out (added for presence.fanout) ---------------------------------------------------------


# --- friends ------------------------------------------------------------------------------------
# One item per direction (userID -> friendID), so a user's friends are one Query.


def write_friendships(pairs: Sequence[tuple[str, str]], *, delete: bool = False) -> None:
    """Make (or with delete=True, unmake) each pair friends both ways; BatchWriteItem, retried."""
    directed = dict.fromkeys(
        direction for a, b in pairs for direction in ((a, b), (b, a))
    )  # a batch may not name one key twice
    now = str(clock.now_ms() // 1000)
    requests: list[dict[str, Any]] = []
    for user_id, friend_id in directed:
        key = {"userID": {"S": user_id}, "friendID": {"S": friend_id}}
        if delete:
            requests.append({"DeleteRequest": {"Key": key}})
        else:
            requests.append({"PutRequest": {"Item": {**key, "createdAt": {"N": now}}}})
    _batch_write(config.friends_table(), requests)
