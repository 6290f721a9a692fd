"""The demo page in two browser windows: each sees the other's changes live."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
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
    """Two demo windows side by side (alice's and bob's), in one picture. Saved to
    $PRESENCE_DEMO_SCREENSHOT when set (`PRESENCE_DEMO_SCREENSHOT=docs/demo.png` refreshes the
    README's picture), else to a temporary file."""
    a, b = new_page(880, 620), new_page(880, 620)
    sign_in(a, demo, "alice")
    sign_in(b, demo, "bob")
    for page, other in ((a, "bob"), (b, "alice")):
        contact(page, other).locator(".follow").click()
        expect(contact(page, other)).to_have_attribute("data-following", "yes")
    contact(a, "carol").locator(".follow").click()
    expect(contact(a, "carol")).to_have_attribute("data-following", "yes")
    demo.call("carol", "setSelfStatus", {"customStatus": "On vacation"})
    a.fill("#status-input", "In a meeting")
    a.click("#status-form button[type=submit]")
    b.click(".chip >> text=Listening to music")
    expect(contact(a, "bob").locator(".contact-custom")).to_have_text("Listening to music")
    expect(contact(b, "alice").locator(".contact-custom")).to_have_text("In a meeting")
    expect(contact(a, "carol").locator(".contact-custom")).to_have_text("On vacation")
    a.wait_for_timeout(800)  # let the highlight fade

    shots = [page.screenshot() for page in (a, b)]
    frame = new_page(1820, 660)
    urls = [f"data:image/png;base64,{base64.b64encode(s).decode()}" for s in shots]
    frame.set_content(
        "<body style='margin:0;padding:20px;background:#dfe3ec;display:flex;gap:20px'>"
        + "".join(
            f"<div style='border-radius:10px;overflow:hidden;box-shadow:0 6px 24px #0003'>"
            f"<div style='height:28px;background:#f6f7fa;border-bottom:1px solid #e3e6ee;"
            f"font:12px system-ui;color:#778;display:flex;align-items:center;padding:0 12px'>"
            f"<span style='color:#e66'>●</span>&nbsp;<span style='color:#eb5'>●</span>&nbsp;"
            f"<span style='color:#5b6'>●</span>&nbsp;&nbsp;{who} — 127.0.0.1:3002</div>"
            f"<img src='{url}' width=880 height=620 style='display:block'></div>"
            for who, url in zip(("alice", "bob"), urls, strict=True)
        )
        + "</body>"
    )
    target = os.environ.get(SCREENSHOT_ENV)
    path = ROOT / target if target else tmp_path / "demo.png"
    frame.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 20_000


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
