"""Print a UserSig for the local runtime: `python -m local.usersig alice [--expire SECONDS]`.

Signs with the same key and SDKAppID as `python -m local.runtime` (PRESENCE_SECRET_KEY and
PRESENCE_SDKAPPID, or the printed development defaults).
"""

from __future__ import annotations

import argparse
import sys

from local import config
from local import template as cfn

DEFAULT_EXPIRE_SECONDS = 7 * 24 * 3600


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.usersig",
        description="Print a UserSig (TLSSigAPIv2) accepted by the local runtime.",
    )
    parser.add_argument("user_id", metavar="USERID", help="the userID to sign for, e.g. alice")
    parser.add_argument(
        "--expire",
        type=int,
        default=DEFAULT_EXPIRE_SECONDS,
        metavar="SECONDS",
        help=f"validity in seconds (default {DEFAULT_EXPIRE_SECONDS}, 7 days)",
    )
    args = parser.parse_args(argv)

    layer = str(cfn.ROOT / "layers" / "presence")
    if layer not in sys.path:
        sys.path.insert(0, layer)  # the shared package, as the runtime loads it
    from presence import auth

    settings = config.load()
    if not auth.is_valid_user_id(args.user_id):
        print(
            f"warning: {args.user_id!r} is not a valid userID (1-32 printable ASCII bytes)",
            file=sys.stderr,
        )
    print(auth.gen_user_sig(settings.sdkappid, settings.secret_key, args.user_id, args.expire))
    return 0


if __name__ == "__main__":
    sys.exit(main())
