"""Every real wire shape parses, and the SDK fields/properties mean what the docs say."""

from __future__ import annotations

from typing import Any, Callable, Dict

import httpx
import pytest

from clore_ai import (
    CloreAI,
    MarketplaceServer,
    MyServer,
    Order,
    RateLimiter,
    ServerConfig,
    SpotMarket,
    Wallet,
)

from . import wire_examples as wx


def client_answering(body: dict[str, Any]) -> CloreAI:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    limiter = RateLimiter(interval=0, order_interval=0)
    return CloreAI(api_key="k" * 12, transport=httpx.MockTransport(handler), max_retries=0, limiter=limiter)


def test_official_marketplace_fixture_prices_are_per_hour_and_per_day() -> None:
    server = MarketplaceServer.model_validate(wx.OFFICIAL_MARKETPLACE_SERVER)
    assert server.id == 99173
    assert server.gpu_model == "1x NVIDIA GeForce RTX 4090"
    assert server.gpu_count == 1
    assert server.ram_gb == pytest.approx(31.8111)
    assert server.location == "NO"
    assert server.available is True
    # The wire says 3 USD per day; the SDK's price_usd is per hour.
    assert server.price_usd_per_day == pytest.approx(3.0)
    assert server.price_usd == pytest.approx(3.0 / 24)
    # price.usd.spot is 0 on the wire, but spot prices exist: derived from the BTC rate.
    assert server.spot_price_usd_per_day == pytest.approx(3.0)
    assert server.price_per_day("bitcoin") == pytest.approx(0.0000441)
    assert server.max_rental_hours == 720
    assert server.price is not None and server.price.usd is not None
    assert server.price.usd.on_demand_usd == 3


def test_official_3090_fixture_with_single_currency() -> None:
    server = MarketplaceServer.model_validate(wx.OFFICIAL_MARKETPLACE_3090)
    assert server.price_usd == pytest.approx(1.2 / 24)
    assert server.spot_price_usd == pytest.approx(0.6 / 24)
    assert server.rating is None and server.reliability is None


def test_nested_gpu_array_and_missing_specs() -> None:
    server = MarketplaceServer.model_validate(
        {"id": 1, "gpu_array": [[" GTX 745"], [" GTX 745"]], "rented": True}
    )
    assert server.gpu_names == ["GTX 745", "GTX 745"]
    assert server.gpu_count == 2
    assert server.gpu_model == "2x GTX 745"
    assert server.ram_gb is None and server.location is None and server.price_usd is None
    assert server.available is False


def test_unknown_fields_are_kept_on_top_level_models() -> None:
    server = MarketplaceServer.model_validate({**wx.OFFICIAL_MARKETPLACE_SERVER, "brand_new_field": [1, 2]})
    assert server.model_extra == {"brand_new_field": [1, 2]}
    order = Order.model_validate({**wx.MY_ORDERS_BODY["orders"][0]})
    assert order.model_extra is not None and order.model_extra["original_price_usd"] == 3.0


def test_wallets_with_null_balance() -> None:
    wallets = client_answering(wx.WALLETS_BODY).wallets()
    assert [w.name for w in wallets] == ["bitcoin", "CLORE-Blockchain", "legacy"]
    assert wallets[2].balance is None
    assert Wallet.model_validate(wx.OFFICIAL_WALLET).withdrawal_fee == 0.00005


def test_my_orders_live_shape() -> None:
    (order,) = client_answering(wx.MY_ORDERS_BODY).my_orders()
    assert order.id == 38176
    assert order.server_id == 5738  # from `si`
    assert order.type == "on-demand"  # from `spot: false`
    assert order.status == "running"  # mon_container 2
    assert order.pub_cluster == "n1.msk.cloreai.ru"
    assert order.pub_clusters == ["n1.msk.cloreai.ru"]
    assert order.tcp_ports == {"22": 1277}
    assert order.ssh_port == 1277 and order.ssh_host == "n1.msk.cloreai.ru"
    assert order.http_port == "8888" and order.http_url == "https://2i451z7dttj3i.cloreai.ru"
    assert order.price_per_day == 1108.85
    assert order.created_at is not None and order.created_at.year == 2024
    dumped = order.model_dump()
    assert dumped["type"] == "on-demand" and dumped["status"] == "running" and dumped["server_id"] == 5738


def test_order_shapes_from_the_official_sdk_still_parse() -> None:
    order = Order.model_validate(
        {
            "id": 123,
            "renting_server": 456,
            "type": "spot",
            "status": "active",
            "pub_cluster": "1.2.3.4",
            "tcp_ports": {"22": 2222},
            "http_port": 8888,
        }
    )
    assert order.server_id == 456 and order.type == "spot" and order.status == "active"
    assert order.pub_cluster == "1.2.3.4" and order.tcp_ports == {"22": 2222} and order.http_port == "8888"


@pytest.mark.parametrize(
    ("spot", "expired", "mon", "kind", "status"),
    [
        (True, False, 1, "spot", "deploying"),
        (False, True, 2, "on-demand", "expired"),
        (None, None, None, "on-demand", "active"),
    ],
)
def test_order_type_and_status(spot: Any, expired: Any, mon: Any, kind: str, status: str) -> None:
    order = Order.model_validate(
        {"id": 1, "si": 2, "spot": spot, "expired": expired, "mon_container": mon, "tcp_ports": []}
    )
    assert (order.type, order.status, order.tcp_ports) == (kind, status, {})


def test_spot_market_offer_fields_come_from_offer_id_and_bid() -> None:
    market = client_answering(wx.SPOT_MARKET_BODY).spot_marketplace(6)
    assert isinstance(market, SpotMarket)
    assert market.offers is not None
    first, second = market.offers
    assert (first.order_id, first.price, first.active, first.my, first.currency) == (
        39,
        1500,
        True,
        False,
        "CLORE-Blockchain",
    )
    assert second.order_id == 41 and second.my is True and second.server_id == 6
    assert market.usd_per_day(first) == pytest.approx(1500 * 0.002705)
    assert market.server is not None and market.server.mrl == 2520000
    official = SpotMarket.model_validate(wx.OFFICIAL_SPOT_MARKET)
    assert official.offers == [] and official.currency_rates_in_usd is not None


def test_server_config_prices_and_mrl() -> None:
    config = client_answering(wx.SERVER_CONFIG_BODY).server_config("Jan Vykydal")
    assert isinstance(config, ServerConfig)
    assert config.name == "Jan Vykydal" and config.id == 6 and config.mrl == 72
    assert config.gpu_model == "1x GeForce GTX 1080 Ti"
    assert config.on_demand_price == 3 and config.spot_price == 2
    assert config.creation_completed is True and config.connected is True


def test_my_servers_status_and_never_connected_server() -> None:
    servers = client_answering(wx.MY_SERVERS_BODY).my_servers()
    assert [s.status for s in servers] == ["Offline", "Disconnected"]
    assert servers[0].gpu_model == "1x RTX 5090"
    assert servers[1].id is None and servers[1].specs is None
    working = MyServer.model_validate({**wx.OFFICIAL_MY_SERVER, "online": True})
    assert working.status == "Not Working"


def test_poh_balance_and_renter_fees() -> None:
    poh = client_answering(wx.POH_BODY).poh_balance()
    assert poh.count == 1 and poh.balance is not None and poh.balance["total"] == 50000
    fees = client_answering(wx.RENTER_FEES_BODY).renter_fees()
    assert fees.creation_fees == {"on_demand": {"CLORE-Blockchain": 10}, "spot": {"CLORE-Blockchain": 1}}


def test_one_malformed_server_does_not_hide_the_marketplace(caplog: pytest.LogCaptureFixture) -> None:
    body = {
        "servers": [wx.OFFICIAL_MARKETPLACE_SERVER, {"id": "not-a-number"}, wx.OFFICIAL_MARKETPLACE_3090],
        "code": 0,
    }
    servers = client_answering(body).marketplace(available_only=False)
    assert [s.id for s in servers] == [99173, 55555]
    assert "1 of 3 servers in the response could not be read" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, [99173, 55555]),
        ({"gpu": "rtx 4090"}, [99173]),
        ({"gpu": "3090"}, [55555]),
        ({"max_price_usd": 0.1}, [55555]),  # 1.2 $/day = 0.05 $/h; 3 $/day = 0.125 $/h
        ({"max_price_usd": 0.125}, [99173, 55555]),
        ({"min_ram_gb": 32.0}, [55555]),
        ({"min_gpu_count": 2}, []),
    ],
)
def test_marketplace_filters(kwargs: dict[str, Any], expected: list[int]) -> None:
    body = {
        "servers": [
            wx.OFFICIAL_MARKETPLACE_SERVER,
            wx.OFFICIAL_MARKETPLACE_3090,
            {**wx.OFFICIAL_MARKETPLACE_3090, "id": 7, "rented": True},
        ],
        "code": 0,
    }
    assert [s.id for s in client_answering(body).marketplace(**kwargs)] == expected


def test_marketplace_parses_in_one_pass_from_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original: Callable[..., Any] = MarketplaceServer.model_validate
    monkeypatch.setattr(
        MarketplaceServer, "model_validate", lambda *a, **k: calls.append("item") or original(*a, **k)
    )
    body = {"servers": [wx.OFFICIAL_MARKETPLACE_SERVER] * 50, "code": 0}
    assert len(client_answering(body).marketplace()) == 50
    assert calls == []  # no per-server validation on the happy path


# ── lazily validated nested objects of marketplace servers ─────────────────


def test_marketplace_nested_objects_are_real_models_with_the_wire_values() -> None:
    from clore_ai import ServerPrice, ServerRating, ServerSpecs

    server = client_answering({"code": 0, "servers": [wx.OFFICIAL_MARKETPLACE_SERVER]}).marketplace(
        available_only=False
    )[0]
    assert isinstance(server.specs, ServerSpecs) and isinstance(server.price, ServerPrice)
    assert server.specs.net is not None and server.specs.net.cc == "NO"
    assert server.rating is None or isinstance(server.rating, ServerRating)
    dumped = server.model_dump()
    assert dumped["specs"]["net"]["cc"] == "NO"
    assert dumped["price"]["usd"]["on_demand_usd"] == 3
    assert MarketplaceServer.model_validate(wx.OFFICIAL_MARKETPLACE_SERVER) == server
    assert "ServerSpecs(" in repr(MarketplaceServer.model_validate(wx.OFFICIAL_MARKETPLACE_SERVER))


def test_a_malformed_nested_value_costs_only_that_value(caplog: pytest.LogCaptureFixture) -> None:
    specs = {**wx.OFFICIAL_MARKETPLACE_SERVER["specs"], "ram": "lots", "net": "nowhere"}
    body = {"code": 0, "servers": [{**wx.OFFICIAL_MARKETPLACE_SERVER, "specs": specs, "rating": [1]}]}
    servers = client_answering(body).marketplace(available_only=False)
    assert [s.id for s in servers] == [99173]
    server = servers[0]
    assert server.ram_gb is None and server.location is None and server.rating is None
    assert server.gpu_model == "1x NVIDIA GeForce RTX 4090"
    assert server.specs is not None and server.specs.unread_fields == {"ram": "lots", "net": "nowhere"}
    assert server.unread_fields == {"rating": [1]}


def test_marketplace_servers_survive_pickle_copy_and_assignment() -> None:
    import copy
    import pickle

    from clore_ai import ServerSpecs

    server = MarketplaceServer.model_validate(wx.OFFICIAL_MARKETPLACE_SERVER)
    assert pickle.loads(pickle.dumps(server)).specs.ram == pytest.approx(31.8111)
    assert copy.deepcopy(server).location == "NO"
    server.specs = ServerSpecs(ram=64.0)
    assert server.ram_gb == 64.0 and server.model_dump()["specs"]["ram"] == 64.0


@pytest.mark.parametrize(
    ("ports", "mapped"),
    [
        ([["22:1277"]], {}),
        (["22-1277"], {}),
        ([{"22": 1277}], {}),
        (22, {}),
        (["22:1277", "8888:abc"], {"22": 1277}),
    ],
)
def test_tcp_ports_of_another_shape_stay_readable_as_unread_fields(
    ports: Any, mapped: Dict[str, int]
) -> None:
    """Entries that are not "INNER:OUTER" are never dropped unseen; the readable ones still map."""
    from clore_ai._lazy import read_leniently

    order = read_leniently(Order, {"id": 1, "tcp_ports": ports, "price": "odd"})
    assert order.tcp_ports == mapped
    assert order.ssh_port == mapped.get("22")
    assert order.unread_fields == {"tcp_ports": ports, "price": "odd"}


def test_an_order_time_no_date_has_reads_none_not_an_error() -> None:
    assert Order(id=1, ct=1783703890000).created_at is None  # milliseconds: year 58493
    assert Order(id=1, ct=10**30).created_at is None
    assert Order(id=1, ct=1783703890).created_at is not None
