"""The sandbox follows the API reference: every rule and error, through the in-process
transport and through the loopback HTTP server, understood by the SDK."""

from __future__ import annotations

import json
from typing import Any, Iterator

import httpx
import pytest

from clore_ai import CloreAI, RateLimiter
from clore_ai import exceptions as ex
from clore_ai.sandbox import FileStore, RateLimits, Sandbox, SandboxServer, SandboxTransport

from ..conftest import KEY, FakeClock, make_client

BASE = {"image": "cloreai/pytorch", "currency": "bitcoin"}


@pytest.fixture(params=["transport", "server"])
def client(request: pytest.FixtureRequest, sandbox: Sandbox, clock: FakeClock) -> Iterator[CloreAI]:
    if request.param == "transport":
        with make_client("sync", sandbox, clock) as made:
            yield made
        return
    with SandboxServer(sandbox) as server:
        with CloreAI(
            api_key=KEY, base_url=server.url, limiter=RateLimiter(clock=clock), sleep=clock.sleep
        ) as made:
            yield made


def raw(
    sandbox: Sandbox,
    endpoint: str,
    body: Any = None,
    *,
    key: str | None = KEY,
    method: str | None = None,
    query: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    sandbox.rate_limits = RateLimits.off()
    verb = method or ("POST" if body is not None and endpoint not in ("server_config",) else "GET")
    headers = {"auth": key} if key else {}
    answer = sandbox.handle(
        verb, f"/v1/{endpoint}", query or {}, headers, json.dumps(body).encode() if body is not None else b""
    )
    return answer.status, json.loads(answer.body)


def _has(server: Any, key: str, value: Any) -> bool:
    wire = server.wire
    checks = {
        "gigaspot": lambda: wire["gigaspot"] is value,
        "rented": lambda: wire["rented"] is value,
        "online": lambda: server.online is value,
        "coin": lambda: value in wire["allowed_coins"],
        "no_coin": lambda: value not in wire["allowed_coins"],
    }
    return bool(checks[key]())


def find(sandbox: Sandbox, **wanted: Any) -> int:
    """The first generated server (not a fixture) with the wanted properties."""
    for server in sandbox.catalogue.ordered():
        if server.id not in (6, 123, 5738) and all(_has(server, k, v) for k, v in wanted.items()):
            return server.id
    pytest.skip(f"no server with {wanted} in this catalogue")


def test_every_create_order_error_of_the_catalogue(client: CloreAI, sandbox: Sandbox) -> None:
    cases = [
        ({"server_id": 999999, "type": "on-demand"}, "server-dont-exist"),
        ({"server_id": 90001, "type": "on-demand"}, "cant_rent_from_yourself"),
        (
            {"server_id": find(sandbox, gigaspot=True, online=True), "type": "on-demand"},
            "machine-is-on-gigaspot",
        ),
        (
            {
                "server_id": find(sandbox, gigaspot=False, online=True, rented=True, coin="bitcoin"),
                "type": "on-demand",
            },
            "server-already-rented",
        ),
        (
            {
                "server_id": find(sandbox, gigaspot=False, online=True, no_coin="USD-Blockchain"),
                "type": "on-demand",
                "currency": "USD-Blockchain",
            },
            "currency-not-allowed",
        ),
        ({"server_id": 6, "type": "spot", "spot_price": 0.00001}, "you_already_have_spot_order"),
        ({"server_id": 123, "type": "spot", "spot_price": 0.0000001}, "too_low_price"),
        ({"server_id": 123, "type": "on-demand", "required_price": 0.5}, "price_changed"),
    ]
    for change, error in cases:
        with pytest.raises(ex.FieldError) as info:
            client.create_order(**{**BASE, **change})
        assert info.value.error == error, change
    assert sandbox.orders_created(KEY) == []


def test_offline_server_and_balance(sandbox: Sandbox) -> None:
    offline = find(sandbox, online=False, gigaspot=False, coin="bitcoin")
    status, body = raw(sandbox, "create_order", {"renting_server": offline, "type": "on-demand", **BASE})
    assert (status, body) == (200, {"code": 6, "error": "server-offline"})
    expensive = max(
        (
            s
            for s in sandbox.catalogue.ordered()
            if s.online
            and not s.wire["gigaspot"]
            and not s.wire["rented"]
            and "USD-Blockchain" in s.wire["allowed_coins"]
            and s.id not in (6, 123, 5738)
        ),
        key=lambda s: s.wire["price"]["on_demand"]["USD-Blockchain"],
    )
    cheap_enough = expensive.wire["price"]["on_demand"]["USD-Blockchain"] < 250 * 24
    status, body = raw(
        sandbox,
        "create_order",
        {"renting_server": expensive.id, "type": "on-demand", "image": "x/y", "currency": "USD-Blockchain"},
    )
    assert body["code"] == 0 if cheap_enough else body == {"code": 6, "error": "not_enough_balance"}


def test_invalid_input_and_auth_and_endpoint_codes(sandbox: Sandbox) -> None:
    assert raw(sandbox, "create_order", {"renting_server": "123", "type": "on-demand", **BASE}) == (
        400,
        {"code": 2},
    )
    assert raw(sandbox, "create_order", {"renting_server": 123, "type": "spot", **BASE}) == (400, {"code": 2})
    assert raw(
        sandbox,
        "create_order",
        {"renting_server": 123, "type": "on-demand", "ssh_password": "a" * 33, **BASE},
    ) == (400, {"code": 2})
    assert raw(sandbox, "wallets", key=None) == (401, {"code": 3})
    assert raw(sandbox, "wallets", key="invalid-key-123") == (401, {"code": 3})
    assert raw(sandbox, "nonsense") == (404, {"code": 4})
    assert raw(sandbox, "marketplace", key=None)[1]["code"] == 0  # public
    assert raw(sandbox, "marketplace", key="invalid-x") == (401, {"code": 3})


def test_sdk_understands_auth_errors(client: CloreAI, sandbox: Sandbox, clock: FakeClock) -> None:
    bad = make_client("sync", sandbox, clock, api_key="invalid-key-0000")
    with pytest.raises(ex.AuthError):
        bad.wallets()


def test_rate_limits_are_enforced_per_key(sandbox: Sandbox, clock: FakeClock) -> None:
    def hit(endpoint: str = "wallets", key: str = KEY, body: bytes = b"") -> int:
        return sandbox.handle("POST" if body else "GET", f"/v1/{endpoint}", {}, {"auth": key}, body).status

    assert hit() == 200
    clock.advance(0.5)
    assert hit() == 429
    assert hit(key="someone-else-key") == 200
    clock.advance(0.6)
    assert hit() == 200
    order = json.dumps({"renting_server": 123, "type": "on-demand", **BASE}).encode()
    clock.advance(1.0)
    assert hit("create_order", body=order) == 200
    clock.advance(2.0)
    assert hit("create_order", body=order) == 429  # 1 per 5 s
    clock.advance(3.1)
    assert hit("create_order", body=order) == 200  # (answers code 6 already rented, but not 429)


def test_orders_lifecycle_spend_and_cancel(client: CloreAI, sandbox: Sandbox, clock: FakeClock) -> None:
    before = {w.name: w.balance for w in client.wallets()}
    spent_before = sum(o.spend or 0 for o in client.my_orders() if o.currency == "bitcoin")
    order = client.create_order(server_id=123, type="on-demand", ports={"22": "tcp", "8888": "http"}, **BASE)
    assert order.status == "deploying" and order.tcp_ports and "22" in order.tcp_ports
    clock.advance(6 * 3600)
    (now,) = [o for o in client.my_orders() if o.id == order.id]
    assert now.status == "running"
    assert now.spend == pytest.approx(order.price * 0.25, rel=0.01, abs=2e-8)  # 6 h of a per-day price
    _, listed = raw(sandbox, "my_orders")
    (running,) = [o for o in listed["orders"] if o["id"] == order.id]
    assert "spot" not in running and "expired" not in running  # as the live API (real-samples README)
    spot = next(o for o in listed["orders"] if o.get("spot"))
    assert spot["expired"] is False
    after = {w.name: w.balance for w in client.wallets()}
    spent = sum(o.spend or 0 for o in client.my_orders() if o.currency == "bitcoin")  # incl. spot order 39
    assert before["bitcoin"] - after["bitcoin"] == pytest.approx(spent - spent_before, abs=1e-7)
    assert client.cancel_order(order.id) == {"code": 0}
    assert order.id not in [o.id for o in client.my_orders()]
    (done,) = [o for o in client.my_orders(include_completed=True) if o.id == order.id]
    assert done.expired is True and done.status == "expired"
    server = next(s for s in client.marketplace(available_only=False) if s.id == 123)
    assert server.rented is False
    with pytest.raises(ex.FieldError, match="you_dont_own_this_order"):
        client.cancel_order(424242)
    _, body = raw(sandbox, "cancel_order", {"id": order.id})
    assert body == {"code": 6, "error": "order_not_active"}
    _, body = raw(sandbox, "cancel_order", {"id": 38, "issue": "x" * 2049})
    assert body == {"code": 6, "error": "issue_description_too_long"}


def test_spot_lowering_rules(client: CloreAI, sandbox: Sandbox, clock: FakeClock) -> None:
    assert client.set_spot_price(order_id=39, price=0.000003) == {"code": 0}
    with pytest.raises(ex.FieldError) as info:
        client.set_spot_price(order_id=39, price=0.0000028)
    assert info.value.error == "can_lower_every_600_seconds" and 0 < info.value.time_to_lowering <= 600
    assert client.set_spot_price(order_id=39, price=0.00001) == {"code": 0}  # raising is always allowed
    clock.advance(601)
    with pytest.raises(ex.FieldError) as info:
        client.set_spot_price(order_id=39, price=0.000003)
    assert info.value.error == "exceeded_max_step" and info.value.max_step == pytest.approx(0.000003)
    with pytest.raises(ex.FieldError, match="amount_too_low"):
        client.set_spot_price(order_id=39, price=0.000001)
    with pytest.raises(ex.FieldError, match="order_dont_exist"):
        client.set_spot_price(order_id=38, price=1)
    book = client.spot_marketplace(6)
    mine = [o for o in book.offers or [] if o.my]
    assert [(o.order_id, o.price) for o in mine] == [(39, 0.00001)]
    assert book.server is not None and book.server.online is True and book.currency_rates_in_usd


def test_answers_as_recorded_live(client: CloreAI, sandbox: Sandbox) -> None:
    """Statuses, units and shapes of tests/core/test_real_answers.py's recordings."""
    mygpu, _, flat = client.my_servers()
    assert mygpu.usd_pricing_per_currency is True and mygpu.on_demand_usd_per_day == 4.5
    assert flat.usd_pricing_per_currency is False and flat.autoprice == "usd"
    assert (flat.on_demand_usd_per_day, flat.spot_usd_per_day, flat.usd_price_per_day("bitcoin")) == (
        9,
        7.2,
        9,
    )
    assert flat.enable_btc_and_clore is True and flat.public_name == "EU 2x3090" and flat.is_public is False
    assert flat.rented_until is not None and flat.rented_until.year == 2030
    assert client.server_config("rig-2025").on_demand_price == 9
    # A USD price shown, USD not accepted: allowed_coins decides, HTTP 500 as live.
    server_id = find(sandbox, no_coin="USD-Blockchain", online=True, gigaspot=False, rented=False)
    wire = sandbox.catalogue.servers[server_id].wire
    priced = [
        s.id
        for s in sandbox.catalogue.ordered()
        if "USD-Blockchain" in s.wire["price"]["on_demand"]
        and "USD-Blockchain" not in s.wire["allowed_coins"]
    ]
    assert priced and 0.01 < len(priced) / len(sandbox.catalogue.servers) < 0.1
    status, body = raw(
        sandbox,
        "create_order",
        {**BASE, "renting_server": priced[0], "type": "on-demand", "currency": "USD-Blockchain"},
    )
    assert (status, body) == (500, {"code": 6, "error": "currency-not-allowed"})
    assert wire["allowed_coins"]
    # Order mrl in seconds; GigaSPOT servers listed.
    assert all(o.mrl is not None and o.mrl % 3600 == 0 for o in client.my_orders())
    assert all(o.mrl_hours == o.mrl / 3600 for o in client.my_orders() if o.mrl is not None)
    assert any(s.gigaspot is True for s in client.marketplace(available_only=False))


def test_host_side_settings(client: CloreAI, sandbox: Sandbox) -> None:
    assert [s.name for s in client.my_servers()] == ["MyGPU", "Michael", "rig-2025"]
    config = client.server_config("MyGPU")
    assert config.mrl == 72 and config.gpu_model == "1x NVIDIA GeForce RTX 3090"
    client.set_server_settings(name="MyGPU", availability=True, mrl=96, on_demand=0.0001, spot=0.00000113)
    config = client.server_config("MyGPU")
    assert config.mrl == 96 and config.pricing and config.pricing["bitcoin"] == 0.0001
    with pytest.raises(ex.FieldError, match="not_all_parameters_present"):
        client.set_server_settings(name="MyGPU", mrl=96)
    with pytest.raises(ex.FieldError, match="invalid_mrl"):
        client.set_server_settings(name="MyGPU", availability=True, mrl=5000, on_demand=1, spot=1)
    with pytest.raises(ex.FieldError, match="server_dont_exist"):
        client.server_config("nope")
    client.set_server_settings(name="MyGPU", availability=False, mrl=96, on_demand=0.0001, spot=0.0000011)
    assert 90001 not in [s.id for s in client.marketplace(available_only=False)]


def test_other_endpoints(client: CloreAI) -> None:
    assert client.poh_balance().count == 0
    assert client.renter_fees().creation_fees
    result = client.cancel_orders([38, 777])
    assert result.failed_to_cancel == [777]


def test_marketplace_is_realistic_and_deterministic() -> None:
    big = Sandbox(servers=5000, seed=7, rate_limits=RateLimits.off())
    same = Sandbox(servers=5000, seed=7, rate_limits=RateLimits.off())
    body = big.handle("GET", "/v1/marketplace", {}, {}, b"").body
    assert body == same.handle("GET", "/v1/marketplace", {}, {}, b"").body
    with CloreAI(transport=SandboxTransport(big), limiter=RateLimiter(interval=0)) as client:
        servers = client.marketplace(available_only=False)
    assert len(servers) == 5001  # the catalogue plus the account's own public server
    gpus = {name for s in servers for name in s.gpu_names}
    assert {"RTX 3060", "RTX 4090", "A100", "H100"} <= gpus
    assert any(s.gpu_count >= 8 for s in servers) and any(s.rented for s in servers)
    assert any(isinstance(s.gpu_array[0], list) for s in servers if s.gpu_array)
    assert len({s.location for s in servers}) > 10
    assert all(s.price_usd and 0.01 < s.price_usd < 30 for s in servers)
    for s in servers[:200]:  # per-day native prices agree with the USD block and the rates
        for coin in s.allowed_coins or []:
            native = s.price_per_day(coin)
            usd = {"bitcoin": 68022.87, "CLORE-Blockchain": 0.002705, "USD-Blockchain": 1.0}[coin]
            assert native is not None and native * usd == pytest.approx(
                s.price_usd_per_day, rel=0.02, abs=0.01
            )
    assert Sandbox(servers=10_000).catalogue.size == 10_000


def test_state_persists_across_processes_in_a_locked_file(tmp_path: Any) -> None:
    path = tmp_path / "state.json"
    first = Sandbox(servers=30, store=FileStore(path), rate_limits=RateLimits.off())
    with CloreAI(
        api_key=KEY, transport=SandboxTransport(first), limiter=RateLimiter(interval=0, order_interval=0)
    ) as c:
        order = c.create_order(server_id=123, type="on-demand", **BASE)
    second = Sandbox(servers=30, store=FileStore(path), rate_limits=RateLimits.off())
    with CloreAI(api_key=KEY, transport=SandboxTransport(second), limiter=RateLimiter(interval=0)) as c:
        assert order.id in [o.id for o in c.my_orders()]
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert KEY not in path.read_text()
    second.reset()
    assert second.account_state(KEY) is None and KEY not in path.read_text()


@pytest.mark.parametrize("persisted", [True, False])
def test_a_reset_sandbox_never_hands_out_an_order_id_twice(
    persisted: bool, tmp_path: Any, clock: FakeClock
) -> None:
    """The client's order journal (per key, in the cache folder) keeps the ids it adopted: a
    reset sandbox giving 1000 again would look like an order the first client had claimed."""
    store = FileStore(tmp_path / "state.json") if persisted else None
    sandbox = Sandbox(servers=30, clock=clock, store=store, rate_limits=RateLimits.off())
    with make_client("sync", sandbox, clock) as before:
        first = before.create_order(server_id=123, type="on-demand", **BASE)
    sandbox.reset()
    with make_client("sync", sandbox, clock) as after:
        assert {o.id for o in after.my_orders()} == {38, 39}  # a fresh account: the fixtures
        second = after.create_order(server_id=123, type="on-demand", **BASE)
        assert second.server_id == 123 and second.id > first.id
        assert [o.id for o in after.my_orders() if o.id >= 1000] == [second.id]


def test_a_new_spot_price_is_billed_only_from_when_it_was_set(sandbox: Sandbox, clock: FakeClock) -> None:
    """Spot order 39 ran 6 h at 0.000004 BTC/day; 0.5 BTC/day applies from the raise on."""
    with make_client("sync", sandbox, clock) as client:

        def spent_39() -> float:
            return next(o.spend or 0.0 for o in client.my_orders() if o.id == 39)

        wallet_before = next(w.balance or 0.0 for w in client.wallets() if w.name == "bitcoin")
        at_raise = spent_39()
        assert at_raise < 0.000002  # 6 h at 0.000004 per day at most
        client.set_spot_price(39, 0.5)  # far above every other bid on server 6: it runs
        clock.advance(3600)
        assert spent_39() - at_raise == pytest.approx(0.5 / 24, rel=0.01)  # one hour at 0.5 per day
        wallet_after = next(w.balance or 0.0 for w in client.wallets() if w.name == "bitcoin")
        assert wallet_before - wallet_after == pytest.approx(0.5 / 24, rel=0.01)


def test_a_spot_order_is_billed_only_while_its_bid_is_the_highest(sandbox: Sandbox, clock: FakeClock) -> None:
    """Spot order 39 (0.000004 BTC/day) is outbid on server 6 by a 1,500 CLORE/day bid (~$4)."""
    with make_client("sync", sandbox, clock) as client:

        def spent_39() -> float:
            return next(o.spend or 0.0 for o in client.my_orders() if o.id == 39)

        def winning() -> bool:
            return next(bool(o.active) for o in client.spot_marketplace(6).offers or [] if o.my)

        assert not winning()
        outbid = spent_39()
        clock.advance(3600)
        assert spent_39() == outbid  # not running, not billed
        client.set_spot_price(39, 0.001)  # ~$68/day: the highest bid
        assert winning()
        clock.advance(3600)
        won = spent_39()
        assert won - outbid == pytest.approx(0.001 / 24, rel=0.01)
        rival = sandbox.place_bid(6, 0.002, "bitcoin")
        assert not winning()
        clock.advance(3600)
        assert spent_39() == won
        sandbox.withdraw_bid(rival)
        clock.advance(3600)
        won_again = spent_39()
        assert won_again - won == pytest.approx(0.001 / 24, rel=0.01)
        sandbox.place_bid(6, 0.002, "bitcoin", seconds=1800)  # outbid for the first half hour
        clock.advance(3600)
        assert spent_39() - won_again == pytest.approx(0.001 / 48, rel=0.02)


def test_official_wire_not_our_sdk(sandbox: Sandbox) -> None:
    """The sandbox answers what the live API answers, e.g. create_order is only {"code":0}."""
    status, body = raw(sandbox, "create_order", {"renting_server": 123, "type": "on-demand", **BASE})
    assert (status, body) == (200, {"code": 0})
    _, orders = raw(sandbox, "my_orders", query={"return_completed": "false"})
    new = next(o for o in orders["orders"] if o["si"] == 123)
    assert (
        isinstance(new["pub_cluster"], list) and isinstance(new["tcp_ports"], list) and "server_id" not in new
    )
    _, market = raw(sandbox, "spot_marketplace", query={"market": "6"})
    assert set(market["market"]["offers"][0]) == {"offer_id", "bid", "active", "my", "currency"}


def test_fault_injection_through_the_server(sandbox: Sandbox, clock: FakeClock) -> None:
    with SandboxServer(sandbox) as server:
        sandbox.faults.inject("wallets", "html_5xx", status=502)
        response = httpx.get(f"{server.url}/wallets", headers={"auth": KEY})
        assert response.status_code == 502 and response.headers["content-type"] == "text/html"
        sandbox.faults.inject("wallets", "rate_limit", retry_after=2)
        response = httpx.get(f"{server.url}/wallets", headers={"auth": KEY})
        assert response.status_code == 429 and response.headers["retry-after"] == "2"
        sandbox.faults.inject("wallets", "drop_after")
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{server.url}/wallets", headers={"auth": KEY})
        clock.advance(2)
        response = httpx.get(f"{server.url}/wallets", headers={"auth": KEY})
        assert response.status_code == 200 and response.json()["code"] == 0


def test_server_answers_kept_alive_connections_without_a_nagle_stall(
    sandbox: Sandbox, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Headers and body are two writes: without TCP_NODELAY the second waits for the client's
    delayed ACK, 40 ms on every answer after the first on one connection (`clore shell`)."""
    import socket

    from clore_ai.sandbox import _server

    options: list[int] = []
    original_setup = _server._Handler.setup

    def setup(handler: Any) -> None:
        original_setup(handler)
        options.append(handler.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    monkeypatch.setattr(_server._Handler, "setup", setup)
    with SandboxServer(sandbox) as server, httpx.Client() as http:
        for _ in range(3):
            assert http.get(f"{server.url}/wallets", headers={"auth": KEY}).status_code == 200
            clock.advance(1)  # the API's one request per second
    assert len(options) == 1 and options[0] != 0  # one kept-alive connection, Nagle off


def test_a_cancel_whose_answer_was_lost_does_not_claim_its_issue_was_undelivered(
    client: CloreAI, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """The first attempt cancelled the order with its report, the answer was lost, the retry
    found the order ended: whether the report arrived is unknown, not "not delivered"."""
    sandbox.faults.inject("cancel_order", "drop_after")
    result = client.cancel_order(38, issue="GPU #1 overheating")
    assert result == {"code": 0, "already_ended": True, "issue_reported": None}
    assert "not delivered" not in caplog.text and "may have" in caplog.text
    assert client.cancel_order(38, issue="again") == {
        "code": 0,
        "already_ended": True,
        "issue_reported": False,
    }
