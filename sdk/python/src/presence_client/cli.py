"""The `presence` command (needs the `cli` extra: `pip install 'presence-client[cli]'`)."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from ._cli_app import app
    except ImportError as exc:  # typer or rich missing
        print(
            f"the presence command needs the cli extra ({exc.name} is missing):\n"
            "  pip install 'presence-client[cli]'",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    app()


if __name__ == "__main__":
    main()
