"""Tencent's State.StateChange callback to the app backend's URL (API.md section 10).

Every login, logout, disconnect and liveness timeout of a device is POSTed to the URL the stack
was given (StateChangeCallbackUrl), in Tencent's format, signed when a token is set
(StateChangeCallbackToken: `RequestTime` and `Sign` = sha256(token + RequestTime) in the query
string). Like pushes, timers and events, callbacks follow from the Status table's stream, never
from a request handler after its write (DESIGN.md principle 7):

1. The stream consumer (presence.fanout) reads each record's old and new images and `derive`s
   the record's device events (a pure function); `enqueue` queues one message per event on the
   StateChangeCallbackQueue. A record whose messages could not be queued is reported failed, so
   Lambda retries it (and every later record of its batch): a crash loses none.
2. The StateChangeCallbackFunction (`handle`) posts each message to the URL, ten at a time in
   parallel. The callee must answer `{"ActionStatus": "OK", "ErrorCode": 0}` within 2 s; any
   other answer, or none, leaves the message on the queue, visible again after its backoff
   (BACKOFF_SECONDS: the first retry after 5 s, then up to 15 minutes apart, for 2.3 hours;
   then the dead-letter queue, with an alarm). So each callback arrives at least once, possibly
   more than once and out of order (`EventTime` tells the order), and a slow or failing callee
   delays nothing but its own callbacks: pushes never wait for it, and other messages of a
   batch are posted alongside.

What a record's images show, device by device:
- a live connection appears: `Login` (`Register`), with `KickedDevice` the devices this login
  closes (past maxConnectionsPerUser: multipleAccount), worked out from the image exactly as
  $connect does (presence.sessions.on_connect);
- a live connection gets `droppedAt`: `Disconnect`, `LinkClose` (its socket closed, or a push
  found it gone) or `TimeOut` (liveness: `timedOut`);
- a live connection leaves: `Logout` (`Unregister`): a logout, a kick, an expired UserSig, a
  connection API Gateway never opened; or `Disconnect` `LinkClose` when API Gateway's 2 hours
  ended it;
- a dropped connection leaves at the end of its grace: nothing (it was told as Disconnect);
- a connection a newer login closed (`evicted`): nothing of its own, as Tencent's current SDKs
  do: "a forced logout due to multi-device login ... triggers only a Login (Register)".
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

from aws_lambda_powertools.metrics import MetricUnit

from presence import clock, config, lifecycle, settings, store
from presence.events import Change, sequence_order
from presence.lifecycle import MAX_CONNECTION_AGE_MS, Connection, PresenceState, Timing
from presence.observability import logger, metrics
from presence.tencent import platform_name

COMMAND = "State.StateChange"
TIMEOUT_SECONDS = 2.0  # the callee's answer must come within this (API.md section 10)
MAX_ANSWER_BYTES = 64 * 1024
# seconds until the next attempt, by the attempt that failed (SQS's ApproximateReceiveCount);
# with the queue's maxReceiveCount 16, 15 retries over 8,330 s (2.3 hours), then dead letters
BACKOFF_SECONDS = (5, 15, 30, 60, 120, 300, 600, 900)
POSTS_AT_ONCE = 10  # = the event source's BatchSize: a batch's messages are posted together


# --- 1. the stream consumer: derive and queue ------------------------------------------------


def derive(
    old: PresenceState,
    new: PresenceState,
    *,
    now: int,
    timing: Timing,
    max_connections: int,
    sdkappid: int,
) -> list[dict[str, Any]]:
    """The callback messages (`{"query", "body"}`, unsigned) of one stored change."""
    found: list[dict[str, Any]] = []

    def tell(action: str, reason: str, conn: Connection, at: int, kicked: list[str]) -> None:
        found.append(message(sdkappid, new.user_id, action, reason, conn, at, kicked))

    appeared = sorted(new.connections.items(), key=lambda item: item[1].connected_at)
    for connection_id, conn in appeared:
        before = old.connections.get(connection_id)
        if before is None:
            if conn.dropped_at is None:
                kicked = evicted_by(new, connection_id, timing, max_connections)
                tell("Login", "Register", conn, conn.connected_at, kicked)
            continue
        dropped = conn.dropped_at is not None and before.dropped_at is None
        if dropped and not (conn.evicted or before.evicted):
            reason = "TimeOut" if conn.timed_out else "LinkClose"
            tell("Disconnect", reason, conn, conn.dropped_at or 0, [])
    gone = sorted(old.connections.items(), key=lambda item: item[1].connected_at)
    for connection_id, before in gone:
        if connection_id in new.connections or before.dropped_at is not None or before.evicted:
            continue
        aged_out_at = before.connected_at + MAX_CONNECTION_AGE_MS
        if aged_out_at <= now:
            tell("Disconnect", "LinkClose", before, aged_out_at, [])
        else:
            tell("Logout", "Unregister", before, max(now, before.connected_at), [])
    return found


def evicted_by(
    state: PresenceState, connection_id: str, timing: Timing, max_connections: int
) -> list[str]:
    """Tencent's platform names of the connections the login of `connection_id` closes: the
    oldest live ones past `max_connections`, as $connect picks them (sessions.on_connect)."""
    conn = state.connections[connection_id]
    live = lifecycle.live_connections(state, conn.connected_at, timing)
    excess = [c for c in live if c != connection_id][: max(0, len(live) - max_connections)]
    return [platform_name(state.connections[c].platform) for c in excess]


def message(
    sdkappid: int,
    user_id: str,
    action: str,
    reason: str,
    conn: Connection,
    at: int,
    kicked: list[str],
) -> dict[str, Any]:
    """One callback: Tencent's query string (without RequestTime and Sign, which each attempt
    adds) and body."""
    return {
        "query": {
            "SdkAppid": str(sdkappid),
            "CallbackCommand": COMMAND,
            "contenttype": "json",
            "ClientIP": conn.client_ip,
            "OptPlatform": platform_name(conn.platform),
        },
        "body": {
            "CallbackCommand": COMMAND,
            "EventTime": at,
            "Info": {"Action": action, "To_Account": user_id, "Reason": reason},
            "KickedDevice": [{"Platform": platform} for platform in kicked],
        },
    }


def enqueue(records: Sequence[Change], retried: set[str]) -> set[str]:
    """Queue the callbacks of these records (when a callback URL is configured), up to the
    first record already to be retried; the sequence numbers of records to retry because their
    callbacks (or an earlier record's) were not queued."""
    if not records or not config.state_change_callback_url():
        return set()
    stop = min(retried, key=sequence_order) if retried else None
    current = settings.current()
    timing, now, sdkappid = current.timing(), clock.now_ms(), config.sdkappid()
    entries: list[tuple[str, str]] = []
    for record in records:
        if stop is not None and sequence_order(record.sequence_number) >= sequence_order(stop):
            break
        for found in derive(
            record.old,
            record.new,
            now=now,
            timing=timing,
            max_connections=current.maxConnectionsPerUser,
            sdkappid=sdkappid,
        ):
            entries.append((record.sequence_number, json.dumps(found)))
    if not entries:
        return set()
    try:
        failed_at = store.send_callbacks([body for _, body in entries])
    except Exception:
        logger.exception("could not queue State.StateChange callbacks")
        failed_at = 0
    queued = len(entries) if failed_at is None else failed_at
    metrics.add_metric(name="CallbacksQueued", unit=MetricUnit.Count, value=queued)
    if failed_at is None:
        return set()
    first = entries[failed_at][0]
    start = next(i for i, r in enumerate(records) if r.sequence_number == first)
    # Lambda retries from there: that record's callbacks (and every later one's) are queued
    # again then, none is lost (some may be queued twice)
    return {r.sequence_number for r in records[start:]}


# --- 2. the callback function: post, or leave for the backoff --------------------------------


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A batch of callback messages (SQS) -> the partial batch response."""
    records: list[dict[str, Any]] = list(event.get("Records") or [])
    url = config.state_change_callback_url()
    if not records:
        return {"batchItemFailures": []}
    if not url:
        logger.warning("callbacks were turned off: messages dropped", extra={"n": len(records)})
        return {"batchItemFailures": []}
    token = store.callback_token()
    store.sqs()  # created here, once: boto3 does not create clients safely from threads

    def attempt(record: dict[str, Any]) -> str | None:
        try:
            delivered = deliver(url, json.loads(record["body"]), token)
        except Exception:
            logger.exception("a callback message could not be posted")
            delivered = False
        if delivered:
            return None
        receives = int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
        try:
            store.retry_callback_in(record["receiptHandle"], backoff_seconds(receives))
        except Exception:  # then it comes back after the queue's visibility timeout
            logger.exception("could not set a callback's backoff")
        return str(record["messageId"])

    with ThreadPoolExecutor(max_workers=min(POSTS_AT_ONCE, len(records))) as pool:
        failed = [m for m in pool.map(attempt, records) if m is not None]
    metrics.add_metric(
        name="CallbacksDelivered", unit=MetricUnit.Count, value=len(records) - len(failed)
    )
    metrics.add_metric(name="CallbacksFailed", unit=MetricUnit.Count, value=len(failed))
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}


def backoff_seconds(attempt: int) -> int:
    """How long a message that failed on its `attempt`-th delivery (1, 2, ...) waits."""
    return BACKOFF_SECONDS[min(max(attempt, 1), len(BACKOFF_SECONDS)) - 1]


def signed_query(query: dict[str, str], token: str, now_s: int) -> dict[str, str]:
    """The query string of one attempt: with a token, `RequestTime` (now) and `Sign`."""
    if not token:
        return dict(query)
    request_time = str(now_s)
    sign = hashlib.sha256((token + request_time).encode("utf-8")).hexdigest()
    return {**query, "RequestTime": request_time, "Sign": sign}


def deliver(url: str, found: dict[str, Any], token: str) -> bool:
    """POST one callback; whether the callee took it (`ActionStatus` OK, `ErrorCode` 0, in
    time)."""
    query = signed_query(found["query"], token, int(clock.now_s()))
    target = url + ("&" if "?" in url else "?") + urlencode(query)
    data = json.dumps(found["body"], ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        target, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    started = clock.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            status, raw = response.status, response.read(MAX_ANSWER_BYTES)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        logger.info("callback not delivered", extra={"reason": repr(exc)[:200]})
        return False
    if clock.monotonic() - started > TIMEOUT_SECONDS:
        logger.info("callback answered too late", extra={"status": status})
        return False
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    taken = (
        200 <= status < 300
        and isinstance(answer, dict)
        and answer.get("ActionStatus") == "OK"
        and type(answer.get("ErrorCode")) is int
        and answer.get("ErrorCode") == 0
    )
    if not taken:
        logger.info("callback refused", extra={"status": status, "answer": repr(raw[:200])})
    return taken
