"""POST /v4/openim/query_online_status: Tencent's REST query of users' login status (admin)."""

from typing import Any

from presence import tencent
from presence.bodies import TencentQueryOnlineStatusBody


@tencent.rest_endpoint(TencentQueryOnlineStatusBody)
def lambda_handler(body: TencentQueryOnlineStatusBody) -> dict[str, Any]:
    return tencent.query_online_status(body)
