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

from ._lazy import LAZY, WithLazyFields, install_lazy_fields

__all__ = [
    "HOURS_PER_DAY",
    "CancelOrdersResult",
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

HOURS_PER_DAY = 24.0
PriceMap = Dict[str, Optional[float]]


class _Model(BaseModel):
    """Keeps unknown fields: the API grows, and raw data must stay reachable."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Lean(BaseModel):
    """For objects repeated thousands of times in the marketplace: unknown keys ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


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


# ── hardware ───────────────────────────────────────────────────────────────


class NetSpecs(_Lean):
    cc: Optional[str] = None
    down: Optional[float] = None
    up: Optional[float] = None


class ServerSpecs(_Lean):
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
    pl: Optional[List[Any]] = None
    stock_pl: Optional[List[Any]] = None


class ServerRating(_Lean):
    avg: Optional[float] = None
    cnt: Optional[int] = None


class UsdPrice(_Lean):
    """USD equivalents of the per-day prices (``price.usd`` on the wire)."""

    on_demand_btc: Optional[float] = None
    on_demand_clore: Optional[float] = None
    on_demand_usd: Optional[float] = None
    spot: Optional[float] = None


class ServerPrice(_Lean):
    """``price`` of a marketplace server; every number is **per day**."""

    on_demand: Optional[PriceMap] = None
    spot: Optional[PriceMap] = None
    usd: Optional[UsdPrice] = None
    original_usd: Optional[Dict[str, Any]] = None


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
    def max_rental_hours(self) -> Optional[int]:
        """``mrl``: the maximum rental length in hours."""
        return self.mrl

    @property
    def price_usd_per_day(self) -> Optional[float]:
        """Cheapest on-demand price in USD per day among the currencies the host accepts."""
        usd = self.price.usd if self.price else None
        if usd is None:
            return None
        allowed = self.allowed_coins
        keys = [
            _USD_KEY_FOR_CURRENCY[c] for c in (allowed or _USD_KEY_FOR_CURRENCY) if c in _USD_KEY_FOR_CURRENCY
        ]
        values = [getattr(usd, k) for k in keys]
        positive = [v for v in values if v is not None and v > 0]
        return min(positive) if positive else None

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


# ── hosted servers ─────────────────────────────────────────────────────────


class MyServer(_Model):
    """A server you host (``my_servers()``); never-connected servers have no ``id``/``specs``."""

    id: Optional[int] = None
    name: Optional[str] = None
    connected: Optional[bool] = None
    online: Optional[bool] = None
    visibility: Optional[str] = None
    pricing: Optional[PriceMap] = None
    min_spot_pricing: Optional[PriceMap] = None
    specs: Optional[ServerSpecs] = None
    gpu_array: Optional[List[Any]] = None
    gpu_count: Optional[int] = None
    allowed_currencies: Optional[List[str]] = None
    usd_pricing: Optional[Dict[str, Dict[str, Optional[float]]]] = None
    working_properly: Optional[bool] = None

    @property
    def gpu_model(self) -> Optional[str]:
        return _gpu_description(self.specs, self.gpu_array)

    @property
    def ram_gb(self) -> Optional[float]:
        return self.specs.ram if self.specs else None

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


class ServerConfig(_Model):
    """``server_config(name)``: the configuration of a server you host. Prices per day."""

    name: Optional[str] = None
    id: Optional[int] = None
    connected: Optional[bool] = None
    online: Optional[bool] = None
    visibility: Optional[str] = None
    initialized: Optional[bool] = None
    mrl: Optional[int] = Field(None, description="maximum rental length, hours")
    pricing: Optional[PriceMap] = None
    spot_pricing: Optional[PriceMap] = None
    usd_pricing: Optional[Dict[str, Dict[str, Optional[float]]]] = None
    allowed_coins: Optional[List[str]] = None
    autoprice: Optional[Dict[str, Any]] = None
    rental_status: Optional[int] = None
    specs: Optional[ServerSpecs] = None
    background_job: Optional[Dict[str, Any]] = None
    gpu_array: Optional[List[Any]] = None
    creation_completed: Optional[bool] = None

    @model_validator(mode="before")
    @classmethod
    def _lift_config(cls, data: Any) -> Any:
        return _unwrap(data, "config")

    @property
    def gpu_model(self) -> Optional[str]:
        return _gpu_description(self.specs, self.gpu_array)

    def _first_usd(self, kind: str) -> Optional[float]:
        for prices in (self.usd_pricing or {}).values():
            value: Optional[float] = prices.get(kind) if prices else None
            if value is not None:
                return float(value)
        return None

    @property
    def on_demand_price(self) -> Optional[float]:
        """First available on-demand USD price, **per day** (as the host sets it)."""
        return self._first_usd("on_demand")

    @property
    def spot_price(self) -> Optional[float]:
        """First available minimum spot USD price, **per day**."""
        return self._first_usd("spot")

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
    mrl: Optional[int] = None
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
        mapping: Dict[str, int] = {}
        for entry in value if isinstance(value, (list, tuple)) else [value]:
            inner, sep, outer = str(entry).partition(":")
            if sep and inner.strip().isdigit() and outer.strip().isdigit():
                mapping[inner.strip()] = int(outer)
        return mapping

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
    def created_at(self) -> Optional[datetime]:
        return None if self.ct is None else datetime.fromtimestamp(self.ct, tz=timezone.utc)

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
    mrl: Optional[int] = None
    visibility: Optional[str] = None
    online: Optional[bool] = None


class SpotMarket(_Model):
    offers: Optional[List[SpotOffer]] = None
    server: Optional[SpotServerInfo] = None
    currency_rates_in_usd: Optional[Dict[str, float]] = None
    exists: Optional[bool] = None

    @model_validator(mode="before")
    @classmethod
    def _lift_market(cls, data: Any) -> Any:
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
