"""servers, server-config, server-settings: the host side."""

from __future__ import annotations

from typing import Any

import click

from .. import hookimpl
from .._main import app_of, output_options
from .._params import Number, UsdPerTime, WholeNumber
from ..formats import Column, Dataset, sanitize


@click.command()
@output_options
@click.pass_context
def servers(ctx: click.Context) -> None:
    """Servers you host."""
    app = app_of(ctx)
    rows = [
        {"id": s.id, "name": s.name, "gpu": s.gpu_model, "status": s.status, "visibility": s.visibility}
        for s in app.client().my_servers()
    ]
    app.emit(
        Dataset(
            "My servers",
            [
                Column("id", "ID", "right"),
                Column("name", "Name"),
                Column("gpu", "GPU"),
                Column("status", "Status"),
                Column("visibility", "Visibility"),
            ],
            rows,
        )
    )


def _config_row(config: Any) -> dict[str, Any]:
    return {
        "name": config.name,
        "id": config.id,
        "connected": config.connected,
        "online": config.online,
        "visibility": config.visibility,
        "max_rental_hours": config.mrl,
        "gpu": config.gpu_model,
        "on_demand_usd_per_day": config.on_demand_price,
        "spot_usd_per_day": config.spot_price,
        "pricing_per_day": config.pricing,
        "min_spot_pricing_per_day": config.spot_pricing,
    }


@click.command("server-config")
@click.argument("name")
@output_options
@click.pass_context
def server_config(ctx: click.Context, name: str) -> None:
    """Configuration of one of your servers, by name."""
    app = app_of(ctx)
    row = _config_row(app.client().server_config(name))
    columns = [Column(k, k.replace("_", " ")) for k in row]
    app.emit(Dataset(f"Server {name}", columns, [row], id_key="name", vertical=True))


PRICE_KINDS = (("on_demand", "on-demand price"), ("spot", "spot minimum"))


def _usd_rates(app: Any) -> dict[str, float]:
    from .._consent import implied_usd_rates

    return implied_usd_rates(app.client().marketplace(available_only=False))


def _changes(
    current: Any,
    *,
    availability: bool | None,
    mrl: int | None,
    currency: str | None,
    prices: dict[str, float | None],
    usd: dict[str, float | None],
    enable: tuple[str, ...],
    disable: tuple[str, ...],
    autoprice: bool | None,
) -> list[dict[str, Any]]:
    """One row per given setting: what it is now and what it becomes (equal ones included)."""
    rows: list[dict[str, Any]] = []
    if availability is not None:
        now_public = current.visibility == "public"
        rows.append({"setting": "available", "kind": "flag", "current": now_public, "new": availability})
    if mrl is not None:
        rows.append({"setting": "max rental hours", "kind": "hours", "current": current.mrl, "new": mrl})
    for kind, label in PRICE_KINDS:
        if prices[kind] is not None and currency is not None:
            table = (current.pricing if kind == "on_demand" else current.spot_pricing) or {}
            rows.append(
                {
                    "setting": f"{label} ({currency})",
                    "kind": "price",
                    "field": kind,
                    "currency": currency,
                    "current": table.get(currency),
                    "new": prices[kind],
                }
            )
    for kind, label in PRICE_KINDS:
        if usd[kind] is not None:
            rows.append(
                {
                    "setting": f"{label} (USD pricing)",
                    "kind": "usd",
                    "field": kind,
                    "current": current.usd_price_per_day(
                        current.allowed_coins[0] if current.allowed_coins else "bitcoin", kind
                    ),
                    "new": usd[kind],
                }
            )
    allowed = list(current.allowed_coins or [])
    for coins, on in ((enable, True), (disable, False)):
        for coin in coins:
            rows.append({"setting": f"accepts {coin}", "kind": "flag", "current": coin in allowed, "new": on})
    if autoprice is not None:
        rows.append(
            {
                "setting": "autoprice (USD)",
                "kind": "flag",
                "current": current.autoprice_enabled,
                "new": autoprice,
            }
        )
    return rows


def _shown(row: dict[str, Any], value: Any, rates: dict[str, float]) -> str:
    from .._consent import price_text

    if row["kind"] == "price":  # every digit given or set: never "0 BTC/day" for 1e-12
        return price_text(value, row["currency"], rates.get(row["currency"]), exact=True)
    if row["kind"] == "usd":
        return price_text(value, None, None)
    if row["kind"] == "flag":
        return "?" if value is None else ("yes" if value else "no")
    return "?" if value is None else str(value)


def price_warnings(current: Any, rows: list[dict[str, Any]]) -> list[tuple[tuple[str, str], str]]:
    """What the changes in ``rows`` warn of, each with the price it is about: ``((coin or
    "USD", "on_demand" or "spot"), "the on-demand price (bitcoin) becomes more than 3× the
    current price")``. Stderr says each after ``warning:``; JSON has them as ``warnings``."""
    warnings = []
    for row in rows:
        if row["kind"] not in ("price", "usd"):
            continue
        old, new = row["current"], row["new"]
        if old and old > 0 and (new > 3 * old or new < old / 3):
            how = "more than 3×" if new > 3 * old else "less than a third of"
            key = (row.get("currency") or "USD", row["field"])
            warnings.append((key, f"the {row['setting']} becomes {how} the current price"))
    # A spot minimum above the on-demand price, after the change.
    after: dict[tuple[str, str], float] = {}
    for row in rows:
        if row["kind"] in ("price", "usd"):
            after[(row.get("currency") or "USD", row["field"])] = row["new"]
    for coin in {key[0] for key in after}:
        if coin == "USD":
            od = after.get((coin, "on_demand"), current.on_demand_usd_per_day)
            sp = after.get((coin, "spot"), current.spot_usd_per_day)
        else:
            od = after.get((coin, "on_demand"), (current.pricing or {}).get(coin))
            sp = after.get((coin, "spot"), (current.spot_pricing or {}).get(coin))
        if od is not None and sp is not None and sp > od:
            name = "USD pricing" if coin == "USD" else coin
            warnings.append(((coin, "spot"), f"the spot minimum ({name}) would be above the on-demand price"))
    return warnings


def change_lines(
    name: str, current: Any, changed: list[dict[str, Any]], rates: dict[str, float]
) -> list[str]:
    """``Server NAME:`` then ``  setting: current → new`` per change (prices in the coin and in
    USD per day and per hour; a row's ``note`` follows in brackets), then the warnings: a price
    above 3× or below a third of the current one, a spot minimum above the on-demand price."""
    lines = [f"Server {sanitize(name)}:"]
    for row in changed:
        line = f"  {row['setting']}: {_shown(row, row['current'], rates)} → {_shown(row, row['new'], rates)}"
        lines.append(line + (f"  [{row['note']}]" if row.get("note") else ""))
    return lines + [f"warning: {text}" for _, text in price_warnings(current, changed)]


@click.command("server-settings")
@click.argument("name")
@click.option(
    "--available/--unavailable", "availability", default=None, help="Offer the server for rent or not."
)
@click.option("--mrl", type=WholeNumber(min=1, max=100_000), help="Maximum rental length in hours.")
@click.option(
    "--on-demand",
    type=Number(0),
    help="On-demand price per DAY in the coin given by --currency (e.g. --on-demand 0.0001 --currency btc).",
)
@click.option("--spot", type=Number(0), help="Minimum spot price per DAY in the coin given by --currency.")
@click.option(
    "--currency",
    help="The coin of --on-demand/--spot: bitcoin, CLORE-Blockchain, USD-Blockchain (or btc, clore, usd).",
)
@click.option(
    "--on-demand-usd",
    type=UsdPerTime(),
    help="On-demand USD price with its unit: 0.5/h (per hour) or 12/day (per day).",
)
@click.option("--spot-usd", type=UsdPerTime(), help="Minimum spot USD price: 0.25/h or 6/day.")
@click.option(
    "--enable", "enable", multiple=True, help="Accept payment in this coin (btc, clore, usd); repeatable."
)
@click.option("--disable", "disable", multiple=True, help="Stop accepting this coin; repeatable.")
@click.option("--autoprice/--no-autoprice", default=None, help="Let Clore set prices from the USD pricing.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--dry-run", is_flag=True, help="Show current → new and the request body; send nothing.")
@output_options
@click.pass_context
def server_settings(
    ctx: click.Context,
    name: str,
    availability: bool | None,
    mrl: int | None,
    on_demand: float | None,
    spot: float | None,
    currency: str | None,
    on_demand_usd: float | None,
    spot_usd: float | None,
    enable: tuple[str, ...],
    disable: tuple[str, ...],
    autoprice: bool | None,
    yes: bool,
    dry_run: bool,
) -> None:
    """Change availability, maximum rental length, prices and coins of a server you host.

    \b
    Prices always state their unit:
      --on-demand 0.0001 --currency btc   per DAY, in that coin
      --on-demand-usd 0.5/h               USD per hour (or 12/day: USD per day)
    Shows current → new for every setting (in the coin and in USD, per hour and per day),
    warns on a price change above 3× or below a third and on a spot minimum above the
    on-demand price, and asks before sending; without a terminal add --yes.
    """
    from clore_ai import InvalidInputError, build_server_settings_body, normalize_currency

    from .._consent import ask, explain, need_consent_channel

    try:
        coin = normalize_currency(currency) if currency is not None else None
        enabled_coins = tuple(normalize_currency(c) for c in enable)
        disabled_coins = tuple(normalize_currency(c) for c in disable)
    except InvalidInputError as error:
        raise click.UsageError(str(error)) from None
    if set(enabled_coins) & set(disabled_coins):
        raise click.UsageError("a coin cannot be both --enable'd and --disable'd")
    if (on_demand is not None or spot is not None) and coin is None:
        raise click.UsageError(
            "--on-demand and --spot are prices per day in a coin; say which with --currency btc|clore|usd "
            "(or give USD with --on-demand-usd 0.5/h)"
        )
    if coin is not None and on_demand is None and spot is None:
        raise click.UsageError("--currency names the coin of --on-demand/--spot; give one of them")
    given = [availability, mrl, on_demand, spot, on_demand_usd, spot_usd, autoprice]
    if all(value is None for value in given) and not enabled_coins and not disabled_coins:
        raise click.UsageError(
            "nothing to change: give at least one setting, e.g. --on-demand-usd 0.5/h (see --help)"
        )
    need_consent_channel(yes, dry_run, "change your server's settings")
    app = app_of(ctx)
    app.supports_output(ctx.command_path, "json", hint=" (the changes and the request)")
    client = app.client()
    current = client.server_config(name)
    rows = _changes(
        current,
        availability=availability,
        mrl=mrl,
        currency=coin,
        prices={"on_demand": on_demand, "spot": spot},
        usd={"on_demand": on_demand_usd, "spot": spot_usd},
        enable=enabled_coins,
        disable=disabled_coins,
        autoprice=autoprice,
    )
    changed = [row for row in rows if row["current"] != row["new"]]
    if not changed:
        app.note(f"nothing to change: {name} already has these settings")
        return
    rates = _usd_rates(app) if any(row["kind"] == "price" for row in changed) else {}
    # The API wants availability and mrl with every call; unchanged ones keep their value.
    arguments: dict[str, Any] = {
        "name": name,
        "availability": availability if availability is not None else current.visibility == "public",
        "mrl": mrl if mrl is not None else current.mrl,
    }
    if coin is not None:
        if on_demand is not None:
            arguments["on_demand"] = {coin: on_demand}
        if spot is not None:
            arguments["spot"] = {coin: spot}
    else:
        arguments["on_demand"] = (current.pricing or {}).get("bitcoin", 0.0)
        arguments["spot"] = (current.spot_pricing or {}).get("bitcoin", 0.0)
    if enabled_coins or disabled_coins:
        arguments["enabled"] = {**dict.fromkeys(enabled_coins, True), **dict.fromkeys(disabled_coins, False)}
    if autoprice is not None:
        arguments["autoprice"] = autoprice
    usd_pricing = {k: v for k, v in (("on_demand", on_demand_usd), ("spot", spot_usd)) if v is not None}
    if usd_pricing:
        arguments["usd_pricing"] = usd_pricing
    try:
        body = build_server_settings_body(**arguments)
    except InvalidInputError as error:
        raise click.UsageError(str(error)) from None
    explain("\n".join(change_lines(name, current, changed, rates)))
    warnings = [text for _, text in price_warnings(current, changed)]
    if dry_run:
        exact = [{k: row.get(k) for k in ("setting", "current", "new")} for row in changed]
        request = {"endpoint": "set_server_settings", "body": body}
        app.emit_document({"changes": exact, "request": request, "warnings": warnings})
        app.note("dry run: nothing was sent")
        return
    if not yes and not ask(f"Change the settings of {sanitize(name)}?"):
        app.note("cancelled: nothing was sent")
        ctx.exit(1)
    client.set_server_settings(**arguments)
    if app.wants_json:
        app.emit_document({"server": name, "changes": changed, "sent": body, "warnings": warnings})
    else:
        click.echo(f"Settings of {sanitize(name)} updated")


@hookimpl
def clore_register_commands(cli: Any) -> None:
    from .host_pricing import host

    for command in (servers, server_config, server_settings, host):
        cli.add_command(command)
