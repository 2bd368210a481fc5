"""Real-shaped response bodies: the official clore-ai 0.1.1 test fixtures and the JSON
examples of the API reference (docs/reference), as the live API sends them."""

from __future__ import annotations

from typing import Any

# clore-ai 0.1.1 tests/test_client.py
OFFICIAL_MARKETPLACE_SERVER: dict[str, Any] = {
    "id": 99173,
    "owner": 24169,
    "autoprice": "usd",
    "mrl": 720,
    "price": {
        "on_demand": {"bitcoin": 0.0000441, "CLORE-Blockchain": 1108.85, "USD-Blockchain": 3},
        "spot": {"bitcoin": 0.0000441, "CLORE-Blockchain": 1108.85, "USD-Blockchain": 3},
        "usd": {"on_demand_btc": 3.0, "on_demand_clore": 3.0, "on_demand_usd": 3, "spot": 0},
        "original_usd": {
            "CLORE-Blockchain": {"on_demand": 3, "spot": 3},
            "bitcoin": {"on_demand": 3, "spot": 3},
        },
    },
    "rented": False,
    "specs": {
        "mb": "TUF GAMING B650-PLUS WIFI",
        "cpu": "AMD Ryzen 9 7950X 16-Core Processor",
        "cpus": "16/32",
        "ram": 31.8111,
        "disk": "KINGSTON SNV2S500G 394.1GB",
        "disk_speed": 1857.97,
        "gpu": "1x NVIDIA GeForce RTX 4090",
        "gpuram": 23,
        "net": {"cc": "NO", "down": 875.58, "up": 866.40},
        "pcie_rev": 4,
        "pcie_width": 16,
        "pl": [450],
        "stock_pl": [450],
    },
    "reliability": 0,
    "allowed_coins": ["bitcoin", "CLORE-Blockchain", "USD-Blockchain"],
    "rating": {"avg": 0, "cnt": 0},
    "gpu_array": ["RTX 4090"],
    "gigaspot": True,
    "cuda_version": "13.0",
}
OFFICIAL_MARKETPLACE_3090: dict[str, Any] = {
    "id": 55555,
    "owner": 11111,
    "mrl": 100,
    "price": {
        "on_demand": {"bitcoin": 0.0000200},
        "spot": {"bitcoin": 0.0000100},
        "usd": {"on_demand_btc": 1.2, "on_demand_clore": 1.2, "on_demand_usd": 1.2, "spot": 0},
    },
    "rented": False,
    "specs": {
        "cpu": "Intel i9-13900K",
        "ram": 32.0,
        "gpu": "1x NVIDIA GeForce RTX 3090",
        "gpuram": 24,
        "net": {"cc": "DE"},
    },
    "gpu_array": ["RTX 3090"],
}
OFFICIAL_WALLET: dict[str, Any] = {
    "name": "bitcoin",
    "deposit": "bc1qvwdy37u0eyt8yhly8kx5qa7qnpm7zcttwrgzgd",
    "balance": 0.04191964,
    "withdrawal_fee": 0.00005,
}
OFFICIAL_MY_SERVER: dict[str, Any] = {
    "id": 76279,
    "name": "5090-6_CL_HIVE_8939078",
    "connected": True,
    "visibility": "public",
    "pricing": {"bitcoin": 0.00003675, "CLORE-Blockchain": 924.04},
    "min_spot_pricing": {"bitcoin": 0.0000294, "CLORE-Blockchain": 739.23},
    "online": False,
    "is_vpn_enabled": False,
    "gpu_array": ["RTX 5090"],
    "max_fair_price_usd": 65,
    "allowed_currencies": ["CLORE-Blockchain"],
    "gpu_count": 1,
    "usd_pricing": {
        "CLORE-Blockchain": {"on_demand": 2.5, "spot": 2},
        "bitcoin": {"on_demand": 2.5, "spot": 2},
    },
    "working_properly": False,
    "monitoring": 1,
}
OFFICIAL_SPOT_MARKET: dict[str, Any] = {
    "code": 0,
    "market": {
        "currency_rates_in_usd": {"bitcoin": 68022.87, "CLORE-Blockchain": 0.002705, "USD-Blockchain": 1},
        "offers": [],
        "server": {
            "min_pricing": {"CLORE-Blockchain": 739.23},
            "mrl": 2520000,
            "visibility": "public",
            "online": False,
        },
    },
    "exists": True,
}

# API reference examples
WALLETS_BODY: dict[str, Any] = {
    "wallets": [
        {
            "name": "bitcoin",
            "deposit": "bc1qexampleexampleexampleexample0000000",
            "balance": 0.04191964,
            "withdrawal_fee": 0.00005,
        },
        {
            "name": "CLORE-Blockchain",
            "deposit": "0x00000000000000000000000000000000example0",
            "balance": 976765.53173784,
            "withdrawal_fee": 50,
        },
        {"name": "legacy", "deposit": "x", "balance": None, "withdrawal_fee": None},
    ],
    "code": 0,
}
MY_SERVERS_BODY: dict[str, Any] = {
    "servers": [
        OFFICIAL_MY_SERVER,  # the reference example is the same server
        {
            "name": "Michael",
            "connected": False,
            "visibility": "hidden",
            "pricing": {"bitcoin": 0, "usd": 0},
            "online": False,
            "min_spot_pricing": {"bitcoin": 0, "usd": 0},
            "init_token": "<48-char token>",
        },
    ],
    "limit": 16,
    "code": 0,
}
SERVER_CONFIG_BODY: dict[str, Any] = {
    "config": {
        "name": "Jan Vykydal",
        "connected": True,
        "visibility": "public",
        "pricing": {"bitcoin": 0.00010337, "usd": 0},
        "spot_pricing": {"bitcoin": 0.00005168, "usd": 0},
        "mrl": 72,
        "online": True,
        "initialized": True,
        "id": 6,
        "rental_status": 0,
        "allowed_coins": ["bitcoin", "CLORE-Blockchain"],
        "autoprice": {"bitcoin": False, "CLORE-Blockchain": "usd"},
        "usd_pricing": {"CLORE-Blockchain": {"on_demand": 3, "spot": 2}},
        "specs": {
            "cpu": "Intel Core i9-11900",
            "cpus": "8/16",
            "ram": 64,
            "gpu": "1x GeForce GTX 1080 Ti",
            "gpuram": 11,
            "net": {"down": 119.61, "up": 25.24},
        },
        "background_job": {"times_updated": 0, "image": "", "command": "", "env": {}},
    },
    "creation_completed": True,
    "code": 0,
}
MY_ORDERS_BODY: dict[str, Any] = {
    "orders": [
        {
            "id": 38176,
            "si": 5738,
            "owner": 24169,
            "image": "cloreai/jupyter:ubuntu24.04-v2",
            "currency": "CLORE-Blockchain",
            "price": 1108.85,
            "original_price_usd": 3.0,
            "creation_fee": 11.09,
            "spend": 46.2,
            "ct": 1714608000,
            "mrl": 720,
            "spot": False,
            "expired": False,
            "online": True,
            "mon_container": 2,
            "pub_cluster": ["n1.msk.cloreai.ru"],
            "tcp_ports": ["22:1277"],
            "http_port": "8888",
            "http_pub": "2i451z7dttj3i.cloreai.ru",
            "specs": {
                "cpu": "AMD Ryzen 9 7950X 16-Core Processor",
                "cpus": "16/32",
                "ram": 31.8,
                "gpu": "1x NVIDIA GeForce RTX 4090",
                "gpuram": 24,
                "net": {"cc": "NO", "down": 875.6, "up": 866.4},
            },
            "rating": {"avg": 4.8, "cnt": 12},
            "reliability": 0.999,
            "cuda_version": "12.4",
            "gpu_array": ["RTX 4090"],
        }
    ],
    "limit": 999999,
    "code": 0,
}
SPOT_MARKET_BODY: dict[str, Any] = {
    "market": {
        "currency_rates_in_usd": {"bitcoin": 68022.87, "CLORE-Blockchain": 0.002705, "USD-Blockchain": 1},
        "offers": [
            {"offer_id": 39, "bid": 1500, "active": True, "my": False, "currency": "CLORE-Blockchain"},
            {"offer_id": 41, "bid": 3.1, "active": False, "my": True, "currency": "USD-Blockchain"},
        ],
        "server": {
            "min_pricing": {"CLORE-Blockchain": 739.23},
            "mrl": 2520000,
            "visibility": "public",
            "online": True,
        },
    },
    "exists": True,
    "code": 0,
}
POH_BODY: dict[str, Any] = {
    "items": [
        {
            "user": 24169,
            "address": "Ab12",
            "signature": "s",
            "message": "m",
            "created": 1714608000,
            "unique": "u",
            "remove": 0,
            "status": "verified",
            "balance": 50000,
            "last_check": 1714694400,
        }
    ],
    "balance": {
        "total": 50000,
        "free_amount": 35000,
        "reward_amount": 12.5,
        "offers": {
            "rented_amount": 10000,
            "rented_on_marketplace_amount": 5000,
            "rented_finished_amount": 0,
            "leased_amount": 0,
            "leased_finished_amount": 0,
        },
    },
    "count": 1,
    "code": 0,
}
RENTER_FEES_BODY: dict[str, Any] = {
    "renter_fees": {
        "on_demand": {"base": {"bitcoin": 10, "CLORE-Blockchain": 10, "USD-Blockchain": 10}},
        "spot": {"base": {"bitcoin": 10, "CLORE-Blockchain": 10, "USD-Blockchain": 10}},
    },
    "poh_config": {"max_reduction_percent": 50, "max_poh_amount": 100000},
    "creation_fees": {"on_demand": {"CLORE-Blockchain": 10}, "spot": {"CLORE-Blockchain": 1}},
    "poh_balance": 0,
    "code": 0,
}
