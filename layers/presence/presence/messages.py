"""Every message the service queues, schedules, posts or publishes, each defined once with its
encoder and decoder (DESIGN.md principle 12). The writer, the reader, the local runtime and the
benchmarks all go through here; nothing else builds or parses these by hand.

- **timer** (TimersQueue; EventBridge Scheduler's Input): `encode_timer` / `decode_timer`;
- **delivery jobs** (DeliveryQueue, SQS FIFO): `PostJob`, `PageJob` (`encode`, `decode_job`),
  queued as a `DeliveryJob` (the body with its message group and deduplication id);
- **frames** posted to a connection (API.md section 6): `onUserStatusUpdated` (`status_frame`
  of `encode_status` parts), `kickedOut`, `loggedOut`; the `$default` route's `error` reply;
  `decode_frame` reads any of them back;
- **status-change events** (EventBridge, API.md section 8): `StatusChange` (`detail`,
  `encode`, `decode`).

The encodings are byte for byte what the service has always written (a timer's body names its
EventBridge schedule, and a frame's bytes are what clients parse). No I/O, no boto3, no
pydantic: the WebSocket routes that must start fast import this.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from presence.errors import Code
from presence.lifecycle import Timer, TimerKind
from presence.models import StatusType, UserStatus

# --- timers ---------------------------------------------------------------------------------------


def encode_timer(timer: Timer) -> str:
    """A timer as the TimersQueue carries it (also a one-time schedule's Input)."""
    value: dict[str, Any] = {
        "kind": str(timer.kind),
        "userID": timer.user_id,
        "dueAt": timer.due_at,
    }
    if timer.subject:
        value["subject"] = timer.subject
    return json.dumps(value)


def decode_timer(body: str) -> Timer:
    """A TimersQueue message's timer; raises on anything else (the message is then retried and
    ends in the dead-letter queue)."""
    value = json.loads(body)
    return Timer(
        int(value["dueAt"]),
        TimerKind(value["kind"]),
        str(value["userID"]),
        str(value.get("subject", "")),
    )


# --- delivery jobs --------------------------------------------------------------------------------


class Recipient(NamedTuple):
    """A live connection that is to receive a change, and whose it is."""

    connection_id: str
    owner_id: str
    connected_at: int


class PostJob(NamedTuple):
    """Post one user's new status to up to JOB_MAX_CONNECTIONS connections of one partition:
    the frame the user's own devices get, the frame everyone else gets."""

    user_id: str
    version: int
    own_frame: str
    others_frame: str
    to: tuple[Recipient, ...]

    def encode(self) -> str:
        body = {
            "kind": "post",
            "userID": self.user_id,
            "version": self.version,
            "frames": {"own": self.own_frame, "others": self.others_frame},
            "to": [[r.connection_id, r.owner_id, r.connected_at] for r in self.to],
        }
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


class PageJob(NamedTuple):
    """Read the next page of a user's watchers of `source` from `cursor` (a DynamoDB
    LastEvaluatedKey), then queue their post jobs (and the page after it)."""

    user_id: str
    version: int
    source: str
    cursor: Any
    page: int

    def encode(self) -> str:
        body = {
            "kind": "page",
            "userID": self.user_id,
            "version": self.version,
            "source": self.source,
            "cursor": self.cursor,
            "page": self.page,
        }
        return json.dumps(body, separators=(",", ":"))


def decode_job(body: str) -> PostJob | PageJob:
    """A DeliveryQueue message's job; raises on anything else."""
    value = json.loads(body)
    user_id, version = str(value["userID"]), int(value["version"])
    if value["kind"] == "post":
        return PostJob(
            user_id,
            version,
            str(value["frames"]["own"]),
            str(value["frames"]["others"]),
            tuple(Recipient(str(c), str(o), int(t)) for c, o, t in value["to"]),
        )
    if value["kind"] == "page":
        return PageJob(user_id, version, str(value["source"]), value["cursor"], int(value["page"]))
    raise ValueError(f"unknown delivery job kind {value['kind']!r}")


class DeliveryJob(NamedTuple):
    """A job as queued on the DeliveryQueue: its body, message group and deduplication id."""

    body: str
    group: str
    dedup: str


# --- frames -----------------------------------------------------------------------------------

STATUS_EVENT = "onUserStatusUpdated"
FRAME_HEAD = b'{"event":"' + STATUS_EVENT.encode() + b'","data":['
FRAME_TAIL = b"]}"
LOGGED_OUT = b'{"event": "loggedOut"}'


def encode_status(status: UserStatus) -> bytes:
    """One status as it goes into an onUserStatusUpdated frame's `data`."""
    return json.dumps(status.to_wire(), separators=(",", ":"), ensure_ascii=False).encode()


def status_frame(parts: Sequence[bytes]) -> bytes:
    """The onUserStatusUpdated frame of these encoded statuses (in order)."""
    return FRAME_HEAD + b",".join(parts) + FRAME_TAIL


def kicked_out(reason: str) -> bytes:
    """The last frame a connection gets when the service closes it (tim-js-sdk's reasons)."""
    return b'{"event": "kickedOut", "reason": "' + reason.encode() + b'"}'


def error_reply(message: str) -> dict[str, Any]:
    """The $default route's answer to a frame no route serves (the socket stays open)."""
    return {"event": "error", "code": int(Code.INVALID_PARAMETER), "message": message}


class StatusUpdate(NamedTuple):
    statuses: tuple[UserStatus, ...]


class KickedOut(NamedTuple):
    reason: str


class LoggedOut(NamedTuple):
    pass


class ErrorReply(NamedTuple):
    code: int
    message: str


def decode_frame(data: bytes | str) -> StatusUpdate | KickedOut | LoggedOut | ErrorReply:
    """A frame the service sent, as its typed value; raises on anything else."""
    value = json.loads(data)
    event = value["event"]
    if event == STATUS_EVENT:
        return StatusUpdate(
            tuple(
                UserStatus(
                    str(s["userID"]),
                    StatusType(s["statusType"]),
                    str(s["customStatus"]),
                    int(s["lastActiveTime"]),
                    int(s["version"]),
                    int(s.get("customStatusExpiresAt", 0)),
                    bool(s.get("invisible", False)),
                )
                for s in value["data"]
            )
        )
    if event == "kickedOut":
        return KickedOut(str(value["reason"]))
    if event == "loggedOut":
        return LoggedOut()
    if event == "error":
        return ErrorReply(int(value["code"]), str(value["message"]))
    raise ValueError(f"unknown frame event {event!r}")


# --- status-change events -------------------------------------------------------------------------

EVENT_SOURCE = "presence"
EVENT_DETAIL_TYPE = "UserStatusChanged"


class StatusChange(NamedTuple):
    """A change of a user's status, as app backends receive it (the event's `detail`)."""

    user_id: str
    status_type: StatusType
    custom_status: str
    last_active_time: int
    version: int
    previous_status_type: StatusType
    reason: str
    platform: str
    time: int  # epoch ms the event was made
    invisible: bool = False  # the user appears offline to others (the status is the real one)
    custom_status_expires_at: int = 0  # epoch ms the custom status clears itself; 0: never

    def detail(self) -> dict[str, Any]:
        return {
            "userID": self.user_id,
            "statusType": int(self.status_type),
            "customStatus": self.custom_status,
            "lastActiveTime": self.last_active_time,
            "version": self.version,
            "previousStatusType": int(self.previous_status_type),
            "reason": self.reason,
            "platform": self.platform,
            "time": self.time,
            "invisible": self.invisible,
            "customStatusExpiresAt": self.custom_status_expires_at,
        }

    def encode(self) -> str:
        """The PutEvents entry's Detail."""
        return json.dumps(self.detail())

    @classmethod
    def decode(cls, detail: str | dict[str, Any]) -> StatusChange:
        """From the Detail string, or the `detail` object of the event a rule delivers."""
        value = json.loads(detail) if isinstance(detail, str) else detail
        return cls(
            str(value["userID"]),
            StatusType(value["statusType"]),
            str(value["customStatus"]),
            int(value["lastActiveTime"]),
            int(value["version"]),
            StatusType(value["previousStatusType"]),
            str(value["reason"]),
            str(value["platform"]),
            int(value["time"]),
            bool(value.get("invisible", False)),
            int(value.get("customStatusExpiresAt", 0)),
        )
