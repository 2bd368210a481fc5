"""Models of what the Clore.ai API returns.

They parse the live wire shapes (``si``, ``spot``, list-typed ``pub_cluster`` and
``"22:1277"`` ``tcp_ports``, ``offer_id``/``bid`` spot offers, nested ``gpu_array``,
null balances, missing ``specs``) and present the fields and properties that the SDK
documentation promises.

Units. The API quotes every price **per day** in the order's currency. Properties named
``..._usd`` (``price_usd``, ``spot_price_usd``) are USD **per hour**, as the SDK has always
documented them; every per-day value has a name that says ``per_day``.

Unknown fields are kept (``model_extra``) on every model except the nested hardware and
price objects of the marketplace, which thousands of servers repeat: those ignore
unknown keys to keep parsing fast (see docs/architecture.md).
"""

# Pydantic evaluates annotations at run time, and `X | None` does not exist on Python 3.9,
# so this module spells optional types the old way.
import logging
from datetime import datetime, timezone
from typing import Annotated, Any, Dict, List, Mapping, Optional, Union

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    computed_field,
    field_validator,
    model_validator,
)
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from ._lazy import LAZY, WithLazyFields, install_lazy_fields, keep_unread, unread_fields_of
from ._nested import JsonValue, NestedModel, prepare_readers

__all__ = [
    "HOURS_PER_DAY",
    "CancelOrdersResult",
    "GigaSpotCreateResult",
    "GigaSpotEditResult",
    "GigaSpotInfo",
    "MarketplaceServer",
    "MyServer",
    "NetSpecs",
    "Order",
    "PoHBalance",
    "RenterFees",
    "ServerConfig",
    "ServerPrice",
    "ServerRating",
    "ServerSpecs",
    "SpotMarket",
    "SpotOffer",
    "SpotServerInfo",
    "UsdPrice",
    "Wallet",
]

log = logging.getLogger("clore_ai")

HOURS_PER_DAY = 24.0
PriceMap = Dict[str, Optional[float]]


class _Readable(BaseModel):
    @property
    def unread_fields(self) -> Dict[str, Any]:
        """Raw values of the fields whose wire shape was unexpected; they read ``None``.

        Empty for an answer of the expected shape. Keys are dotted paths (``"specs.ram"``).
        See docs/architecture.md, "Lenient reading".
        """
        return unread_fields_of(self)


class _Model(_Readable):
    """Keeps unknown fields: the API grows, and raw data must stay reachable."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


def _per_hour(per_day: Optional[float]) -> Optional[float]:
    return None if per_day is None else per_day / HOURS_PER_DAY


def _flatten_names(items: Any) -> List[str]:
    """`["RTX 4090"]`, `[[" GTX 745"]]` or mixed → `["RTX 4090", "GTX 745"]`."""
    names: List[str] = []
    stack = list(items or [])[::-1]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(list(item)[::-1])
        elif item is not None:
            names.append(str(item).strip())
    return names


def _port_mapping(value: Any) -> "tuple[Dict[str, int], bool]":
    """``tcp_ports`` entries ``"INNER:OUTER"`` as a mapping, and whether any entry was not one."""
    mapping: Dict[str, int] = {}
    unreadable = False
    for entry in value if isinstance(value, (list, tuple)) else [value]:
        inner, sep, outer = str(entry).partition(":")
        if sep and inner.strip().isdigit() and outer.strip().isdigit():
            mapping[inner.strip()] = int(outer)
        else:
            unreadable = True
    return mapping, unreadable


def _utc_from_epoch(seconds: float) -> Optional[datetime]:
    """A UTC time from epoch seconds; None for a number no date has (year 58493, 1e300)."""
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _count_from_description(description: Optional[str]) -> int:
    """`"2x NVIDIA A100"` → 2."""
    if description:
        head = description.split("x", 1)[0].strip()
        if head.isdigit():
            return int(head)
    return 0


# ── wallets ────────────────────────────────────────────────────────────────


class Wallet(_Model):
    name: str
    balance: Optional[float] = None
    deposit: Optional[str] = None
    withdrawal_fee: Optional[float] = None

    @property
    def currency(self) -> str:
        """The wallet's currency (its ``name``), as clore-ai 0.1.1's README reads it."""
        return self.name


# ── hardware ───────────────────────────────────────────────────────────────


class NetSpecs(NestedModel):
    cc: Optional[str] = None
    down: Optional[float] = None
    up: Optional[float] = None


class ServerSpecs(NestedModel):
    mb: Optional[str] = None
    cpu: Optional[str] = None
    cpus: Optional[str] = None
    ram: Optional[float] = None
    disk: Optional[str] = None
    disk_speed: Optional[float] = None
    gpu: Optional[str] = None
    gpuram: Optional[float] = None
    net: Optional[NetSpecs] = None
    backend_version: Optional[int] = None
    pcie_rev: Optional[int] = None
    pcie_width: Optional[int] = None
    pl: Optional[List[JsonValue]] = None
    stock_pl: Optional[List[JsonValue]] = None


class ServerRating(NestedModel):
    avg: Optional[float] = None
    cnt: Optional[int] = None


class UsdPrice(NestedModel):
    """USD equivalents of the per-day prices (``price.usd`` on the wire)."""

    on_demand_btc: Optional[float] = None
    on_demand_clore: Optional[float] = None
    on_demand_usd: Optional[float] = None
    spot: Optional[float] = None


class ServerPrice(NestedModel):
    """``price`` of a marketplace server; every number is **per day**."""

    on_demand: Optional[PriceMap] = None
    spot: Optional[PriceMap] = None
    usd: Optional[UsdPrice] = None
    original_usd: Optional[Dict[str, JsonValue]] = None


def _gpu_description(specs: Optional[ServerSpecs], gpu_array: Any) -> Optional[str]:
    """``specs.gpu`` when present, else built from ``gpu_array`` (``"2x GTX 745"``)."""
    if specs is not None and specs.gpu:
        return specs.gpu
    names = _flatten_names(gpu_array)
    return f"{len(names)}x {names[0]}" if names else None


_USD_KEY_FOR_CURRENCY = {
    "bitcoin": "on_demand_btc",
    "CLORE-Blockchain": "on_demand_clore",
    "USD-Blockchain": "on_demand_usd",
}


# ── marketplace ────────────────────────────────────────────────────────────


class MarketplaceServer(_Model, WithLazyFields):
    """One server of ``marketplace()``. Prices: ``*_usd`` per hour, ``*_per_day`` per day.

    ``price``, ``specs`` and ``rating`` are validated when first read (see ``_lazy.py``).
    """

    id: int
    owner: Optional[int] = None
    mrl: Optional[int] = Field(None, description="maximum rental length, hours")
    price: Annotated[Optional[ServerPrice], LAZY] = None
    rented: Optional[bool] = None
    specs: Annotated[Optional[ServerSpecs], LAZY] = None
    reliability: Optional[float] = None
    allowed_coins: Optional[List[str]] = None
    rating: Annotated[Optional[ServerRating], LAZY] = None
    gpu_array: Optional[List[Any]] = None
    gigaspot: Any = None
    oc: Optional[bool] = None
    autoprice: Any = None
    cuda_version: Optional[str] = None

    @property
    def gpu_model(self) -> Optional[str]:
        """Primary GPU description, e.g. ``"1x NVIDIA GeForce RTX 4090"``."""
        return _gpu_description(self.specs, self.gpu_array)

    @property
    def gpu_names(self) -> List[str]:
        """One short name per GPU, from ``gpu_array`` (nested lists flattened)."""
        return _flatten_names(self.gpu_array)

    @property
    def gpu_count(self) -> int:
        names = self.gpu_names
        if names:
            return len(names)
        return _count_from_description(self.specs.gpu if self.specs else None)

    @property
    def ram_gb(self) -> Optional[float]:
        return self.specs.ram if self.specs else None

    @property
    def location(self) -> Optional[str]:
        """Country code (ISO-2) from the network specs."""
        if self.specs is not None and self.specs.net is not None:
            return self.specs.net.cc
        return None

    @property
    def available(self) -> bool:
        """Not rented on-demand."""
        return not self.rented

    @property
    def on_gigaspot(self) -> bool:
        """The server is on GigaSPOT: ``create_order`` cannot rent it (the API answers
        ``machine-is-on-gigaspot``); bid on it with ``create_gigaspot_orders`` instead.

        True only for a ``gigaspot`` of ``true`` (or a non-empty object, as some answers
        carry); a missing or ``false`` flag reads False.
        """
        flag = self.gigaspot
        return flag is True or (isinstance(flag, dict) and bool(flag))

    @property
    def max_rental_hours(self) -> Optional[int]:
        """``mrl``: the maximum rental length in hours."""
        return self.mrl

    @property
    def price_usd_per_day(self) -> Optional[float]:
        """Cheapest on-demand price in USD per day among the currencies the host accepts."""
        price = self.price  # every server of a sorted listing passes here: one read, one loop
        usd = price.usd if price is not None else None
        if usd is None:
            return None
        cheapest: Optional[float] = None
        for coin in self.allowed_coins or _USD_KEY_FOR_CURRENCY:
            key = _USD_KEY_FOR_CURRENCY.get(coin)
            value = getattr(usd, key) if key is not None else None
            if value is not None and value > 0 and (cheapest is None or value < cheapest):
                cheapest = value
        return cheapest

    @property
    def price_usd(self) -> Optional[float]:
        """On-demand price in USD **per hour**."""
        return _per_hour(self.price_usd_per_day)

    @property
    def spot_price_usd_per_day(self) -> Optional[float]:
        """Minimum spot price in USD per day.

        ``price.usd.spot`` is often 0 on the live API even when spot prices exist; then the
        USD value is derived from the spot price in a currency whose exchange rate is implied
        by the same server's on-demand prices.
        """
        if self.price is None:
            return None
        usd = self.price.usd
        if usd is not None and usd.spot:
            return usd.spot
        spot, on_demand = self.price.spot or {}, self.price.on_demand or {}
        for currency, usd_key in _USD_KEY_FOR_CURRENCY.items():
            native_spot, native_od = spot.get(currency), on_demand.get(currency)
            usd_od: Optional[float] = getattr(usd, usd_key) if usd is not None else None
            if native_spot and native_od and usd_od:
                return float(native_spot * (usd_od / native_od))
        return None

    @property
    def price_usd_per_hour(self) -> Optional[float]:
        """On-demand price in USD per hour (the same as :attr:`price_usd`)."""
        return self.price_usd

    @property
    def spot_price_usd(self) -> Optional[float]:
        """Minimum spot price in USD **per hour**."""
        return _per_hour(self.spot_price_usd_per_day)

    def price_per_day(self, currency: str) -> Optional[float]:
        """On-demand price per day in ``currency`` (None if the host does not accept it)."""
        return (self.price.on_demand or {}).get(currency) if self.price else None

    def spot_price_per_day(self, currency: str) -> Optional[float]:
        """Minimum spot price per day in ``currency``."""
        return (self.price.spot or {}).get(currency) if self.price else None


install_lazy_fields(MarketplaceServer, price=ServerPrice, specs=ServerSpecs, rating=ServerRating)
prepare_readers(ServerSpecs, ServerPrice, ServerRating, NetSpecs, UsdPrice)


# ── hosted servers ─────────────────────────────────────────────────────────


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _usd_price(usd_pricing: Any, kind: str, currency: Optional[str] = None) -> Optional[float]:
    """A USD per-day price from either wire shape of ``usd_pricing``.

    2025 answers are flat, one price for every currency: ``{"on_demand": 25, "spot": 20}``;
    2026 answers are per currency: ``{"bitcoin": {"on_demand": 2.5, "spot": 2}}``. Without
    ``currency``, the first per-currency price is taken.
    """
    if not isinstance(usd_pricing, Mapping):
        return None
    if kind in usd_pricing and not isinstance(usd_pricing[kind], Mapping):
        return _number(usd_pricing[kind])
    groups = [usd_pricing.get(currency)] if currency is not None else list(usd_pricing.values())
    for group in groups:
        if isinstance(group, Mapping):
            value = _number(group.get(kind))
            if value is not None:
                return value
    return None


def _autoprice_on(autoprice: Any) -> Optional[bool]:
    """``"usd"`` (2025), ``{"bitcoin": false, "CLORE-Blockchain": "usd"}`` or a boolean."""
    if autoprice is None:
        return None
    if isinstance(autoprice, Mapping):
        return any(bool(v) for v in autoprice.values())
    if isinstance(autoprice, (bool, str)):
        return bool(autoprice)
    return None


class _Hosted(_Model):
    """Fields a host's own server carries in ``my_servers()`` and ``server_config()``.

    Prices are **per day**. ``usd_pricing`` and ``autoprice`` keep their wire value, whose
    shape changed over time; read them through the properties.
    """

    name: Optional[str] = None
    id: Optional[int] = None
    connected: Optional[bool] = None
    online: Optional[bool] = None
    visibility: Optional[str] = Field(None, description='"public" or "hidden"')
    public_name: Optional[str] = None
    pricing: Optional[PriceMap] = None
    usd_pricing: Any = None
    autoprice: Any = None
    rented: Optional[bool] = None
    remaining_time: Optional[float] = Field(None, description="end of the current rental, Unix milliseconds")
    energy_price: Optional[float] = None
    max_poh_capacity: Optional[float] = None
    enable_btc_and_clore: Optional[bool] = None
    enable_only_clore: Optional[bool] = None
    enable_only_btc: Optional[bool] = None
    specs: Optional[ServerSpecs] = None
    gpu_array: Optional[List[Any]] = None

    @property
    def gpu_model(self) -> Optional[str]:
        return _gpu_description(self.specs, self.gpu_array)

    @property
    def ram_gb(self) -> Optional[float]:
        return self.specs.ram if self.specs else None

    @property
    def is_public(self) -> Optional[bool]:
        """``visibility == "public"`` (``"hidden"`` servers are not listed)."""
        return None if self.visibility is None else self.visibility == "public"

    @property
    def availability(self) -> Optional[bool]:
        """Offered for rent, as clore-ai 0.1.1's README reads it: the same as :attr:`is_public`."""
        return self.is_public

    @property
    def usd_pricing_per_currency(self) -> Optional[bool]:
        """True for the 2026 per-currency ``usd_pricing``, False for the flat 2025 one."""
        if not isinstance(self.usd_pricing, Mapping) or not self.usd_pricing:
            return None
        return all(isinstance(v, Mapping) for v in self.usd_pricing.values())

    @property
    def on_demand_usd_per_day(self) -> Optional[float]:
        """The host's on-demand USD price **per day** (first currency when per currency)."""
        return _usd_price(self.usd_pricing, "on_demand")

    @property
    def spot_usd_per_day(self) -> Optional[float]:
        """The host's minimum spot USD price **per day**."""
        return _usd_price(self.usd_pricing, "spot")

    def usd_price_per_day(self, currency: str, kind: str = "on_demand") -> Optional[float]:
        """USD price per day for ``currency`` (``kind`` ``"on_demand"`` or ``"spot"``);
        a flat ``usd_pricing`` applies to every currency."""
        return _usd_price(self.usd_pricing, kind, currency)

    @property
    def autoprice_enabled(self) -> Optional[bool]:
        """Whether automatic USD pricing is on (for at least one currency)."""
        return _autoprice_on(self.autoprice)

    @property
    def rented_until(self) -> Optional[datetime]:
        """End of the current rental, from ``remaining_time`` (a millisecond epoch)."""
        if not self.rented or not self.remaining_time:
            return None
        return _utc_from_epoch(self.remaining_time / 1000)


class MyServer(_Hosted):
    """A server you host (``my_servers()``); never-connected servers have no ``id``/``specs``."""

    min_spot_pricing: Optional[PriceMap] = None
    mrl: Optional[int] = Field(None, description="maximum rental length, hours")
    gpu_count: Optional[int] = None
    allowed_currencies: Optional[List[str]] = None
    working_properly: Optional[bool] = None
    max_fair_price_usd: Optional[float] = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> str:
        """``"Online"``, ``"Offline"``, ``"Disconnected"`` or ``"Not Working"``."""
        if not self.connected:
            return "Disconnected"
        if not self.online:
            return "Offline"
        if self.working_properly is False:
            return "Not Working"
        return "Online"


def _unwrap(data: Any, key: str) -> Any:
    """Lift ``{key: {...}, other: …}`` into ``{..., other: …}``."""
    if isinstance(data, Mapping) and isinstance(data.get(key), Mapping):
        merged = dict(data[key])
        merged.update({k: v for k, v in data.items() if k not in (key, "code")})
        return merged
    return data


class ServerConfig(_Hosted):
    """``server_config(name)``: the configuration of a server you host. Prices per day."""

    initialized: Optional[bool] = None
    mrl: Optional[int] = Field(None, description="maximum rental length, hours")
    spot_pricing: Optional[PriceMap] = None
    allowed_coins: Optional[List[str]] = None
    rental_status: Optional[int] = None
    background_job: Optional[Dict[str, Any]] = None
    creation_completed: Optional[bool] = None

    @model_validator(mode="before")
    @classmethod
    def _lift_config(cls, data: Any) -> Any:
        return _unwrap(data, "config")

    @staticmethod
    def __clore_lift__(data: Any) -> Any:
        return _unwrap(data, "config")

    @property
    def on_demand_price(self) -> Optional[float]:
        """First available on-demand USD price, **per day** (as the host sets it)."""
        return self.on_demand_usd_per_day

    @property
    def spot_price(self) -> Optional[float]:
        """First available minimum spot USD price, **per day**."""
        return self.spot_usd_per_day

    @property
    def on_demand_price_per_day(self) -> Optional[float]:
        return self.on_demand_price

    @property
    def spot_price_per_day(self) -> Optional[float]:
        return self.spot_price


# ── orders ─────────────────────────────────────────────────────────────────


class Order(_Model):
    """One of your orders (``my_orders()``, ``create_order()``).

    ``price`` is per day in ``currency``; ``tcp_ports`` maps container port → public port.
    """

    id: int
    server_id: Optional[int] = Field(None, validation_alias=AliasChoices("si", "server_id", "renting_server"))
    image: Optional[str] = None
    currency: Optional[str] = None
    price: Optional[float] = Field(None, description="price per day in `currency`")
    spot: Optional[bool] = None
    expired: Optional[bool] = None
    online: Optional[bool] = None
    ct: Optional[int] = Field(None, description="creation time, Unix seconds")
    spend: Optional[float] = None
    creation_fee: Optional[float] = None
    mrl: Optional[int] = Field(None, description="maximum rental length, **seconds** (see mrl_hours)")
    pub_clusters: List[str] = Field(
        default_factory=list, validation_alias=AliasChoices("pub_cluster", "pub_clusters")
    )
    tcp_ports: Optional[Dict[str, int]] = None
    http_port: Optional[str] = None
    http_pub: Optional[str] = None
    mon_container: Optional[int] = None
    specs: Optional[ServerSpecs] = None
    reconciled: bool = Field(
        False, description="True when create_order found this order after an ambiguous failure"
    )

    @field_validator("pub_clusters", mode="before")
    @classmethod
    def _hosts_as_list(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return [value] if value else []
        return value

    @field_validator("tcp_ports", mode="before")
    @classmethod
    def _ports_as_mapping(cls, value: Any) -> Any:
        """``["22:1277", "8888:40021"]`` → ``{"22": 1277, "8888": 40021}``."""
        if value is None or isinstance(value, Mapping):
            return value
        return _port_mapping(value)[0]

    @model_validator(mode="wrap")
    @classmethod
    def _keep_unread_ports(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Port entries of another shape (``"22-1277"``, ``[["22:1277"]]``) are not dropped
        unseen: the raw ``tcp_ports`` stays in ``unread_fields``, the readable ones mapped."""
        order = handler(data)
        raw = data.get("tcp_ports") if isinstance(data, Mapping) else None
        if raw is not None and not isinstance(raw, Mapping) and _port_mapping(raw)[1]:
            log.info("order %s: tcp_ports entries of an unknown shape kept in unread_fields", order.id)
            keep_unread(order, "tcp_ports", raw)
        return order

    @field_validator("http_port", mode="before")
    @classmethod
    def _port_as_text(cls, value: Any) -> Any:
        return None if value is None or value == "" else str(value)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def type(self) -> str:
        """``"spot"`` or ``"on-demand"``."""
        explicit = (self.model_extra or {}).get("type")
        if isinstance(explicit, str) and explicit:
            return explicit
        return "spot" if self.spot else "on-demand"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> Optional[str]:
        """``"expired"``, ``"running"`` (container up) or ``"deploying"``."""
        if self.expired:
            return "expired"
        if self.mon_container is None:
            explicit = (self.model_extra or {}).get("status")
            return explicit if isinstance(explicit, str) else "active"
        return "running" if self.mon_container == 2 else "deploying"

    @property
    def pub_cluster(self) -> Optional[str]:
        """The first public hostname (``pub_clusters`` has them all)."""
        return self.pub_clusters[0] if self.pub_clusters else None

    @property
    def price_per_day(self) -> Optional[float]:
        return self.price

    @property
    def mrl_hours(self) -> Optional[float]:
        """The maximum rental length in hours: an order's ``mrl`` is in seconds on the wire."""
        return None if self.mrl is None else self.mrl / 3600

    @property
    def created_at(self) -> Optional[datetime]:
        """When the order was created (``ct``, epoch seconds); None when it is not a time."""
        return None if self.ct is None else _utc_from_epoch(self.ct)

    @property
    def ssh_host(self) -> Optional[str]:
        return self.pub_cluster

    @property
    def ssh_port(self) -> Optional[int]:
        """Public port that forwards to the container's port 22."""
        return (self.tcp_ports or {}).get("22")

    @property
    def http_url(self) -> Optional[str]:
        return f"https://{self.http_pub}" if self.http_pub else None

    @property
    def is_running(self) -> bool:
        return self.status == "running"


# ── spot market ────────────────────────────────────────────────────────────


class SpotOffer(_Model):
    """A bid on a server's spot market. ``price`` is per day in ``currency``."""

    order_id: int = Field(validation_alias=AliasChoices("offer_id", "order_id"))
    price: Optional[float] = Field(None, validation_alias=AliasChoices("bid", "price"))
    server_id: Optional[int] = None
    active: Optional[bool] = None
    my: Optional[bool] = None
    currency: Optional[str] = None


class SpotServerInfo(_Model):
    min_pricing: Optional[PriceMap] = None
    mrl: Optional[int] = Field(None, description="maximum rental length, **seconds** (see mrl_hours)")
    visibility: Optional[str] = None
    online: Optional[bool] = None

    @property
    def mrl_hours(self) -> Optional[float]:
        """The maximum rental length in hours (``mrl`` is in seconds here, as on orders)."""
        return None if self.mrl is None else self.mrl / 3600


class SpotMarket(_Model):
    offers: Optional[List[SpotOffer]] = None
    server: Optional[SpotServerInfo] = None
    currency_rates_in_usd: Optional[Dict[str, float]] = None
    exists: Optional[bool] = None

    @model_validator(mode="before")
    @classmethod
    def _lift_market(cls, data: Any) -> Any:
        return _unwrap(data, "market")

    @staticmethod
    def __clore_lift__(data: Any) -> Any:
        return _unwrap(data, "market")

    def usd_per_day(self, offer: SpotOffer) -> Optional[float]:
        """An offer's bid in USD per day, from ``currency_rates_in_usd``."""
        rate = (self.currency_rates_in_usd or {}).get(offer.currency or "")
        return None if rate is None or offer.price is None else offer.price * rate


# ── other endpoints ────────────────────────────────────────────────────────


class PoHBalance(_Model):
    """``poh_balance()``: Proof-of-Holding entries and totals."""

    items: List[Dict[str, Any]] = Field(default_factory=list)
    balance: Optional[Dict[str, Any]] = None
    count: Optional[int] = None


class RenterFees(_Model):
    """``renter_fees()``: renter fee schedule, PoH discount configuration, creation fees."""

    renter_fees: Optional[Dict[str, Any]] = None
    poh_config: Optional[Dict[str, Any]] = None
    creation_fees: Optional[Dict[str, Any]] = None
    poh_balance: Optional[float] = None


class CancelOrdersResult(_Model):
    """``cancel_orders(ids)``: the ids the API could not cancel (empty when all went)."""

    failed_to_cancel: List[Union[int, str]] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed_to_cancel


# ── GigaSPOT ───────────────────────────────────────────────────────────────


class GigaSpotInfo(_Model):
    """``get_gigaspot()``: your user id, the URL of the current GigaSPOT snapshot (the
    book of servers and bids, a CDN JSON file) and the CLORE price in USD."""

    my_user_id: Optional[int] = None
    v1_snapshot_url: Optional[str] = None
    clore_price: Optional[float] = Field(None, description="USD per CLORE")
    creation_fees: Optional[Dict[str, Any]] = None


def _id_list(value: Any) -> Any:
    return [] if value is None else value


class GigaSpotCreateResult(_Model):
    """``create_gigaspot_orders(orders)``: the server ids whose order did not go through."""

    failed_to_oc_servers: List[Union[int, str]] = Field(default_factory=list)
    failed_to_rent_servers: List[Union[int, str]] = Field(default_factory=list)
    too_low_bids_servers: List[Union[int, str]] = Field(default_factory=list)

    _none_is_empty = field_validator(
        "failed_to_oc_servers", "failed_to_rent_servers", "too_low_bids_servers", mode="before"
    )(_id_list)

    @property
    def ok(self) -> bool:
        """Every order was placed (the overclocking applied, no bid too low)."""
        return not (self.failed_to_oc_servers or self.failed_to_rent_servers or self.too_low_bids_servers)


class GigaSpotEditResult(_Model):
    """``edit_gigaspot_orders(orders)``: which order ids were updated and which were not."""

    success_to_update_ids: List[Union[int, str]] = Field(default_factory=list)
    failed_to_update_ids: List[Union[int, str]] = Field(default_factory=list)
    too_low_bid_ids: List[Union[int, str]] = Field(default_factory=list)

    _none_is_empty = field_validator(
        "success_to_update_ids", "failed_to_update_ids", "too_low_bid_ids", mode="before"
    )(_id_list)

    @property
    def ok(self) -> bool:
        return not (self.failed_to_update_ids or self.too_low_bid_ids)


# ── clore-ai 0.1.1 names ───────────────────────────────────────────────────

NetworkSpecs = NetSpecs
PriceUSD = UsdPrice

_OFFICIAL_MODELS = {
    "PriceTier": "prices are plain mappings here: ServerPrice.on_demand / .spot is {currency: price per day}",
    "OriginalUSDEntry": "read ServerPrice.original_usd as a mapping (unknown fields are kept)",
    "CurrencyPricing": "usd_pricing keeps its wire value; "
    "use MyServer/ServerConfig.usd_price_per_day(currency, kind)",
    "BackgroundJob": "ServerConfig.background_job keeps its wire value (a mapping)",
    "APIResponse": "methods return models or dicts; errors raise CloreAPIError subclasses carrying .code",
}


def __getattr__(name: str) -> Any:
    hint = _OFFICIAL_MODELS.get(name)
    if hint is not None:
        raise AttributeError(f"clore_ai.models.{name} (clore-ai 0.1.1) is not part of this SDK: {hint}")
    raise AttributeError(f"module 'clore_ai.models' has no attribute {name!r}")
