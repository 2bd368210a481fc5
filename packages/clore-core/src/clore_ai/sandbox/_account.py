"""One sandbox account: wallets, orders, hosted servers, spot bids — JSON-serialisable.

Every API key gets the same deterministic starting state (see :func:`new_account_state`).
The state is a plain dict so it can be persisted to a file between processes.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ._catalogue import RATES, SANDBOX_USER_ID

__all__ = ["new_account_state", "STARTING_BALANCES", "HOSTED_SERVER_ID", "CREATION_FEES", "FIRST_ORDER_ID"]

STARTING_BALANCES = {"bitcoin": 0.05, "CLORE-Blockchain": 1_000_000.0, "USD-Blockchain": 250.0}
WITHDRAWAL_FEES = {"bitcoin": 0.00005, "CLORE-Blockchain": 50.0, "USD-Blockchain": 1.0}
CREATION_FEES = {"on-demand": {"CLORE-Blockchain": 10.0}, "spot": {"CLORE-Blockchain": 1.0}}
HOSTED_SERVER_ID = 90001
FIRST_ORDER_ID = 1000  # the fixtures are 38 and 39; orders a key creates count from here


def _address(prefix: str, fingerprint: str, currency: str, length: int) -> str:
    digest = hashlib.sha256(f"{fingerprint}:{currency}".encode()).hexdigest()
    return (prefix + digest)[:length]


def _seed_orders(now: float) -> dict[str, dict[str, Any]]:
    """Order 38 (on-demand on server 5738) and spot order 39 (on server 6)."""
    started = int(now) - 6 * 3600
    return {
        "38": {
            "id": 38,
            "si": 5738,
            "owner": 24169,
            "image": "cloreai/jupyter:ubuntu24.04-v2",
            "currency": "CLORE-Blockchain",
            "price": 1108.85,
            "original_price_usd": 3.0,
            "creation_fee": 10.0,
            "ct": started,
            "mrl": 720 * 3600,  # seconds, as on live orders
            "spot": False,
            # .invalid: never resolves (RFC 2606); only orders the sandbox serves over ssh are real
            "pub_cluster": ["n1.msk.clore-sandbox.invalid"],
            "tcp_ports": ["22:1277"],
            "http_port": "8888",
            "http_pub": "2i451z7dttj3i.clore-sandbox.invalid",
            "ports": {"22": "tcp", "8888": "http"},
            "_deployed_at": started + 30,
        },
        "39": {
            "id": 39,
            "si": 6,
            "owner": 31337,
            "image": "cloreai/pytorch",
            "currency": "bitcoin",
            "price": 0.000004,
            "creation_fee": 0.0,
            "ct": started,
            "mrl": 720 * 3600,  # seconds, as on live orders
            "spot": True,
            "pub_cluster": ["n3.prg.clore-sandbox.invalid"],
            "tcp_ports": ["22:20417"],
            "ports": {"22": "tcp"},
            "_deployed_at": started + 30,
        },
    }


def _hosted_servers() -> dict[str, dict[str, Any]]:
    return {
        "MyGPU": {
            "id": HOSTED_SERVER_ID,
            "name": "MyGPU",
            "connected": True,
            "online": True,
            "visibility": "public",
            "initialized": True,
            "mrl": 72,
            "pricing": {"bitcoin": 0.00006615, "CLORE-Blockchain": 1663.3},
            "spot_pricing": {"bitcoin": 0.00003307, "CLORE-Blockchain": 831.6},
            "allowed_coins": ["bitcoin", "CLORE-Blockchain"],
            "autoprice": {"bitcoin": False, "CLORE-Blockchain": "usd"},
            "usd_pricing": {
                "CLORE-Blockchain": {"on_demand": 4.5, "spot": 2.25},
                "bitcoin": {"on_demand": 4.5, "spot": 2.25},
            },
            "rental_status": 0,
            "working_properly": True,
            "gpu_array": ["RTX 3090"],
            "specs": {
                "mb": "ROG STRIX X670E-E",
                "cpu": "AMD Ryzen 9 7950X 16-Core Processor",
                "cpus": "16/32",
                "ram": 63.7,
                "disk": "Samsung SSD 980 PRO 1TB 931.5GB",
                "disk_speed": 3100.5,
                "gpu": "1x NVIDIA GeForce RTX 3090",
                "gpuram": 24,
                "net": {"cc": "DE", "down": 940.1, "up": 910.7},
            },
            "background_job": {"times_updated": 0, "image": "", "command": "", "env": {}},
        },
        "Michael": {
            "name": "Michael",
            "connected": False,
            "online": False,
            "visibility": "hidden",
            "mrl": 72,
            "pricing": {"bitcoin": 0, "usd": 0},
            "spot_pricing": {"bitcoin": 0, "usd": 0},
            "init_token": "sandbox-init-token-not-a-secret-000000000000000",
        },
        # The shape of real 2025 answers (github Pro7as/CloreAiBot): a flat usd_pricing, one
        # price for every currency, autoprice as a string, and the host switches.
        "rig-2025": {
            "id": HOSTED_SERVER_ID + 1,
            "name": "rig-2025",
            "public_name": "EU 2x3090",
            "connected": True,
            "online": True,
            "visibility": "hidden",
            "initialized": True,
            "mrl": 240,
            "pricing": {"bitcoin": 0.00013230, "CLORE-Blockchain": 3326.6},
            "spot_pricing": {"bitcoin": 0.00010584, "CLORE-Blockchain": 2661.3},
            "allowed_coins": ["bitcoin", "CLORE-Blockchain"],
            "autoprice": "usd",
            "usd_pricing": {"on_demand": 9, "spot": 7.2},
            "enable_btc_and_clore": True,
            "enable_only_clore": False,
            "enable_only_btc": False,
            "energy_price": 0.12,
            "max_poh_capacity": 0,
            "rented": True,
            "remaining_time": 1893456000000,
            "rental_status": 2,
            "working_properly": True,
            "gpu_array": ["RTX 3090", "RTX 3090"],
        },
    }


def new_account_state(fingerprint: str, now: float, first_order_id: int = FIRST_ORDER_ID) -> dict[str, Any]:
    """The starting state every sandbox key gets (deterministic but for timestamps); its
    orders are numbered from ``first_order_id`` (higher after a reset, see ``Sandbox.reset``)."""
    return {
        "user_id": SANDBOX_USER_ID,
        "wallets": {
            "bitcoin": {"deposit": _address("bc1q", fingerprint, "bitcoin", 42)},
            "CLORE-Blockchain": {"deposit": _address("0x", fingerprint, "clore", 42)},
            "USD-Blockchain": {"deposit": _address("0x", fingerprint, "usd", 42)},
        },
        "deposits": dict(STARTING_BALANCES),
        "orders": _seed_orders(now),
        "next_order_id": first_order_id,
        "hosted": _hosted_servers(),
        "rented_overrides": {"5738": True},
        "last_lowering": {},
        "last_request": None,
        "last_create_order": None,
        "version": 0,
        "rates": dict(RATES),
    }
