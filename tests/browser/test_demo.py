"""The demo page in two browser windows: each sees the other's changes live."""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import OFFLINE, ONLINE, UNLOGINED, DemoRuntime, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

expect = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed").expect

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_ENV = "PRESENCE_DEMO_SCREENSHOT"  # e.g. docs/demo.png: where the screenshot goes
HHMMSS = r"\d\d:\d\d:\d\d"  # the demo's clock times
INVISIBLE_MARKER = "Invisible — others see you as logged out"
# What a page's SDK is told about `who`: every frame's status of that user as it arrives off the
# socket (before the SDK orders or de-duplicates anything), with the page's clock.
RECORD_FRAMES = """(who) => {
    window.frames_about = [];
    window.presenceDemo.tim._session.ws.addEventListener('message', (event) => {
        const frame = JSON.parse(event.data);
        if (frame.event !== 'onUserStatusUpdated') return;
        for (const s of frame.data) {
            if (s.userID === who) window.frames_about.push({ ...s, receivedAt: Date.now() });
        }
    });
}"""
# A read through the page's SDK (getUserStatus), as the app in that window would make it.
READ_STATUS = """async (who) => {
    const { data } = await window.presenceDemo.tim.getUserStatus({ userIDList: [who] });
    return data.successUserList[0];
}"""


def sign_in(page: Page, demo: DemoRuntime, user_id: str) -> None:
    page.goto(f"{demo.demo_url}/")
    page.fill("#login-user", user_id)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("#net")).to_have_attribute("data-state", "connected")
    expect(page.locator("#me-status")).to_have_attribute("data-status-type", str(ONLINE))


def contact(page: Page, user_id: str) -> Locator:
    return page.locator(f'#contact-list [data-user="{user_id}"]')


def test_sdk_module_and_usersig_route(demo: DemoRuntime, new_page: Callable[..., Page]) -> None:
    page = new_page()
    page.goto(f"{demo.demo_url}/")
    values = page.evaluate(
        """async () => {
            const { default: TIM } = await import('/sdk/index.js');
            const sig = await (await fetch('/usersig?userID=probe')).json();
            const bad = await fetch('/usersig?userID=');
            return { event: TIM.EVENT, types: TIM.TYPES, sig: typeof sig.userSig,
                     bad: bad.status, config: await (await fetch('/config.json')).json() };
        }"""
    )
    assert values["event"]["USER_STATUS_UPDATED"] == "onUserStatusUpdated"
    assert values["types"]["USER_STATUS_UNLOGINED"] == UNLOGINED
    assert values["sig"] == "string"
    assert values["bad"] == 400
    assert values["config"] == {
        "SDKAppID": 1400000000,
        "httpUrl": demo.http_url,
        "wsUrl": demo.ws_url,
    }


def test_two_windows_see_each_others_changes(
    demo: DemoRuntime, new_page: Callable[..., Page], uid: Callable[[str], str]
) -> None:
    alice, bob = uid("alice"), uid("bob")
    a, b = new_page(), new_page()
    sign_in(a, demo, alice)
    sign_in(b, demo, bob)

    # alice adds bob as a contact, which subscribes to him; he is online
    a.fill("#add-input", bob)
    a.click("#add-form button[type=submit]")
    expect(contact(a, bob)).to_have_attribute("data-following", "yes")
    expect(contact(a, bob)).to_have_attribute("data-status-type", str(ONLINE))

    # bob sets a custom status: alice's window shows it without reloading
    b.fill("#status-input", "In a call")
    b.click("#status-form button[type=submit]")
    expect(b.locator("#me-status")).to_contain_text("In a call")
    expect(contact(a, bob).locator(".contact-custom")).to_have_text("In a call")

    # bob signs out: alice sees him logged out (UNLOGINED) at once, no grace for a logout
    b.click("#logout")
    expect(b.locator("#login-view")).to_be_visible()
    expect(contact(a, bob)).to_have_attribute("data-status-type", str(UNLOGINED))
    expect(contact(a, bob).locator(".contact-seen")).to_contain_text("Logged out")

    # unfollowed, bob's next change does not reach alice's window
    contact(a, bob).locator(".follow").click()
    expect(contact(a, bob)).to_have_attribute("data-following", "no")
    demo.call(bob, "setSelfStatus", {"customStatus": "back later"})
    a.wait_for_timeout(1500)
    expect(contact(a, bob).locator(".contact-custom")).not_to_have_text("back later")
    assert a.errors == [] and b.errors == []  # type: ignore[attr-defined]


def test_a_contact_not_followed_shows_a_snapshot_with_its_time(
    demo: DemoRuntime, new_page: Callable[..., Page], uid: Callable[[str], str]
) -> None:
    """A contact one does not follow gets no pushes: the page marks its status as a snapshot
    ("as of HH:MM:SS", a Snapshot badge) and ↻ reads it again; following makes it live."""
    me, other = uid("viewer"), uid("quiet")
    demo.call(other, "setSelfStatus", {"customStatus": "first"})
    page = new_page()
    sign_in(page, demo, me)
    expect(page.locator("#contacts-hint")).to_contain_text("as of the time given")
    page.fill("#add-input", other)
    page.click("#add-form button[type=submit]")
    row = contact(page, other)
    expect(row).to_have_attribute("data-following", "yes")
    expect(row.locator(".contact-custom")).to_have_text("first")
    expect(row.locator(".badge")).to_have_text("Live")
    expect(row.locator(".as-of")).to_have_count(0)  # live: no time to give
    expect(row.locator(".refresh")).to_have_count(0)

    row.locator(".follow").click()
    expect(row).to_have_attribute("data-following", "no")
    expect(row.locator(".badge")).to_have_text("Snapshot")
    expect(row.locator(".contact-seen")).to_have_text(re.compile(rf"^Logged out · as of {HHMMSS}$"))
    as_of = row.locator(".as-of").text_content()

    # a change of the contact's does not arrive; the snapshot says when it was taken
    demo.call(other, "setSelfStatus", {"customStatus": "second"})
    page.wait_for_timeout(1500)
    expect(row.locator(".contact-custom")).to_have_text("first")
    expect(row.locator(".as-of")).to_have_text(as_of or "")

    # ↻ reads it again: the new status, and the time of this read
    row.locator(".refresh").click()
    expect(row.locator(".contact-custom")).to_have_text("second")
    expect(row.locator(".as-of")).not_to_have_text(as_of or "")
    expect(row.locator(".as-of")).to_have_text(re.compile(rf"as of {HHMMSS}"))

    # a contact of the demo's list, never followed, is a snapshot from the sign-in on
    expect(contact(page, "erin")).to_have_attribute("data-following", "no")
    expect(contact(page, "erin").locator(".as-of")).to_have_count(1)

    # following again: live, without the time or ↻
    row.locator(".follow").click()
    expect(row.locator(".badge")).to_have_text("Live")
    expect(row.locator(".as-of")).to_have_count(0)
    expect(row.locator(".refresh")).to_have_count(0)
    demo.call(other, "setSelfStatus", {"customStatus": "third"})
    expect(row.locator(".contact-custom")).to_have_text("third")
    assert page.errors == []  # type: ignore[attr-defined]


def test_screenshot_of_two_windows(
    demo: DemoRuntime, new_page: Callable[..., Page], tmp_path: Path
) -> None:
    """Two demo windows side by side (alice's and bob's), in one picture: alice's status clears
    itself in an hour, bob appears offline (his window shows the switch on, alice's shows him
    logged out). Saved to $PRESENCE_DEMO_SCREENSHOT when set
    (`PRESENCE_DEMO_SCREENSHOT=docs/demo.png` refreshes the README's picture), else to a
    temporary file."""
    a, b = new_page(880, 700), new_page(880, 700)
    sign_in(a, demo, "alice")
    sign_in(b, demo, "bob")
    for page, other in ((a, "bob"), (b, "alice")):
        contact(page, other).locator(".follow").click()
        expect(contact(page, other)).to_have_attribute("data-following", "yes")
    contact(a, "carol").locator(".follow").click()
    expect(contact(a, "carol")).to_have_attribute("data-following", "yes")
    demo.call("carol", "setSelfStatus", {"customStatus": "On vacation"})
    set_status(a, "In a meeting", clear_after="1 hour")
    b.click(".chip >> text=Listening to music")
    expect(contact(a, "bob").locator(".contact-custom")).to_have_text("Listening to music")
    b.get_by_text("Appear offline", exact=True).click()
    expect(b.locator("#me-invisible")).to_be_visible()
    expect(contact(a, "bob")).to_have_attribute("data-status-type", str(UNLOGINED))
    expect(contact(a, "bob").locator(".contact-custom")).to_have_text("")
    expect(contact(b, "alice").locator(".contact-custom")).to_have_text("In a meeting")
    expect(contact(b, "alice").locator(".clears")).to_contain_text("clears at")
    expect(contact(a, "carol").locator(".contact-custom")).to_have_text("On vacation")
    a.wait_for_timeout(800)  # let the highlight fade

    shots = [page.screenshot() for page in (a, b)]
    frame = new_page(1820, 740)
    urls = [f"data:image/png;base64,{base64.b64encode(s).decode()}" for s in shots]
    frame.set_content(
        "<body style='margin:0;padding:20px;background:#dfe3ec;display:flex;gap:20px'>"
        + "".join(
            f"<div style='border-radius:10px;overflow:hidden;box-shadow:0 6px 24px #0003'>"
            f"<div style='height:28px;background:#f6f7fa;border-bottom:1px solid #e3e6ee;"
            f"font:12px system-ui;color:#778;display:flex;align-items:center;padding:0 12px'>"
            f"<span style='color:#e66'>●</span>&nbsp;<span style='color:#eb5'>●</span>&nbsp;"
            f"<span style='color:#5b6'>●</span>&nbsp;&nbsp;{who} — 127.0.0.1:3002</div>"
            f"<img src='{url}' width=880 height=700 style='display:block'></div>"
            for who, url in zip(("alice", "bob"), urls, strict=True)
        )
        + "</body>"
    )
    target = os.environ.get(SCREENSHOT_ENV)
    path = ROOT / target if target else tmp_path / "demo.png"
    frame.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 20_000


def follow(page: Page, user_id: str) -> Locator:
    """Add `user_id` as a contact (which follows it) and wait for its live status."""
    page.fill("#add-input", user_id)
    page.click("#add-form button[type=submit]")
    row = contact(page, user_id)
    expect(row).to_have_attribute("data-following", "yes")
    expect(row).to_have_attribute("data-status-type", str(ONLINE))
    return row


def set_status(page: Page, text: str, clear_after: str | None = None) -> None:
    """Type a custom status, pick a "Clear after" choice (its label) and press Set."""
    page.fill("#status-input", text)
    if clear_after is not None:
        page.select_option("#status-clear-after", label=clear_after)
    page.click("#status-form button[type=submit]")
    expect(page.locator("#me-status")).to_contain_text(text)


def hh_mm(epoch_ms: int) -> str:
    """A customStatusExpiresAt as the demo shows it ("clears at 14:30"); the browser and this
    process share the machine's time zone."""
    return datetime.fromtimestamp(epoch_ms / 1000).strftime("%H:%M")


def test_appear_offline_shows_watchers_a_logged_out_user(
    demo: DemoRuntime, new_page: Callable[..., Page], uid: Callable[[str], str]
) -> None:
    """alice turns on "Appear offline": bob, who follows her, sees her logged out at that
    moment with no custom status, and nothing alice does while invisible reaches him (a new
    custom status, signing out and in again); her own window shows the truth and the marker.
    Turning it off shows bob her real status again."""
    alice, bob = uid("alice"), uid("bob")
    a, b = new_page(), new_page()
    sign_in(a, demo, alice)
    sign_in(b, demo, bob)
    row = follow(b, alice)
    set_status(a, "Focusing")
    expect(row.locator(".contact-custom")).to_have_text("Focusing")
    switch = a.get_by_role("switch", name="Appear offline")
    expect(switch).not_to_be_checked()
    expect(a.locator("#me-invisible")).to_be_hidden()
    b.evaluate(RECORD_FRAMES, alice)

    before = a.evaluate("Date.now()")
    a.get_by_text("Appear offline", exact=True).click()  # the switch's label, as a user would
    expect(switch).to_be_checked()
    after = a.evaluate("Date.now()")

    # alice's window: the truth (online, her status) and the marker
    expect(a.locator("#me-invisible")).to_be_visible()
    expect(a.locator("#me-invisible")).to_have_text(INVISIBLE_MARKER)
    expect(a.locator("#me-status")).to_have_attribute("data-status-type", str(ONLINE))
    expect(a.locator("#me-status")).to_have_text("Online · “Focusing”")
    expect(a.locator("#activity")).to_contain_text("You appear offline")

    # bob's window: logged out just now, no custom status
    expect(row).to_have_attribute("data-status-type", str(UNLOGINED))
    expect(row.locator(".contact-seen")).to_have_text("Logged out · last seen just now")
    expect(row.locator(".contact-custom")).to_have_text("")
    expect(row.locator(".contact-status")).to_be_hidden()
    expect(b.locator("#activity")).to_contain_text(f"{alice} is logged out")
    expect(b.locator("#activity")).not_to_contain_text("cleared their status")
    # ... and all his page was told: one change, "logged out at T", T the moment she hid
    frames = wait_until(lambda: b.evaluate("window.frames_about"), 10, "bob's push")
    assert len(frames) == 1, frames
    masked = b.evaluate(READ_STATUS, alice)
    for told in (frames[0], masked):
        assert told["statusType"] == UNLOGINED, told
        assert told["customStatus"] == "" and told["customStatusExpiresAt"] == 0, told
        assert "invisible" not in told, told
        assert before - 1000 <= told["lastActiveTime"] <= after + 1000, (told, before, after)
    assert frames[0]["version"] == masked["version"]

    # while invisible alice sets a status that clears itself: her window shows it, bob's nothing
    set_status(a, "Secret plan", clear_after="1 hour")
    expect(a.locator("#me-clears")).to_contain_text("clears")
    b.wait_for_timeout(2000)
    expect(row.locator(".contact-custom")).to_have_text("")
    expect(row).to_have_attribute("data-status-type", str(UNLOGINED))
    assert len(b.evaluate("window.frames_about")) == 1
    assert b.evaluate(READ_STATUS, alice) == masked  # the version of that moment, too

    # invisibility outlasts signing out and in: her switch is still on, bob learns nothing
    a.click("#logout")
    expect(a.locator("#login-view")).to_be_visible()
    sign_in(a, demo, alice)
    expect(switch).to_be_checked()
    expect(a.locator("#me-invisible")).to_be_visible()
    expect(a.locator("#me-status")).to_contain_text("Secret plan")
    b.wait_for_timeout(1500)
    assert len(b.evaluate("window.frames_about")) == 1
    assert b.evaluate(READ_STATUS, alice) == masked

    # visible again: bob sees her real status, with its expiry
    a.get_by_text("Appear offline", exact=True).click()
    expect(switch).not_to_be_checked()
    expect(a.locator("#me-invisible")).to_be_hidden()
    expect(row).to_have_attribute("data-status-type", str(ONLINE))
    expect(row.locator(".contact-seen")).to_have_text("Online")
    expect(row.locator(".contact-custom")).to_have_text("Secret plan")
    expect(row.locator(".clears")).to_contain_text("clears")
    visible = b.evaluate(READ_STATUS, alice)
    assert visible["customStatus"] == "Secret plan" and "invisible" not in visible, visible
    assert visible["version"] > masked["version"], (visible, masked)
    assert a.errors == [] and b.errors == []  # type: ignore[attr-defined]


def test_a_custom_status_that_clears_itself(
    demo: DemoRuntime, new_page: Callable[..., Page], uid: Callable[[str], str]
) -> None:
    """ "Clear after" sends customStatusExpiresIn: both windows show when the status clears;
    "Don't clear" replaces the expiry; a status set to clear after a few seconds (the SDK called
    in alice's page: the menu starts at a minute) leaves bob's window on time, pushed once."""
    alice, bob = uid("alice"), uid("bob")
    a, b = new_page(), new_page()
    sign_in(a, demo, alice)
    sign_in(b, demo, bob)
    row = follow(b, alice)

    set_at = time.time()
    set_status(a, "Lunch", clear_after="1 hour")
    expect(a.locator("#status-clear-after")).to_have_value("")  # the choice is for one status
    expect(row.locator(".contact-custom")).to_have_text("Lunch")
    expires_at = b.evaluate(READ_STATUS, alice)["customStatusExpiresAt"]
    assert abs(expires_at / 1000 - (set_at + 3600)) < 10, (expires_at, set_at)
    expect(row.locator(".clears")).to_contain_text(f"clears at {hh_mm(expires_at)}")
    expect(a.locator("#me-clears")).to_contain_text(f"clears at {hh_mm(expires_at)}")
    expect(a.locator("#activity")).to_contain_text(f"“Lunch” (clears at {hh_mm(expires_at)})")

    set_status(a, "Working", clear_after="Today")  # until the end of the day, local time
    expect(row.locator(".contact-custom")).to_have_text("Working")
    midnight = datetime.combine(datetime.now().date() + timedelta(days=1), dt_time()).timestamp()
    expires_at = b.evaluate(READ_STATUS, alice)["customStatusExpiresAt"]
    assert abs(expires_at / 1000 - midnight) < 3, (expires_at, midnight)
    expect(row.locator(".clears")).to_have_text(re.compile(r"^clears \w{3}, \w{3} \d{1,2} 00:00$"))

    set_status(a, "Back at my desk")  # "Don't clear": no expiry any more
    expect(row.locator(".contact-custom")).to_have_text("Back at my desk")
    expect(row.locator(".clears")).to_have_count(0)
    expect(a.locator("#me-clears")).to_be_hidden()
    assert b.evaluate(READ_STATUS, alice)["customStatusExpiresAt"] == 0

    b.evaluate(RECORD_FRAMES, alice)
    sent = a.evaluate("Date.now()")
    mine = a.evaluate(
        """async () => (await window.presenceDemo.tim.setSelfStatus(
            { customStatus: 'Quick break', customStatusExpiresIn: 4 })).data"""
    )
    expires_at = mine["customStatusExpiresAt"]
    assert sent + 4000 - 1000 <= expires_at <= sent + 4000 + 2000, (mine, sent)
    expect(row.locator(".contact-custom")).to_have_text("Quick break")
    expect(row.locator(".clears")).to_contain_text(f"clears at {hh_mm(expires_at)}")
    expect(a.locator("#me-status")).to_contain_text("Quick break")
    expect(a.locator("#me-clears")).to_contain_text(f"clears at {hh_mm(expires_at)}")

    # it clears itself: gone from both windows, within 2 s of the expiry (3 s on this machine)
    expect(row.locator(".contact-custom")).to_have_text("", timeout=12_000)
    expect(row.locator(".clears")).to_have_count(0)
    expect(row).to_have_attribute("data-status-type", str(ONLINE))
    expect(a.locator("#me-status")).to_have_text("Online")
    expect(a.locator("#me-clears")).to_be_hidden()
    cleared_itself = f"{alice}\N{RIGHT SINGLE QUOTATION MARK}s status “Quick break” cleared itself"
    expect(b.locator("#activity")).to_contain_text(cleared_itself)
    expect(a.locator("#activity")).to_contain_text("Your status “Quick break” cleared itself")
    b.wait_for_timeout(2500)  # a second push of the clear would be here by now
    frames = b.evaluate("window.frames_about")
    assert [f["customStatus"] for f in frames] == ["Quick break", ""], frames
    cleared = frames[1]
    assert cleared["customStatusExpiresAt"] == 0 and cleared["statusType"] == ONLINE, cleared
    late = cleared["receivedAt"] - expires_at
    assert -250 <= late <= 3000, f"cleared {late} ms after customStatusExpiresAt"
    assert a.errors == [] and b.errors == []  # type: ignore[attr-defined]


def test_last_seen_and_versions_as_the_contract_defines_them(
    demo: DemoRuntime, new_page: Callable[..., Page], uid: Callable[[str], str]
) -> None:
    """lastActiveTime (epoch ms, 0 = unknown/online) shows as "last seen"; a status with an
    older version never replaces a newer one. The pushes are fed to the page's SDK directly
    (as the server's frames), since the runtime may not send these fields yet."""
    me, other = uid("viewer"), uid("friend")
    page = new_page()
    sign_in(page, demo, me)
    page.fill("#add-input", other)
    page.click("#add-form button[type=submit]")
    expect(contact(page, other)).to_have_attribute("data-following", "yes")
    feed = """([frame]) => {
        const tim = window.presenceDemo.tim;
        tim._onMessage(tim._session, tim._session.ws, { data: JSON.stringify(frame) });
    }"""

    def push(status: dict[str, object]) -> None:
        page.evaluate(feed, [{"event": "onUserStatusUpdated", "data": [status]}])

    five_minutes_ago = page.evaluate("Date.now() - 5 * 60 * 1000 - 5000")
    base = {"userID": other, "customStatus": ""}
    push({**base, "statusType": OFFLINE, "lastActiveTime": five_minutes_ago, "version": 900})
    seen = contact(page, other).locator(".contact-seen")
    expect(seen).to_have_text("Offline · last seen 5 min ago")
    push({**base, "statusType": ONLINE, "lastActiveTime": 0, "version": 899})  # older: ignored
    page.wait_for_timeout(200)
    expect(seen).to_have_text("Offline · last seen 5 min ago")
    push({**base, "statusType": UNLOGINED, "lastActiveTime": 0, "version": 901})
    expect(seen).to_have_text("Logged out")  # 0: unknown, no "last seen"
    push({**base, "statusType": ONLINE, "lastActiveTime": 0, "version": 902})
    expect(seen).to_have_text("Online")
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_kicked_user_is_signed_out(
    demo: DemoRuntime, new_page: Callable[..., Page], uid: Callable[[str], str]
) -> None:
    user = uid("kicked")
    page = new_page()
    sign_in(page, demo, user)
    demo.call("administrator", "admin/kickUser", {"userID": user})
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#toast")).to_contain_text("an administrator signed you out")
    expect(page.locator("#net")).to_have_attribute("data-state", "disconnected")


def test_a_dropped_socket_comes_back_inside_the_grace(
    demo: DemoRuntime, new_page: Callable[..., Page], uid: Callable[[str], str]
) -> None:
    """The server closes the page's socket without a logout (as API Gateway does after 2 hours):
    the SDK reconnects at once, inside reconnectGraceSeconds, so its user never looks logged
    out to the people watching."""
    from tests.e2e.test_client import Drops  # @connections DELETE on a user's live sockets

    watcher, dropped = uid("watcher"), uid("dropped")
    a, b = new_page(), new_page()
    sign_in(a, demo, watcher)
    sign_in(b, demo, dropped)
    a.fill("#add-input", dropped)
    a.click("#add-form button[type=submit]")
    expect(contact(a, dropped)).to_have_attribute("data-status-type", str(ONLINE))
    record = """() => {
        window.seen = { states: [], statuses: [] };
        const tim = window.presenceDemo.tim, TIM = window.presenceDemo.TIM;
        tim.on(TIM.EVENT.NET_STATE_CHANGE, (e) => window.seen.states.push(e.data.state));
        tim.on(TIM.EVENT.USER_STATUS_UPDATED, (e) => window.seen.statuses.push(...e.data));
    }"""
    a.evaluate(record)
    b.evaluate(record)

    assert Drops(demo.runtime).drop(dropped) == 1
    wait_until(
        lambda: b.evaluate("window.seen.states") == ["connecting", "connected"],
        10,
        "the dropped page to reconnect",
    )
    expect(b.locator("#net")).to_have_attribute("data-state", "connected")
    a.wait_for_timeout(6500)  # past the default 5 s grace: a late UNLOGINED would be here
    about = [s for s in a.evaluate("window.seen.statuses") if s["userID"] == dropped]
    assert all(s["statusType"] == ONLINE for s in about), about
    expect(contact(a, dropped)).to_have_attribute("data-status-type", str(ONLINE))

    # and the socket it came back on carries pushes
    demo.call(dropped, "setSelfStatus", {"customStatus": "still here"})
    expect(b.locator("#me-status")).to_contain_text("still here")
    expect(contact(a, dropped).locator(".contact-custom")).to_have_text("still here")
