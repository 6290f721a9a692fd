"""Retrying a write that lost a race: full-jitter exponential backoff within a time budget.

Optimistic writes (a condition on the item's version) fail when another invocation wrote first.
Retrying at once makes every loser collide again; sleeping a random time up to a doubling cap
("full jitter") spreads them out, so n concurrent writers finish in about n round trips. The
budget stays well inside the shortest function timeout (10 s), and running out of it is the only
way contention reaches a client (as 7012, which the client may retry).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from presence import clock
from presence.errors import Code, PresenceError

BUDGET_SECONDS = 6.0
BASE_SECONDS = 0.01
CAP_SECONDS = 0.4


def until_done[T](attempt: Callable[[], T | None], *, what: str) -> T:
    """Call `attempt` until it returns something other than None (None: lost a race)."""
    deadline = clock.monotonic() + BUDGET_SECONDS
    tries = 0
    while True:
        result = attempt()
        if result is not None:
            return result
        tries += 1
        pause = random.uniform(0, min(CAP_SECONDS, BASE_SECONDS * 2**tries))
        if clock.monotonic() + pause > deadline:
            raise PresenceError(Code.SERVER_FAULT, f"{what} is changing too fast; try again")
        time.sleep(pause)
