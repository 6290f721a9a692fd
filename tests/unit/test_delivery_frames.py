"""What a connection is sent (presence.delivery): statuses packed into as few frames of at most
32 KiB as fit, in order; who receives a change; post jobs by partition and chunk. Pure
functions; the settings they read are the defaults. No AWS."""

from __future__ import annotations

import itertools
import json

import pytest

from presence import delivery, messages, settings
from presence.lifecycle import Connection, PresenceState
from presence.messages import PostJob, Recipient, StatusUpdate
from presence.models import StatusType, UserStatus

ONLINE, OFFLINE = StatusType.ONLINE, StatusType.OFFLINE


def encoded(user_id: str, custom_status: str = "") -> tuple[str, bytes]:
    return user_id, messages.encode_status(UserStatus(user_id, ONLINE, custom_status, 0, 1))


def users_in(frame: delivery.Frame) -> list[str]:
    decoded = messages.decode_frame(frame.data)
    assert isinstance(decoded, StatusUpdate)
    return [status.user_id for status in decoded.statuses]


def test_nothing_to_send_is_no_frame() -> None:
    assert delivery.pack([]) == []


def test_small_statuses_share_one_frame_in_their_order() -> None:
    statuses = [encoded(f"u{i}") for i in range(20)]
    (frame,) = delivery.pack(statuses)
    assert users_in(frame) == [f"u{i}" for i in range(20)] == list(frame.user_ids)


def test_frames_never_exceed_32_kib_and_lose_nothing() -> None:
    statuses = [encoded(f"u{i:03d}", "x" * (300 + 7 * i)) for i in range(200)]  # ~190 KB
    parts = dict(statuses)
    frames = delivery.pack(statuses)
    assert len(frames) > 1
    assert all(len(f.data) <= delivery.MAX_FRAME_BYTES for f in frames)
    assert [u for f in frames for u in users_in(f)] == [u for u, _ in statuses]
    # as few as fit: each frame ends only where the next status would not have fitted
    for frame, after in itertools.pairwise(frames):
        assert len(frame.data) + 1 + len(parts[after.user_ids[0]]) > delivery.MAX_FRAME_BYTES


@pytest.mark.parametrize(("extra", "frames"), [(0, 1), (1, 2)])
def test_a_frame_filled_to_the_byte_is_one_frame(extra: int, frames: int) -> None:
    overhead = len(messages.status_frame([]))
    first = encoded("a")
    room = delivery.MAX_FRAME_BYTES - overhead - len(first[1]) - 1  # the second, after a comma
    second = encoded("b", "y" * (room - len(encoded("b")[1]) + extra))
    packed = delivery.pack([first, second])
    assert len(packed) == frames
    assert max(len(f.data) for f in packed) == (
        delivery.MAX_FRAME_BYTES if frames == 1 else overhead + len(second[1])
    )


def test_the_recipients_are_each_live_connection_once() -> None:
    states = {
        "alice": PresenceState(
            "alice",
            ONLINE,
            connections={
                "a1": Connection("web", 1),
                "a2": Connection("ios", 2, dropped_at=3),  # dropped: cannot be reached
            },
        ),
        "bob": PresenceState("bob", ONLINE, connections={"b1": Connection("web", 4)}),
        "carol": PresenceState("carol", OFFLINE),
    }
    assert delivery.recipients(["alice", "bob", "carol", "alice"], states) == [
        Recipient("a1", "alice", 1),
        Recipient("b1", "bob", 4),
    ]


@pytest.fixture
def defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "current", settings.Settings)


@pytest.mark.usefixtures("defaults")
def test_post_jobs_go_by_partition_in_chunks_with_stable_ids() -> None:
    state = PresenceState("alice", ONLINE, "busy", version=42)
    to = [Recipient(f"c{i:04d}", "bob" if i else "alice", i) for i in range(1_200)]
    jobs = delivery.post_jobs(state, to)
    decoded = [messages.decode_job(job.body) for job in jobs]
    assert all(isinstance(job, PostJob) for job in decoded)
    sent = [r for job in decoded for r in job.to]  # type: ignore[union-attr]
    assert sorted(sent) == sorted(to)  # everyone once
    for job, body in zip(jobs, decoded, strict=True):
        assert isinstance(body, PostJob)
        assert len(body.to) <= delivery.JOB_MAX_CONNECTIONS
        assert {f"p{delivery.partition_of(r.connection_id)}" for r in body.to} == {job.group}
        assert (body.user_id, body.version) == ("alice", 42)
        assert json.loads(body.own_frame)["data"][0]["customStatus"] == "busy"
    assert [j.dedup for j in delivery.post_jobs(state, to)] == [j.dedup for j in jobs]
    assert len({j.dedup for j in jobs}) == len(jobs)


def test_a_page_job_names_its_user_source_cursor_and_page() -> None:
    cursor = {"targetID": {"S": "alice"}, "subscriberID": {"S": "w5000"}}
    job = delivery.page_job("alice", 42, "subscribers", cursor, 2)
    assert messages.decode_job(job.body) == messages.PageJob("alice", 42, "subscribers", cursor, 2)
    assert job.group == delivery.page_job("alice", 43, "friends", None, 1).group  # one user
    assert job.dedup != delivery.page_job("alice", 42, "subscribers", cursor, 3).dedup
