"""All AWS access: the only package that imports boto3 (DESIGN.md principle 3). One module per
table or resource:

    status           the Status table (every status change is one write to it)
    status_item      the Status item's shape, to and from PresenceState (no I/O)
    connections      the Connections table: a connectionId's user, the device's last frame
    subscriptions    the Subscriptions table and its byTarget index
    friends          the Friends table
    watchers         a user's subscribers or friends, a page at a time
    ratelimits       the RateLimits table's counters
    settings_item    the Settings table's one item
    timer_queue      the timers: SQS delay queue, EventBridge Scheduler past 15 minutes
    delivery_queue   the DeliveryQueue (SQS FIFO) of delivery jobs
    callback_queue   the CallbacksQueue: State.StateChange callbacks waiting to be posted
    event_bus        status-change events on the stack's EventBridge bus
    management_api   API Gateway's @connections: post, close, exists
    poster           the lean post path (botocore's signer, pooled keep-alive connections)
    secrets          the UserSig key (Secrets Manager), cached, rotation-aware; the callback
                     token
    _clients, _dynamo   the clients; the one conditional-write helper, batches, queries

Every read is a GetItem, Query or BatchGetItem on a key or index: nothing here scans. Clients
are created on first use (never at import time), so mocks and local endpoints apply. Messages
(timers, delivery jobs, frames, events) are presence.messages'; retries presence.retry's.

**Call through the package, patch the package.** Callers write `store.get_presences(...)`,
`store.send_timers(...)`: each name below is defined in one submodule and re-exported here, and
the callers look it up here at call time. So replacing one here (`monkeypatch.setattr(store,
"send_timers", fake)`, as local.harness, the tests and bench/cost.py do) reaches every caller.
That holds because no submodule calls an operation of another submodule (OPERATIONS below):
the submodules share only the private modules, the item mapping and their own helpers, so
there is no caller inside the package that a patch here would miss (tests/unit/test_store_
layout.py checks it). Client factories (`store.dynamodb()`, `store.sockets()`) are cached:
they return the clients the submodules use, whose methods and events may be patched. A
submodule's settings (the UserSig key's cache ages and clock) are read from that submodule:
patch them there (`store.secrets.USERSIG_KEY_MAX_AGE_SECONDS`).
"""

from __future__ import annotations

from presence.messages import DeliveryJob
from presence.messages import encode_timer as timer_body  # (its name before presence.messages)
from presence.store import secrets
from presence.store._clients import dynamodb, scheduler, sqs
from presence.store._dynamo import BATCH_GET_MAX, BATCH_WRITE_MAX
from presence.store.callback_queue import retry_callback_in, send_callbacks
from presence.store.connections import (
    CONNECTION_TTL_SECONDS,
    Seen,
    connection_seen,
    delete_connection,
    get_connection_user,
    note_seen,
    put_connection,
)
from presence.store.delivery_queue import send_delivery_jobs
from presence.store.event_bus import events, put_events
from presence.store.friends import write_friendships
from presence.store.management_api import (
    SOCKET_POOL_SIZE,
    close_connection,
    connection_exists,
    post_to_connection,
    poster,
    sockets,
)
from presence.store.ratelimits import take_rate_limit_slot
from presence.store.secrets import (
    USERSIG_KEY_MAX_AGE_SECONDS,
    USERSIG_KEY_REREAD_SECONDS,
    _secrets,
    callback_token,
    other_usersig_secret_keys,
    usersig_secret_key,
)
from presence.store.settings_item import (
    SETTINGS_ID,
    StoredSettings,
    get_settings_item,
    put_settings_item,
)
from presence.store.status import (
    add_connection,
    clear_custom_status,
    expire_custom_status,
    finish_closing,
    get_presence,
    get_presences,
    get_version,
    mark_dropped,
    mark_evicted,
    mark_pushed,
    save_presence,
    save_self_status,
    set_custom_status,
)
from presence.store.status_item import first_version, presence_from_item
from presence.store.subscriptions import Subscription, list_subscriptions, write_subscriptions
from presence.store.timer_queue import MAX_DELAY_SECONDS, schedule_name, send_timers
from presence.store.watchers import watchers_page

__all__ = [
    "BATCH_GET_MAX",
    "BATCH_WRITE_MAX",
    "CLIENTS",
    "CONNECTION_TTL_SECONDS",
    "MAX_DELAY_SECONDS",
    "OPERATIONS",
    "SETTINGS_ID",
    "SOCKET_POOL_SIZE",
    "USERSIG_KEY_MAX_AGE_SECONDS",
    "USERSIG_KEY_REREAD_SECONDS",
    "DeliveryJob",
    "Seen",
    "StoredSettings",
    "Subscription",
    "_secrets",
    "add_connection",
    "callback_token",
    "clear_custom_status",
    "close_connection",
    "connection_exists",
    "connection_seen",
    "delete_connection",
    "dynamodb",
    "events",
    "expire_custom_status",
    "finish_closing",
    "first_version",
    "get_connection_user",
    "get_presence",
    "get_presences",
    "get_settings_item",
    "get_version",
    "list_subscriptions",
    "mark_dropped",
    "mark_evicted",
    "mark_pushed",
    "note_seen",
    "other_usersig_secret_keys",
    "post_to_connection",
    "poster",
    "presence_from_item",
    "put_connection",
    "put_events",
    "put_settings_item",
    "reset_clients",
    "retry_callback_in",
    "save_presence",
    "save_self_status",
    "schedule_name",
    "scheduler",
    "secrets",
    "send_callbacks",
    "send_delivery_jobs",
    "send_timers",
    "set_custom_status",
    "sockets",
    "sqs",
    "take_rate_limit_slot",
    "timer_body",
    "usersig_secret_key",
    "watchers_page",
    "write_friendships",
    "write_subscriptions",
]

# The operations: every function that makes an AWS request. Call them (and patch them) here.
OPERATIONS = (
    # status
    get_presence,
    get_presences,
    get_version,
    save_presence,
    add_connection,
    mark_dropped,
    finish_closing,
    mark_pushed,
    mark_evicted,
    set_custom_status,
    save_self_status,
    clear_custom_status,
    expire_custom_status,
    # connections
    put_connection,
    get_connection_user,
    connection_seen,
    note_seen,
    delete_connection,
    # subscriptions, friends
    list_subscriptions,
    write_subscriptions,
    watchers_page,
    write_friendships,
    # rate limits, settings
    take_rate_limit_slot,
    get_settings_item,
    put_settings_item,
    # queues, bus, sockets
    send_timers,
    send_delivery_jobs,
    send_callbacks,
    retry_callback_in,
    put_events,
    post_to_connection,
    close_connection,
    connection_exists,
    # the UserSig key
    usersig_secret_key,
    other_usersig_secret_keys,
    callback_token,
)
CLIENTS = (dynamodb, sqs, scheduler, events, sockets, _secrets, poster)


def reset_clients() -> None:
    """Forget cached clients (tests start a fresh mock per test)."""
    if poster.cache_info().currsize:
        poster().close()
    for client in CLIENTS:
        client.cache_clear()
