"""orders, order, deploy, cancel, spot-price, ssh: renting, with money-safety first."""

from __future__ import annotations

import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from .. import hookimpl
from .._cache import complete_currency, completer, recall, remember
from .._errors import BadInput, ExitCode
from .._main import app_of, output_options
from .._params import (
    ENV_NAME,
    MAX_ID,
    MAX_SECONDS,
    MAX_USD_PER_DAY,
    ImageName,
    Number,
    Seconds,
    WholeNumber,
    check_ssh_key,
    parse_port,
    read_key_file,
    shown,
)
from .._rentable import coin_amount
from ..formats import (
    COIN_TICKERS,
    Column,
    Dataset,
    exact_amount,
    plain_number,
    sanitize,
    usd_amount,
    usd_per_hour,
)

ORDER_ID = WholeNumber(min=1, max=MAX_ID)
F = TypeVar("F", bound=Callable[..., Any])


def _stack(*options: Callable[[F], F]) -> Callable[[F], F]:
    """Apply click options as if written top to bottom above the function."""

    def apply(function: F) -> F:
        for option in reversed(options):
            function = option(function)
        return function

    return apply


# What deploy and rent both ask for: the image and the coin, the container's settings, and the
# consent/wait flags. One definition, so the two commands take and document them alike.
image_and_currency_options = _stack(
    click.option(
        "--image",
        required=True,
        type=ImageName(),
        help="Docker image, e.g. cloreai/ubuntu22.04-cuda12.",
        shell_complete=completer("images"),
    ),
    click.option(
        "--currency",
        required=True,
        help="bitcoin, CLORE-Blockchain, USD-Blockchain (or btc, clore, usd).",
        shell_complete=complete_currency,
    ),
)
container_setting_options = _stack(
    click.option(
        "--ssh-password",
        help="At most 32 characters; '-' reads it from stdin (or a hidden prompt).",
    ),
    click.option("--ssh-key", help="SSH public key (or @FILE to read it)."),
    click.option("--port", "ports", multiple=True, help="PORT:tcp or PORT:http; repeatable."),
    click.option("--env", "envs", multiple=True, help="KEY=VALUE; repeatable."),
    click.option(
        "--jupyter-token", help="Jupyter token (at most 32 characters); '-' reads it like --ssh-password."
    ),
    click.option("--command", "command_", help="Shell command run when the container starts."),
    click.option(
        "--autossh-entrypoint", is_flag=True, default=None, help="Let Clore's entrypoint set up SSH."
    ),
)
consent_and_wait_options = _stack(
    click.option(
        "-y", "--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal)."
    ),
    click.option(
        "--wait",
        is_flag=True,
        help="Print the order id, wait until the container runs, then print how to connect "
        "(a --timeout exits 8; the order keeps billing).",
    ),
    click.option(
        "--timeout", type=Seconds(min=1), default=600, show_default=True, help="Seconds --wait waits."
    ),
)

ORDER_COLUMNS = [
    Column("id", "ID", "right", no_wrap=True),
    Column("server_id", "Server", "right", no_wrap=True),
    Column("type", "Type", no_wrap=True),
    Column("status", "Status", no_wrap=True),
    Column("usd_per_hour", "$/hour", "right", usd_per_hour, no_wrap=True, derived=True),
    Column("uptime", "Uptime", "right", no_wrap=True),
    Column("spend", "Spent", "right", no_wrap=True, coin_key="currency"),
    Column("spend_usd", "Spent $", "right", usd_amount, in_table=False, derived=True),
    Column("uptime_seconds", "Uptime seconds", in_table=False),
    # CSV tells apart amounts in different coins (the table names the coin in each cell)
    Column("price_per_day", "Price per day", in_table=False),
    Column("currency", "Currency", in_table=False),
]

# One order, as "Key  value" lines (never cut at 80 columns).
ORDER_RECORD = [
    Column("id", "Order"),
    Column("server_id", "Server"),
    Column("type", "Type"),
    Column("status", "Status"),
    Column("image", "Image"),
    Column("price_per_day", "Price per day", coin_key="currency"),
    Column("currency", "Currency", in_table=False),  # the cells name the coin; CSV needs it said
    Column("usd_per_hour", "USD per hour", fmt=usd_per_hour, derived=True),
    Column("uptime", "Uptime"),
    Column("spend", "Spent so far", coin_key="currency"),
    Column("spend_usd", "Spent in USD", fmt=usd_amount, derived=True),
    Column("host", "Host"),
    Column("tcp_ports", "Ports"),
    Column("http_url", "HTTP"),
    Column("ssh", "SSH"),
    Column("created_at", "Created"),
]

USD_COIN = "USD-Blockchain"


def uptime(seconds: float | None) -> str | None:
    """``93784`` -> ``1d 2h 3m``."""
    if seconds is None or seconds < 0:
        return None
    minutes = int(seconds // 60)
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {mins}m" if hours else f"{mins}m"


def usd_rates_for(app: Any, orders: list[Any]) -> dict[str, float]:
    """USD per coin for these orders: the marketplace's implied rates, fetched (once) only when
    a btc/clore order is among them; an API failure leaves those orders without USD."""
    rates = {USD_COIN: 1.0}
    if app.quiet or all(o.currency == USD_COIN or o.price is None for o in orders):
        return rates
    from clore_ai import CloreAPIError

    from .._consent import implied_usd_rates

    try:
        return {**implied_usd_rates(app.client().marketplace(available_only=False)), **rates}
    except CloreAPIError as error:
        app.note(f"USD per hour of btc/clore orders unknown: {error}")
        return rates


def outbid_order_ids(app: Any, orders: list[Any]) -> set[int]:
    """The running spot orders whose bid is not the highest on their server's book now: not
    running and not billed (the book's ``active: false``). my_orders does not say, so this
    asks ``spot_marketplace`` once per server with such an order; an API failure leaves the
    orders as my_orders shows them."""
    servers = {o.server_id for o in orders if o.spot and not o.expired and o.server_id is not None}
    if app.quiet or not servers:
        return set()
    from clore_ai import CloreAPIError
    from clore_ai.spotbid import spot_position

    outbid: set[int] = set()
    try:
        for server_id in sorted(servers):
            market = app.client().spot_marketplace(server_id)
            for order in orders:
                if order.server_id == server_id and order.spot and not order.expired:
                    position = spot_position(market, server_id, order_id=order.id)
                    if position.bid is not None and not position.winning:
                        outbid.add(order.id)
    except CloreAPIError as error:
        app.note(f"whether spot orders are outbid is unknown: {error}")
    return outbid


def expect_create_order(client: Any) -> None:
    """Reset the "create_order was sent" mark before a command that may send one."""
    reset = getattr(client, "expect_create_order", None)
    if reset is not None:
        reset()


def quoted_rates(currency: str, native_day: float | None, usd_day: float | None) -> dict[str, float]:
    """USD per coin as the quote just shown priced it: a new order's record shows the same USD."""
    rates = {USD_COIN: 1.0}
    if native_day and usd_day:
        rates[currency] = usd_day / native_day
    return rates


def order_row(
    order: Any, rates: dict[str, float] | None = None, now: float | None = None, *, outbid: bool = False
) -> dict[str, Any]:
    """Exact values for JSON/CSV; tables format them (coins with their coin, USD with $).

    ``usd_per_hour`` and ``spend_usd`` convert a btc/clore amount with ``rates`` (USD per
    coin); None without a rate. ``now`` (default: the wall clock) is the API's time, for the
    uptime (``app.now()``). The numbers come from :func:`clore_ai.spending.order_spend`.
    ``outbid`` (see :func:`outbid_order_ids`): the status is ``outbid`` instead of what the
    container does. An order the API marks ``expired`` is ``ended``: the API says so of every
    order that stopped (cancelled by you, by ``clore run`` or the guard, run to its maximum
    length, ended by the host) and does not say which.
    """
    from clore_ai.spending import order_spend

    cost = order_spend(order, rates or {USD_COIN: 1.0}, now)
    ssh = f"ssh -p {order.ssh_port} root@{order.ssh_host}" if order.ssh_host and order.ssh_port else None
    return {
        "id": order.id,
        "server_id": order.server_id,
        "type": order.type,
        "status": "ended" if order.expired else "outbid" if outbid else order.status,
        "image": order.image,
        "price_per_day": order.price,
        "currency": order.currency,
        "usd_per_hour": cost.usd_per_hour,
        "spend": order.spend,
        "spend_usd": cost.spent_usd,
        "uptime_seconds": cost.uptime_seconds,
        "uptime": uptime(cost.uptime_seconds),
        "host": order.pub_cluster,
        "ssh_port": order.ssh_port,
        "tcp_ports": order.tcp_ports,
        "http_url": order.http_url,
        "ssh": ssh,
        "created_at": order.created_at.isoformat() if order.created_at else None,
    }


@click.command()
@click.option(
    "--completed",
    is_flag=True,
    help="Include ended orders (cancelled or run out: the API does not say which).",
)
@output_options
@click.pass_context
def orders(ctx: click.Context, completed: bool) -> None:
    """List your orders. A spot order that is not the highest bid on its server shows as outbid.

    An outbid order is not running and not billed until its bid is the highest again (see
    clore spot SERVER)."""
    app = app_of(ctx)
    found = app.client().my_orders(include_completed=completed)
    _note_interrupted_rents(app, found)
    rates = usd_rates_for(app, found)
    outbid = outbid_order_ids(app, found)
    now = app.now()
    rows = [order_row(o, rates, now, outbid=o.id in outbid) for o in found]
    remember("orders", [(str(r["id"]), f"{r['type']} on {r['server_id']} ({r['status']})") for r in rows])
    footer = (
        f"Total: {len(rows)} orders; $/hour of btc/clore orders at the rates the marketplace's "
        "prices imply, Spent in the order's coin (details: clore order ID)"
    )
    if outbid:
        footer += "; outbid: not running nor billed (a higher bid runs)"
    app.emit(Dataset("My orders", ORDER_COLUMNS, rows, footer=footer))


def _note_interrupted_rents(app: Any, found: list[Any]) -> None:
    """An order a `clore rent` that ended mid-try (crash, Ctrl-C) may have left: say which."""
    from clore_ai.renting import interrupted_rents

    try:
        for previous in interrupted_rents(app.client(), found):
            app.note(f"note: {previous.message}")
    except OSError:  # an unreadable cache dir must not break the listing
        pass


def _find_order(app: Any, order_id: int) -> Any:
    for candidate in app.client().my_orders(include_completed=True):
        if candidate.id == order_id:
            return candidate
    raise click.ClickException(
        f"order {order_id} not found among your orders (see: clore orders --completed)"
    )


@click.command("order")
@click.argument("order_id", type=ORDER_ID, shell_complete=completer("orders"))
@output_options
@click.pass_context
def order_detail(ctx: click.Context, order_id: int) -> None:
    """One order in detail, with how to connect."""
    app = app_of(ctx)
    found = _find_order(app, order_id)
    outbid = found.id in outbid_order_ids(app, [found])
    row = order_row(found, usd_rates_for(app, [found]), app.now(), outbid=outbid)
    app.emit(Dataset(f"Order {order_id}", ORDER_RECORD, [row], vertical=True))


def wait_until_running(app: Any, order_id: int, timeout: float) -> Any:
    """Poll my_orders until the container runs; a spinner on stderr when it is a terminal."""
    import time

    from .._spinner import waiting

    deadline = time.monotonic() + timeout
    interval = 0.5 if app.sandbox else 3.0
    with waiting(f"waiting for order {order_id} to start…", threshold=0):
        while True:
            current = _find_order(app, order_id)
            if current.status == "running":
                return current
            if current.status == "expired":
                raise click.ClickException(f"order {order_id} ended before its container started")
            if time.monotonic() >= deadline:
                raise WaitTimedOut(order_id, current.status, timeout)
            time.sleep(interval)


def connection_help(found: Any) -> str:
    lines = []
    if found.ssh_host and found.ssh_port:
        lines.append(f"ssh -p {found.ssh_port} root@{found.ssh_host}")
    if found.http_url:
        lines.append(f"open {found.http_url}")
    return "\n".join(lines) or "no public ports"


def container_options(
    ssh_password: str | None,
    ssh_key: str | None,
    ports: tuple[str, ...],
    envs: tuple[str, ...],
    jupyter_token: str | None,
    command: str | None,
    autossh_entrypoint: bool | None,
) -> dict[str, Any]:
    """The container's options of ``deploy`` and ``rent``: keys from files, secrets from stdin
    ('-'), ports and env parsed (a bad one is a usage error, nothing sent)."""
    if ssh_key and ssh_key.startswith("@"):
        ssh_key = read_key_file(ssh_key[1:])
    elif ssh_key is not None:
        check_ssh_key(ssh_key)
    if ssh_password == "-":
        ssh_password = read_secret("SSH password")
    if jupyter_token == "-":
        jupyter_token = read_secret("Jupyter token")
    return {
        "ssh_password": ssh_password,
        "ssh_key": ssh_key,
        "ports": _parse_ports(ports),
        "env": _parse_env(envs),
        "jupyter_token": jupyter_token,
        "command": command,
        "autossh_entrypoint": autossh_entrypoint,
    }


def _parse_ports(values: tuple[str, ...]) -> dict[str, str] | None:
    ports: dict[str, str] = {}
    for value in values:
        port, proto = parse_port(value)
        ports[port] = proto
    return ports or None


def _parse_env(values: tuple[str, ...]) -> dict[str, str] | None:
    env: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{shown(value)} must look like KEY=VALUE", param_hint="--env")
        if not ENV_NAME.fullmatch(key):
            raise click.BadParameter(
                f"{shown(key)} is not a variable name; use letters, digits and _ (not first a digit)",
                param_hint="--env",
            )
        env[key] = val
    return env or None


def _quote(app: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Server, GPU, price per hour/day, balance and hours it covers — before anything is spent."""
    from clore_ai.renting import implied_usd_rates, usd_per_day

    server_id, currency = body["renting_server"], body["currency"]
    servers = app.client().marketplace(available_only=False)
    server = next((s for s in servers if s.id == server_id), None)
    if server is None:
        raise click.ClickException(f"server {server_id} is not on the marketplace (see: clore search)")
    refuse_unrentable(server, currency, body["type"])
    spot = body["type"] == "spot"
    native_day = body["spotprice"] if spot else server.price_per_day(currency)
    required = body.get("required_price")
    if (
        not spot
        and required is not None
        and native_day is not None
        and not math.isclose(native_day, required)
    ):
        now = exact_amount(native_day, currency)
        raise BadInput(
            f"server {server_id} costs {now}/day now, not your --required-price "
            f"{exact_amount(required, currency)}/day; run again with --required-price "
            f"{plain_number(native_day)}, or without it to take the current price (nothing was sent)"
        )
    od_native = server.price_per_day(currency)
    od_usd = usd_per_day(server, currency, implied_usd_rates(servers))
    usd_day = native_day * od_usd / od_native if native_day and od_native and od_usd else None
    quote = quote_of(server, body["type"], currency, native_day, usd_day, wallet_balance(app, currency))
    if spot:
        position = spot_book(app, server_id, currency)
        minimum = position.minimum if position is not None else None
        if minimum is not None and native_day is not None and native_day < minimum:
            raise BadInput(
                f"--spot-price {exact_amount(native_day, currency)}/day is below the minimum "
                f"spot price of server {server_id}: {exact_amount(minimum, currency)}/day now; "
                "bid at least that (nothing was sent)"
            )
        lowest = position.lowest_winning_bid if position is not None else None
        quote["lowest_winning_bid"] = lowest
        if native_day is not None:
            from .spotbid import bid_warnings

            see = f"clore spot-bid --server {server_id}"
            warned = bid_warnings(native_day, lowest, "this bid", see=see)
            quote["warnings"] = quote.pop("warnings") + [line.removeprefix("warning: ") for line in warned]
    return quote


def spot_book(app: Any, server_id: int, currency: str) -> Any:
    """Where a new spot bid in ``currency`` would stand on the server (None when the book
    cannot be read: the quote stands without it, and the API still checks the bid)."""
    from clore_ai import CloreAPIError
    from clore_ai.spotbid import spot_position

    try:
        market = app.client().spot_marketplace(server_id)
    except CloreAPIError as error:
        app.note(f"the spot book of server {server_id} could not be read: {error}")
        return None
    return spot_position(market, server_id, currency=currency)


def wallet_balance(app: Any, currency: str) -> float | None:
    return next((w.balance for w in app.client().wallets() if w.name == currency), None)


def wallet_line(balance: Any, currency: str, per_day: Any) -> str:
    """``Wallet: 0.05 BTC (covers about 12,500 hours)`` at ``per_day`` in ``currency``."""
    if balance is None:
        return f"Wallet {COIN_TICKERS.get(currency, currency)}: none (deposit before renting)"
    line = f"Wallet: {coin_amount(balance, currency, quote=True)}"
    if balance and isinstance(per_day, (int, float)) and per_day > 0:
        hours = balance / (per_day / 24)
        if hours * 60 < 1:
            return line + " (covers less than a minute at this price)"
        if hours < 1:
            return line + f" (covers {hours * 60:,.0f} minutes at this price)"
        line += f" (covers about {hours:,.0f} hour{'' if round(hours) == 1 else 's'})"
    return line


def quote_of(
    server: Any, order_type: str, currency: str, native_day: float | None, usd_day: float | None, balance: Any
) -> dict[str, Any]:
    """The quote ``deploy`` and ``rent`` show before they spend: exact values (JSON too)."""
    hours = balance / (native_day / 24) if balance and native_day else None
    return {
        "server_id": server.id,
        "gpu": server.gpu_model,
        "type": order_type,
        "currency": currency,
        "price_per_day": native_day,
        "usd_per_hour": usd_day / 24 if usd_day else None,
        "usd_per_day": usd_day,
        "max_rental_hours": server.mrl,
        "rented": bool(server.rented),
        "balance": balance,
        "hours_covered": hours,
        "warnings": [],  # what the quote warns of on stderr ("warning: ..."), without that word
    }


class NotRentable(BadInput):
    """deploy cannot rent this server (GigaSPOT, or a currency it does not take): nothing is sent (exit 2)."""


def refuse_unrentable(server: Any, currency: str, order_type: str) -> None:
    """One sentence, before anything is sent, when create_order would be refused anyway (the
    SDK's :func:`clore_ai.query.not_rentable` decides; this says it in the CLI's terms)."""
    from .._rentable import COIN_SHORT, coin_names, not_rentable, on_gigaspot

    if not_rentable(server, currency, on_demand=order_type == "on-demand") is None:
        return
    if on_gigaspot(server):
        raise NotRentable(
            f"server {server.id} is on GigaSPOT and cannot be rented with deploy; "
            "pick another with `clore search` (GigaSPOT servers are hidden there)"
        )
    coins = list(server.allowed_coins or [])
    if currency not in coins:
        taken = coin_names(coins)
        hint = f" (use --currency {COIN_SHORT.get(coins[0], coins[0])})" if coins else ""
        raise NotRentable(
            f"server {server.id} does not accept {COIN_SHORT.get(currency, currency)}; it takes {taken}{hint}"
        )
    raise NotRentable(
        f"server {server.id} is rented on-demand right now, so the API would refuse this order "
        "(server-already-rented); pick another with `clore search`, or bid on it with --type spot"
    )


def show_quote(quote: dict[str, Any]) -> None:
    """The quote on stderr: coins exact with their ticker (``0.00009879 BTC``), as every quote
    before money moves; USD as everywhere (``$0.2800/hour``, ``$6.72/day``)."""
    currency = quote["currency"]

    def coin(value: Any) -> str:
        return coin_amount(value, currency, quote=True)

    # the price as given (a --spot-price) or as the API has it: every digit, never rounded to 0
    price = f"Price: {exact_amount(quote['price_per_day'], currency)}/day"
    if currency != USD_COIN and isinstance(quote["price_per_day"], (int, float)):
        price += f" = {coin(quote['price_per_day'] / 24)}/hour"  # the coin per hour too
    if quote["usd_per_hour"] is not None:
        price += f" = {usd_per_hour(quote['usd_per_hour'])}/hour"
        if currency != USD_COIN:  # in USD the per-day price is already said
            price += f" = {usd_amount(quote['usd_per_day'])}/day"
    wallet = wallet_line(quote["balance"], currency, quote["price_per_day"])
    lines = [
        f"Server {quote['server_id']}: {sanitize(str(quote['gpu']))} ({quote['type']})",
        price,
        f"Maximum rental length: {quote['max_rental_hours']} h",
        wallet,
    ]
    lowest = quote.get("lowest_winning_bid")
    if lowest is not None:
        from .._consent import price_text

        native, usd = quote["price_per_day"], quote["usd_per_day"]
        rate = usd / native if usd and native else None
        lines.append(f"Lowest winning bid now: {price_text(lowest, quote['currency'], rate)}")
    lines.extend(f"warning: {warning}" for warning in quote.get("warnings", []))
    from .._consent import explain

    explain("\n".join(lines))


@click.command()
@click.argument("server_id", type=WholeNumber(min=1, max=MAX_ID), shell_complete=completer("servers"))
@image_and_currency_options
@click.option(
    "--type", "order_type", type=click.Choice(["on-demand", "spot"]), required=True, help="Order type."
)
@container_setting_options
@click.option("--spot-price", type=Number(0, min_open=True), help="Spot bid per day in the order currency.")
@click.option("--required-price", type=Number(0), help="Refuse if the on-demand price per day changed.")
@consent_and_wait_options
@click.option("--dry-run", is_flag=True, help="Print the quote and the request body; send nothing.")
@output_options
@click.pass_context
def deploy(
    ctx: click.Context,
    server_id: int,
    image: str,
    order_type: str,
    currency: str,
    ssh_password: str | None,
    ssh_key: str | None,
    ports: tuple[str, ...],
    envs: tuple[str, ...],
    spot_price: float | None,
    jupyter_token: str | None,
    command_: str | None,
    required_price: float | None,
    autossh_entrypoint: bool | None,
    yes: bool,
    wait: bool,
    timeout: float,
    dry_run: bool,
) -> None:
    """Rent SERVER_ID. Shows a quote and asks before spending money."""
    from clore_ai import InvalidInputError, build_create_order_body, redacted_order_body

    arguments = {
        "server_id": server_id,
        "image": image,
        "type": order_type,
        "currency": currency,
        **container_options(ssh_password, ssh_key, ports, envs, jupyter_token, command_, autossh_entrypoint),
        "spot_price": spot_price,
        "required_price": required_price,
    }
    try:
        body = build_create_order_body(**arguments)
    except InvalidInputError as error:
        from .._api_errors import cli_terms

        raise click.UsageError(cli_terms(str(error))) from None
    from .._consent import ask, need_consent_channel

    need_consent_channel(yes, dry_run)
    app = app_of(ctx)
    if dry_run:
        app.supports_output("clore deploy --dry-run", "json", hint=" (the quote and the request)")
    quote = _quote(app, body)
    show_quote(quote)
    if dry_run:
        shown = redacted_order_body(body)
        app.emit_document({"quote": quote, "request": {"endpoint": "create_order", "body": shown}})
        app.note("dry run: nothing was sent")
        return
    if not yes and not ask("Create this order?"):
        app.note("cancelled: nothing was sent")
        ctx.exit(1)
    client = app.client()
    expect_create_order(client)
    started = time.time()
    try:
        created = client.create_order(**arguments)
    except KeyboardInterrupt:
        if not getattr(client, "create_order_sent", True):
            raise  # nothing went out: a plain interrupt (exit 130)
        raise interrupted_after_send(app, body, started) from None
    created = after_create(app, created, image, wait, timeout)
    if created is not None:
        rates = quoted_rates(quote["currency"], quote["price_per_day"], quote["usd_per_day"])
        app.emit(Dataset("New order", ORDER_RECORD, [order_row(created, rates, app.now())], vertical=True))


def after_create(app: Any, created: Any, image: str, wait: bool, timeout: float) -> Any:
    """Say the order exists; with ``wait``, its id on stdout first, then wait until it runs.
    Returns the order to show, or None when ``-q`` already printed the id."""
    try:
        app.note(
            f"order {created.id} created" + (" (found after a lost answer)" if created.reconciled else "")
        )
        remember("images", [(image, "image"), *[item for item in recall("images") if item[0] != image]])
        if wait:
            # The id is on stdout before the wait: a timeout or a closed terminal never loses it.
            if app.quiet:
                click.echo(created.id)
            elif (app.output or "table") == "table":
                click.echo(f"Order {created.id} created; waiting for its container to start")
            created = wait_until_running(app, created.id, timeout)
            app.note(connection_help(created))
            if app.quiet:
                return None
    except KeyboardInterrupt:
        raise OrderInterrupted(
            f"interrupted while waiting for order {created.id} to start; the order exists and is billing: "
            f"check it with `clore order {created.id}`, stop it with `clore cancel {created.id}`"
        ) from None
    return created


class WaitTimedOut(click.ClickException):
    """A wait for the container gave up; the order exists and bills (exit 8)."""

    exit_code = ExitCode.WAIT_TIMED_OUT

    def __init__(self, order_id: int, status: str | None, timeout: float) -> None:
        super().__init__(
            f"order {order_id} is still {status or 'starting'} after {timeout:g} s; "
            "it exists and is billing: "
            f"keep waiting with `clore ssh {order_id} --print`, or stop it with `clore cancel {order_id}`"
        )
        self.details = {"order_id": order_id, "status": status}


class OrderInterrupted(click.ClickException):
    """Ctrl-C after create_order went out: an order exists or may exist, and bills (exit 7)."""

    exit_code = ExitCode.ORDER_INTERRUPTED


LOOKUP_SECONDS = 2.0


def interrupted_after_send(app: Any, body: dict[str, Any], started: float) -> OrderInterrupted:
    """Ctrl-C once create_order may have reached the API: one look-up of at most LOOKUP_SECONDS
    (a second Ctrl-C skips it) to name the order, else how to check."""
    import threading

    server_id, spot = int(body["renting_server"]), body["type"] == "spot"
    click.echo(
        f"interrupted after create_order was sent: looking for the order on server {server_id} "
        f"(at most {LOOKUP_SECONDS:g} s; Ctrl-C again to skip)…",
        err=True,
    )
    found: list[Any] = []

    def look() -> None:
        try:
            with app.quick_client(LOOKUP_SECONDS) as quick:
                candidates = [
                    o
                    for o in quick.my_orders()
                    if o.server_id == server_id
                    and bool(o.spot) == spot
                    and not o.expired
                    and (o.ct is None or o.ct >= started - 600)  # the API's clock may be off a little
                ]
            found.extend(sorted(candidates, key=lambda o: (o.ct or 0, o.id))[-1:])
        except Exception:  # noqa: BLE001 - an unanswered look-up leaves the outcome unknown
            pass

    worker = threading.Thread(target=look, name="clore-order-lookup", daemon=True)
    worker.start()
    try:
        worker.join(LOOKUP_SECONDS + 0.5)
    except KeyboardInterrupt:
        pass
    if found:
        order_id = found[0].id
        return OrderInterrupted(
            f"interrupted after create_order was sent: order {order_id} on server {server_id} exists and "
            f"is billing; check it with `clore order {order_id}`, stop it with `clore cancel {order_id}`"
        )
    return OrderInterrupted(
        f"interrupted after create_order was sent: an order on server {server_id} may exist and be "
        "billing; check with `clore orders` and stop it with `clore cancel ORDER_ID`"
    )


def read_secret(label: str) -> str:
    """A secret kept out of argv and shell history: a hidden prompt, or one line of stdin."""
    if sys.stdin.isatty():
        return str(click.prompt(label, hide_input=True, err=True))
    return sys.stdin.readline().rstrip("\r\n")


@click.command()
@click.argument("order_id", type=ORDER_ID, shell_complete=completer("orders"))
@click.option("--issue", help="Report a problem with the server (at most 2048 characters).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--dry-run", is_flag=True, help="Show the order and what cancelling stops; send nothing.")
@click.pass_context
def cancel(ctx: click.Context, order_id: int, issue: str | None, yes: bool, dry_run: bool) -> None:
    """Cancel an order: its container and the data in it are deleted. Asks first."""
    from .._consent import ask, explain, need_consent_channel, price_text

    if issue is not None and len(issue) > 2048:
        raise click.BadParameter(f"is {len(issue)} characters long; the limit is 2048", param_hint="--issue")
    need_consent_channel(yes, dry_run, "cancel an order (its container and data are deleted)")
    app = app_of(ctx)
    if dry_run or not yes:
        found = _find_order(app, order_id)
        spent = coin_amount(found.spend, found.currency, quote=True)  # in USD: "$0.000446"
        rate = usd_rates_for(app, [found]).get(found.currency)
        price = price_text(found.price, found.currency, rate)
        outbid = bool(found.spot) and found.id in outbid_order_ids(app, [found])
        costs = f"It costs {price} while it wins" if outbid else f"It costs {price}"
        explain(
            f"Order {order_id}: {found.type} on server {found.server_id}, "
            f"{'outbid (not running nor billed)' if outbid else found.status}, "
            f"spent so far {spent}. {costs}.\n"
            "Cancelling stops that and deletes the container with all its data."
        )
        if dry_run:
            app.note("dry run: nothing was sent")
            return
        if not ask(f"Cancel order {order_id}?"):
            app.note("not cancelled: nothing was sent")
            ctx.exit(1)
    result = app.client().cancel_order(order_id, issue=issue)
    if result.get("already_ended") and issue and result.get("issue_reported") is None:
        # an attempt whose answer was lost may have been the one that cancelled it
        click.echo(f"Order {order_id} has ended; whether the issue report was delivered is unknown")
    elif result.get("already_ended"):
        click.echo(
            f"Order {order_id} had already ended" + ("; the issue report was not delivered" if issue else "")
        )
    else:
        click.echo(f"Order {order_id} cancelled")


@click.command("spot-price")
@click.argument("order_id", type=ORDER_ID, shell_complete=completer("orders"))
@click.argument("price", type=Number(0, min_open=True, max=MAX_USD_PER_DAY))
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--dry-run", is_flag=True, help="Show the bid now and the new one; send nothing.")
@click.pass_context
def spot_price(ctx: click.Context, order_id: int, price: float, yes: bool, dry_run: bool) -> None:
    """Set the bid (per day, in the order's coin) of your spot order. Shows the change and asks first.

    The bid is what the order pays while it wins. See also: clore spot-bid ORDER_ID (where it
    stands) and clore spot-bid ORDER_ID --auto (keep it winning under a cap).
    """
    from clore_ai import CloreAPIError, FieldError
    from clore_ai.spotbid import order_position

    from .._consent import ask, explain, need_consent_channel, price_text
    from .spotbid import new_bid_lines

    need_consent_channel(yes, dry_run, "change a spot bid")
    app = app_of(ctx)
    position = order_position(app.client(), order_id)
    coin, rate = position.currency, position.rate
    if position.minimum is not None and price < position.minimum:
        raise BadInput(
            f"the bid {exact_amount(price, coin)}/day is below the minimum spot price of server "
            f"{position.server_id}: {exact_amount(position.minimum, coin)}/day now; bid at least that "
            "(nothing was sent)"
        )
    lines = new_bid_lines(position, price)
    try:
        if coin is not None:  # the book names the order's coin
            lines.append(wallet_line(wallet_balance(app, coin), coin, price))
    except CloreAPIError as error:  # the quote stands without it
        app.note(f"the wallet balance could not be read: {error}")
    explain("\n".join(lines))
    if dry_run:
        app.note("dry run: nothing was sent")
        return
    if not yes and not ask(f"Change the bid of order {order_id}?"):
        app.note(f"not changed: nothing was sent; order {order_id} keeps its bid")
        ctx.exit(1)
    try:
        app.client().set_spot_price(order_id, price)
    except FieldError as error:
        sentence = _spot_price_refusal(app, order_id, error.error)
        if sentence is None:
            raise
        raise click.ClickException(f"{sentence} (API: {error.error})") from None
    now_bids = price_text(price, coin, rate, exact=True, coin_per_hour=False)  # as typed, reported
    click.echo(f"Order {order_id} now bids {now_bids}")


def _spot_price_refusal(app: Any, order_id: int, name: str | None) -> str | None:
    """amount_too_low with the current minimum; order_dont_exist on an on-demand order."""
    if name not in ("amount_too_low", "order_dont_exist"):
        return None
    try:
        found = next((o for o in app.client().my_orders(include_completed=True) if o.id == order_id), None)
        if found is None:
            return f"order {order_id} is not one of your orders (see: clore orders)"
        if not found.spot:
            return f"order {order_id} is an on-demand order; --spot-price and spot-price apply to spot orders"
        if found.expired:
            return f"order {order_id} has ended; there is no bid to change"
        if name == "amount_too_low":
            market = app.client().spot_marketplace(found.server_id)
            pricing = market.server.min_pricing if market.server else None
            minimum = (pricing or {}).get(found.currency) if isinstance(pricing, dict) else None
            if minimum is None and pricing is not None:
                minimum = getattr(pricing, found.currency or "", None)
            if isinstance(minimum, (int, float)):
                return (
                    f"the bid is below the minimum spot price of server {found.server_id}: "
                    f"{coin_amount(minimum, found.currency)} per day now; bid at least that"
                )
    except Exception:  # noqa: BLE001 - fall back to the generic sentence
        return None
    return None


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("order_id", type=ORDER_ID, shell_complete=completer("orders"))
@click.option("--user", default="root", show_default=True, help="Login name.")
@click.option("--print", "print_only", is_flag=True, help="Print the ssh command instead of running it.")
@click.option(
    "--timeout",
    type=Number(0, max=MAX_SECONDS),
    default=600,
    show_default=True,
    help="Seconds to wait for the container.",
)
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Log in with the password on the first line of this file (never put in argv).",
)
@click.option("--ask-password", is_flag=True, help="Ask for the ssh password here and hand it to ssh.")
@click.argument("ssh_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def ssh(
    ctx: click.Context,
    order_id: int,
    user: str,
    print_only: bool,
    timeout: float,
    password_file: Path | None,
    ask_password: bool,
    ssh_args: tuple[str, ...],
) -> None:
    """Connect to an order over SSH (container port 22 through its public port); waits until it runs.

    Uses your OpenSSH (your ~/.ssh/config, keys and agent); ssh asks for the password itself
    unless --password-file or --ask-password gives it (then it is handed over through
    SSH_ASKPASS, never on a command line)."""
    from .remote import read_password

    app = app_of(ctx)
    password = read_password(password_file, ask_password)
    found = _find_order(app, order_id)
    if found.status == "expired":
        raise click.ClickException(f"order {order_id} has ended")
    if found.status != "running" and timeout > 0:
        found = wait_until_running(app, order_id, timeout)
    if not found.ssh_host or not found.ssh_port:
        raise click.ClickException(
            f"order {order_id} has no SSH port yet (did you deploy with --port 22:tcp?)"
        )
    command = [
        "ssh",
        "-p",
        str(found.ssh_port),
        *_sandbox_host_keys(app, found),
        *ssh_args,
        f"{user}@{found.ssh_host}",
    ]
    if print_only:
        click.echo(" ".join(command))
        return
    from .remote import refuse_sandbox_order_without_ssh

    refuse_sandbox_order_without_ssh(app, found)
    if shutil.which("ssh") is None:
        status = _session_without_openssh(app, found, user, password)
        app.note(f"ssh ended with exit status {status}")
        ctx.exit(status)
    if password is not None:
        status = _ssh_with_password(command, password)
    else:
        # Outside the shell this process becomes ssh; in `clore shell` ssh runs as a child and
        # the prompt comes back with its exit status.
        status = app.run_terminal_program(command)
    status = 128 - status if status < 0 else status  # ended by a signal: 128 + its number
    app.note(f"ssh ended with exit status {status}")
    ctx.exit(status)


def _sandbox_host_keys(app: Any, order: Any) -> list[str]:
    """Sandbox endpoints get new ports and keys all the time: their host keys go to a file of
    the sandbox's own, never into ~/.ssh/known_hosts (where a reused port would later look
    like a changed key)."""
    if not app.sandbox or str(order.ssh_host) not in ("127.0.0.1", "localhost", "::1"):
        return []
    from clore_ai.sandbox import default_state_path

    known = default_state_path().with_name("sandbox_known_hosts")
    return ["-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=accept-new"]


def _session_without_openssh(app: Any, order: Any, user: str, password: str | None) -> int:
    """No OpenSSH here: the same session through clore_ai.remote (asyncssh), on this terminal."""
    from clore_ai.remote import SSHTarget

    from .remote import connected

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise click.ClickException(
            "ssh is not installed and this is not a terminal; use `clore exec` or --print"
        )
    target = SSHTarget(str(order.ssh_host), int(order.ssh_port), user, password)
    with connected(target) as remote:
        return int(remote.interactive())


def _ssh_with_password(command: list[str], password: str) -> int:
    """ssh as a child that gets ``password`` through SSH_ASKPASS; Ctrl-C goes to ssh only."""
    import signal
    import subprocess

    from .._askpass import askpass_environment

    # A new host is accepted (a changed key is still refused): the askpass helper answers
    # password prompts only, so it cannot answer ssh's yes/no question about a new host key.
    command = [command[0], "-o", "StrictHostKeyChecking=accept-new", *command[1:]]
    with askpass_environment(password) as extra:
        child = subprocess.Popen(command, env={**os.environ, **extra})
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            return child.wait()
        finally:
            signal.signal(signal.SIGINT, previous)


@hookimpl
def clore_register_commands(cli: Any) -> None:
    for command in (orders, order_detail, deploy, cancel, spot_price, ssh):
        cli.add_command(command)
