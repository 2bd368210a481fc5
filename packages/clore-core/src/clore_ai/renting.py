"""Rent by query: the best matching offer under a price cap, falling back to the next one.

::

    from clore_ai import CloreAI
    from clore_ai.renting import rent

    with CloreAI() as client:
        result = rent(client, "gpu=4090 gpus>=2 price<0.40", image="cloreai/ubuntu22.04-cuda12",
                      currency="usd", fallback=5)
        print(result.order.id, result.server_id, result.usd_per_hour)

What holds:

- **Never above the cap.** The cap is USD per hour: the lowest of ``max_price_usd`` and a
  ``price<``/``price<=``/``price_day<`` term of the query. A server's price in the order's
  coin is converted with the USD value the API itself gives that price in the same answer
  (``price.usd.on_demand_btc`` …), else with the median rate the whole marketplace's prices
  imply (:func:`implied_usd_rates`). A price neither can convert is *not* under the cap.
  Each try sends ``required_price`` (the price per day it was checked at), so the server
  cannot charge more than was checked.
- **Never two orders.** Each try is one :meth:`~clore_ai.CloreAI.create_order` (sent once,
  reconciled). Only a definitive refusal that says the *offer* is gone — rented by someone
  else, offline, on GigaSPOT, not taking the coin, price changed, your own server — moves
  on to the next offer. When a try's outcome is unknown, rent stops
  (:class:`RentOutcomeUnknown`). A run records its try in flight on disk (``_rent_journal``);
  if the process dies mid-try, the next ``rent`` with the key finds the order that run may
  have left and raises :class:`PreviousRentOrder` instead of renting again.

The sync (:func:`rent`) and async (:func:`arent`) calls drive the same sans-IO flow.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, Sequence

from ._core import Flow
from ._endpoints import Endpoints, _raise
from ._inflight import order_matches
from ._rent_journal import RentJournal, RentRun, rent_journal_for_key
from ._validation import build_create_order_body, normalize_currency, plain_number
from .exceptions import CloreAPIError, FieldError, InvalidInputError, OrderOutcomeUnknown
from .models import MarketplaceServer, Order
from .query import MarketQuery, not_rentable, rank
from .spending import implied_usd_rates  # one definition of the rates the market implies

if TYPE_CHECKING:
    from ._client import AsyncCloreAI, CloreAI

__all__ = [
    "NoOfferError",
    "Offer",
    "PreviousRentOrder",
    "PriceCap",
    "RentAttempt",
    "RentOutcomeUnknown",
    "RentPlan",
    "RentResult",
    "aplan_rent",
    "arent",
    "implied_usd_rates",
    "interrupted_rents",
    "plan_rent",
    "rent",
    "usd_per_day",
]

_USD = "USD-Blockchain"
_USD_KEYS = {"bitcoin": "on_demand_btc", "CLORE-Blockchain": "on_demand_clore", _USD: "on_demand_usd"}
FRESH_FOR = 10.0  # seconds a marketplace listing is trusted before a try re-reads it
CLOCK_SKEW = 300.0  # how far the API's order time may be before a leftover try was recorded

# Refusals of create_order that are about the offer, not about the renter: try the next one.
MOVE_ON = {
    "server-already-rented": "taken",
    "server-offline": "offline",
    "server-dont-exist": "gone",
    "machine-is-on-gigaspot": "on GigaSPOT",
    "currency-not-allowed": "coin not accepted",
    "cant_rent_from_yourself": "your own server",
}


# ── prices in USD ──────────────────────────────────────────────────────────


def usd_per_day(server: Any, currency: str, rates: Mapping[str, float] | None = None) -> float | None:
    """The USD value per day of ``server``'s on-demand price in ``currency``, or None.

    The API's own USD value of that price (``price.usd``, same answer) first; else the price
    times ``rates[currency]`` (:func:`implied_usd_rates`); USD prices are USD.
    """
    native = server.price_per_day(currency)
    if not isinstance(native, (int, float)) or not math.isfinite(native) or native <= 0:
        return None
    if currency == _USD:
        return float(native)
    usd_block = server.price.usd if server.price else None
    shown = getattr(usd_block, _USD_KEYS[currency], None) if currency in _USD_KEYS else None
    if isinstance(shown, (int, float)) and math.isfinite(shown) and shown > 0:
        return float(shown)
    rate = (rates or {}).get(currency)
    return float(native) * rate if rate else None


@dataclass(frozen=True)
class PriceCap:
    """The most an offer may cost, in USD per hour; ``strict`` for a ``price<`` bound."""

    usd_per_hour: float
    strict: bool
    source: str  # "max_price_usd" or the query term, for messages

    def allows(self, usd_per_hour: float | None) -> bool:
        if usd_per_hour is None:
            return False  # a price that cannot be converted is never under the cap
        return usd_per_hour < self.usd_per_hour if self.strict else usd_per_hour <= self.usd_per_hour

    @classmethod
    def of(cls, query: MarketQuery, max_price_usd: float | None) -> PriceCap | None:
        """The tightest of ``max_price_usd`` and the query's price bounds."""
        caps: list[PriceCap] = []
        if max_price_usd is not None:
            usd = float(max_price_usd)
            caps.append(cls(usd, False, f"max price ${plain_number(usd)}/h"))
        for term in query.terms:
            if term.kind != "number" or term.op not in ("<", "<="):
                continue
            per_day = term.field == "usd_per_day"
            if term.field in ("usd_per_hour", "usd_per_day"):
                value = float(term.values[0]) / (24 if per_day else 1)
                caps.append(cls(value, term.op == "<", f"query term {term.label}"))
        if not caps:
            return None
        return min(caps, key=lambda cap: (cap.usd_per_hour, not cap.strict))


# ── results ────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Offer:
    """A server rent may try, with its price in the order's coin and in USD."""

    server: MarketplaceServer
    currency: str
    price_per_day: float  # in ``currency``
    usd_per_day: float | None

    @property
    def server_id(self) -> int:
        return self.server.id

    @property
    def usd_per_hour(self) -> float | None:
        return None if self.usd_per_day is None else self.usd_per_day / 24

    def to_dict(self) -> dict[str, Any]:
        return {
            "server_id": self.server_id,
            "gpu": self.server.gpu_model,
            "gpus": self.server.gpu_count,
            "currency": self.currency,
            "price_per_day": self.price_per_day,
            "usd_per_hour": self.usd_per_hour,
            "usd_per_day": self.usd_per_day,
            "max_rental_hours": self.server.mrl,
        }


@dataclass(frozen=True)
class RentPlan:
    """The offers rent would try, best first, and why the others were left out."""

    query: MarketQuery
    currency: str
    cap: PriceCap | None
    offers: tuple[Offer, ...]
    left_out: dict[str, int]  # reason -> how many matching servers
    rates: dict[str, float]
    read_at: float  # when the marketplace was read (the rate limiter's monotonic clock)
    servers: dict[int, MarketplaceServer] = field(default_factory=dict, repr=False)  # all, by id

    def nothing_to_rent(self) -> NoOfferError:
        """The error :func:`rent` raises when the plan has no offer (says what was left out)."""
        return _no_offer(self, [], 0, used_up=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query.text,
            "currency": self.currency,
            "cap_usd_per_hour": None if self.cap is None else self.cap.usd_per_hour,
            "cap": None if self.cap is None else self.cap.source,
            "offers": [offer.to_dict() for offer in self.offers],
            "left_out": dict(self.left_out),
        }


@dataclass(frozen=True)
class RentAttempt:
    """One offer rent looked at: ``outcome`` is ``ordered``, a reason it moved on, or why it stopped."""

    server_id: int
    outcome: str
    sent: bool  # a create_order went out for it
    price_per_day: float | None = None
    usd_per_hour: float | None = None
    api_error: str | None = None  # the API's error string of a refusal

    def to_dict(self) -> dict[str, Any]:
        return {
            "server_id": self.server_id,
            "outcome": self.outcome,
            "sent": self.sent,
            "price_per_day": self.price_per_day,
            "usd_per_hour": self.usd_per_hour,
            "api_error": self.api_error,
        }


@dataclass(frozen=True)
class RentResult:
    order: Order
    offer: Offer
    attempts: tuple[RentAttempt, ...]

    @property
    def server_id(self) -> int:
        return self.offer.server_id

    @property
    def currency(self) -> str:
        return self.offer.currency

    @property
    def price_per_day(self) -> float:
        return self.offer.price_per_day

    @property
    def usd_per_hour(self) -> float | None:
        return self.offer.usd_per_hour

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order.id,
            **self.offer.to_dict(),
            "attempts": [attempt.to_dict() for attempt in self.attempts],
        }


class NoOfferError(CloreAPIError):
    """No offer could be rented: none matched under the cap, or every try was refused for a
    reason that is about the offer, or ``fallback`` was used up. No order was made."""

    def __init__(self, message: str, *, attempts: Sequence[RentAttempt] = (), plan: RentPlan | None = None):
        super().__init__(message)
        self.attempts = tuple(attempts)
        self.plan = plan


class RentOutcomeUnknown(OrderOutcomeUnknown):
    """A try's outcome is unknown: rent stopped rather than risk a second order."""

    attempts: tuple[RentAttempt, ...] = ()


class PreviousRentOrder(OrderOutcomeUnknown):
    """An earlier ``rent`` with this key ended mid-try (a crash, Ctrl-C) and ``my_orders`` shows
    the order it may have made. Nothing was rented this time; the next run goes ahead."""

    def __init__(self, message: str, *, order_ids: Sequence[int], started_at: float, **kw: Any) -> None:
        super().__init__(message, candidate_order_ids=order_ids, **kw)
        self.order_ids = tuple(order_ids)
        self.started_at = started_at


# ── the flow ───────────────────────────────────────────────────────────────


class _Arguments(dict):  # type: ignore[type-arg]
    """create_order's arguments; its ``repr`` names the fields only (passwords sit in frames)."""

    def __repr__(self) -> str:
        return f"_Arguments({sorted(self)})"


@dataclass(repr=False)
class _Request:
    """What every try asks for besides the server (validated before anything is sent)."""

    image: str
    currency: str
    options: _Arguments = field(default_factory=_Arguments)

    def arguments(self, offer: Offer) -> _Arguments:
        return _Arguments(
            server_id=offer.server_id,
            image=self.image,
            type="on-demand",
            currency=self.currency,
            required_price=offer.price_per_day,
            **self.options,
        )

    def __repr__(self) -> str:
        return f"_Request(image={self.image!r}, currency={self.currency!r}, options={self.options!r})"


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def _offer_of(server: MarketplaceServer, currency: str, rates: Mapping[str, float]) -> Offer | None:
    native = server.price_per_day(currency)
    if not isinstance(native, (int, float)) or native <= 0:
        return None
    return Offer(server, currency, float(native), usd_per_day(server, currency, rates))


def _why_not(
    server: MarketplaceServer | None, query: MarketQuery, currency: str, cap: PriceCap | None, rates: Any
) -> tuple[str | None, Offer | None]:
    """(why rent cannot try ``server`` now, or None; its offer)."""
    if server is None:
        return "gone", None
    if server.rented:
        return "taken", None
    reason = not_rentable(server, currency)
    if reason is not None:
        return reason, None
    if not query.matches(server):
        return "no longer matches", None
    offer = _offer_of(server, currency, rates)
    if offer is None:
        return "no price in the coin", None
    if offer.usd_per_day is None and cap is not None:
        return "price not convertible to USD", offer
    if cap is not None and not cap.allows(offer.usd_per_hour):
        return "over the cap", offer
    return None, offer


def build_plan(
    servers: list[MarketplaceServer],
    query: MarketQuery,
    currency: str,
    cap: PriceCap | None,
    sort: str,
    read_at: float,
) -> RentPlan:
    """Rank the servers that match and rent could try now (pure; no I/O)."""
    rates = implied_usd_rates(servers)
    left_out: dict[str, int] = {}
    offers: list[Offer] = []
    for server in rank((s for s in servers if query.matches(s)), sort):
        reason, offer = _why_not(server, query, currency, cap, rates)
        if reason is not None or offer is None:
            key = reason or "no price in the coin"
            key = "not taking the coin" if key.startswith("does not take") else key
            left_out[key] = left_out.get(key, 0) + 1
            continue
        offers.append(offer)
    if sort == "price":  # the price paid is the one in the order's coin
        offers.sort(key=lambda o: (o.usd_per_day is None, o.usd_per_day or 0.0))
    by_id = {server.id: server for server in servers}
    return RentPlan(query, currency, cap, tuple(offers), left_out, rates, read_at, by_id)


def _market(client: Endpoints) -> Flow[list[MarketplaceServer]]:
    servers: list[MarketplaceServer] = yield from Endpoints.marketplace.__wrapped__(
        client, available_only=False
    )
    return servers


def _plan_flow(
    client: Endpoints, query: MarketQuery, currency: str, cap: PriceCap | None, sort: str
) -> Flow[RentPlan]:
    servers = yield from _market(client)
    return build_plan(servers, query, currency, cap, sort, client._core.limiter.clock())


def _resolve_leftovers(client: Endpoints, journal: RentJournal) -> Flow[None]:
    """Say which order an earlier run that ended mid-try left; forget runs that left none."""
    left = journal.leftovers()
    if not left:
        return
    tried = [run for run in left if run.server_id is not None and run.sent_at is not None]
    if tried:
        orders: list[Order] = yield from client._orders_flow(False)
        for run in tried:
            found = _orders_of(run, orders)
            if found:
                journal.forget([r.token for r in left])
                raise _previous_order(run, found)
    journal.forget([r.token for r in left])


def interrupted_rents(
    client: Any, orders: Sequence[Order], *, journal: RentJournal | None = None
) -> list[PreviousRentOrder]:
    """For ``clore orders``: what earlier ``rent`` runs that ended mid-try may have left among
    ``orders`` (from ``my_orders``), as the errors the next ``rent`` would raise. Reads the
    journal only; the next ``rent`` still reports and then forgets them."""
    journal = _journal_of(client, journal)
    found = []
    for run in journal.leftovers():
        if run.server_id is not None and run.sent_at is not None:
            ids = _orders_of(run, list(orders))
            if ids:
                found.append(_previous_order(run, ids))
    return found


def _orders_of(run: RentRun, orders: list[Order]) -> list[int]:
    since = (run.sent_at or run.started_at) - CLOCK_SKEW
    return sorted(
        o.id
        for o in orders
        if o.server_id == run.server_id
        and not o.expired
        and order_matches(o, run.visible)
        and (o.ct is None or o.ct >= since)
    )


def _previous_order(run: RentRun, order_ids: list[int]) -> PreviousRentOrder:
    shown = ", ".join(str(i) for i in order_ids)
    first = order_ids[0]
    return PreviousRentOrder(
        f"a previous `clore rent` (started {_utc(run.started_at)}, query {run.query!r}) ended while "
        f"renting server {run.server_id} and may have left order {shown}: check it with `clore order "
        f"{first}` (stop it with `clore cancel {first}`). Nothing was rented now; run rent again to rent "
        "another server",
        order_ids=order_ids,
        started_at=run.started_at,
        server_id=run.server_id,
        sent_at=run.sent_at,
        cause="a previous rent ended mid-try",
    )


def _no_offer(plan: RentPlan, attempts: list[RentAttempt], fallback: int, used_up: bool) -> NoOfferError:
    coin = {"bitcoin": "btc", "CLORE-Blockchain": "clore", _USD: "usd"}.get(plan.currency, plan.currency)
    cap = f" under the cap (${plain_number(plan.cap.usd_per_hour)}/h, {plan.cap.source})" if plan.cap else ""
    if not plan.offers:
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(plan.left_out.items()))
        if not skipped:
            return NoOfferError(f"no server on the marketplace matches {plan.query.text!r}", plan=plan)
        message = f"no server matching {plan.query.text!r} can be rented in {coin}{cap} now ({skipped})"
    else:
        tried = "; ".join(f"server {a.server_id}: {a.outcome}" for a in attempts) or "none"
        ending = f"--fallback {fallback} used up" if used_up else "no offers left"
        message = f"no order was made: {ending} ({tried}); nothing is billing"
    return NoOfferError(message, attempts=attempts, plan=plan)


def rent_flow(
    client: Endpoints,
    query: MarketQuery,
    request: _Request,
    *,
    cap: PriceCap | None,
    fallback: int,
    sort: str,
    plan: RentPlan | None,
    journal: RentJournal,
    on_attempt: Callable[[RentAttempt], None] | None,
    on_send: Callable[[Offer], None] | None = None,
) -> Flow[RentResult]:
    """The rent run as a flow (``_core``): both clients drive this one generator."""
    yield from _resolve_leftovers(client, journal)
    now = client._core.limiter.clock
    if plan is None:
        plan = yield from _plan_flow(client, query, request.currency, cap, sort)
    attempts: list[RentAttempt] = []

    def note(attempt: RentAttempt) -> None:
        attempts.append(attempt)
        if on_attempt is not None:
            on_attempt(attempt)

    token = journal.start(query.text)
    try:
        sends, listing = 0, plan
        for candidate in plan.offers:
            if sends > fallback:
                journal.finish(token)
                raise _no_offer(plan, attempts, fallback, used_up=True)
            if now() - listing.read_at > FRESH_FOR:  # prices drift, servers get taken: look again
                try:
                    listing = yield from _plan_flow(client, query, request.currency, cap, sort)
                except BaseException:
                    journal.finish(token)  # nothing in flight
                    raise
            reason, offer = _why_not(
                listing.servers.get(candidate.server_id), query, request.currency, cap, listing.rates
            )
            if reason is not None or offer is None:
                price, usd = (offer.price_per_day, offer.usd_per_hour) if offer else (None, None)
                note(RentAttempt(candidate.server_id, reason or "gone", False, price, usd))
                continue
            sends += 1
            if on_send is not None:
                on_send(offer)
            order, outcome, error = yield from _try(client, request, offer, journal, token, attempts, note)
            price, usd = offer.price_per_day, offer.usd_per_hour
            note(RentAttempt(offer.server_id, outcome, True, price, usd, error))
            if order is not None:
                return RentResult(order, offer, tuple(attempts))
            listing = replace(listing, read_at=-math.inf)  # the market moved: look again before the next
        journal.finish(token)
        raise _no_offer(plan, attempts, fallback, used_up=False)
    finally:
        journal.release(token)  # a no-op once finished; else the run is left for the next one


def _try(
    client: Endpoints,
    request: _Request,
    offer: Offer,
    journal: RentJournal,
    token: str,
    attempts: list[RentAttempt],
    note: Callable[[RentAttempt], None],
) -> Flow[tuple[Order | None, str, str | None]]:
    """One create_order: (the order, "ordered", None) or (None, why it moved on, the API's error).

    The try is in the journal from before the request until its outcome is known; an
    interruption (the flow closed) leaves it there for the next run to resolve.
    """
    arguments = request.arguments(offer)
    journal.sending(token, offer.server_id, build_create_order_body(**arguments))
    try:
        order: Order = yield from Endpoints.create_order.__wrapped__(client, **arguments)
    except OrderOutcomeUnknown as unknown:
        journal.unknown(token)
        note(RentAttempt(offer.server_id, "outcome unknown", True, offer.price_per_day, offer.usd_per_hour))
        raise _stopped(unknown, attempts) from None
    except FieldError as refusal:
        outcome = _move_on_reason(refusal)
        if outcome is None:
            journal.finish(token)  # a definitive refusal about the renter: no order exists
            raise
        journal.refused(token)
        return None, outcome, refusal.error
    except CloreAPIError:
        journal.finish(token)  # create_order raises these only when no order was made
        raise
    journal.finish(token)
    return order, "ordered", None


def _move_on_reason(refusal: FieldError) -> str | None:
    name = refusal.error or ""
    if name in MOVE_ON:
        return MOVE_ON[name]
    lowered = name.lower()
    if "price" in lowered and ("chang" in lowered or "required" in lowered):
        return "price changed"
    return None


def _stopped(unknown: OrderOutcomeUnknown, attempts: list[RentAttempt]) -> RentOutcomeUnknown:
    error = RentOutcomeUnknown(
        f"{unknown.message}; rent stopped here and did not try another server (that could make a "
        "second order)",
        server_id=unknown.server_id,
        sent_at=unknown.sent_at,
        cause=unknown.cause,
        candidate_order_ids=unknown.candidate_order_ids,
        code=unknown.code,
    )
    error.attempts = tuple(attempts)
    return error


# ── the calls ──────────────────────────────────────────────────────────────


def _prepare(
    client: Any,
    query: MarketQuery | str,
    *,
    image: str,
    currency: str,
    max_price_usd: float | None,
    fallback: int,
    sort: str,
    options: dict[str, Any],
) -> tuple[MarketQuery, _Request, PriceCap | None]:
    """Everything checked before anything is sent (an :class:`InvalidInputError` otherwise)."""
    parsed = query if isinstance(query, MarketQuery) else MarketQuery.parse(query)
    coin = normalize_currency(currency)
    if isinstance(fallback, bool) or not isinstance(fallback, int) or not 0 <= fallback <= 100:
        raise InvalidInputError(f"fallback must be a whole number from 0 to 100, got {fallback!r}", code=2)
    _check_cap(max_price_usd)
    rank([], sort)  # a bad sort spec raises QueryError now
    request = _Request(image, coin, _Arguments((k, v) for k, v in options.items() if v is not None))
    probe = {**request.arguments(Offer(MarketplaceServer(id=1), coin, 1.0, None))}
    build_create_order_body(**probe)  # the image, ports, env, passwords … are valid
    return parsed, request, PriceCap.of(parsed, max_price_usd)


def _check_cap(max_price_usd: Any) -> None:
    if max_price_usd is not None and (
        isinstance(max_price_usd, bool)
        or not isinstance(max_price_usd, (int, float))
        or not math.isfinite(max_price_usd)
        or max_price_usd <= 0
    ):
        raise InvalidInputError(f"max_price_usd must be a positive number, got {max_price_usd!r}", code=2)


def _journal_of(client: Any, journal: RentJournal | None) -> RentJournal:
    if journal is not None:
        return journal
    secret = client._core._key()
    return rent_journal_for_key(secret.reveal() if secret is not None else None)


def _flow(client: Any, query: Any, kwargs: dict[str, Any]) -> Flow[RentResult]:
    plan, journal = kwargs.pop("plan"), kwargs.pop("journal")
    on_attempt, on_send = kwargs.pop("on_attempt"), kwargs.pop("on_send")
    options = {
        name: kwargs.pop(name)
        for name in (
            "ports",
            "env",
            "ssh_password",
            "ssh_key",
            "command",
            "jupyter_token",
            "autossh_entrypoint",
        )
    }
    parsed, request, cap = _prepare(client, query, options=options, **kwargs)
    return rent_flow(
        client,
        parsed,
        request,
        cap=cap,
        fallback=kwargs["fallback"],
        sort=kwargs["sort"],
        plan=plan,
        journal=_journal_of(client, journal),
        on_attempt=on_attempt,
        on_send=on_send,
    )


def _checked_flow(client: Any, query: Any, kwargs: dict[str, Any]) -> Flow[RentResult]:
    """The flow, or one that raises the input error when driven, its traceback dropped (frame
    locals hold passwords; see ``_endpoints.start_flow``)."""
    try:
        return _flow(client, query, kwargs)
    except InvalidInputError as error:
        return _raise(error.with_traceback(None))


def rent(
    client: CloreAI,
    query: MarketQuery | str,
    *,
    image: str,
    currency: str,
    max_price_usd: float | None = None,
    fallback: int = 5,
    sort: str = "price",
    ports: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    ssh_password: str | None = None,
    ssh_key: str | None = None,
    command: str | None = None,
    jupyter_token: str | None = None,
    autossh_entrypoint: bool | None = None,
    plan: RentPlan | None = None,
    journal: RentJournal | None = None,
    on_attempt: Callable[[RentAttempt], None] | None = None,
    on_send: Callable[[Offer], None] | None = None,
) -> RentResult:
    """Rent the best offer matching ``query`` in ``currency`` under the price cap; on a refusal
    about the offer, try the next, at most ``fallback`` more. See the module docstring.

    ``plan`` (from :func:`plan_rent`) reuses a listing a person just saw and agreed to;
    ``on_send`` is called right before each create_order (the offer it rents), ``on_attempt``
    after each offer looked at (sent or skipped). Raises :class:`NoOfferError`,
    :class:`RentOutcomeUnknown`, :class:`PreviousRentOrder`, or the API error that stopped it.
    """
    kwargs = dict(locals())
    del kwargs["client"], kwargs["query"]
    flow = _checked_flow(client, query, kwargs)
    del kwargs, ssh_password, jupyter_token, env, command  # secrets stay out of tracebacks
    result: RentResult = client._drive(flow)
    return result


def arent(
    client: AsyncCloreAI,
    query: MarketQuery | str,
    *,
    image: str,
    currency: str,
    max_price_usd: float | None = None,
    fallback: int = 5,
    sort: str = "price",
    ports: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    ssh_password: str | None = None,
    ssh_key: str | None = None,
    command: str | None = None,
    jupyter_token: str | None = None,
    autossh_entrypoint: bool | None = None,
    plan: RentPlan | None = None,
    journal: RentJournal | None = None,
    on_attempt: Callable[[RentAttempt], None] | None = None,
    on_send: Callable[[Offer], None] | None = None,
) -> Awaitable[RentResult]:
    """:func:`rent` for :class:`~clore_ai.AsyncCloreAI`: ``await arent(client, ...)``."""
    kwargs = dict(locals())
    del kwargs["client"], kwargs["query"]
    flow = _checked_flow(client, query, kwargs)
    del kwargs, ssh_password, jupyter_token, env, command  # secrets stay out of tracebacks
    result: Awaitable[RentResult] = client._drive(flow)
    return result


def _plan_args(query: MarketQuery | str, currency: str, max_price_usd: float | None, sort: str) -> Any:
    parsed = query if isinstance(query, MarketQuery) else MarketQuery.parse(query)
    _check_cap(max_price_usd)
    rank([], sort)
    return parsed, normalize_currency(currency), PriceCap.of(parsed, max_price_usd)


def plan_rent(
    client: CloreAI,
    query: MarketQuery | str,
    *,
    currency: str,
    max_price_usd: float | None = None,
    sort: str = "price",
) -> RentPlan:
    """The offers :func:`rent` would try, best first, without renting (one marketplace read)."""
    parsed, coin, cap = _plan_args(query, currency, max_price_usd, sort)
    plan: RentPlan = client._drive(_plan_flow(client, parsed, coin, cap, sort))
    return plan


def aplan_rent(
    client: AsyncCloreAI,
    query: MarketQuery | str,
    *,
    currency: str,
    max_price_usd: float | None = None,
    sort: str = "price",
) -> Awaitable[RentPlan]:
    """:func:`plan_rent` for :class:`~clore_ai.AsyncCloreAI`."""
    parsed, coin, cap = _plan_args(query, currency, max_price_usd, sort)
    plan: Awaitable[RentPlan] = client._drive(_plan_flow(client, parsed, coin, cap, sort))
    return plan
