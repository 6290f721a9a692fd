"""The stream consumer: Status table changes -> their timers, and `onUserStatusUpdated` frames.

Every status change is one write to the Status table; its stream (NEW_AND_OLD_IMAGES) is the only
source of pushes and of timers. A batch is handled in three phases:

1. Powertools' BatchProcessor parses each record into a `Change` (old and new PresenceState).
   A record that cannot be parsed (poison) is reported in `batchItemFailures`; the rest go on.
2. `schedule` sends the timers each record's change implies (lifecycle.followups); a record
   whose timers could not be queued is reported, so Lambda retries it.
3. `deliver` pushes the parsed changes: only real changes (statusType or customStatus differ),
   coalesced per user (first old vs last new), and never a stale value: if the user's current
   item already holds something newer, that newest value is pushed instead (so a redelivered or
   out-of-order record never tells an old status, and a user who changes faster than the
   fan-out runs is not starved; the newer record may then push the same value once more).
   Each recipient connection gets all of the batch's changes it qualifies for once, in as few
   frames of at most 32 KiB as fit. Records whose frame could not
   be posted are added to `batchItemFailures`, so Lambda retries from there.

Reads grow with the recipients only: one strongly consistent BatchGetItem per 100 changed users,
one byTarget Query (paginated) per changed user (plus one Friends Query each when
friendStatusNotify is on), one BatchGetItem per 100 watchers. No Scan.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from presence import clock, lifecycle, sessions, settings, store
from presence.lifecycle import PresenceState
from presence.models import StatusType, UserStatus
from presence.observability import logger, metrics
from presence.settings import Settings

EVENT = "onUserStatusUpdated"
MAX_FRAME_BYTES = 32 * 1024  # API Gateway's WebSocket frame limit
MAX_WORKERS = store.SOCKET_POOL_SIZE  # concurrent posts, one pooled connection each
OPENING_MS = 10_000  # a 410 this soon after $connect means "not open yet", not "gone"

_FRAME_HEAD = b'{"event":"' + EVENT.encode() + b'","data":['
_FRAME_TAIL = b"]}"
_EVENT_NAMES = frozenset({"INSERT", "MODIFY", "REMOVE"})


class Change(NamedTuple):
    """One stream record: user `user_id` went from `old` to `new`."""

    user_id: str
    old: PresenceState
    new: PresenceState
    sequence_number: str


@dataclass
class _NetChange:
    """A user's changes within one batch: the first old state and the last new state."""

    user_id: str
    old: PresenceState
    new: PresenceState
    records: list[str] = field(default_factory=list)


class _Frame(NamedTuple):
    """One frame to post and the changed users it tells about."""

    data: bytes
    user_ids: tuple[str, ...]


class _Outcome(NamedTuple):
    """What posting one connection's frames came to."""

    sent: int
    failed_frames: int
    failed_user_ids: tuple[str, ...]
    gone: bool


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A DynamoDB stream batch -> the partial batch response (`batchItemFailures`)."""
    changes: list[Change] = []

    def parse(record: DynamoDBRecord) -> None:
        changes.append(parse_record(record))

    # Every record failing to parse is reported like any partial failure, not raised.
    processor = BatchProcessor(
        event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False
    )
    response = process_partial_response(
        event=event, record_handler=parse, processor=processor, context=context
    )
    failures: list[dict[str, Any]] = [dict(f) for f in response["batchItemFailures"]]
    failed = schedule(changes) | deliver(changes)
    # numeric order (stream sequence numbers are decimal strings); Lambda retries from the lowest
    failures += [{"itemIdentifier": seq} for seq in sorted(failed, key=lambda s: (len(s), s))]
    return {"batchItemFailures": failures}


def parse_record(record: DynamoDBRecord) -> Change:
    """A stream record as a Change; raises on anything malformed (the record is then reported)."""
    raw = record.raw_event
    event_name = raw.get("eventName")
    if event_name not in _EVENT_NAMES:
        raise ValueError(f"unexpected eventName {event_name!r}")
    stream = raw["dynamodb"]
    sequence_number = stream["SequenceNumber"]
    user_id = stream["Keys"]["userID"]["S"]
    if not isinstance(sequence_number, str) or not isinstance(user_id, str) or not user_id:
        raise ValueError("the record has no SequenceNumber or userID key")
    old_image = stream.get("OldImage")
    new_image = None if event_name == "REMOVE" else stream.get("NewImage")
    if (event_name != "INSERT" and old_image is None) or (
        event_name != "REMOVE" and new_image is None
    ):
        raise ValueError(f"{event_name} record without its images (stream view type?)")
    return Change(
        user_id=user_id,
        old=store.presence_from_item(user_id, old_image),
        new=store.presence_from_item(user_id, new_image),
        sequence_number=sequence_number,
    )


def schedule(changes: Sequence[Change]) -> set[str]:
    """Queue the timers of each record's change; the sequence numbers of records whose timers
    could not be queued (they are retried; a timer queued twice does its work once)."""
    timing = settings.current().timing()
    wanted = {c.sequence_number: lifecycle.followups(c.old, c.new, timing) for c in changes}
    timers = sorted({t for ts in wanted.values() for t in ts})
    if not timers:
        return set()
    try:
        store.send_timers(timers, clock.now_ms())
    except Exception:
        logger.exception("could not queue the timers of a status change batch")
        return {seq for seq, ts in wanted.items() if ts}
    metrics.add_metric(name="TimersQueued", unit=MetricUnit.Count, value=len(timers))
    return set()


def deliver(changes: Sequence[Change]) -> set[str]:
    """Push the batch's real changes; the sequence numbers of records that must be retried."""
    nets = _coalesce(changes)
    outcomes: list[_Outcome] = []
    failed: set[str] = set()
    if nets:
        try:
            pushes, states, watchers = _resolve(nets)
        except Exception:
            logger.exception("could not read the recipients of a status change batch")
            failed = {seq for net in nets.values() for seq in net.records}
        else:
            outcomes = _push(pushes, states, watchers)
            for outcome in outcomes:
                for user_id in outcome.failed_user_ids:
                    failed.update(pushes[user_id].records)
    for name, value in (
        ("PushesSent", sum(o.sent for o in outcomes)),
        ("PushesGone", sum(o.gone for o in outcomes)),
        ("PushFailures", sum(o.failed_frames for o in outcomes)),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    return failed


def _coalesce(changes: Sequence[Change]) -> dict[str, _NetChange]:
    """Per user (in batch order): first old vs last new; users with no net change are left out."""
    nets: dict[str, _NetChange] = {}
    for change in changes:
        net = nets.get(change.user_id)
        if net is None:
            nets[change.user_id] = _NetChange(
                change.user_id, change.old, change.new, [change.sequence_number]
            )
        else:
            net.new = change.new
            net.records.append(change.sequence_number)
    return {u: net for u, net in nets.items() if _shown(net.old) != _shown(net.new)}


def _resolve(
    nets: dict[str, _NetChange],
) -> tuple[dict[str, _NetChange], dict[str, PresenceState], dict[str, set[str]]]:
    """Which changes to push (still current), everyone's current state, and who watches whom."""
    states = store.get_presences(list(nets), consistent=True)
    pushes: dict[str, _NetChange] = {}
    for user_id, net in nets.items():
        stored = _shown(states[user_id])
        if stored == _shown(net.new):
            pushes[user_id] = net
        elif stored != _shown(net.old):
            # A newer write superseded this record: push the newest value instead. Skipping
            # would starve a user who changes faster than the fan-out runs (each batch would
            # be superseded again); pushing the record's value could tell something stale.
            pushes[user_id] = replace(net, new=states[user_id])
        # else: the change was undone meanwhile; the undoing record carries it
    current = settings.current()
    watchers: dict[str, set[str]] = {}
    if _notifies_others(current):
        watchers = {u: set(store.subscribers_of(u)) for u in pushes}
        for user_id, friends in _friends_of(list(pushes), current).items():
            watchers.setdefault(user_id, set()).update(friends)
    for user_id, watching in watchers.items():
        watching.discard(user_id)
    others = sorted({w for watching in watchers.values() for w in watching} - states.keys())
    states.update(store.get_presences(others))
    return pushes, states, watchers


def _notifies_others(current: Settings) -> bool:
    """Pushes to subscribers and friends belong to the status query-and-notify feature: like the
    HTTP routes, they need the 'ultimate' edition and the statusQueryAndNotify switch. A user's
    own devices are always told (as setSelfStatus is never gated)."""
    return current.edition == "ultimate" and current.statusQueryAndNotify


def _friends_of(user_ids: Sequence[str], current: Settings) -> dict[str, set[str]]:
    """Each user's friends, when friendStatusNotify is on (one Query per changed user)."""
    if not current.friendStatusNotify:
        return {}
    return {user_id: set(store.friends_of(user_id)) for user_id in user_ids}


def _push(
    pushes: dict[str, _NetChange],
    states: dict[str, PresenceState],
    watchers: dict[str, set[str]],
) -> list[_Outcome]:
    """Send each live recipient connection its frames, connections in parallel."""
    # connection -> the changed users it receives (in batch order, each once), and its owner
    inbox: dict[str, dict[str, None]] = {}
    owners: dict[str, tuple[str, int]] = {}  # connection -> (owner, connectedAt)
    for user_id in pushes:
        for audience_id in (user_id, *sorted(watchers.get(user_id, ()))):
            for connection_id, conn in states[audience_id].connections.items():
                if lifecycle.is_live(conn):
                    owners.setdefault(connection_id, (audience_id, conn.connected_at))
                    inbox.setdefault(connection_id, {})[user_id] = None
    if not inbox:
        return []
    visible = settings.current().lastActiveTimeVisible
    own = {user_id: _encode_status(_status(net.new)) for user_id, net in pushes.items()}
    others = {
        user_id: _encode_status(_status(net.new).as_seen_by_others(visible))
        for user_id, net in pushes.items()
    }
    jobs = []
    for connection_id, users in inbox.items():
        owner = owners[connection_id][0]
        encoded = [(u, own[u] if u == owner else others[u]) for u in users]
        jobs.append((connection_id, *owners[connection_id], _frames(encoded)))
    store.sockets()  # created here, once: boto3 does not create clients safely from threads
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(jobs))) as pool:
        return list(pool.map(lambda job: _send(*job), jobs))


def _shown(state: PresenceState) -> tuple[StatusType, str]:
    """What a push tells about a user."""
    return state.status_type, state.custom_status


def _status(state: PresenceState) -> UserStatus:
    """A stored state as a push tells it (stored states are written settled)."""
    return UserStatus(
        state.user_id,
        state.status_type,
        state.custom_status,
        state.last_active_time,
        state.version,
    )


def _encode_status(status: UserStatus) -> bytes:
    return json.dumps(status.to_wire(), separators=(",", ":"), ensure_ascii=False).encode()


def _frames(statuses: Sequence[tuple[str, bytes]]) -> list[_Frame]:
    """Pack encoded statuses, in order, into as few frames of at most MAX_FRAME_BYTES as fit."""
    frames: list[_Frame] = []
    parts: list[bytes] = []
    users: list[str] = []
    size = len(_FRAME_HEAD) + len(_FRAME_TAIL)
    for user_id, part in statuses:
        extra = len(part) + (1 if parts else 0)
        if parts and size + extra > MAX_FRAME_BYTES:
            frames.append(_Frame(_FRAME_HEAD + b",".join(parts) + _FRAME_TAIL, tuple(users)))
            parts, users = [], []
            size = len(_FRAME_HEAD) + len(_FRAME_TAIL)
            extra = len(part)
        parts.append(part)
        users.append(user_id)
        size += extra
    if parts:
        frames.append(_Frame(_FRAME_HEAD + b",".join(parts) + _FRAME_TAIL, tuple(users)))
    return frames


def _send(
    connection_id: str, owner_id: str, connected_at: int, frames: Sequence[_Frame]
) -> _Outcome:
    """Post a connection's frames in order; on 410 Gone drop the connection and stop."""
    sent = failed_frames = 0
    failed: list[str] = []
    for frame in frames:
        try:
            delivered = store.post_to_connection(connection_id, frame.data)
        except Exception:
            logger.exception(
                "push failed; its records will be retried",
                extra={"connectionId": connection_id, "userIDs": list(frame.user_ids)},
            )
            failed.extend(frame.user_ids)
            failed_frames += 1
            continue
        if not delivered:
            if clock.now_ms() - connected_at >= OPENING_MS:
                _drop_gone(owner_id, connection_id)
            else:
                # API Gateway answers 410 until the $connect handler has returned: the socket
                # is still opening, not gone. Its own first push is lost; it is not dropped.
                logger.info("connection still opening", extra={"connectionId": connection_id})
            return _Outcome(sent, failed_frames, tuple(failed), gone=True)
        sent += 1
    return _Outcome(sent, failed_frames, tuple(failed), gone=False)


def _drop_gone(owner_id: str, connection_id: str) -> None:
    """The socket is gone: drop exactly this connection (its owner's status follows the rules).

    A failure here is logged, not retried: the pushes themselves cannot be delivered anyway, and
    the connection is dropped by its $disconnect or at API Gateway's 2-hour limit regardless.
    """
    logger.info("connection gone", extra={"connectionId": connection_id, "userID": owner_id})
    try:
        sessions.on_gone(owner_id, connection_id)
    except Exception:
        logger.exception(
            "could not drop a gone connection",
            extra={"connectionId": connection_id, "userID": owner_id},
        )
