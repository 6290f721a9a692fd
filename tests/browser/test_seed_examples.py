"""The JavaScript examples of the reference guide run unchanged in a page against the Web SDK,
both as the guide writes them (tim-js-sdk 2.x: `tim`, `TIM`) and as Tencent's current guide
writes them (@tencentcloud/chat 3.x: `chat`, `TencentCloudChat`; API.md section 9).

The examples are in assets/seed_examples.js, copied verbatim from the guide (checked below when
the team's shared/ folder is beside the repository), and in assets/seed_examples_tencentcloudchat
.js, the same with `tim.` -> `chat.` and `TIM.` -> `TencentCloudChat.` (checked below). They
assume the SDK instance, its namespace and `myUserID` in scope and report only through
console.log / console.warn, so the page records those, and a recording stand-in for the instance
(a Proxy that forwards every call) lets the test wait for the promises the examples start.
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
CHAT_ASSET = Path(__file__).parent / "assets" / "seed_examples_tencentcloudchat.js"
GUIDE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "000_94c73de9f99d46cd.txt"

# `name`: the export the page's code uses ("default" for `import TIM from`, "TencentCloudChat"
# for `import { TencentCloudChat } from`); both must be the one object.
SETUP = """async ({ myUserID, userSig, name }) => {
  const sdk = await import('/sdk/index.js');
  if (sdk.default !== sdk.TIM || sdk.TencentCloudChat !== sdk.TIM) {
    throw new Error('TIM, TencentCloudChat and the default export are not one object');
  }
  const namespace = sdk[name]; // TIM, or TencentCloudChat
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
  const real = namespace.create({ SDKAppID: config.SDKAppID, httpUrl: config.httpUrl,
                                  wsUrl: config.wsUrl, platform: 'web' });
  await real.login({ userID: myUserID, userSig });
  const instance = new Proxy(real, { get(target, key) {
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
  Object.assign(window, {
    seedRecord: record, seedTim: instance, seedTIM: namespace, seedUser: myUserID,
  });
}"""

RUN = """async ([examples, name]) => {
  const record = window.seedRecord;
  const before = record.calls.length;
  window[examples][name](window.seedTim, window.seedTIM, window.seedUser);
  const outcomes = await Promise.all(record.calls.slice(before));
  await new Promise((resolve) => setTimeout(resolve, 0)); // the examples' own .then callbacks
  return outcomes;
}"""


def guide_examples() -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    blocks = re.findall(r":::  js\n\n(.*?)\n:::", text, re.S)
    return [b for b in blocks if "promise" in b or "tim.on(" in b]


def asset_examples(path: Path = ASSET) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    return dict(re.findall(r"// BEGIN (\w+)\n(.*?)\n// END \1\n", text, re.S))


def as_tencent_cloud_chat(example: str) -> str:
    """An example as Tencent's current guide writes it (@tencentcloud/chat 3.x)."""
    return re.sub(r"\bTIM\.", "TencentCloudChat.", re.sub(r"\btim\.", "chat.", example))


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


def test_the_tencent_cloud_chat_asset_is_the_seed_examples_rewritten() -> None:
    seed, chat = asset_examples(ASSET), asset_examples(CHAT_ASSET)
    assert chat == {name: as_tencent_cloud_chat(body) for name, body in seed.items()}
    for body in chat.values():
        assert not re.search(r"\b(tim|TIM)\.", body)
        assert "chat." in body or "TencentCloudChat." in body


def test_seed_examples_run_unchanged(demo: DemoRuntime, new_page: Callable[..., Page]) -> None:
    run_examples(demo, new_page, ASSET, "seedExamples", "default", "seed-me", "listening to music")


def test_seed_examples_run_as_tencents_current_docs_write_them(
    demo: DemoRuntime, new_page: Callable[..., Page]
) -> None:
    """`import { TencentCloudChat } from ...; const chat = TencentCloudChat.create(...)`, then
    the guide's examples with `chat.` and `TencentCloudChat.` (API.md section 9)."""
    run_examples(
        demo, new_page, CHAT_ASSET, "chatExamples", "TencentCloudChat", "chat-me", "in a call"
    )


def run_examples(
    demo: DemoRuntime,
    new_page: Callable[..., Page],
    asset: Path,
    examples: str,
    export: str,
    me: str,
    user1_status: str,
) -> None:
    page = new_page()
    page.goto(f"{demo.demo_url}/")
    page.add_script_tag(path=str(asset))
    page.evaluate(SETUP, {"myUserID": me, "userSig": demo.user_sig(me), "name": export})

    def run(name: str) -> list[Any]:
        return list(page.evaluate(RUN, [examples, name]))

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
    demo.call("user1", "setSelfStatus", {"customStatus": user1_status})

    def pushed() -> bool:
        return any(
            isinstance(args[0], list)
            and any(
                s.get("userID") == "user1" and s.get("customStatus") == user1_status
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
