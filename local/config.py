"""The local runtime's settings, from the environment (API.md section 7).

Shared by the runtime and `python -m local.usersig`, so both sign with the same key and SDKAppID.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_HTTP_PORT = 3000
DEFAULT_WS_PORT = 3001
DEFAULT_DEMO_PORT = 3002  # the web demo and the Web SDK (local/demo.py)
DEFAULT_SDKAPPID = 1400000000
DEFAULT_LIVENESS_TIMEOUT_SECONDS = 90  # template.yaml's LivenessTimeoutSeconds default
# Printed at start with a warning: anyone who reads this file can mint UserSigs with it.
DEV_SECRET_KEY = "presence-local-development-key-do-not-use-in-production"


@dataclass(frozen=True)
class LocalConfig:
    host: str
    http_port: int
    ws_port: int
    sdkappid: int
    secret_key: str
    secret_key_is_default: bool
    log_level: str | None  # None: the template's LogLevel default
    demo_port: int = DEFAULT_DEMO_PORT
    liveness_timeout_seconds: int = DEFAULT_LIVENESS_TIMEOUT_SECONDS  # 0: off
    # Tencent's State.StateChange callback (API.md section 10): "" for none / unsigned
    callback_url: str = ""
    callback_token: str = ""


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, not {raw!r}") from None


def load() -> LocalConfig:
    secret_key = os.environ.get("PRESENCE_SECRET_KEY", "")
    return LocalConfig(
        host="127.0.0.1",
        http_port=_int("PRESENCE_HTTP_PORT", DEFAULT_HTTP_PORT),
        ws_port=_int("PRESENCE_WS_PORT", DEFAULT_WS_PORT),
        sdkappid=_int("PRESENCE_SDKAPPID", DEFAULT_SDKAPPID),
        secret_key=secret_key or DEV_SECRET_KEY,
        secret_key_is_default=not secret_key,
        log_level=os.environ.get("PRESENCE_LOG_LEVEL") or None,
        demo_port=_int("PRESENCE_DEMO_PORT", DEFAULT_DEMO_PORT),
        liveness_timeout_seconds=max(
            0, _int("PRESENCE_LIVENESS_TIMEOUT_SECONDS", DEFAULT_LIVENESS_TIMEOUT_SECONDS)
        ),
        callback_url=_callback_url(),
        callback_token=os.environ.get("PRESENCE_CALLBACK_TOKEN", ""),
    )


def _callback_url() -> str:
    url = os.environ.get("PRESENCE_CALLBACK_URL", "").strip()
    if url and not url.startswith(("http://", "https://")):
        raise SystemExit(f"PRESENCE_CALLBACK_URL must be an http:// or https:// URL, not {url!r}")
    return url
