"""servers, server-config, server-settings: the host side."""

from __future__ import annotations

from typing import Any

import click

from .. import hookimpl
from .._main import app_of, output_options
from .._params import Number, WholeNumber
from ..formats import Column, Dataset


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
    app.emit(Dataset(f"Server {name}", [Column(k, k.replace("_", " ")) for k in row], [row], id_key="name"))


@click.command("server-settings")
@click.argument("name")
@click.option(
    "--available/--unavailable", "availability", default=None, help="Offer the server for rent or not."
)
@click.option("--mrl", type=WholeNumber(min=1, max=100_000), help="Maximum rental length in hours.")
@click.option("--on-demand", type=Number(0), help="On-demand price per day (bitcoin).")
@click.option("--spot", type=Number(0), help="Minimum spot price per day (bitcoin).")
@click.pass_context
def server_settings(
    ctx: click.Context,
    name: str,
    availability: bool | None,
    mrl: int | None,
    on_demand: float | None,
    spot: float | None,
) -> None:
    """Change availability, maximum rental length and prices of a server you host.

    Settings you do not give are taken from the server's current configuration, because the
    API wants all of them at once.
    """
    client = app_of(ctx).client()
    current = client.server_config(name)
    client.set_server_settings(
        name=name,
        availability=availability if availability is not None else current.visibility == "public",
        mrl=mrl if mrl is not None else current.mrl,
        on_demand=on_demand if on_demand is not None else (current.pricing or {}).get("bitcoin", 0.0),
        spot=spot if spot is not None else (current.spot_pricing or {}).get("bitcoin", 0.0),
    )
    click.echo(f"Settings of {name} updated")


@hookimpl
def clore_register_commands(cli: Any) -> None:
    for command in (servers, server_config, server_settings):
        cli.add_command(command)
