"""The Python SDK's status model: version ordering and "last seen" (no server needed)."""

from __future__ import annotations

import pytest
from presence_client._cli_app import last_seen
from presence_client.models import StatusType, UserStatus

NOW = 1_800_000_000.0


def status(
    version: int, custom: str = "", last_active_ms: int = 0, online: bool = False
) -> UserStatus:
    kind = StatusType.ONLINE if online else StatusType.UNLOGINED
    return UserStatus("alice", kind, custom, last_active_ms, version)


def test_a_higher_version_supersedes_and_an_older_or_equal_one_does_not() -> None:
    held = status(10, "new")
    assert status(11, "newer").supersedes(held)
    assert not status(9, "old").supersedes(held)  # older news, by push or by read
    assert not status(10, "new").supersedes(held)  # the same value again
    assert status(1).supersedes(None)


def test_without_versions_any_different_status_is_news() -> None:
    assert status(0, "b").supersedes(status(0, "a"))
    assert not status(0, "a").supersedes(status(0, "a"))


def test_wire_round_trip_keeps_version_and_last_active_time() -> None:
    wire = {
        "userID": "alice",
        "statusType": 3,
        "customStatus": "x",
        "lastActiveTime": 5,
        "version": 7,
        "customStatusExpiresAt": 0,  # API.md v1.2 section 3: 0 when there is no expiry
    }
    assert UserStatus.from_wire(wire).to_wire() == wire
    assert UserStatus.from_wire({"userID": "alice", "statusType": 1}).version == 0  # older server


def test_last_seen_reads_like_a_person_would_say_it() -> None:
    ago = lambda seconds: status(1, last_active_ms=int((NOW - seconds) * 1000))  # noqa: E731
    assert last_seen(ago(20), NOW) == "last seen just now"
    assert last_seen(ago(5 * 60), NOW) == "last seen 5 min ago"
    assert last_seen(ago(2 * 3600 + 5), NOW) == "last seen 2 h ago"
    assert last_seen(ago(3 * 86400), NOW) == "last seen 3 days ago"
    assert last_seen(status(1, online=True), NOW) == ""  # ONLINE now
    assert last_seen(status(1), NOW) == ""  # never seen, or hidden by the deployment


def test_the_client_reads_the_same_environment_as_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    from presence_client import AsyncPresenceClient

    monkeypatch.setenv("PRESENCE_URL", "https://api.example.com/")
    monkeypatch.setenv("PRESENCE_WS_URL", "wss://ws.example.com/prod")
    client = AsyncPresenceClient("token")
    assert client._http_url == "https://api.example.com"
    explicit = AsyncPresenceClient("token", http_url="http://127.0.0.1:3000")
    assert explicit._http_url == "http://127.0.0.1:3000"  # an argument wins
    monkeypatch.delenv("PRESENCE_URL")
    assert AsyncPresenceClient("token")._http_url == "http://127.0.0.1:3000"  # the local runtime


def test_wire_round_trip_keeps_the_expiry_and_invisibility() -> None:
    wire = {
        "userID": "alice",
        "statusType": 1,
        "customStatus": "in a meeting",
        "lastActiveTime": 0,
        "version": 7,
        "customStatusExpiresAt": 1_800_000_000_000,
        "invisible": True,
    }
    status = UserStatus.from_wire(wire)
    assert (status.custom_status_expires_at, status.invisible) == (1_800_000_000_000, True)
    assert status.to_wire() == wire
    visible = UserStatus.from_wire({"userID": "bob", "statusType": 3})
    assert (visible.custom_status_expires_at, visible.invisible) == (0, False)
    assert "invisible" not in visible.to_wire()


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("1h", 3600), ("7d", 604800)]
)
def test_the_cli_reads_durations_like_a_person_writes_them(text: str, seconds: int) -> None:
    from presence_client._cli_app import _duration

    assert _duration(text) == seconds


def test_the_cli_refuses_a_duration_it_cannot_read() -> None:
    import typer
    from presence_client._cli_app import _duration

    with pytest.raises(typer.BadParameter, match="duration"):
        _duration("an hour")
