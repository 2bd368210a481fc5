"""Example clore plugin: the ``cheapest`` command and the ``markdown`` output format."""

from __future__ import annotations

from typing import Any

import click

from clore_cli import hookimpl
from clore_cli.api import (
    Column,
    Dataset,
    OutputFormat,
    app_of,
    not_rentable,
    output_options,
    sanitize,
    usd_amount,
    usd_per_hour,
)

__version__ = "0.2.0"


class MarkdownFormat(OutputFormat):
    """GitHub-flavoured markdown table."""

    name = "markdown"
    description = "GitHub-flavoured markdown table"

    def render(self, data: Dataset, *, color: bool) -> str:
        def cell(row: dict[str, Any], column: Column) -> str:
            return data.cell(row, column).replace("|", "\\|").replace("\n", " ")

        header = "| " + " | ".join(sanitize(c.header) for c in data.columns) + " |"
        rule = "|" + "|".join("---:" if c.justify == "right" else "---" for c in data.columns) + "|"
        rows = ["| " + " | ".join(cell(r, c) for c in data.columns) + " |" for r in data.rows]
        title = f"**{sanitize(data.title)}**\n\n" if data.title else ""
        footer = f"\n\n{sanitize(data.footer)}" if data.footer else ""
        return title + "\n".join([header, rule, *rows]) + footer


def cheapest_per_gpu(servers: list[Any]) -> list[dict[str, Any]]:
    """One row per GPU model: the cheapest offer ``deploy`` can rent (USD per hour), and how many.

    Rented and GigaSPOT servers are left out: what is shown can be rented."""
    best: dict[str, dict[str, Any]] = {}
    for server in servers:
        names = server.gpu_names
        price = server.price_usd
        if not names or price is None or server.rented or not_rentable(server):
            continue
        model = names[0]
        entry = best.setdefault(model, {"gpu": model, "offers": 0, "usd_per_hour": None})
        entry["offers"] += 1
        if entry["usd_per_hour"] is None or price < entry["usd_per_hour"]:
            entry.update(
                usd_per_hour=price,
                usd_per_day=server.price_usd_per_day,
                server_id=server.id,
                gpus=server.gpu_count,
                country=server.location,
            )
    return sorted(best.values(), key=lambda row: row["usd_per_hour"])


@click.command()
@click.option("--gpu", help="Only GPU models containing this text, e.g. 4090.")
@output_options
@click.pass_context
def cheapest(ctx: click.Context, gpu: str | None) -> None:
    """The cheapest available offer per GPU model (USD per hour and per day)."""
    app = app_of(ctx)
    rows = cheapest_per_gpu(app.client().marketplace(gpu=gpu))
    columns = [
        Column("gpu", "GPU"),
        Column("usd_per_hour", "$/hour", "right", usd_per_hour, derived=True),
        Column("usd_per_day", "$/day", "right", usd_amount),
        Column("offers", "Offers", "right"),
        Column("server_id", "Cheapest server", "right"),
        Column("gpus", "GPUs", "right"),
        Column("country", "CC"),
    ]
    app.emit(Dataset("Cheapest offer per GPU model", columns, rows, id_key="server_id"))


@hookimpl
def clore_register_commands(cli: Any) -> None:
    cli.add_command(cheapest)


@hookimpl
def clore_register_output_formats() -> Any:
    return [MarkdownFormat]
