"""The JavaScript examples of the reference guide run unchanged in a page against the Web SDK.

The examples are in assets/seed_examples.js, copied verbatim from the guide (checked below when
the team's shared/ folder is beside the repository). They assume `tim`, `TIM` and `myUserID` in
scope and report only through console.log / console.warn, so the page records those, and a
recording stand-in for `tim` (a Proxy that forwards every call) lets the test wait for the
promises the examples start.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import ONLINE, DemoRuntime, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

ASSET = Path(__file__).parent / "assets" / "seed_examples.js"
GUIDE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "000_94c73de9f99d46cd.txt"

SETUP = """async ({ myUserID, userSig }) => {
  const { default: TIM } = await import('/sdk/index.js');
  const config = await (await fetch('/config.json')).json();
  const record = { logs: [], warns: [], calls: [] };
  for (const level of ['log', 'warn']) {
    const original = console[level].bind(console);
    console[level] = (...args) => {
      record[level + 's'].push(JSON.parse(JSON.stringify(args, (k, v) =>
        v instanceof Error ? { code: v.code, message: v.message } : v)));
      original(...args);
    };
  }
  const real = TIM.create({ SDKAppID: config.SDKAppID, httpUrl: config.httpUrl,
                            wsUrl: config.wsUrl, platform: 'web' });
  await real.login({ userID: myUserID, userSig });
  const tim = new Proxy(real, { get(target, key) {
    const value = target[key];
    if (typeof value !== 'function') return value;
    return (...args) => {
      const result = value.apply(target, args);
      if (result && typeof result.then === 'function') {
        record.calls.push(result.then(() => 'ok', (e) => ({ code: e.code, message: e.message })));
      }
      return result;
    };
  } });
  Object.assign(window, { seedRecord: record, seedTim: tim, seedTIM: TIM, seedUser: myUserID });
}"""

RUN = """async (name) => {
  const record = window.seedRecord;
  const before = record.calls.length;
  window.seedExamples[name](window.seedTim, window.seedTIM, window.seedUser);
  const outcomes = await Promise.all(record.calls.slice(before));
  await new Promise((resolve) => setTimeout(resolve, 0)); // the examples' own .then callbacks
  return outcomes;
}"""


def guide_examples() -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    blocks = re.findall(r":::  js\n\n(.*?)\n:::", text, re.S)
    return [b for b in blocks if "promise" in b or "tim.on(" in b]


def asset_examples() -> dict[str, str]:
    text = ASSET.read_text(encoding="utf-8")
    return dict(re.findall(r"// BEGIN (\w+)\n(.*?)\n// END \1\n", text, re.S))


def test_the_asset_holds_the_guide_examples_verbatim() -> None:
    if not GUIDE.exists():
        pytest.skip(f"the reference guide is not at {GUIDE}")
    examples = asset_examples()
    guide = guide_examples()
    ours = [
        examples["setSelfStatus"],
        examples["getMyselfStatus"],
        examples["getOthersStatus"],
        examples["subscribeUserStatus"],
        examples["unsubscribeSome"] + "\n\n" + examples["unsubscribeAll"],
        examples["onUserStatusUpdated"],
    ]
    assert ours == guide


def test_seed_examples_run_unchanged(demo: DemoRuntime, new_page: Callable[..., Page]) -> None:
    page = new_page()
    page.goto(f"{demo.demo_url}/")
    page.add_script_tag(path=str(ASSET))
    me = "seed-me"
    page.evaluate(SETUP, {"myUserID": me, "userSig": demo.user_sig(me)})

    def run(name: str) -> list[Any]:
        return list(page.evaluate(RUN, name))

    def record() -> dict[str, list[Any]]:
        return dict(page.evaluate("window.seedRecord"))

    # the listener first, so it sees what follows
    assert run("onUserStatusUpdated") == []
    assert run("setSelfStatus") == ["ok"]
    logged = record()["logs"]
    # console.log(imResponse.data): own status after the change
    assert any(
        isinstance(args[0], dict)
        and args[0].get("userID") == me
        and args[0].get("customStatus") == "xxx"
        and args[0].get("statusType") == ONLINE
        for args in logged
    ), logged
    assert run("getMyselfStatus") == ["ok"]
    assert run("getOthersStatus") == ["ok"]
    assert run("subscribeUserStatus") == ["ok"]

    # user1 changes: the guide's USER_STATUS_UPDATED listener logs event.data
    demo.call("user1", "setSelfStatus", {"customStatus": "listening to music"})

    def pushed() -> bool:
        return any(
            isinstance(args[0], list)
            and any(
                s.get("userID") == "user1" and s.get("customStatus") == "listening to music"
                for s in args[0]
            )
            for args in record()["logs"]
        )

    wait_until(pushed, 10, "the listener's console.log(event.data) with user1's change")
    # its own change reached the listener too (the same account's devices are told)
    assert any(
        isinstance(args[0], list) and any(s.get("userID") == me for s in args[0])
        for args in record()["logs"]
    )

    assert run("unsubscribeSome") == ["ok"]
    assert run("unsubscribeAll") == ["ok"]
    assert demo.call(me, "getSubscriptions", {}) == {"userIDList": []}
    assert record()["warns"] == []  # no example reached its .catch
    assert page.errors == []  # type: ignore[attr-defined]
