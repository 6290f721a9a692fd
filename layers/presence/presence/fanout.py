"""The stream consumer, the first stage of the fan-out: Status table changes -> their timers,
and who is to be told.

Every status change is one write to the Status table; its stream (NEW_AND_OLD_IMAGES) is the only
source of pushes and of timers. A batch is handled in three phases:

1. Powertools' BatchProcessor parses each record into a `Change` (old and new PresenceState).
   A record that cannot be parsed (poison) is reported in `batchItemFailures`; the rest go on.
2. `schedule` sends the timers each record's change implies (lifecycle.followups); a record
   whose timers could not be queued is reported, so Lambda retries it. When the setting
   statusChangeEvents is on, `events.publish` puts each change on the EventBridge bus; when the
   stack has a State.StateChange callback URL, `callbacks.enqueue` queues each device event
   for it (a record either could not send is retried the same way).
3. `deliver` works out the pushes: only real changes (statusType or customStatus differ),
   coalesced per user (first old vs last new), and never a stale value: if the user's current
   item already holds something newer, that newest value is pushed instead ("Overtaken
   records" below). It reads the first FIRST_PAGE subscribers (and friends) of each changed
   user and their connections; the batch's small audiences, up to INLINE_BUDGET connections in
   all, it posts itself (each recipient connection gets all the batch's changes it qualifies
   for once, in as few frames of at most 32 KiB as fit); everything larger becomes delivery
   jobs (presence.delivery) that the delivery function posts, scaled out by Lambda, and page
   jobs for the rest of a long list of watchers. So no invocation's work grows with an
   audience: a change to 100,000 subscribers costs this function what a change to FIRST_PAGE
   of them costs.

A post that fails is retried for that connection alone, then given up; it never makes Lambda
retry the batch (which would post again to everyone else). Only a failure to read the audience,
to queue the timers or the jobs does, and then nothing is posted or queued for the records from
the first failed one on: the retry delivers them once (jobs are not left to SQS's 5-minute
deduplication, which a slow retry outlives).

Overtaken records: a batch whose change for user U was overtaken by a newer write pushes the
newest value S (skipping it would starve a user who changes faster than the fan-out runs). S's
own record comes in a later batch (Lambda runs one user's batches in order) and would push S a
second time. So once S is posted (or its jobs queued), `store.mark_pushed` sets `pushedVersion`
= S.version on U's item, without bumping `version` (not a status change: no writer's condition
and no queued job notices it); a later net change whose new version is at most that is pushed
no more (`to_push`). The marker write's own stream record changes nothing shown: it pushes
nothing, publishes no event, derives no timer and costs no read. A marker write that fails is
logged, not retried: at worst S arrives twice.

Reads grow with the recipients only: one strongly consistent BatchGetItem per 100 changed users,
one byTarget Query page per changed user (plus one Friends Query page each when
friendStatusNotify is on), one BatchGetItem per 100 watchers. No Scan. Writes: one conditional
UpdateItem (the marker) per user whose change was overtaken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from presence import (
    callbacks,
    clock,
    delivery,
    events,
    lifecycle,
    messages,
    settings,
    store,
    views,
)
from presence.delivery import Outcome
from presence.events import Change
from presence.lifecycle import PresenceState
from presence.messages import DeliveryJob, Recipient
from presence.models import StatusType
from presence.observability import logger, metrics
from presence.settings import Settings

FIRST_PAGE = 100  # subscribers (and friends) of a changed user read here; more: page jobs
INLINE_BUDGET = 200  # connections this function posts itself per batch; more: post jobs
_EVENT_NAMES = frozenset({"INSERT", "MODIFY", "REMOVE"})


@dataclass
class _NetChange:
    """A user's changes within one batch: the first old state and the last new state."""

    user_id: str
    old: PresenceState
    new: PresenceState
    records: list[str] = field(default_factory=list)


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
    unscheduled = schedule(changes)
    retried = unscheduled | events.publish(changes, unscheduled)
    retried |= callbacks.enqueue(changes, retried)
    failed = retried | deliver(changes, retried)
    # numeric order (stream sequence numbers are decimal strings); Lambda retries from the lowest
    failures += [{"itemIdentifier": seq} for seq in sorted(failed, key=events.sequence_order)]
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


def deliver(changes: Sequence[Change], retried: set[str] | None = None) -> set[str]:
    """Post or queue the batch's real changes; the sequence numbers of records to retry.
    `retried`: records already to be retried (their changes are not posted now)."""
    nets = _coalesce(changes)
    outcomes: list[Outcome] = []
    failed: set[str] = set()
    retry = set(retried or ())
    queued_jobs = 0
    if nets:
        try:
            pushes, states, watchers, more = _resolve(nets)
        except Exception:
            logger.exception("could not read the recipients of a status change batch")
            return {seq for net in nets.values() for seq in net.records}
        plan = {u: delivery.recipients([u, *sorted(watchers.get(u, ()))], states) for u in pushes}
        inline, queued = _split(pushes, plan, more)
        # posting or queueing what Lambda will retry anyway would deliver it twice
        inline, queued = _before(inline, pushes, retry), _before(queued, pushes, retry)
        jobs: list[DeliveryJob] = []
        for user_id in queued:
            state = pushes[user_id].new
            jobs += delivery.post_jobs(state, plan[user_id])
            for source, cursor in more.get(user_id, []):
                jobs.append(delivery.page_job(user_id, state.version, source, cursor, 1))
        try:
            store.send_delivery_jobs(jobs)
            queued_jobs = len(jobs)
        except Exception:
            logger.exception("could not queue the delivery jobs of a status change batch")
            failed = {seq for user_id in queued for seq in pushes[user_id].records}
        inline = _before(inline, pushes, failed)
        outcomes = _push({u: pushes[u] for u in inline}, plan)
        # pushed ahead of their own records (posted, or their jobs queued): mark them
        done = inline if failed else [*inline, *queued]
        _mark_pushed(
            {u: pushes[u].new.version for u in done if pushes[u].new.version > nets[u].new.version}
        )
    for name, value in (
        ("PushesSent", sum(o.sent for o in outcomes)),
        ("PushesGone", sum(o.gone for o in outcomes)),
        ("PushFailures", sum(o.failed_frames for o in outcomes)),
        ("DeliveryJobsQueued", queued_jobs),
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


Cursors = dict[str, list[tuple[str, Any]]]


def _resolve(
    nets: dict[str, _NetChange],
) -> tuple[dict[str, _NetChange], dict[str, PresenceState], dict[str, set[str]], Cursors]:
    """Which changes to push (still current), everyone's current state, who watches whom (the
    first page of each list), and where the lists go on (for page jobs)."""
    states = store.get_presences(list(nets), consistent=True)
    pushes: dict[str, _NetChange] = {}
    for user_id, net in nets.items():
        push = to_push(net.old, net.new, states[user_id])
        if push is not None:
            pushes[user_id] = net if push is net.new else replace(net, new=push)
    current = settings.current()
    watchers: dict[str, set[str]] = {}
    more: Cursors = {}
    # only a change of what others see goes to subscribers and friends (a change made while
    # invisible reaches the user's own devices alone: their lists are not even read)
    public = [
        u for u, net in pushes.items() if views.public_key(net.old) != views.public_key(net.new)
    ]
    if _notifies_others(current):
        for user_id in public:
            found, cursor = store.watchers_page(user_id, "subscribers", None, FIRST_PAGE)
            watchers[user_id] = set(found)
            if cursor is not None:
                more.setdefault(user_id, []).append(("subscribers", cursor))
        friends, friend_cursors = _friends_of(public, current)
        for user_id, found_friends in friends.items():
            watchers.setdefault(user_id, set()).update(found_friends)
        for user_id, cursor in friend_cursors.items():
            more.setdefault(user_id, []).append(("friends", cursor))
    for user_id, watching in watchers.items():
        watching.discard(user_id)
    others = sorted({w for watching in watchers.values() for w in watching} - states.keys())
    states.update(store.get_presences(others))
    return pushes, states, watchers, more


def to_push(old: PresenceState, new: PresenceState, stored: PresenceState) -> PresenceState | None:
    """What a user's net change in a batch (`old` -> `new`) pushes, given the user's item now
    (`stored`, read strongly consistently): `new`, the newer `stored`, or nothing."""
    if new.version <= stored.pushed_version:
        # an overtaken record's batch pushed this value (or a newer one) already
        return None
    if _shown(stored) == _shown(new):
        return new
    if _shown(stored) != _shown(old):
        # A newer write superseded this record: push the newest value instead. Skipping
        # would starve a user who changes faster than the fan-out runs (each batch would
        # be superseded again); pushing the record's value could tell something stale.
        return stored
    return None  # the change was undone meanwhile; the undoing record carries it


def _mark_pushed(pushed: dict[str, int]) -> None:
    """Note on each user's item the version pushed ahead of its own record (store.mark_pushed),
    so that record's batch pushes nothing. A failure costs one duplicate push, not a retry."""
    for user_id, version in pushed.items():
        try:
            store.mark_pushed(user_id, version)
        except Exception:
            logger.exception(
                "could not mark an overtaken push; its record will push it again",
                extra={"userID": user_id, "version": version},
            )


def _notifies_others(current: Settings) -> bool:
    """Pushes to subscribers and friends belong to the status query-and-notify feature: like the
    HTTP routes, they need the 'ultimate' edition and the statusQueryAndNotify switch. A user's
    own devices are always told (as setSelfStatus is never gated)."""
    return current.edition == "ultimate" and current.statusQueryAndNotify


def _friends_of(
    user_ids: Sequence[str], current: Settings
) -> tuple[dict[str, set[str]], dict[str, Any]]:
    """Each user's friends (the first page) when friendStatusNotify is on, and the cursors of
    the lists that go on."""
    if not current.friendStatusNotify:
        return {}, {}
    friends: dict[str, set[str]] = {}
    cursors: dict[str, Any] = {}
    for user_id in user_ids:
        found, cursor = store.watchers_page(user_id, "friends", None, FIRST_PAGE)
        friends[user_id] = set(found)
        if cursor is not None:
            cursors[user_id] = cursor
    return friends, cursors


def _split(
    pushes: dict[str, _NetChange], plan: dict[str, list[Recipient]], more: Cursors
) -> tuple[list[str], list[str]]:
    """Which changes this function posts itself (in batch order, within INLINE_BUDGET
    connections) and which go to delivery jobs (a long list of watchers always does)."""
    inline: list[str] = []
    queued: list[str] = []
    budget = INLINE_BUDGET
    for user_id in pushes:
        size = len(plan[user_id])
        if user_id not in more and size <= budget:
            inline.append(user_id)
            budget -= size
        else:
            queued.append(user_id)
    return inline, queued


def _before(users: list[str], pushes: dict[str, _NetChange], retried: set[str]) -> list[str]:
    """The users whose records all precede the first of `retried` (Lambda retries the batch
    from there, so the changes of the others are delivered by the retry)."""
    if not retried:
        return users
    first = events.sequence_order(min(retried, key=events.sequence_order))
    return [u for u in users if all(events.sequence_order(s) < first for s in pushes[u].records)]


def _push(pushes: dict[str, _NetChange], plan: dict[str, list[Recipient]]) -> list[Outcome]:
    """Send each recipient connection of these changes its frames, connections in parallel."""
    # connection -> the changed users it receives (in batch order, each once)
    inbox: dict[str, dict[str, None]] = {}
    recipients: dict[str, Recipient] = {}
    for user_id in pushes:
        for recipient in plan[user_id]:
            recipients.setdefault(recipient.connection_id, recipient)
            inbox.setdefault(recipient.connection_id, {})[user_id] = None
    if not inbox:
        return []
    visible = settings.current().lastActiveTimeVisible
    statuses = {user_id: views.own(net.new) for user_id, net in pushes.items()}
    own = {u: messages.encode_status(status) for u, status in statuses.items()}
    others = {
        u: messages.encode_status(views.for_others(pushes[u].new, status, visible))
        for u, status in statuses.items()
    }
    jobs = []
    for connection_id, users in inbox.items():
        recipient = recipients[connection_id]
        encoded = [(u, own[u] if u == recipient.owner_id else others[u]) for u in users]
        jobs.append((recipient, delivery.pack(encoded)))
    return delivery.post_all(jobs)


def _shown(state: PresenceState) -> tuple[StatusType, str, int, bool]:
    """What a push tells about a user (to itself: what others are told changes only with it)."""
    return views.own_key(state)
