"""clore host: reprice and occupancy, plus `servers`, `config`, `settings` as aliases of the
flat host commands. The logic is in clore_ai.repricing; this module asks, shows and sends."""

from __future__ import annotations

from typing import Any

import click

from .._main import app_of, output_options
from .._params import Number, UsdPerTime, WholeNumber
from ..formats import COIN_TICKERS, Column, Dataset, coin_amount, sanitize, usd_per_hour
from .host import change_lines, price_warnings, server_config, server_settings, servers

KIND_CHOICES = {"on-demand": ("on_demand",), "spot": ("spot",), "both": ("on_demand", "spot")}
KIND_LABELS = {"on_demand": "on-demand price", "spot": "spot minimum"}


@click.group("host")
def host() -> None:
    """Your hosted servers: list, configure, reprice from the market, occupancy.

    \b
    clore host servers           the same as `clore servers`
    clore host config NAME       the same as `clore server-config NAME`
    clore host settings NAME …   the same as `clore server-settings NAME …`
    """


host.add_command(servers, "servers")
host.add_command(server_config, "config")
host.add_command(server_settings, "settings")


# ── reprice ────────────────────────────────────────────────────────────────


def _proposal_row(proposal: Any, warned: dict[tuple[str, str, str], list[str]]) -> dict[str, Any]:
    """One proposal, exact; ``warnings`` has the proposal's own and what changing it warns of
    (``warned``, by server, coin and kind: :func:`_change_warnings`), as stderr says them."""
    own = warned.get((proposal.server, proposal.currency, proposal.kind), [])
    return {
        "server": proposal.server,
        "server_id": proposal.server_id,
        "gpu_model": proposal.gpu_model,
        "gpu_count": proposal.gpu_count,
        "currency": proposal.currency,
        "kind": proposal.kind,
        "current_per_day": proposal.current_per_day,
        "new_per_day": proposal.new_per_day,
        "current_usd_per_day": proposal.current_usd_per_day,
        "new_usd_per_day": proposal.new_usd_per_day,
        "current_usd_per_hour": proposal.current_usd_per_hour,
        "new_usd_per_hour": proposal.new_usd_per_hour,
        "target_percentile": proposal.target_percentile,
        "current_percentile": proposal.current_percentile,
        "new_percentile": proposal.new_percentile,
        "comparables": proposal.comparables,
        "market_median_per_day": proposal.market_median_per_day,
        "clamped": proposal.clamped,
        "changed": proposal.changed,
        "skipped": proposal.skipped,
        "warnings": list(dict.fromkeys([*proposal.warnings, *own])),
    }


def _change_warnings(plans: list[Any]) -> dict[tuple[str, str, str], list[str]]:
    """What the changes of each server warn of (a price above 3× or below a third of the
    current one, a spot minimum above the on-demand price), by (server, coin, kind)."""
    warned: dict[tuple[str, str, str], list[str]] = {}
    for config, own, _ in plans:
        for (coin, kind), text in price_warnings(config, _consent_rows(own)):
            warned.setdefault((config.name, coin, kind), []).append(text)
    return warned


def _pct(value: float | None) -> str:
    return "?" if value is None else f"p{value:.0f}"


def _note(proposal: Any) -> str:
    if proposal.skipped:
        return f"skipped: {proposal.skipped}"
    if proposal.clamped:
        return f"held at the {proposal.clamped}"
    return "" if proposal.changed else "unchanged"


def _proposals_dataset(
    proposals: list[Any], warned: dict[tuple[str, str, str], list[str]], human: bool
) -> Dataset:
    rows = [_proposal_row(p, warned) for p in proposals]
    if human:
        for row, proposal in zip(rows, proposals):
            row["coin"] = COIN_TICKERS.get(proposal.currency, proposal.currency)
            row["kind"] = KIND_LABELS[proposal.kind]
            moved = proposal.new_percentile if proposal.new_per_day is not None else None
            row["percentiles"] = _pct(proposal.current_percentile) + (
                f" → {_pct(moved)}" if moved is not None else ""
            )
            row["note"] = _note(proposal)
    columns = [
        Column("server", "Server"),
        Column("coin" if human else "currency", "Coin"),
        Column("kind", "Kind"),
        Column("current_per_day", "Now/day", "right", coin_key="currency", no_wrap=True),
        Column("current_usd_per_hour", "Now $/h", "right", fmt=usd_per_hour, derived=True),
        Column("new_per_day", "New/day", "right", coin_key="currency", no_wrap=True),
        Column("new_usd_per_hour", "New $/h", "right", fmt=usd_per_hour, derived=True),
        Column("percentiles" if human else "new_percentile", "Percentile", no_wrap=True, derived=True),
        Column("comparables", "Offers", "right"),
        Column("note" if human else "skipped", "Note"),
        Column("warnings", "Warnings", in_table=False),  # the table's are on stderr, under it
    ]
    return Dataset("Repricing (prices per day for the whole server)", columns, rows, id_key="server")


def _settings_arguments(config: Any, proposals: list[Any]) -> dict[str, Any]:
    """set_server_settings for one server: every price it has in the coins it accepts, the
    proposed ones replaced; availability and mrl kept (the API wants them with every call)."""
    coins = list(config.allowed_coins or [])
    prices: dict[str, dict[str, float]] = {"on_demand": {}, "spot": {}}
    for kind, table in (("on_demand", config.pricing), ("spot", config.spot_pricing)):
        for coin in coins:
            value = (table or {}).get(coin)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                prices[kind][coin] = float(value)
    for proposal in proposals:
        if proposal.changed:
            prices[proposal.kind][proposal.currency] = proposal.new_per_day
    return {
        "name": config.name,
        "availability": config.visibility == "public",
        "mrl": config.mrl,
        "on_demand": prices["on_demand"] or None,
        "spot": prices["spot"] or None,
    }


def _consent_rows(proposals: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "setting": f"{KIND_LABELS[p.kind]} ({p.currency})",
            "kind": "price",
            "field": p.kind,
            "currency": p.currency,
            "current": p.current_per_day,
            "new": p.new_per_day,
            "note": f"{_pct(p.current_percentile)} → {_pct(p.new_percentile)} of {p.comparables} offers"
            + (f", held at the {p.clamped}" if p.clamped else ""),
        }
        for p in proposals
        if p.changed
    ]


def _chosen_servers(names: tuple[str, ...], mine: list[Any]) -> list[Any]:
    known = {s.name: s for s in mine if s.name}
    unknown = [n for n in names if n not in known]
    if unknown:
        listing = ", ".join(sanitize(n) for n in known) or "none"
        raise click.UsageError(f"you have no server named {sanitize(unknown[0])}; your servers: {listing}")
    if names:
        return [known[n] for n in dict.fromkeys(names)]
    return [s for s in mine if s.id is not None and s.connected]


@host.command("reprice")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option(
    "--percentile",
    "target",
    type=Number(0, max=100),
    required=True,
    help="Where to price among comparable offers: 0 cheapest, 50 median, 100 dearest.",
)
@click.option("--floor", type=UsdPerTime(), help="Lowest price for the whole server, USD: 0.1/h or 2.4/day.")
@click.option(
    "--ceiling", type=UsdPerTime(), help="Highest price for the whole server, USD: 0.5/h or 12/day."
)
@click.option(
    "--kind",
    type=click.Choice(list(KIND_CHOICES)),
    default="both",
    show_default=True,
    help="Reprice the on-demand price, the spot minimum, or both.",
)
@click.option(
    "--currency",
    "currencies",
    multiple=True,
    help="Only this coin (btc, clore, usd); repeatable. Default: every coin the server accepts.",
)
@click.option(
    "--min-comparables",
    type=WholeNumber(min=1, max=100_000),
    default=5,
    show_default=True,
    help="Skip a price with fewer comparable offers than this.",
)
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--dry-run", is_flag=True, help="Show current → new and the requests; send nothing.")
@output_options
@click.pass_context
def reprice(
    ctx: click.Context,
    names: tuple[str, ...],
    target: float,
    floor: float | None,
    ceiling: float | None,
    kind: str,
    currencies: tuple[str, ...],
    min_comparables: int,
    yes: bool,
    dry_run: bool,
) -> None:
    """Price your servers from the live market of the same GPU model.

    \b
    For every server (all connected ones without NAME), coin it accepts and kind, the new
    price is the --percentile-th per-GPU price of comparable offers (same GPU model, not
    yours, not on GigaSPOT, rented or not) times its GPU count, kept within --floor and
    --ceiling (USD for the whole server, converted at the marketplace's rates). Shows
    current → new in the coin and in USD per hour and per day with the percentile each
    sits at, warns on moves above 3× or below a third, asks once, then sends one
    set_server_settings per server. Prices are per DAY in each coin, as the API has them.
    """
    from clore_ai import InvalidInputError, normalize_currency
    from clore_ai.repricing import propose

    from .._consent import need_consent_channel

    try:
        coins = tuple(dict.fromkeys(normalize_currency(c) for c in currencies)) or None
    except InvalidInputError as error:
        raise click.UsageError(str(error)) from None
    if floor is not None and ceiling is not None and floor > ceiling:
        raise click.UsageError("--floor is above --ceiling")
    need_consent_channel(yes, dry_run, "change your servers' prices")
    app = app_of(ctx)
    client = app.client()
    mine = client.my_servers()
    chosen = _chosen_servers(names, mine)
    market = client.marketplace(available_only=False)
    configs = [client.server_config(s.name) for s in chosen]
    proposals = propose(
        configs,
        market,
        percentile=target,
        floor_usd_per_day=floor,
        ceiling_usd_per_day=ceiling,
        kinds=KIND_CHOICES[kind],
        currencies=coins,
        exclude_ids={s.id for s in mine if s.id is not None},
        min_comparables=min_comparables,
    )
    rates = {p.currency: p.usd_rate for p in proposals if p.usd_rate}
    plans = []
    for config in configs:
        own = [p for p in proposals if p.server == config.name]
        if any(p.changed for p in own):
            plans.append((config, own, _settings_arguments(config, own)))
    warned = _change_warnings(plans)
    _show_plan(app, proposals, plans, rates, warned)
    if not plans:
        if app.wants_json:
            app.emit_document({"proposals": [_proposal_row(p, warned) for p in proposals], "requests": []})
        app.note("nothing to change: every price is already where the market puts it, or was skipped")
        return
    _apply(app, ctx, proposals, plans, warned, dry_run=dry_run, yes=yes)


def _show_plan(
    app: Any,
    proposals: list[Any],
    plans: list[Any],
    rates: dict[str, float],
    warned: dict[tuple[str, str, str], list[str]],
) -> None:
    if not app.wants_json:
        app.emit(_proposals_dataset(proposals, warned, human=app.output in (None, "table")))
    lines: list[str] = []
    for config, own, _ in plans:
        lines += change_lines(config.name, config, _consent_rows(own), rates)
        lines += [f"warning: {w}" for w in dict.fromkeys(w for p in own if p.changed for w in p.warnings)]
    if lines:
        from .._consent import explain

        explain("\n".join(lines))


def _apply(
    app: Any,
    ctx: click.Context,
    proposals: list[Any],
    plans: list[Any],
    warned: dict[tuple[str, str, str], list[str]],
    *,
    dry_run: bool,
    yes: bool,
) -> None:
    from clore_ai import CloreAPIError, build_server_settings_body

    from .._api_errors import explain
    from .._consent import ask
    from .._errors import exit_code_for

    rows = [_proposal_row(p, warned) for p in proposals]
    requests = [
        {"endpoint": "set_server_settings", "body": build_server_settings_body(**arguments)}
        for _, _, arguments in plans
    ]
    if dry_run:
        if app.wants_json:
            app.emit_document({"proposals": rows, "requests": requests})
        app.note("dry run: nothing was sent")
        return
    count = len(plans)
    question = f"Change the prices of {count} server{'s' if count != 1 else ''}?"
    if not yes and not ask(question):
        app.note("cancelled: nothing was sent")
        ctx.exit(1)
    client = app.client()
    results: list[dict[str, Any]] = []
    failure: BaseException | None = None
    for (config, _, arguments), request in zip(plans, requests):
        try:
            client.set_server_settings(**arguments)
        except CloreAPIError as error:
            failure = failure or error
            reason = explain(error) or str(error)
            results.append(
                {"server": config.name, "updated": False, "error": reason, "sent": request["body"]}
            )
            app.note(f"{sanitize(config.name)}: not updated: {reason}")
        else:
            results.append({"server": config.name, "updated": True, "error": None, "sent": request["body"]})
            if app.output in (None, "table"):
                click.echo(f"Prices of {sanitize(config.name)} updated")
            elif not app.wants_json:  # CSV (the plan's table) stays one document on stdout
                app.note(f"Prices of {sanitize(config.name)} updated")
    if app.wants_json:
        app.emit_document({"proposals": rows, "results": results})
    if failure is not None:
        ctx.exit(int(exit_code_for(failure)))


# ── occupancy ──────────────────────────────────────────────────────────────


def _occupancy_row(item: Any) -> dict[str, Any]:
    return {
        "name": item.name,
        "id": item.server_id,
        "gpu": item.gpu,
        "online": item.online,
        "listed": item.listed,
        "rented": item.rented,
        "rented_source": item.rented_source,
        "since": None,
        "rented_until": item.rented_until.isoformat() if item.rented_until else None,
        "on_demand_per_day": item.on_demand_per_day,
        "spot_per_day": item.spot_per_day,
        "on_demand_usd_per_day": item.on_demand_usd_per_day,
        "on_demand_usd_per_hour": None
        if item.on_demand_usd_per_day is None
        else item.on_demand_usd_per_day / 24,
    }


@host.command("occupancy")
@output_options
@click.pass_context
def occupancy(ctx: click.Context) -> None:
    """Which of your servers are rented, until when, and at what price you list them.

    \b
    "rented" comes from my_servers when it says, else from the server's marketplace entry
    (public servers only), else it is unknown. The API tells neither when a rental started
    ("since: unknown") nor the price the renter pays: the prices shown are the ones you list
    now, per day in each coin and in USD.
    """
    from clore_ai.repricing import SINCE_UNKNOWN
    from clore_ai.repricing import occupancy as occupancy_of

    app = app_of(ctx)
    client = app.client()
    items = occupancy_of(client.my_servers(), client.marketplace(available_only=False))
    rows = [_occupancy_row(item) for item in items]
    human = app.output in (None, "table")
    if human:
        for row in rows:
            row["rented"] = {True: "yes", False: "no", None: "unknown"}[row["rented"]]
            row["since"] = "unknown"
            row["rented_until"] = (
                (row["rented_until"][:16].replace("T", " ") + " UTC") if row["rented_until"] else "-"
            )
            row["prices"] = (
                ", ".join(f"{coin_amount(v, c)}/day" for c, v in row["on_demand_per_day"].items()) or "-"
            )
    per_coin: list[Column] = []
    if not human and not app.wants_json:  # CSV and plugin formats: one column per coin, no dicts
        for coin, ticker in COIN_TICKERS.items():
            for kind in ("on_demand", "spot"):
                key = f"{kind}_per_day_{ticker.lower()}"
                per_coin.append(Column(key, key))
                for row in rows:
                    row[key] = row[f"{kind}_per_day"].get(coin)
    rented = sum(1 for item in items if item.rented)
    columns = [
        Column("name", "Name"),
        Column("gpu", "GPU"),
        Column("online", "Online"),
        Column("listed", "Listed"),
        Column("rented", "Rented"),
        Column("since", "Since"),
        Column("rented_until", "Until", no_wrap=True),
        *(per_coin or [Column("prices" if human else "on_demand_per_day", "On-demand (listed)")]),
        Column("on_demand_usd_per_hour", "$/h", "right", fmt=usd_per_hour, derived=True),
    ]
    footer = f"{rented} of {len(items)} servers rented; since: unknown ({SINCE_UNKNOWN})"
    app.emit(Dataset("Occupancy of my servers", columns, rows, id_key="name", footer=footer))
