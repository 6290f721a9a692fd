"""The Status table's item and its mapping to and from PresenceState: the one place that knows
the item's shape (reads, writes and the stream's images all go through here).

One item per user; every status change is one conditional write to it, and its stream is the
only source of pushes. Attributes (DynamoDB JSON; times in epoch ms):

    userID             S   the key
    statusType         N   StatusType (UNLOGINED when absent)
    customStatus       S   "" or absent: none
    customStatusSetAt  N   when setSelfStatus last set it
    customStatusExpiresAt N when the custom status clears itself (customStatusExpiresIn);
                           absent: never. The expiry's clear keeps it (with customStatus "")
                           as the mark that the status expired rather than was cleared
    invisible          BOOL   appearing offline (API.md section 3); absent: visible
    hiddenLastActive   N   while invisible: the lastActiveTime others see
    hiddenVersion      N   while invisible: the version others see (the going-invisible write's)
    conns              M   connectionId -> M {platform S, connectedAt N, droppedAt N?,
                           sigExpiresAt N?, timedOut BOOL?, clientIP S?, evicted BOOL?}
    background         M   platform -> N until: native apps logged in but not connected (OFFLINE)
    notOnlineSince     N   when the latest ONLINE period ended (lastActiveTime); absent while ONLINE
    version            N   the write counter (API.md section 3): starts at the item's creation
                           time in microseconds (`first_version`) and grows by one per write, so
                           it only grows, also across an item written anew
    closing            SS  connections a kick is still closing; absent when none
    pushedVersion      N   the fan-out's marker (store.mark_pushed): not a change

`conns` and `background` always exist once a user has connected (per-connection writes update
into them). No I/O here: the unit tests map items both ways without AWS.
"""

from __future__ import annotations

from typing import Any

from presence.lifecycle import Connection, PresenceState
from presence.models import StatusType
from presence.store._dynamo import number

# What a read fetches (every attribute above).
ATTRIBUTES = (
    "userID, statusType, customStatus, customStatusSetAt, customStatusExpiresAt, invisible,"
    " hiddenLastActive, hiddenVersion, conns, background, notOnlineSince, version, closing,"
    " pushedVersion"
)
# What a lifecycle transition owns (logout, kick, timers: store.save_presence writes these and
# nothing else, so a concurrent setSelfStatus is never overwritten); absent in `to_item`'s
# result means removed.
LIFECYCLE = ("statusType", "conns", "background", "notOnlineSince", "closing")


def first_version(now_ms: int) -> int:
    """What a new item's `version` counts up from (epoch microseconds, below 2**53)."""
    return now_ms * 1000


def presence_from_item(user_id: str, item: dict[str, Any] | None) -> PresenceState:
    """A Status item (as GetItem, an UpdateItem's ALL_NEW or a stream image gives it) as a
    PresenceState; no item: a fresh UNLOGINED state."""
    if not item:
        return PresenceState(user_id)
    connections = {
        connection_id: connection_from_value(value)
        for connection_id, value in item.get("conns", {}).get("M", {}).items()
    }
    background = {
        platform: int(value["N"])
        for platform, value in item.get("background", {}).get("M", {}).items()
    }
    return PresenceState(
        user_id=user_id,
        status_type=StatusType(number(item, "statusType") or StatusType.UNLOGINED),
        custom_status=item.get("customStatus", {}).get("S", ""),
        custom_status_set_at=number(item, "customStatusSetAt"),
        custom_status_expires_at=number(item, "customStatusExpiresAt"),
        invisible=item.get("invisible", {}).get("BOOL", False),
        hidden_last_active_time=number(item, "hiddenLastActive") or 0,
        hidden_version=number(item, "hiddenVersion") or 0,
        connections=connections,
        background=background,
        not_online_since=number(item, "notOnlineSince"),
        version=number(item, "version") or 0,
        closing=frozenset(item.get("closing", {}).get("SS", [])),
        pushed_version=number(item, "pushedVersion") or 0,
    )


def to_item(state: PresenceState) -> dict[str, Any]:
    """The Status item that reads back as `state` (presence_from_item(to_item(s)) == s)."""
    item: dict[str, Any] = {
        "userID": {"S": state.user_id},
        "statusType": {"N": str(int(state.status_type))},
        "conns": connections_value(state.connections),
        "background": {"M": {p: {"N": str(until)} for p, until in state.background.items()}},
    }
    if state.custom_status:
        item["customStatus"] = {"S": state.custom_status}
    if state.custom_status_set_at is not None:
        item["customStatusSetAt"] = {"N": str(state.custom_status_set_at)}
    if state.custom_status_expires_at is not None:
        item["customStatusExpiresAt"] = {"N": str(state.custom_status_expires_at)}
    if state.invisible:
        item["invisible"] = {"BOOL": True}
        item["hiddenLastActive"] = {"N": str(state.hidden_last_active_time)}
        item["hiddenVersion"] = {"N": str(state.hidden_version)}
    if state.not_online_since is not None:
        item["notOnlineSince"] = {"N": str(state.not_online_since)}
    if state.version:
        item["version"] = {"N": str(state.version)}
    if state.closing:
        item["closing"] = {"SS": sorted(state.closing)}
    if state.pushed_version:
        item["pushedVersion"] = {"N": str(state.pushed_version)}
    return item


# What setSelfStatus owns (store.save_self_status writes these and nothing else).
SELF_STATUS = (
    "customStatus",
    "customStatusSetAt",
    "customStatusExpiresAt",
    "invisible",
    "hiddenLastActive",
    "hiddenVersion",
)


def connection_from_value(value: dict[str, Any]) -> Connection:
    """One entry of `conns`."""
    entry = value["M"]
    return Connection(
        platform=entry["platform"]["S"],
        connected_at=int(entry["connectedAt"]["N"]),
        dropped_at=number(entry, "droppedAt"),
        sig_expires_at=number(entry, "sigExpiresAt"),
        timed_out=entry.get("timedOut", {}).get("BOOL", False),
        client_ip=entry.get("clientIP", {}).get("S", ""),
        evicted=entry.get("evicted", {}).get("BOOL", False),
    )


def connection_value(conn: Connection) -> dict[str, Any]:
    """A Connection as its entry of `conns`."""
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
    if conn.client_ip:
        entry["clientIP"] = {"S": conn.client_ip}
    if conn.evicted:
        entry["evicted"] = {"BOOL": True}
    return {"M": entry}


def connections_value(connections: dict[str, Connection]) -> dict[str, Any]:
    return {"M": {cid: connection_value(conn) for cid, conn in connections.items()}}
