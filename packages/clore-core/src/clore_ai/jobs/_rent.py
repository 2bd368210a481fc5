"""Renting for a job: :mod:`clore_ai.renting` (rent by query under a USD price cap, falling
back when an offer is taken, never two orders), seen through the job's resources.

Everything that chooses and rents goes through :func:`find_offer` and :func:`rent_for_job`,
so another renter can still be passed as ``run_job(..., rent=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Protocol

from ..renting import NoOfferError, RentPlan, plan_rent, rent
from ._task import Resources

if TYPE_CHECKING:
    from .._client import CloreAI
    from ..models import Order
    from ..renting import Offer as RentOffer

__all__ = ["NoMatchingServer", "Offer", "Renter", "find_offer", "rent_for_job"]

FALLBACK = 5  # offers tried after the first when one is taken meanwhile (each under the cap)


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
    searched: int = 0  # the offers it was chosen from: matching, rentable, under the cap

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


def _job_offer(offer: RentOffer, searched: int) -> Offer:
    return Offer(
        server_id=offer.server_id,
        gpu=offer.server.gpu_model,
        currency=offer.currency,
        price_per_day=offer.price_per_day,
        usd_per_hour=offer.usd_per_hour,
        searched=searched,
    )


def _plan(client: CloreAI, resources: Resources) -> RentPlan:
    return plan_rent(client, resources.query, currency=resources.currency, max_price_usd=resources.max_price)


def find_offer(client: CloreAI, resources: Resources) -> Offer:
    """The best rentable offer matching ``resources`` under the cap (what :func:`rent` tries
    first); nothing is spent."""
    plan = _plan(client, resources)
    if not plan.offers:
        raise NoMatchingServer(f"{plan.nothing_to_rent()}; nothing was rented")
    return _job_offer(plan.offers[0], len(plan.offers))


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
    """Rent the best offer under the cap on demand, with SSH on port 22.

    ``offer`` is what the user was shown; when it was taken meanwhile the next offers under
    the same cap are tried (at most :data:`FALLBACK`). Each try is one ``create_order`` sent
    once and reconciled, and an unknown outcome stops the run: never a second order. When
    nothing could be rented, no order exists.
    """
    try:
        result = rent(
            client,
            resources.query,
            image=image,
            currency=resources.currency,
            max_price_usd=resources.max_price,
            fallback=FALLBACK,
            ports=dict(ports or {"22": "tcp"}),
            ssh_password=ssh_password,
            ssh_key=ssh_key,
        )
    except NoOfferError as error:
        raise NoMatchingServer(f"{error}; nothing was rented") from None
    searched = offer.searched if offer is not None else 0
    return result.order, _job_offer(result.offer, searched)
