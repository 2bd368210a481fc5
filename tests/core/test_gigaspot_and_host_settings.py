"""Issue 13 items 3 and 4: host settings as current clients send them, and GigaSPOT.

Both clients go through the sandbox; bad input fails before anything is sent.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from clore_ai import CloreAI, GigaSpotCreateResult, GigaSpotInfo, MarketplaceServer
from clore_ai import exceptions as ex
from clore_ai.sandbox import Sandbox

from ..conftest import FakeClock, make_client


def _sent(sandbox: Sandbox) -> list[str]:
    return [record.endpoint for record in sandbox.requests]


def test_per_currency_prices_enable_autoprice_and_usd_pricing_are_stored(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    with make_client("sync", sandbox, clock) as client:
        client.set_server_settings(
            "MyGPU",
            on_demand={"btc": 0.0001, "clore": 2000},
            spot={"bitcoin": 0.00005, "CLORE-Blockchain": 1000},
            enabled={"usd": True, "bitcoin": False},
            autoprice=False,
            usd_pricing={"on_demand": 5.0, "spot": 2.5},
        )
        config = client.server_config("MyGPU")
        assert config.pricing == {"bitcoin": 0.0001, "CLORE-Blockchain": 2000}
        assert config.spot_pricing == {"bitcoin": 0.00005, "CLORE-Blockchain": 1000}
        assert config.allowed_coins == ["CLORE-Blockchain", "USD-Blockchain"]
        assert config.autoprice == {"bitcoin": False, "CLORE-Blockchain": False}
        mine = {s.name: s for s in client.my_servers()}["MyGPU"]
        assert mine.on_demand_usd_per_day == 5.0 and mine.spot_usd_per_day == 2.5
        # The seed signature still works: numbers are the legacy fields (the bitcoin price).
        client.set_server_settings("MyGPU", availability=True, mrl=96, on_demand=0.0002, spot=0.0001)
        assert client.server_config("MyGPU").pricing == {"bitcoin": 0.0002, "CLORE-Blockchain": 2000}


def test_the_wire_body_is_what_current_clients_send(sandbox: Sandbox, clock: FakeClock) -> None:
    from clore_ai._validation import build_server_settings_body

    body = build_server_settings_body(
        name="MyGPU",
        on_demand={"usd": 4},
        spot={"clore": 900},
        enabled={"btc": True},
        autoprice=True,
        usd_pricing={"spot": 2},
    )
    assert body == {
        "name": "MyGPU",
        "USD-Blockchain_on_demand": 4.0,
        "CLORE-Blockchain_spot": 900.0,
        "enabled-bitcoin": True,
        "autoprice": True,
        "usd_pricing": {"spot": 2.0},
    }


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"on_demand": {"btc": float("nan")}}, r"on_demand\[bitcoin\] must be a number"),
        ({"spot": {"clore": -1}}, r"spot\[CLORE-Blockchain\] must be >= 0"),
        ({"on_demand": {"doge": 1}}, "currency 'doge' is not known"),
        ({"on_demand": {}}, "on_demand must be a number or a mapping"),
        ({"enabled": {"btc": "yes"}}, r"enabled\[bitcoin\] must be true or false"),
        ({"autoprice": "usd"}, "autoprice must be true or false"),
        ({"usd_pricing": {"hourly": 1}}, "usd_pricing must be a mapping"),
        ({"usd_pricing": {"spot": float("inf")}}, r"usd_pricing\[spot\] must be a number"),
        ({"spot": 2e9}, "spot must be at most 1000000000 per day, got 2000000000.0"),
        ({}, "needs at least one setting"),
    ],
)
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_bad_host_settings_fail_before_sending(
    sandbox: Sandbox, clock: FakeClock, kind: str, arguments: dict[str, Any], message: str
) -> None:
    client = make_client(kind, sandbox, clock)
    with pytest.raises(ex.InvalidInputError, match=message):
        if kind == "sync":
            client.set_server_settings("MyGPU", **arguments)
        else:
            asyncio.run(client.set_server_settings("MyGPU", **arguments))
    assert "set_server_settings" not in _sent(sandbox)


def _gigaspot_server(client: CloreAI) -> MarketplaceServer:
    return next(s for s in client.marketplace(available_only=False) if s.on_gigaspot)


def test_on_gigaspot_marks_the_servers_create_order_cannot_rent(sandbox: Sandbox, clock: FakeClock) -> None:
    with make_client("sync", sandbox, clock) as client:
        servers = client.marketplace(available_only=False)
        assert any(s.on_gigaspot for s in servers) and not all(s.on_gigaspot for s in servers)
        server = _gigaspot_server(client)
        with pytest.raises(ex.FieldError, match="machine-is-on-gigaspot"):
            client.create_order(
                server.id, image="cloreai/ubuntu", type="on-demand", currency=server.allowed_coins[0]
            )
    assert MarketplaceServer.model_validate({"id": 1, "gigaspot": False}).on_gigaspot is False
    assert MarketplaceServer.model_validate({"id": 1}).on_gigaspot is False


def test_gigaspot_book_create_edit_and_cancel(sandbox: Sandbox, clock: FakeClock) -> None:
    with make_client("sync", sandbox, clock) as client:
        info = client.get_gigaspot()
        assert isinstance(info, GigaSpotInfo) and info.my_user_id and info.clore_price
        assert info.v1_snapshot_url and info.v1_snapshot_url.endswith(".json")
        server = _gigaspot_server(client)
        currency = server.allowed_coins[0]
        minimum = server.spot_price_per_day(currency) or 0.0
        oc = [{"pl": 300}] * max(1, len(server.gpu_array or []))
        price = max(minimum * 1.5, 0.0001)
        order = {"renting_server": server.id, "currency": currency, "image": "a3f9c4d7e5b088d8a0bff880"}
        result = client.create_gigaspot_orders(
            [{**order, "price": price, "oc": oc}, {**order, "renting_server": 123, "price": 1, "oc": oc}]
        )
        assert isinstance(result, GigaSpotCreateResult)
        assert result.failed_to_rent_servers == [123] and not result.ok  # 123 is not on GigaSPOT
        mine = [o for o in client.my_orders() if o.server_id == server.id]
        assert len(mine) == 1 and mine[0].price == price
        edited = client.edit_gigaspot_orders(
            [{"order_id": mine[0].id, "price": price * 2}, {"order_id": 38, "price": 1}]
        )
        assert edited.success_to_update_ids == [mine[0].id] and edited.failed_to_update_ids == [38]
        assert [o.price for o in client.my_orders() if o.id == mine[0].id] == [price * 2]
        assert client.cancel_orders([mine[0].id]).ok


def test_gigaspot_answers_are_read_leniently() -> None:
    from clore_ai._endpoints import _GIGASPOT, _GIGASPOT_CREATE

    code, info = _GIGASPOT(
        b'{"my_user_id": 24169, "v1_snapshot_url": "https://cdn.example/g_1.json", '
        b'"clore_price": 0.0012, "code": 0}'
    )
    assert code == 0 and info.my_user_id == 24169 and info.clore_price == 0.0012
    code, made = _GIGASPOT_CREATE(b'{"failed_to_rent_servers": null, "too_low_bids_servers": "x", "code": 0}')
    assert made.failed_to_rent_servers == [] and made.too_low_bids_servers == [] and made.unread_fields


@pytest.mark.parametrize(
    ("orders", "message"),
    [
        ([], "orders must be a non-empty list"),
        (
            [{"renting_server": 5, "currency": "clore", "image": "x", "price": 0.00001, "oc": []}],
            "price must be at least 0.0001",
        ),
        (
            [{"renting_server": 5, "currency": "clore", "image": "x", "price": float("nan"), "oc": []}],
            "price must be a finite",
        ),
        (
            [
                {
                    "renting_server": 5,
                    "currency": "clore",
                    "image": "x",
                    "price": 1,
                    "oc": [{"core_offset": 1}],
                }
            ],
            "power limit pl",
        ),
        (
            [{"renting_server": 0, "currency": "clore", "image": "x", "price": 1, "oc": []}],
            "renting_server must be a positive",
        ),
        (
            [{"renting_server": 5, "currency": "clore", "image": "", "price": 1, "oc": []}],
            "image must be a CCR image id",
        ),
    ],
)
def test_bad_gigaspot_orders_fail_before_sending(
    sandbox: Sandbox, clock: FakeClock, orders: Any, message: str
) -> None:
    with make_client("sync", sandbox, clock) as client:
        with pytest.raises(ex.InvalidInputError, match=message):
            client.create_gigaspot_orders(orders)
        with pytest.raises(ex.InvalidInputError, match="order_id must be a positive"):
            client.edit_gigaspot_orders([{"order_id": -1, "price": 1}])
    assert _sent(sandbox) == []


# ── clore_ai.gigaspot: checks before a bid, and the orders a bid made ──────


def _bid(server: Any, price: float) -> dict[str, Any]:
    return {
        "renting_server": server.id,
        "currency": server.allowed_coins[0],
        "image": "a3f9c4d7e5b088d8a0bff880",
        "price": price,
        "oc": [{"pl": 300}] * max(1, len(server.gpu_array or [])),
    }


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_placed_bid_names_the_order_it_made(sandbox: Sandbox, clock: FakeClock, kind: str) -> None:
    from clore_ai.gigaspot import aplace_gigaspot_bids, lowest_bid, place_gigaspot_bids

    with make_client("sync", sandbox, clock) as client:
        server = _gigaspot_server(client)
        before = {o.id for o in client.my_orders()}
    price = max(lowest_bid(server, server.allowed_coins[0]) or 0.0, 0.0001) * 1.5
    if kind == "sync":
        with make_client(kind, sandbox, clock) as client:
            placed = place_gigaspot_bids(client, [_bid(server, price)], sleep=clock.sleep, clock=clock)
    else:

        async def bid() -> Any:
            async with make_client(kind, sandbox, clock) as client:
                return await aplace_gigaspot_bids(
                    client, [_bid(server, price)], sleep=clock.async_sleep, clock=clock
                )

        placed = asyncio.run(bid())
    assert placed.result.ok and placed.placed == [server.id] and placed.missing == []
    (order,) = placed.orders
    assert order.id not in before and order.server_id == server.id and order.price == price
    assert _sent(sandbox).count("create_gigaspot_orders") == 1


def test_an_order_that_appears_late_is_looked_for_on_the_injected_clock() -> None:
    from clore_ai.gigaspot import place_gigaspot_bids
    from clore_ai.models import Order

    clock = FakeClock()
    answers = [
        [Order(id=1, server_id=9)],
        [],
        [],
        [Order(id=1, server_id=9), Order(id=7, server_id=5, currency="bitcoin")],
    ]

    class Client:
        def my_orders(self) -> list[Order]:
            return answers.pop(0) if len(answers) > 1 else answers[0]

        def create_gigaspot_orders(self, orders: Any) -> GigaSpotCreateResult:
            return GigaSpotCreateResult()

    bid = {"renting_server": 5, "currency": "bitcoin", "image": "x", "price": 1, "oc": [{"pl": 1}]}
    placed = place_gigaspot_bids(Client(), [bid], sleep=clock.sleep, clock=clock, poll_interval=2)
    assert [o.id for o in placed.orders] == [7] and clock.sleeps == [2, 2]
    answers[:] = [[]]
    gone = place_gigaspot_bids(
        Client(), [bid], sleep=clock.sleep, clock=clock, find_within=10, poll_interval=2
    )
    assert gone.orders == [] and gone.missing == [5] and sum(clock.sleeps) <= 4 + 10


def test_a_bid_that_would_be_refused_is_refused_before_sending(sandbox: Sandbox, clock: FakeClock) -> None:
    from clore_ai.gigaspot import GigaSpotBidRefused, check_gigaspot_bid, lowest_bid

    with make_client("sync", sandbox, clock) as client:
        servers = client.marketplace(available_only=False)
    server = next(s for s in servers if s.on_gigaspot and lowest_bid(s, s.allowed_coins[0]) is not None)
    coin = server.allowed_coins[0]
    minimum = lowest_bid(server, coin)
    assert minimum is not None
    check_gigaspot_bid(server, server.id, coin, minimum)  # the minimum itself is a bid
    with pytest.raises(GigaSpotBidRefused) as low:
        check_gigaspot_bid(server, server.id, coin, minimum / 2)
    assert low.value.reason == "below-minimum" and low.value.minimum == minimum and low.value.code == 2
    assert "bid at least that (nothing was sent)" in str(low.value)
    other = next(
        c for c in ("bitcoin", "CLORE-Blockchain", "USD-Blockchain") if c not in server.allowed_coins
    )
    with pytest.raises(GigaSpotBidRefused) as coin_refused:
        check_gigaspot_bid(server, server.id, other, 1.0)
    assert coin_refused.value.reason == "currency-not-accepted"
    assert coin_refused.value.accepted == list(server.allowed_coins)
    plain = next(s for s in servers if not s.on_gigaspot)
    for missing in (plain, None):
        with pytest.raises(GigaSpotBidRefused, match="is not on GigaSPOT"):
            check_gigaspot_bid(missing, plain.id, coin, 1.0)
    assert "create_gigaspot_orders" not in _sent(sandbox)
