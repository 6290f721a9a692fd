"""The service's one retry policy: full-jitter exponential backoff within a time budget.

Every retry the service makes itself goes through `until_done`: an optimistic write that lost
a race (a condition on the item's version failed because another invocation wrote first), the
keys or writes a batch call left unprocessed, a post to a connection that failed. Retrying at
once makes every loser collide again; sleeping a random time up to a doubling cap ("full
jitter") spreads them out, so n concurrent writers finish in about n round trips. The budget
stays well inside the shortest function timeout (10 s); a caller may also bound the number of
tries. Running out is the only way contention reaches a client (as 7012, which the client may
retry).

Below this, each AWS request has botocore's own retries (standard mode, 4 attempts, for
throttling and 5xx answers; presence.store configures them): a retry here is about what a
request answered, never about a request that failed on the way.
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


def pause(tries: int) -> float:
    """How long to sleep after the `tries`-th failed try (full jitter)."""
    return random.uniform(0, min(CAP_SECONDS, BASE_SECONDS * 2**tries))


def until_done[T](
    attempt: Callable[[], T | None],
    *,
    what: str,
    tries: int | None = None,
    gave_up: str | None = None,
) -> T:
    """Call `attempt` until it returns something other than None (None: not done yet, try
    again), within BUDGET_SECONDS and at most `tries` calls; then raise 7012 with `gave_up`
    (default: "<what> is changing too fast; try again")."""
    deadline = clock.monotonic() + BUDGET_SECONDS
    failed = 0
    while True:
        result = attempt()
        if result is not None:
            return result
        failed += 1
        wait = pause(failed)
        if (tries is not None and failed >= tries) or clock.monotonic() + wait > deadline:
            raise PresenceError(
                Code.SERVER_FAULT, gave_up or f"{what} is changing too fast; try again"
            )
        time.sleep(wait)
