"""Delivery: posting `onUserStatusUpdated` frames to connections, and the delivery jobs that
spread a large audience over many invocations (the second stage of the fan-out).

The stream consumer (presence.fanout) works out what changed and the first page of who is
watching. A small audience it posts itself; a larger one it splits into delivery jobs on the
DeliveryQueue, an SQS FIFO queue that the delivery function consumes, scaled out by Lambda:

- a **post job** carries one user's new status (the frame as the user's own devices see it and
  as others see it) and up to JOB_MAX_CONNECTIONS recipient connections, all of one partition
  (a hash of the connection id). Its message group is that partition, so every frame to one
  connection passes through one ordered group: an older value of a user is never posted to a
  connection after a newer one;
- a **page job** carries a cursor into the user's subscribers (or friends): it reads the next
  PAGE_SIZE of them, queues the page after it first (so pages are read while earlier ones are
  still being resolved), then reads those watchers' connections and queues their post jobs.

Nothing an invocation does grows with the audience beyond a page. Every job carries the
status's version: a job whose user has meanwhile changed again is skipped (the newer change has
jobs of its own), and so is a page job that finds the change when it reads the user's state to
post (it never posts a newer value than its own), so a connection gets the newest value once.
Each job's deduplication id is a function of (user, version, partition, page, chunk): a stream
batch that Lambda delivers again whole queues the same ids again, and SQS drops them (its
5-minute deduplication window; the records of a partial failure queue nothing before their
retry, presence.fanout). A post that fails is retried right here (a few times, with backoff)
for that connection alone: no retry re-posts what was delivered; a connection that still fails
is given up and counted (PushFailures).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response

from presence import clock, lifecycle, messages, retry, sessions, settings, store, views
from presence.errors import PresenceError
from presence.lifecycle import PresenceState
from presence.messages import DeliveryJob, PageJob, PostJob, Recipient
from presence.observability import logger, metrics

MAX_FRAME_BYTES = 32 * 1024  # API Gateway's WebSocket frame limit
MAX_WORKERS = store.SOCKET_POOL_SIZE  # concurrent posts, one pooled connection each
OPENING_MS = 10_000  # a 410 this soon after $connect means "not open yet", not "gone"
POST_ATTEMPTS = 3  # a failing post is tried this often (presence.retry's pauses between)

PARTITIONS = 16  # message groups of post jobs (see template.yaml, DeliveryFunction)
JOB_MAX_CONNECTIONS = 500
PAGE_SIZE = 5_000  # watchers read by one page job

# the onUserStatusUpdated frame around its statuses (presence.messages)
_FRAME_OVERHEAD = len(messages.status_frame([]))


class Frame(NamedTuple):
    """One frame to post and the changed users it tells about."""

    data: bytes
    user_ids: tuple[str, ...]


class Outcome(NamedTuple):
    """What posting one connection's frames came to."""

    sent: int
    failed_frames: int
    gone: bool


# --- frames -------------------------------------------------------------------------------------


def pack(statuses: Sequence[tuple[str, bytes]]) -> list[Frame]:
    """Pack encoded statuses (messages.encode_status), in order, into as few frames of at most
    MAX_FRAME_BYTES as fit."""
    frames: list[Frame] = []
    parts: list[bytes] = []
    users: list[str] = []
    size = _FRAME_OVERHEAD
    for user_id, part in statuses:
        extra = len(part) + (1 if parts else 0)
        if parts and size + extra > MAX_FRAME_BYTES:
            frames.append(Frame(messages.status_frame(parts), tuple(users)))
            parts, users = [], []
            size = _FRAME_OVERHEAD
            extra = len(part)
        parts.append(part)
        users.append(user_id)
        size += extra
    if parts:
        frames.append(Frame(messages.status_frame(parts), tuple(users)))
    return frames


def recipients(audience: Iterable[str], states: dict[str, PresenceState]) -> list[Recipient]:
    """The live connections of each user of `audience` (each connection once)."""
    found: dict[str, Recipient] = {}
    for owner_id in audience:
        for connection_id, conn in states[owner_id].connections.items():
            if lifecycle.is_live(conn) and connection_id not in found:
                found[connection_id] = Recipient(connection_id, owner_id, conn.connected_at)
    return list(found.values())


# --- posting ------------------------------------------------------------------------------------


def post_all(jobs: Sequence[tuple[Recipient, Sequence[Frame]]]) -> list[Outcome]:
    """Post each recipient its frames, recipients in parallel."""
    if not jobs:
        return []
    store.poster()  # created here, once, before the threads share it
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(jobs))) as pool:
        return list(pool.map(lambda job: send(*job), jobs))


def send(recipient: Recipient, frames: Sequence[Frame]) -> Outcome:
    """Post a connection's frames in order; on 410 Gone drop the connection and stop. A post
    that fails otherwise is tried again (only that one), then given up."""
    sent = failed = 0
    for frame in frames:
        delivered = _post(recipient, frame)
        if delivered is None:
            failed += 1
            continue
        if not delivered:
            if clock.now_ms() - recipient.connected_at >= OPENING_MS:
                drop_gone(recipient)
            else:
                # API Gateway answers 410 until the $connect handler has returned: the socket
                # is still opening, not gone. Its own first push is lost; it is not dropped.
                logger.info(
                    "connection still opening", extra={"connectionId": recipient.connection_id}
                )
            return Outcome(sent, failed, gone=True)
        sent += 1
    return Outcome(sent, failed, gone=False)


def _post(recipient: Recipient, frame: Frame) -> bool | None:
    """True: posted; False: the connection is gone (410); None: failed every attempt
    (POST_ATTEMPTS, paused by presence.retry's policy)."""
    failures: list[Exception] = []

    def attempt() -> bool | None:
        try:
            return store.post_to_connection(recipient.connection_id, frame.data)
        except Exception as exc:
            failures.append(exc)
            return None

    try:
        return retry.until_done(attempt, what="a push", tries=POST_ATTEMPTS)
    except PresenceError:
        logger.error(
            "push failed; given up for this connection",
            extra={"connectionId": recipient.connection_id, "userIDs": frame.user_ids},
            exc_info=failures[-1],
        )
        return None


def drop_gone(recipient: Recipient) -> None:
    """The socket is gone: drop exactly this connection (its owner's status follows the rules).

    A failure here is logged, not retried: the pushes themselves cannot be delivered anyway, and
    the connection is dropped by its $disconnect or at API Gateway's 2-hour limit regardless.
    """
    logger.info(
        "connection gone",
        extra={"connectionId": recipient.connection_id, "userID": recipient.owner_id},
    )
    try:
        sessions.on_gone(recipient.owner_id, recipient.connection_id)
    except Exception:
        logger.exception(
            "could not drop a gone connection",
            extra={"connectionId": recipient.connection_id, "userID": recipient.owner_id},
        )


# --- jobs ---------------------------------------------------------------------------------------


def partition_of(connection_id: str) -> int:
    return zlib.crc32(connection_id.encode()) % PARTITIONS


def _dedup_id(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def post_jobs(
    state: PresenceState, to: Sequence[Recipient], *, page: str = "first"
) -> list[DeliveryJob]:
    """The post jobs that tell `to` about the user's `state`: by partition, in chunks."""
    status = views.own(state)
    visible = settings.current().lastActiveTimeVisible
    own = messages.status_frame([messages.encode_status(status)]).decode()
    others = messages.status_frame(
        [messages.encode_status(views.for_others(state, status, visible))]
    )
    by_partition: dict[int, list[Recipient]] = {}
    for recipient in to:
        by_partition.setdefault(partition_of(recipient.connection_id), []).append(recipient)
    jobs: list[DeliveryJob] = []
    for partition, members in sorted(by_partition.items()):
        for chunk_no, start in enumerate(range(0, len(members), JOB_MAX_CONNECTIONS)):
            chunk = tuple(members[start : start + JOB_MAX_CONNECTIONS])
            job = PostJob(state.user_id, state.version, own, others.decode(), chunk)
            jobs.append(
                DeliveryJob(
                    job.encode(),
                    group=f"p{partition}",
                    dedup=_dedup_id(state.user_id, state.version, partition, page, chunk_no),
                )
            )
    return jobs


def page_job(user_id: str, version: int, source: str, cursor: Any, page: int) -> DeliveryJob:
    """A job that reads the next page of the user's watchers of `source` (subscribers or
    friends) from `cursor` (a DynamoDB LastEvaluatedKey)."""
    return DeliveryJob(
        PageJob(user_id, version, source, cursor, page).encode(),
        group=f"page-{hashlib.sha256(user_id.encode()).hexdigest()[:32]}",
        dedup=_dedup_id(user_id, version, source, page),
    )


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An SQS FIFO batch of delivery jobs -> the partial batch response. After a job fails,
    the rest of the batch is reported too (Powertools' FIFO processor), so a message group's
    jobs stay in order."""
    processor = SqsFifoPartialProcessor()
    versions: dict[str, int] = {}  # a batch's jobs are often one user's: one read each

    def version_of(user_id: str) -> int:
        if user_id not in versions:
            versions[user_id] = store.get_version(user_id)
        return versions[user_id]

    response = process_partial_response(
        event=event,
        record_handler=lambda record: run(messages.decode_job(record.body), version_of),
        processor=processor,
        context=context,
    )
    return dict(response)


def run(job: PostJob | PageJob, version_of: Callable[[str], int] | None = None) -> None:
    """One delivery job (raises on anything that should make SQS deliver it again).
    `version_of` reads the user's current version (the delivery function's batch caches it)."""
    version = (version_of or store.get_version)(job.user_id)
    if version > job.version:
        logger.info("superseded; the newer change delivers", extra={"userID": job.user_id})
        return
    if isinstance(job, PostJob):
        _run_post(job)
    else:
        _run_page(job)


def _run_post(job: PostJob) -> list[Outcome]:
    own = Frame(job.own_frame.encode(), (job.user_id,))
    others = Frame(job.others_frame.encode(), (job.user_id,))
    outcomes = post_all([(r, [own if r.owner_id == job.user_id else others]) for r in job.to])
    for name, value in (
        ("PushesSent", sum(o.sent for o in outcomes)),
        ("PushesGone", sum(o.gone for o in outcomes)),
        ("PushFailures", sum(o.failed_frames for o in outcomes)),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    return outcomes


def _run_page(job: PageJob) -> None:
    user_id, source, page = job.user_id, job.source, job.page
    watchers, cursor = store.watchers_page(user_id, source, job.cursor, PAGE_SIZE)
    state = store.get_presence(user_id)
    if state.version > job.version:
        # changed again since the job's own check: posting the newer value here would post it
        # twice (its own stream record fans it out to every page), so this chain stops here
        logger.info("superseded; the newer change delivers", extra={"userID": user_id})
        return
    jobs = []
    if cursor is not None:
        jobs.append(page_job(user_id, state.version, source, cursor, page + 1))
        store.send_delivery_jobs(jobs)  # the next page first: pages overlap their reads
    audience = [w for w in watchers if w != user_id]
    states = store.get_presences(audience)
    label = f"{source}{page}"
    store.send_delivery_jobs(post_jobs(state, recipients(audience, states), page=label))
