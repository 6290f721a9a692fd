"""POST /v1/admin/importFriends: make pairs of users friends, both ways (admin only)."""

from typing import Any

from presence import admin
from presence.bodies import FriendPairsBody
from presence.http import Caller, http_endpoint


@http_endpoint(FriendPairsBody, admin=True)
def lambda_handler(caller: Caller, body: FriendPairsBody) -> dict[str, Any]:
    return admin.import_friends(body.pairs)
