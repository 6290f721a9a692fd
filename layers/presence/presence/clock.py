"""The service's clock: the one place that reads time (DESIGN.md principle 11).

Everything else takes `now` from here, so tests move time by patching this module and no
test depends on the date it runs. `make lint` bans reading wall time anywhere else in the
service (ruff's banned-api: `time.time`, `time.time_ns`, `datetime.now`...).

- `now_ms()`: wall time in epoch milliseconds (stored times, TTLs, UserSig expiry);
- `now_s()`: the same in epoch seconds, as a float;
- `monotonic()`: seconds on a clock that never goes back, for durations and cache ages only
  (never stored, never compared with wall time).
"""

from __future__ import annotations

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def now_s() -> float:
    return now_ms() / 1000


def monotonic() -> float:
    return time.monotonic()
