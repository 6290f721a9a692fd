"""POST /v4/im_open_login_svc/kick: Tencent's REST kick, what /v1/admin/kickUser does (admin)."""

from typing import Any

from presence import tencent
from presence.bodies import TencentKickBody


@tencent.rest_endpoint(TencentKickBody)
def lambda_handler(body: TencentKickBody) -> dict[str, Any]:
    return tencent.kick(body)
