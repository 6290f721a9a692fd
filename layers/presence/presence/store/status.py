"""The Status table: reads, and every write a status change makes (its item: status_item).

A connect and a drop write only their connection's entry (and bump `version`), so a user's
devices never contend: they are lifecycle.connect and lifecycle.drop as one write each
(tests/integration/test_store_lifecycle.py holds each equal to its rule). Logout, kick and
timers write the whole lifecycle (`save_presence`), conditioned on `version`, and retry when a
device wrote in between (presence.sessions).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from presence import clock, config
from presence.errors import Code, PresenceError
from presence.lifecycle import Connection, PresenceState
from presence.models import StatusType
from presence.store import status_item
from presence.store._clients import dynamodb
from presence.store._dynamo import batch_get, conditional_write, number
from presence.store.status_item import first_version, presence_from_item


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
    items = batch_get(
        config.status_table(),
        [{"userID": {"S": user_id}} for user_id in user_ids],
        ProjectionExpression=status_item.ATTRIBUTES,
        ConsistentRead=consistent,
    )
    found = {item["userID"]["S"]: item for item in items}
    return {user_id: presence_from_item(user_id, found.get(user_id)) for user_id in user_ids}


def get_version(user_id: str) -> int:
    """The user's status version now (strongly consistent; 0 when nothing is stored)."""
    response = dynamodb().get_item(
        TableName=config.status_table(),
        Key={"userID": {"S": user_id}},
        ConsistentRead=True,
        ProjectionExpression="version",
    )
    return number(response.get("Item") or {}, "version") or 0


def save_presence(before: PresenceState, after: PresenceState) -> bool:
    """Write a lifecycle transition if nobody wrote the user's lifecycle since `before` was read.

    Touches only the lifecycle attributes (status_item.LIFECYCLE), so a concurrent
    setSelfStatus is never overwritten. False when another writer got there first (the caller
    reads again and retries).
    """
    return _save_owned(before, after, status_item.LIFECYCLE)


def _save_owned(
    before: PresenceState, after: PresenceState, names: Sequence[str], *sets: str
) -> bool:
    """Write the attributes `names` as `after`'s item has them (absent there: removed) and the
    next version, if the item's version is still `before`'s; `sets`: more SET clauses (their
    values among `:unlogined`). False when another writer got there first."""
    start = before.version or first_version(clock.now_ms())
    item = status_item.to_item(after)
    values: dict[str, Any] = {":next": {"N": str(start + 1)}, ":seen": {"N": str(before.version)}}
    if sets:
        values[":unlogined"] = {"N": str(int(StatusType.UNLOGINED))}
    assigned = [*sets, "version = :next"]
    removes: list[str] = []
    for name in names:
        if name in item:
            assigned.append(f"{name} = :{name}")
            values[f":{name}"] = item[name]
        else:
            removes.append(name)
    update = "SET " + ", ".join(assigned) + (" REMOVE " + ", ".join(removes) if removes else "")
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
    """lifecycle.connect as one write: a new live connection of the user (ONLINE now, no
    longer OFFLINE in the background on that platform); the state after it.

    One write of that connection's entry, with no condition on the rest of the item, so any
    number of the user's devices can connect at once without retrying. (Tidying connections
    that ended meanwhile is left to the next settle, and reads settle anyway.) A user's first
    connection first gives the item the maps the entry goes into: no retry loop, two writes.
    """
    request = {
        "TableName": config.status_table(),
        "Key": {"userID": {"S": user_id}},
        "UpdateExpression": (
            "SET conns.#cid = :conn, statusType = :online,"
            " version = if_not_exists(version, :first) + :one"
            " REMOVE notOnlineSince, background.#platform"
        ),
        "ConditionExpression": "attribute_exists(conns) AND attribute_exists(background)",
        "ExpressionAttributeNames": {"#cid": connection_id, "#platform": conn.platform},
        "ExpressionAttributeValues": {
            ":conn": status_item.connection_value(conn),
            ":online": {"N": str(int(StatusType.ONLINE))},
            ":first": {"N": str(first_version(conn.connected_at))},
            ":one": {"N": "1"},
        },
        "ReturnValues": "ALL_NEW",
    }
    written = conditional_write(dynamodb().update_item, **request)
    if not written.done:
        _ensure_maps(user_id)
        written = conditional_write(dynamodb().update_item, **request)
    if not written.done:  # (the maps are never removed)
        raise PresenceError(Code.SERVER_FAULT, f"the status of {user_id!r} could not be stored")
    return presence_from_item(user_id, written.response.get("Attributes"))


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
    """lifecycle.drop as one write: a connection closed without logging out (its grace starts
    at `at_ms`); `timed_out`: its device went silent (liveness) rather than closing it.

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


def mark_evicted(user_id: str, connection_ids: Iterable[str]) -> None:
    """Note on each connection's entry that a newer login is closing it (multipleAccount), before
    it is closed: whatever then removes it (the logout that follows, or its $disconnect) is told
    as that login's KickedDevice, not as a callback of its own (presence.callbacks).

    Not a status change: `version` is not bumped (no conditional writer or queued delivery job is
    disturbed); a lifecycle write that read the item just before may write the entry back
    without the mark, and then that device's logout is told as well. A connection already gone
    is skipped."""
    for connection_id in connection_ids:
        _conditional_update(
            Key={"userID": {"S": user_id}},
            UpdateExpression="SET conns.#cid.evicted = :yes",
            ConditionExpression="attribute_exists(conns.#cid)",
            ExpressionAttributeNames={"#cid": connection_id},
            ExpressionAttributeValues={":yes": {"BOOL": True}},
        )


def set_custom_status(
    user_id: str, custom_status: str, now_ms: int, expires_at: int | None = None
) -> tuple[PresenceState, bool]:
    """Store the custom status (clearing itself at `expires_at`, None: never) in one
    conditional write; (state after, whether it changed).

    The condition makes an unchanged value a no-op: no write, no stream record, no push. A
    status with an expiry is always a change (a new expiry); one without replaces any expiry.
    """
    values: dict[str, Any] = {
        ":cs": {"S": custom_status},
        ":unlogined": {"N": str(int(StatusType.UNLOGINED))},
        ":now": {"N": str(now_ms)},
        ":first": {"N": str(first_version(now_ms))},
        ":one": {"N": "1"},
    }
    update = (
        "SET customStatus = :cs, statusType = if_not_exists(statusType, :unlogined),"
        " customStatusSetAt = :now, version = if_not_exists(version, :first) + :one"
    )
    condition: str | None
    if expires_at is not None:
        update += ", customStatusExpiresAt = :expires"
        values[":expires"] = {"N": str(expires_at)}
        condition = None
    else:
        update += " REMOVE customStatusExpiresAt"
        if custom_status:
            condition = (
                "attribute_not_exists(customStatus) OR customStatus <> :cs"
                " OR attribute_exists(customStatusExpiresAt)"
            )
        else:
            condition = "attribute_exists(customStatus) AND customStatus <> :cs"
    request: dict[str, Any] = {
        "TableName": config.status_table(),
        "Key": {"userID": {"S": user_id}},
        "UpdateExpression": update,
        "ExpressionAttributeValues": values,
        "ReturnValues": "ALL_NEW",
    }
    if condition is not None:
        request["ConditionExpression"] = condition
        request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    written = conditional_write(dynamodb().update_item, **request)
    if not written.done:  # unchanged: the item as it is
        return presence_from_item(user_id, written.response.get("Item")), False
    return presence_from_item(user_id, written.response.get("Attributes")), True


def save_self_status(before: PresenceState, after: PresenceState) -> bool:
    """Write what setSelfStatus owns (status_item.SELF_STATUS: the custom status, its expiry,
    invisibility) as `after` has it, in one write conditioned on `version` still being
    `before`'s; False when another writer got there first (the caller reads again). The
    lifecycle is left as it is."""
    return _save_owned(
        before,
        after,
        status_item.SELF_STATUS,
        "statusType = if_not_exists(statusType, :unlogined)",
    )


def clear_custom_status(state: PresenceState) -> bool:
    """Clear the custom status (and its expiry) if it is still the value (and set time) `state`
    saw: the clear customStatusClearSeconds after the user stopped being ONLINE."""
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
            " REMOVE customStatusExpiresAt"
        ),
        ConditionExpression=condition,
        ExpressionAttributeValues=values,
    )


def expire_custom_status(state: PresenceState) -> bool:
    """Clear the custom status whose expiry has come, if it is still the value with the expiry
    `state` saw. The expiry stays on the item, with the custom status "", as the mark that it
    expired (status_item)."""
    return _conditional_update(
        Key={"userID": {"S": state.user_id}},
        UpdateExpression="SET customStatus = :empty, version = version + :one",
        ConditionExpression="customStatus = :cs AND customStatusExpiresAt = :at",
        ExpressionAttributeValues={
            ":empty": {"S": ""},
            ":cs": {"S": state.custom_status},
            ":at": {"N": str(state.custom_status_expires_at)},
            ":one": {"N": "1"},
        },
    )


def _conditional_update(**request: Any) -> bool:
    """One conditional UpdateItem on the Status table; False when its condition failed."""
    return conditional_write(
        dynamodb().update_item, TableName=config.status_table(), **request
    ).done
