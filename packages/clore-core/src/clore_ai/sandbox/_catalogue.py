"""The sandbox marketplace: realistic servers generated from a seed.

The catalogue is immutable and shared by every sandbox account; what an account changes
(renting, cancelling) is kept as overrides on the account. A few fixture servers are
always present, whatever the seed, so that every example of the SDK documentation runs:

* **123** — 1x GTX 1070, rentable on-demand and spot in bitcoin (spot minimum 0.000004 BTC/day);
* **6** — 1x GTX 1080 Ti with a spot book (offer 39 belongs to the account);
* **5738** — 1x RTX 4090, rented by the account's order 38.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RATES", "Catalogue", "CatalogueServer", "build_catalogue", "SANDBOX_USER_ID"]

SANDBOX_USER_ID = 50000
RATES = {"bitcoin": 68022.87, "CLORE-Blockchain": 0.002705, "USD-Blockchain": 1.0}
_USD_KEYS = {
    "bitcoin": "on_demand_btc",
    "CLORE-Blockchain": "on_demand_clore",
    "USD-Blockchain": "on_demand_usd",
}

# short name, full name, VRAM GB, USD per GPU per day, weight
_GPUS = [
    ("GTX 1070", "NVIDIA GeForce GTX 1070", 8, 1.1, 3),
    ("GTX 1080 Ti", "NVIDIA GeForce GTX 1080 Ti", 11, 1.7, 4),
    ("RTX 2080 Ti", "NVIDIA GeForce RTX 2080 Ti", 11, 2.6, 4),
    ("RTX 3060", "NVIDIA GeForce RTX 3060", 12, 1.9, 8),
    ("RTX 3070", "NVIDIA GeForce RTX 3070", 8, 2.3, 8),
    ("RTX 3080", "NVIDIA GeForce RTX 3080", 10, 3.2, 8),
    ("RTX 3090", "NVIDIA GeForce RTX 3090", 24, 4.6, 12),
    ("RTX 4070 Ti", "NVIDIA GeForce RTX 4070 Ti", 12, 4.1, 6),
    ("RTX 4080", "NVIDIA GeForce RTX 4080", 16, 6.0, 6),
    ("RTX 4090", "NVIDIA GeForce RTX 4090", 24, 8.9, 16),
    ("RTX 5090", "NVIDIA GeForce RTX 5090", 32, 14.0, 6),
    ("RTX A4000", "NVIDIA RTX A4000", 16, 3.4, 3),
    ("RTX A6000", "NVIDIA RTX A6000", 48, 10.0, 3),
    ("A100", "NVIDIA A100-SXM4-80GB", 80, 24.0, 3),
    ("H100", "NVIDIA H100 80GB HBM3", 80, 48.0, 2),
]
_COUNTS = [(1, 55), (2, 15), (3, 3), (4, 14), (6, 3), (8, 10)]
_COUNTRIES = [
    "US",
    "DE",
    "NO",
    "FI",
    "PL",
    "CZ",
    "NL",
    "FR",
    "GB",
    "CA",
    "RU",
    "UA",
    "SE",
    "JP",
    "SG",
    "BR",
    "IN",
]
_CPUS = [
    ("AMD Ryzen 9 7950X 16-Core Processor", "16/32"),
    ("AMD Ryzen 9 5950X 16-Core Processor", "16/32"),
    ("AMD Ryzen 7 5800X 8-Core Processor", "8/16"),
    ("Intel(R) Core(TM) i9-13900K", "24/32"),
    ("Intel(R) Core(TM) i7-12700K", "12/20"),
    ("AMD EPYC 7543 32-Core Processor", "32/64"),
    ("AMD EPYC 9354 32-Core Processor", "32/64"),
    ("Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", "32/64"),
]
_BOARDS = [
    "TUF GAMING B650-PLUS WIFI",
    "ROG STRIX X670E-E",
    "PRIME Z790-P",
    "H12SSL-i",
    "MZ32-AR0",
    "X570 AORUS ELITE",
]
_DISKS = ["KINGSTON SNV2S500G", "Samsung SSD 980 PRO 1TB", "WD_BLACK SN850X 2000GB", "Micron 7450 3.84TB"]


@dataclass(frozen=True)
class CatalogueServer:
    """One marketplace server; ``wire`` is its JSON object as the API sends it."""

    id: int
    wire: dict[str, Any]
    online: bool = True
    owner_is_account: bool = False
    spot_offers: tuple[dict[str, Any], ...] = ()


@dataclass
class Catalogue:
    seed: int
    size: int
    servers: dict[int, CatalogueServer] = field(default_factory=dict)

    def ordered(self) -> list[CatalogueServer]:
        return list(self.servers.values())


def _round_price(currency: str, usd_per_day: float) -> float:
    native = usd_per_day / RATES[currency]
    return round(native, 8) if currency == "bitcoin" else round(native, 2)


def _price_block(
    usd_per_day: float, spot_usd_per_day: float, coins: list[str], show_spot_usd: bool
) -> dict[str, Any]:
    on_demand = {c: _round_price(c, usd_per_day) for c in coins}
    spot = {c: _round_price(c, spot_usd_per_day) for c in coins}
    usd = {key: round(usd_per_day, 4) for key in _USD_KEYS.values()}
    usd["spot"] = round(spot_usd_per_day, 4) if show_spot_usd else 0
    return {"on_demand": on_demand, "spot": spot, "usd": usd}


def _weighted(rng: random.Random, pairs: list[tuple[Any, int]]) -> Any:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _make_server(
    rng: random.Random,
    server_id: int,
    *,
    gpu: tuple[str, str, int, float, int] | None = None,
    count: int | None = None,
    coins: list[str] | None = None,
    usd_per_day: float | None = None,
    spot_usd_per_day: float | None = None,
    rented: bool | None = None,
    country: str | None = None,
    nested_gpu_array: bool = False,
) -> dict[str, Any]:
    short, full, vram, per_gpu, _ = gpu or _weighted(rng, [(g, g[4]) for g in _GPUS])
    count = count or _weighted(rng, _COUNTS)
    if coins is None:
        coins = list(RATES) if rng.random() < 0.7 else sorted(rng.sample(list(RATES), rng.randint(1, 2)))
    if usd_per_day is None:
        usd_per_day = round(per_gpu * count * rng.uniform(0.75, 1.35), 2)
    if spot_usd_per_day is None:
        spot_usd_per_day = round(usd_per_day * rng.uniform(0.45, 0.8), 2)
    cpu, threads = rng.choice(_CPUS)
    ram = float(rng.choice([16, 32, 64, 128]) * max(1, count // 2)) - rng.choice([0.0, 0.19, 0.37])
    names = [(" " if rng.random() < 0.05 else "") + short for _ in range(count)]
    gpu_array: list[Any] = [[name] for name in names] if nested_gpu_array else names
    price = _price_block(usd_per_day, spot_usd_per_day, coins, rng.random() < 0.5)
    if "USD-Blockchain" not in coins and server_id % 5 == 0:
        # As live: some servers show a USD price they do not accept (allowed_coins decides;
        # create_order in USD answers currency-not-allowed). Decided by id: no draw of rng,
        # so the rest of the catalogue stays as it was.
        for kind, usd in (("on_demand", usd_per_day), ("spot", spot_usd_per_day)):
            price[kind]["USD-Blockchain"] = _round_price("USD-Blockchain", usd)
    return {
        "id": server_id,
        "owner": rng.randint(1000, 99999),
        "mrl": rng.choice([72, 168, 240, 720, 720, 2160]),
        "price": price,
        "rented": (rng.random() < 0.3) if rented is None else rented,
        "specs": {
            "mb": rng.choice(_BOARDS),
            "cpu": cpu,
            "cpus": threads,
            "ram": round(ram, 4),
            "disk": f"{rng.choice(_DISKS)} {rng.choice([250.1, 394.1, 931.5, 1863.0])}GB",
            "disk_speed": round(rng.uniform(400, 6500), 2),
            "gpu": f"{count}x {full}",
            "gpuram": vram,
            "net": {
                "cc": country or rng.choice(_COUNTRIES),
                "down": round(rng.uniform(80, 2500), 2),
                "up": round(rng.uniform(40, 2000), 2),
            },
            "backend_version": rng.choice([17, 18, 19]),
            "pcie_rev": rng.choice([3, 4, 4, 5]),
            "pcie_width": rng.choice([8, 16, 16]),
            "pl": [rng.choice([250, 320, 350, 450])] * count,
            "stock_pl": [rng.choice([250, 320, 350, 450])] * count,
        },
        "reliability": 0 if rng.random() < 0.05 else round(rng.uniform(0.85, 1.0), 4),
        "allowed_coins": coins,
        "rating": {"avg": round(rng.uniform(3.0, 5.0), 2), "cnt": rng.randint(0, 400)},
        "gpu_array": gpu_array,
        "gigaspot": rng.random() < 0.08,
        "cuda_version": rng.choice(["12.2", "12.4", "12.8", "13.0"]),
    }


def _gpu(short: str) -> tuple[str, str, int, float, int]:
    return next(g for g in _GPUS if g[0] == short)


# id, GPU, USD per day on-demand / minimum spot, rented, country, spot offers of other users
_S6_OFFERS = ({"offer_id": 41, "bid": 1500, "active": True, "my": False, "currency": "CLORE-Blockchain"},)
_FIXTURES = [
    (123, "GTX 1070", 0.72, 0.27, False, "DE", ()),
    (6, "GTX 1080 Ti", 1.7, 0.17, False, "CZ", _S6_OFFERS),
    (5738, "RTX 4090", 3.0, 3.0, True, "NO", ()),
]


def _fixture_servers(rng: random.Random) -> list[CatalogueServer]:
    servers = []
    for server_id, gpu, usd_day, spot_day, rented, country, offers in _FIXTURES:
        wire = _make_server(
            rng,
            server_id,
            gpu=_gpu(gpu),
            count=1,
            coins=list(RATES),
            usd_per_day=usd_day,
            spot_usd_per_day=spot_day,
            rented=rented,
            country=country,
        )
        wire["gigaspot"] = False
        servers.append(CatalogueServer(server_id, wire, spot_offers=offers))
    return servers


def build_catalogue(size: int = 300, seed: int = 0) -> Catalogue:
    """``size`` servers (fixtures included), the same for the same seed."""
    if size < 3:
        raise ValueError("a sandbox marketplace needs at least 3 servers (the fixtures)")
    rng = random.Random(seed)
    catalogue = Catalogue(seed=seed, size=size)
    fixtures = _fixture_servers(random.Random(1))
    taken = {s.id for s in fixtures}
    generated: list[CatalogueServer] = []
    next_id = 200
    while len(generated) < size - len(fixtures):
        next_id += rng.randint(1, 40)
        if next_id in taken:
            continue
        wire = _make_server(rng, next_id, nested_gpu_array=rng.random() < 0.02)
        online = rng.random() > 0.03
        offers: tuple[dict[str, Any], ...] = ()
        if rng.random() < 0.15:
            currency = rng.choice(wire["allowed_coins"])
            minimum = wire["price"]["spot"][currency]
            offers = tuple(
                {
                    "offer_id": 100000 + next_id * 10 + i,
                    "bid": round(minimum * rng.uniform(1.0, 1.6), 8 if currency == "bitcoin" else 2),
                    "active": i == 0,
                    "my": False,
                    "currency": currency,
                }
                for i in range(rng.randint(1, 3))
            )
        generated.append(CatalogueServer(next_id, wire, online=online, spot_offers=offers))
    for server in sorted([*fixtures, *generated], key=lambda s: s.id):
        catalogue.servers[server.id] = server
    return catalogue
