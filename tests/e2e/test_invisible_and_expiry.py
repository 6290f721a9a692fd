"""Invisible mode and expiring custom statuses through the local runtime (API.md sections 3 and
4): real sockets, the real stream fan-out and the real timers queue. A watcher never learns
anything about an invisible user beyond "logged out at T"; an expiring status clears on time
and is pushed once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import ONLINE, UNLOGINED, Http, Sockets

Uid = Callable[[str], str]


def set_status(http: Http, user: str, **body: Any) -> dict[str, Any]:
    return http.call("/v1/setSelfStatus", body, user=user).ok()


def test_a_watcher_learns_nothing_of_an_invisible_user_but_logged_out_at_t(
    sockets: Sockets, http: Http, uid: Uid
) -> None:
    alice, bob = uid("alice"), uid("bob")
    watcher = sockets.open(bob)
    http.subscribe(bob, [alice]).ok()
    phone = sockets.open(alice, "ios")
    watcher.wait_status(alice, ONLINE)
    set_status(http, alice, customStatus="in a call")
    watcher.wait_status(alice, ONLINE, "in a call")
    assert "invisible" not in phone.wait_status(alice, ONLINE, "in a call")

    before = int(time.time() * 1000)
    hid = set_status(http, alice, invisible=True)
    after = int(time.time() * 1000)
    assert (hid["statusType"], hid["customStatus"], hid["invisible"]) == (ONLINE, "in a call", True)
    told = watcher.wait_status(alice, UNLOGINED)
    assert before <= told["lastActiveTime"] <= after
    assert told == {
        "userID": alice,
        "statusType": UNLOGINED,
        "customStatus": "",
        "lastActiveTime": told["lastActiveTime"],
        "version": hid["version"],
        "customStatusExpiresAt": 0,
    }
    assert phone.wait_status(alice, ONLINE, "in a call")["invisible"] is True

    set_status(http, alice, customStatus="secret", customStatusExpiresIn=600)
    assert phone.wait_status(alice, ONLINE, "secret")["invisible"] is True
    laptop = sockets.open(alice, "mac")  # another login, still invisible
    laptop.close()
    assert watcher.pushes_about(alice, during=2.5) == []
    (seen,) = http.get_user_status(bob, [alice]).data["successUserList"]
    assert seen == told
    (own,) = http.get_user_status(alice, [alice]).data["successUserList"]
    assert (own["customStatus"], own["invisible"]) == ("secret", True)

    shown = set_status(http, alice, invisible=False)
    assert "invisible" not in shown
    back = watcher.wait_status(alice, ONLINE, "secret")
    assert back["version"] > told["version"]


def test_an_expiring_status_clears_within_two_seconds_and_is_pushed_once(
    sockets: Sockets, http: Http, uid: Uid
) -> None:
    alice, bob = uid("alice"), uid("bob")
    watcher = sockets.open(bob)
    http.subscribe(bob, [alice]).ok()
    sockets.open(alice)
    watcher.wait_status(alice, ONLINE)
    mine = set_status(http, alice, customStatus="brb", customStatusExpiresIn=2)
    expires_at = mine["customStatusExpiresAt"]
    assert watcher.wait_status(alice, ONLINE, "brb")["customStatusExpiresAt"] == expires_at
    cleared = watcher.wait_status(alice, ONLINE, "", timeout=10)
    arrived = int(time.time() * 1000)
    assert cleared["customStatusExpiresAt"] == 0
    assert expires_at <= arrived <= expires_at + 2_500, arrived - expires_at
    assert watcher.pushes_about(alice, during=2) == []  # once
