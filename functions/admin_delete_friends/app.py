"""POST /v1/admin/deleteFriends: end friendships, both ways (admin only)."""

from typing import Any

from presence import admin
from presence.bodies import FriendPairsBody
from presence.http import Caller, http_endpoint


@http_endpoint(FriendPairsBody, admin=True)
def lambda_handler(caller: Caller, body: FriendPairsBody) -> dict[str, Any]:
    return admin.delete_friends(body.pairs)
