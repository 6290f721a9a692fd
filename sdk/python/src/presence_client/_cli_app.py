"""`presence`: the client from a shell (typer + rich)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .aio import DEFAULT_HTTP_URL, DEFAULT_WS_URL, PLATFORMS, AsyncPresenceClient
from .errors import ErrorCode, PresenceError
from .models import (
    KICKED_OUT,
    NET_STATE_CHANGE,
    FailedUser,
    KickedOut,
    NetState,
    NetStateChange,
    StatusType,
    UserStatus,
)
from .sync import PresenceClient
from .usersig import gen_user_sig

DEFAULT_SDKAPPID = 1400000000
USERSIG_EXPIRE_SECONDS = 7 * 86400  # `presence usersig` default
MINTED_EXPIRE_SECONDS = 86400  # a UserSig the command mints for itself from the secret key

app = typer.Typer(
    name="presence",
    help="Command line client of the presence (user status) service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

_STYLE = {
    StatusType.ONLINE: "bold green",
    StatusType.OFFLINE: "yellow",
    StatusType.UNLOGINED: "dim",
    StatusType.UNKNOWN: "magenta",
}


@dataclass
class Config:
    url: str
    ws_url: str
    sdkappid: int
    secret_key: str | None
    usersig: str | None
    user: str | None
    json: bool

    def user_sig(self) -> str:
        """The caller's UserSig: PRESENCE_USERSIG, or one minted for PRESENCE_USER."""
        if self.usersig:
            return self.usersig
        if self.user and self.secret_key:
            return gen_user_sig(self.sdkappid, self.secret_key, self.user, MINTED_EXPIRE_SECONDS)
        raise typer.BadParameter(
            "who are you? give --usersig (PRESENCE_USERSIG), or --user (PRESENCE_USER) with"
            " --secret-key (PRESENCE_SECRET_KEY)",
            param_hint="--usersig / --user",
        )

    def client(self) -> PresenceClient:
        return PresenceClient(self.user_sig(), http_url=self.url, ws_url=self.ws_url)


def _config(ctx: typer.Context) -> Config:
    config = ctx.find_object(Config)
    assert config is not None
    return config


@app.callback()
def configure(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option("--url", envvar="PRESENCE_URL", help="The HTTP API.")
    ] = DEFAULT_HTTP_URL,
    ws_url: Annotated[
        str, typer.Option("--ws-url", envvar="PRESENCE_WS_URL", help="The WebSocket API.")
    ] = DEFAULT_WS_URL,
    sdkappid: Annotated[
        int,
        typer.Option("--sdkappid", envvar="PRESENCE_SDKAPPID", help="SDKAppID to sign for."),
    ] = DEFAULT_SDKAPPID,
    secret_key: Annotated[
        str | None,
        typer.Option(
            "--secret-key",
            envvar="PRESENCE_SECRET_KEY",
            help="Secret key: mint UserSigs (usersig, or for --user).",
            show_default=False,
        ),
    ] = None,
    usersig: Annotated[
        str | None,
        typer.Option(
            "--usersig", envvar="PRESENCE_USERSIG", help="Your UserSig.", show_default=False
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            "-u",
            envvar="PRESENCE_USER",
            help="Your userID (signed with --secret-key when no --usersig).",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON (wire format) instead of tables.")
    ] = False,
) -> None:
    """Config from flags or PRESENCE_* environment variables. Identity: --usersig, or --user
    with --secret-key."""
    ctx.obj = Config(url, ws_url, sdkappid, secret_key, usersig, user, json_output)


# --- output ------------------------------------------------------------------------------------


def _status_text(status_type: StatusType) -> Text:
    return Text(status_type.label, style=_STYLE[status_type])


def last_seen(status: UserStatus, now: float | None = None) -> str:
    """'last seen 5 min ago' from lastActiveTime; "" while ONLINE or when it is not known."""
    if status.online or not status.last_active_time:
        return ""
    ago = max(0, int((time.time() if now is None else now) - status.last_active_time / 1000))
    for unit, seconds in (("day", 86400), ("h", 3600), ("min", 60)):
        if ago >= seconds:
            count = ago // seconds
            plural = "s" if unit == "day" and count > 1 else ""
            return f"last seen {count} {unit}{plural} ago"
    return "last seen just now"


def _status_table(statuses: Sequence[UserStatus], *, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    table.add_column("user", style="bold")
    table.add_column("status")
    table.add_column("custom status")
    table.add_column("last seen", style="dim")
    for status in statuses:
        custom = status.custom_status
        if custom and status.custom_status_expires_at:
            until = time.strftime("%H:%M", time.localtime(status.custom_status_expires_at / 1000))
            custom += f" (until {until})"
        state = _status_text(status.status_type)
        if status.invisible:
            state += " (invisible to others)"
        table.add_row(status.user_id, state, custom, last_seen(status).removeprefix("last seen "))
    return table


def _print_failures(failures: Sequence[FailedUser]) -> None:
    for failure in failures:
        err.print(f"[red]failed[/] {failure.user_id}: [{failure.code}] {failure.message}")


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False))


@contextlib.contextmanager
def _errors_exit() -> Iterator[None]:
    """A PresenceError becomes one line on stderr and exit code 1."""
    try:
        yield
    except PresenceError as exc:
        err.print(f"[red]error[/] [{exc.code}] {exc.message}", soft_wrap=True)
        raise typer.Exit(1) from None


# --- commands ----------------------------------------------------------------------------------


@app.command()
def usersig(
    ctx: typer.Context,
    user_id: Annotated[
        str | None,
        typer.Argument(help="The userID to sign for (default: --user).", show_default=False),
    ] = None,
    expire: Annotated[
        int, typer.Option("--expire", help="Validity in seconds.", min=1)
    ] = USERSIG_EXPIRE_SECONDS,
    secret_key: Annotated[
        str | None,
        typer.Option(
            "--secret-key", help="The secret key (default: the global one).", show_default=False
        ),
    ] = None,
    sdkappid: Annotated[
        int | None,
        typer.Option(
            "--sdkappid", help="The SDKAppID (default: the global one).", show_default=False
        ),
    ] = None,
) -> None:
    """Print a UserSig (TLSSigAPIv2) signed with the secret key, for server-side use."""
    config = _config(ctx)
    who = user_id or config.user
    if not who:
        raise typer.BadParameter("give a USER_ID (or --user / PRESENCE_USER)")
    key = secret_key or config.secret_key
    app_id = config.sdkappid if sdkappid is None else sdkappid
    if not key:
        raise typer.BadParameter(
            "needs the secret key: --secret-key or PRESENCE_SECRET_KEY", param_hint="--secret-key"
        )
    token = gen_user_sig(app_id, key, who, expire)
    if config.json:
        _print_json({"userID": who, "sdkappid": app_id, "expire": expire, "userSig": token})
    else:
        print(token)


_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> int:
    """'90', '90s', '15m', '1h', '7d' -> seconds."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a duration like 90s, 15m, 1h or 7d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@app.command("set")
def set_status(
    ctx: typer.Context,
    custom_status: Annotated[str, typer.Argument(help='Your custom status; "" clears it.')],
    for_: Annotated[
        str | None,
        typer.Option(
            "--for",
            help="Clear it by itself after this long: 90s, 15m, 1h, 7d (at most 7 days).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Set your custom status (for a while with --for)."""
    config = _config(ctx)
    expires_in = None if for_ is None else _duration(for_)
    with _errors_exit(), config.client() as client:
        status = client.set_self_status(custom_status, expires_in=expires_in)
    if config.json:
        _print_json(status.to_wire())
    else:
        out.print(_status_table([status]))


@app.command()
def invisible(
    ctx: typer.Context,
    state: Annotated[
        str, typer.Argument(help="on: appear offline to everyone else; off: visible again.")
    ],
) -> None:
    """Appear offline to everyone else (on), or be seen again (off)."""
    if state not in ("on", "off"):
        raise typer.BadParameter(f"{state!r}: say on or off")
    config = _config(ctx)
    with _errors_exit(), config.client() as client:
        status = client.set_self_status(invisible=state == "on")
    if config.json:
        _print_json(status.to_wire())
    else:
        out.print(_status_table([status]))


@app.command()
def get(
    ctx: typer.Context,
    users: Annotated[
        list[str] | None,
        typer.Argument(help="userIDs (default: yourself).", show_default=False),
    ] = None,
) -> None:
    """Show users' statuses."""
    config = _config(ctx)
    with _errors_exit(), config.client() as client:
        result = client.get_user_status(users or [client.user_id])
    if config.json:
        _print_json(
            {
                "successUserList": [s.to_wire() for s in result.success_user_list],
                "failureUserList": [f.to_wire() for f in result.failure_user_list],
            }
        )
    else:
        if result.success_user_list:
            out.print(_status_table(result.success_user_list))
        _print_failures(result.failure_user_list)
    if result.failure_user_list:
        raise typer.Exit(1)


SUBSCRIBE_CHUNK = 100


@app.command()
def subscribe(
    ctx: typer.Context,
    users: Annotated[list[str], typer.Argument(help="userIDs to subscribe to.")],
) -> None:
    """Subscribe to users' status changes."""
    config = _config(ctx)
    failures = []
    with _errors_exit(), config.client() as client:
        # the service takes up to 100 userIDs a call (maxSubscribeUserIDs): longer lists in turn
        for start in range(0, len(users), SUBSCRIBE_CHUNK):
            failures += client.subscribe_user_status(users[start : start + SUBSCRIBE_CHUNK])
    _report_failures(config, users, failures, "subscribed to")


@app.command()
def unsubscribe(
    ctx: typer.Context,
    users: Annotated[
        list[str] | None, typer.Argument(help="userIDs to unsubscribe from.", show_default=False)
    ] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Unsubscribe from everyone.")] = False,
) -> None:
    """Unsubscribe from users (or --all)."""
    config = _config(ctx)
    if not users and not all_users:
        raise typer.BadParameter("give userIDs, or --all to unsubscribe from everyone")
    if users and all_users:
        raise typer.BadParameter("give userIDs or --all, not both")
    with _errors_exit(), config.client() as client:
        failures = client.unsubscribe_user_status(users or None)
    _report_failures(config, users or ["everyone"], failures, "unsubscribed from")


def _report_failures(
    config: Config, users: Sequence[str], failures: Sequence[FailedUser], verb: str
) -> None:
    if config.json:
        _print_json({"failureUserList": [f.to_wire() for f in failures]})
    else:
        failed = {f.user_id for f in failures}
        done = [u for u in users if u not in failed]
        if done:
            out.print(f"{verb} {', '.join(done)}")
        _print_failures(failures)
    if failures:
        raise typer.Exit(1)


@app.command()
def subscriptions(ctx: typer.Context) -> None:
    """List your subscriptions, oldest first."""
    config = _config(ctx)
    with _errors_exit(), config.client() as client:
        user_ids = client.get_subscriptions()
    if config.json:
        _print_json({"userIDList": user_ids})
    elif user_ids:
        for user_id in user_ids:
            print(user_id)
    else:
        err.print("no subscriptions")


# --- watch -------------------------------------------------------------------------------------


@dataclass
class _Row:
    status: UserStatus | None = None
    changed_at: float | None = None


@dataclass
class _Board:
    """What `watch` shows: a row per watched user and the connection's state."""

    users: list[str]
    rows: dict[str, _Row] = field(default_factory=dict)
    state: str = "connecting"

    def __post_init__(self) -> None:
        self.rows = {user: _Row() for user in self.users}

    def update(self, status: UserStatus) -> bool:
        row = self.rows.get(status.user_id)
        if row is None:
            return False
        row.status, row.changed_at = status, time.time()
        return True

    def render(self) -> Group:
        table = Table(box=None, pad_edge=False)
        table.add_column("user", style="bold")
        table.add_column("status")
        table.add_column("custom status")
        table.add_column("changed", style="dim")
        for user, row in self.rows.items():
            if row.status is None:
                table.add_row(user, Text("…", style="dim"), "", "")
                continue
            changed = time.strftime("%H:%M:%S", time.localtime(row.changed_at or 0))
            table.add_row(
                user, _status_text(row.status.status_type), row.status.custom_status, changed
            )
        return Group(table, Text(self.state, style="dim italic"))


def _describe(change: NetStateChange) -> str:
    if change.state == NetState.CONNECTED:
        return "connected"
    if change.state == NetState.DISCONNECTED:
        return "disconnected"
    text = f"reconnecting (attempt {change.attempt}"
    if change.retry_in:
        text += f", in {change.retry_in:.1f} s"
    text += ")"
    if change.error is not None:
        text += f": {change.error.message}"
    return text


async def _start(
    client: AsyncPresenceClient, users: list[str], note: Callable[[str], None]
) -> list[UserStatus]:
    """Subscribe, log in and read the first statuses; retry while the service is unreachable."""
    attempt = 0
    while True:
        try:
            others = [u for u in users if u != client.user_id]
            if others:
                _print_failures(await client.subscribe_user_status(others))
            await client.login()
            return (await client.get_user_status(users)).success_user_list
        except PresenceError as exc:
            if exc.code not in (ErrorCode.NETWORK_ERROR, ErrorCode.SERVER_FAULT) and (
                exc.http_status is None or exc.http_status < 500
            ):
                raise
            attempt += 1
            delay = min(30.0, 2.0 ** min(attempt - 1, 5))
            note(f"cannot reach the service ({exc.message}); retrying in {delay:.0f} s")
            await asyncio.sleep(delay)


async def _watch(config: Config, users: list[str], platform: str, heartbeat: float) -> int:
    client = AsyncPresenceClient(
        config.user_sig(),
        http_url=config.url,
        ws_url=config.ws_url,
        platform=platform,
        heartbeat_interval=heartbeat,
        keep_subscriptions=True,
    )
    live_view = sys.stdout.isatty() and not config.json
    board = _Board(users or [])
    kicked: list[KickedOut] = []

    def note(text: str) -> None:
        board.state = text
        if not live_view:
            err.print(f"[dim]{time.strftime('%H:%M:%S')} {text}[/]", soft_wrap=True)

    def emit(status: UserStatus) -> None:
        if config.json:
            print(json.dumps(status.to_wire(), ensure_ascii=False), flush=True)
        elif not live_view:
            custom = f" {status.custom_status!r}" if status.custom_status else ""
            label = _status_text(status.status_type).plain
            seen = f" ({last_seen(status)})" if last_seen(status) else ""
            print(f"{time.strftime('%H:%M:%S')} {status.user_id} {label}{custom}{seen}", flush=True)

    client.on(NET_STATE_CHANGE, lambda change: note(_describe(change)))
    client.on(KICKED_OUT, kicked.append)
    stream = client.updates()
    try:
        if not users:
            users = await client.get_subscriptions()
            if not users:
                err.print("nothing to watch: give userIDs (or subscribe to someone first)")
                return 2
            board = _Board(users)
        for first in await _start(client, users, note):
            if board.update(first):
                emit(first)
        with (
            Live(board.render(), console=out, auto_refresh=False, transient=False)
            if live_view
            else contextlib.nullcontext() as live
        ):
            while True:
                status = await stream.next(timeout=1.0)
                if status is not None and board.update(status):
                    emit(status)
                if live is not None:
                    live.update(board.render(), refresh=True)
                if status is None and not client.logged_in:
                    break
        if kicked:
            reason = kicked[0]
            detail = f": {reason.error.message}" if reason.error else ""
            err.print(f"[red]session ended[/] ({reason.reason.value}{detail})")
            return 1
        return 0
    finally:
        with contextlib.suppress(PresenceError, asyncio.CancelledError):
            await client.logout(timeout=3)
        await client.close()


@app.command()
def watch(
    ctx: typer.Context,
    users: Annotated[
        list[str] | None,
        typer.Argument(help="userIDs to watch (default: your subscriptions).", show_default=False),
    ] = None,
    platform: Annotated[
        str, typer.Option("--platform", help=f"Device kind: {', '.join(PLATFORMS)}.")
    ] = "web",
    heartbeat: Annotated[
        float,
        typer.Option(
            "--heartbeat",
            help="Seconds between heartbeats until the server announces its interval.",
            min=1,
            max=540,
        ),
    ] = 30.0,
) -> None:
    """Live table of users' statuses, updated as pushes arrive; reconnects (with backoff) when
    the connection or the server goes away. Ctrl-C logs out and stops."""
    config = _config(ctx)
    if platform not in PLATFORMS:
        raise typer.BadParameter(f"one of {', '.join(PLATFORMS)}", param_hint="--platform")

    async def main() -> int:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if task is not None:
            for signum in (signal.SIGINT, signal.SIGTERM):
                # no add_signal_handler on Windows event loops, nor off the main thread
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(signum, task.cancel)
        return await _watch(config, list(users or []), platform, heartbeat)

    with _errors_exit():
        try:
            code = asyncio.run(main())
        except (KeyboardInterrupt, asyncio.CancelledError):
            code = 0
    raise typer.Exit(code)
