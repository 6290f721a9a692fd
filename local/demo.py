"""The web demo and the Web SDK, served by `make run` on 127.0.0.1:${PRESENCE_DEMO_PORT:-3002}.

- `GET /` the demo page (local/demo/index.html, demo.js, demo.css);
- `GET /sdk/index.js` the Web SDK's ES module (sdk/js/index.js, default export `TIM`), and its
  type declarations at `/sdk/index.d.ts`;
- `GET /usersig?userID=<id>` -> `{"userSig": "..."}`, signed with the runtime's key and SDKAppID.
  Development only: this route exists in the local runtime alone, never in the deployed stack
  (a real app's backend mints UserSigs for its own signed-in users);
- `GET /config.json` -> `{"SDKAppID", "httpUrl", "wsUrl"}`: where the page finds the service.
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web

from local import config as local_config

ROOT = Path(__file__).resolve().parents[1]
PAGE_DIR = Path(__file__).resolve().parent / "demo"
SDK_DIR = ROOT / "sdk" / "js"
USERSIG_EXPIRE_SECONDS = 24 * 3600
_STATIC = {
    "/": (PAGE_DIR / "index.html", "text/html"),
    "/demo.js": (PAGE_DIR / "demo.js", "text/javascript"),
    "/demo.css": (PAGE_DIR / "demo.css", "text/css"),
    "/sdk/index.js": (SDK_DIR / "index.js", "text/javascript"),
    "/sdk/index.d.ts": (SDK_DIR / "index.d.ts", "text/plain"),
}
# Files are read on every request, so an edit shows on reload; never cached by the browser.
_NO_CACHE = {"Cache-Control": "no-store"}


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status, headers=_NO_CACHE)


def app(settings: local_config.LocalConfig | None = None) -> web.Application:
    """The demo server's aiohttp application (the runtime listens with it on `demo_port`)."""
    settings = settings or local_config.load()
    layer = str(ROOT / "layers" / "presence")
    if layer not in sys.path:
        sys.path.insert(0, layer)  # the shared package, as the runtime loads it
    from presence import auth

    page_config = {
        "SDKAppID": settings.sdkappid,
        "httpUrl": f"http://{settings.host}:{settings.http_port}",
        "wsUrl": f"ws://{settings.host}:{settings.ws_port}",
    }

    async def static(request: web.Request) -> web.StreamResponse:
        path, content_type = _STATIC[request.path]
        try:
            body = path.read_bytes()
        except OSError:
            return _error(404, 404, f"{request.path} is missing ({path.name} not found)")
        return web.Response(
            body=body, content_type=content_type, charset="utf-8", headers=_NO_CACHE
        )

    async def config_json(request: web.Request) -> web.Response:
        return web.json_response(page_config, headers=_NO_CACHE)

    async def usersig(request: web.Request) -> web.Response:
        user_id = request.query.get("userID", "")
        if not auth.is_valid_user_id(user_id):
            return _error(
                400, 7003, "userID must be 1-32 bytes of printable ASCII (e.g. ?userID=alice)"
            )
        sig = auth.gen_user_sig(
            settings.sdkappid, settings.secret_key, user_id, USERSIG_EXPIRE_SECONDS
        )
        return web.json_response({"userSig": sig}, headers=_NO_CACHE)

    application = web.Application()
    for route in _STATIC:
        application.router.add_get(route, static)
    application.router.add_get("/config.json", config_json)
    application.router.add_get("/usersig", usersig)
    return application
