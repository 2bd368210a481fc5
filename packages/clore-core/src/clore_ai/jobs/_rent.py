"""Renting for a job: the cheapest rentable server that matches the query under the price cap.

A minimal stand-in for the SDK's rent-by-query (with fallback): everything that chooses and
rents goes through :func:`find_offer` and :func:`rent_for_job`, so swapping in the real
``rent`` is one function (``run_job(..., rent=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from ..query import MarketQuery, not_rentable
from ._task import Resources

if TYPE_CHECKING:
    from .._client import CloreAI
    from ..models import MarketplaceServer, Order

__all__ = ["NoMatchingServer", "Offer", "Renter", "find_offer", "rent_for_job"]

_SHORT = {"bitcoin": "btc", "CLORE-Blockchain": "clore", "USD-Blockchain": "usd"}
_USD_KEY = {
    "bitcoin": "on_demand_btc",
    "CLORE-Blockchain": "on_demand_clore",
    "USD-Blockchain": "on_demand_usd",
}


class NoMatchingServer(Exception):
    """No rentable server matches the query under the price cap; nothing was rented."""


@dataclass(frozen=True)
class Offer:
    """The server a job will rent and its price (per day in the coin, and in USD)."""

    server_id: int
    gpu: str | None
    currency: str
    price_per_day: float  # in ``currency``
    usd_per_hour: float | None
    searched: int = 0  # servers looked at

    @property
    def usd_per_day(self) -> float | None:
        return None if self.usd_per_hour is None else self.usd_per_hour * 24


class Renter(Protocol):
    def __call__(
        self,
        client: CloreAI,
        resources: Resources,
        *,
        image: str,
        offer: Offer | None,
        ssh_password: str | None,
        ssh_key: str | None,
    ) -> tuple[Order, Offer]: ...


def _query_filter(query: str) -> Callable[[MarketplaceServer], bool]:
    return MarketQuery.parse(query).matches


def _usd_per_hour(server: MarketplaceServer, currency: str) -> float | None:
    usd: Any = server.price.usd if server.price else None
    value = getattr(usd, _USD_KEY.get(currency, ""), None) if usd is not None else None
    return float(value) / 24 if isinstance(value, (int, float)) and value > 0 else None


def _rentable(server: MarketplaceServer, currency: str) -> bool:
    return (
        not server.rented and not_rentable(server, currency) is None and bool(server.price_per_day(currency))
    )


def find_offer(client: CloreAI, resources: Resources) -> Offer:
    """The cheapest (in USD per hour) rentable server matching ``resources``; nothing is spent."""
    matches = _query_filter(resources.query)
    servers = client.marketplace()
    candidates = []
    for server in servers:
        if not _rentable(server, resources.currency) or not matches(server):
            continue
        usd = _usd_per_hour(server, resources.currency)
        if usd is not None and usd <= resources.max_price:
            candidates.append((usd, server.id, server))
    if not candidates:
        where = f"matching {resources.query!r} " if resources.query else ""
        coin = _SHORT.get(resources.currency, resources.currency)
        raise NoMatchingServer(
            f"no rentable server {where}costs at most ${resources.max_price:g}/hour in {coin} "
            f"(searched {len(servers)} available servers); nothing was rented"
        )
    usd, _, server = min(candidates, key=lambda item: (item[0], item[1]))
    return Offer(
        server_id=server.id,
        gpu=server.gpu_model,
        currency=resources.currency,
        price_per_day=float(server.price_per_day(resources.currency) or 0),
        usd_per_hour=usd,
        searched=len(servers),
    )


def rent_for_job(
    client: CloreAI,
    resources: Resources,
    *,
    image: str,
    offer: Offer | None = None,
    ssh_password: str | None = None,
    ssh_key: str | None = None,
    ports: Mapping[str, str] | None = None,
) -> tuple[Order, Offer]:
    """Rent ``offer`` (or the best offer now) on demand with SSH on port 22.

    ``create_order`` sends once and reconciles a lost answer, so no second order is made;
    when the API refuses, no order exists.
    """
    chosen = offer or find_offer(client, resources)
    order = client.create_order(
        server_id=chosen.server_id,
        image=image,
        type="on-demand",
        currency=chosen.currency,
        ssh_password=ssh_password,
        ssh_key=ssh_key,
        ports=dict(ports or {"22": "tcp"}),
        required_price=chosen.price_per_day,
    )
    return order, chosen
