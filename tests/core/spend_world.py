"""A sandbox account shaped for spending tests: chosen orders, balances and virtual time.

Orders are written straight into the sandbox's account state (price per day, coin, creation
time), so a test can set up any mix; the sandbox then bills them with its clock like any other.
"""

from __future__ import annotations

from typing import Any

from clore_ai import CloreAI, RateLimiter
from clore_ai.sandbox import RateLimits, Sandbox, SandboxTransport, VirtualClock
from clore_ai.sandbox._api import _fingerprint

KEY = "sk-spend-world-0123456789"
START = 1_800_000_000.0


class World:
    def __init__(self, servers: int = 8) -> None:
        self.clock = VirtualClock(START)
        self.sandbox = Sandbox(servers=servers, clock=self.clock, rate_limits=RateLimits.off())
        self.client = self.new_client()
        self.client.wallets()  # creates the account
        self.next_id = 5000

    def new_client(self, **options: Any) -> CloreAI:
        return CloreAI(
            api_key=KEY,
            transport=SandboxTransport(self.sandbox, sleep=self.clock.sleep),
            limiter=RateLimiter(interval=0, order_interval=0),
            sleep=self.clock.sleep,
            **options,
        )

    def _account(self, accounts: dict[str, Any]) -> dict[str, Any]:
        return accounts[_fingerprint(KEY)]  # type: ignore[no-any-return]

    def set_balances(self, **deposits: float) -> None:
        """Deposits per coin (``bitcoin=0.01``); the seed orders are removed so only the
        test's orders bill."""
        names = {"btc": "bitcoin", "clore": "CLORE-Blockchain", "usd": "USD-Blockchain"}
        with self.sandbox.store.transaction() as accounts:
            account = self._account(accounts)
            account["orders"] = {}
            account["deposits"] = {names.get(k, k): float(v) for k, v in deposits.items()}

    def add_order(
        self,
        currency: str,
        price_per_day: float,
        *,
        age_hours: float = 0.0,
        mrl_hours: float = 720.0,
        fee: float = 0.0,
        spot: bool = False,
    ) -> int:
        order_id = self.next_id
        self.next_id += 1
        ct = int(self.clock() - age_hours * 3600)
        with self.sandbox.store.transaction() as accounts:
            self._account(accounts)["orders"][str(order_id)] = {
                "id": order_id,
                "si": 6,
                "image": "cloreai/pytorch",
                "currency": currency,
                "price": float(price_per_day),
                "creation_fee": float(fee),
                "ct": ct,
                "mrl": int(mrl_hours * 3600),
                "spot": spot,
                "pub_cluster": ["n1.example.test"],
                "tcp_ports": [],
                "_deployed_at": ct,
            }
        return order_id

    def raw_orders(self) -> list[dict[str, Any]]:
        """The account's orders as the sandbox stores them (price, ct, ``_ended_at``)."""
        state = self.sandbox.account_state(KEY) or {"orders": {}}
        return sorted(state["orders"].values(), key=lambda o: o["id"])

    def deposits(self) -> dict[str, float]:
        state = self.sandbox.account_state(KEY) or {}
        return dict(state.get("deposits", {}))

    def cancel_requests(self) -> list[Any]:
        return [r for r in self.sandbox.requests if r.endpoint in ("cancel_order", "cancel_orders")]
