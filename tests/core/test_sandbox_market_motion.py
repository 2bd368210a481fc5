"""A sandbox market that moves, in virtual time: other renters take and free servers, prices
drift, competing spot bids outbid mine and leave, balances drain; a still sandbox is unchanged."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from clore_ai import CloreAI, RateLimiter
from clore_ai import exceptions as ex
from clore_ai.sandbox import (
    RATES,
    FileStore,
    MarketMotion,
    RateLimits,
    Sandbox,
    SandboxTransport,
    VirtualClock,
    market_from_text,
    speed_from_text,
)

KEY = "sk-market-motion-test"
IMAGE = "cloreai/pytorch"
STEP = 300.0  # one market epoch (MarketMotion's default)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def sandbox(clock: VirtualClock) -> Sandbox:
    return Sandbox(servers=200, clock=clock, market=MarketMotion(seed=7), rate_limits=RateLimits.off())


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[CloreAI]:
    unlimited = RateLimiter(interval=0, order_interval=0)
    with CloreAI(api_key=KEY, transport=SandboxTransport(sandbox), limiter=unlimited) as made:
        yield made


def body(sandbox: Sandbox, endpoint: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    answer = sandbox.handle("GET", f"/v1/{endpoint}", query or {}, {"auth": KEY}, b"")
    return json.loads(answer.body)  # type: ignore[no-any-return]


def market(sandbox: Sandbox) -> dict[int, dict[str, Any]]:
    return {s["id"]: s for s in body(sandbox, "marketplace")["servers"]}


def motion_of(sandbox: Sandbox) -> MarketMotion:
    assert sandbox.market is not None
    return sandbox.market


def generated(sandbox: Sandbox) -> list[int]:
    return [i for i in sandbox.catalogue.servers if i not in motion_of(sandbox).still_servers]


def test_the_same_seed_and_time_is_the_same_market_in_any_sandbox() -> None:
    def at(seed: int, when: float) -> bytes:
        sandbox = Sandbox(servers=200, clock=VirtualClock(when), market=MarketMotion(seed=seed))
        return sandbox.handle("GET", "/v1/marketplace", {}, {}, b"").body

    start = VirtualClock().now
    assert at(7, start) == at(7, start)
    assert at(7, start) == at(7, start + STEP - 1)  # one epoch: one market
    assert at(7, start) != at(7, start + 3 * STEP)
    assert at(7, start) != at(8, start)


def test_other_renters_take_and_free_servers(sandbox: Sandbox) -> None:
    ids = generated(sandbox)
    seen: dict[int, set[bool]] = {i: set() for i in ids}
    shares = []
    for _ in range(48):  # four virtual hours
        servers = market(sandbox)
        assert servers[123]["rented"] is False  # the fixtures stand still: 123 stays free
        for i in ids:
            seen[i].add(servers[i]["rented"])
        shares.append(sum(servers[i]["rented"] for i in ids) / len(ids))
        sandbox.advance(STEP)
    flipped = [i for i, states in seen.items() if states == {True, False}]
    assert len(flipped) > len(ids) // 3  # many servers were both taken and free
    assert all(0.1 < share < 0.5 for share in shares)  # about rented_share (0.3) at any time


def test_a_taken_server_refuses_on_demand_and_a_freed_one_rents(sandbox: Sandbox, client: CloreAI) -> None:
    motion = motion_of(sandbox)
    servers = sandbox.catalogue.servers

    def rentable(server_id: int) -> bool:
        wire = servers[server_id].wire
        return not wire["gigaspot"] and "CLORE-Blockchain" in wire["allowed_coins"]

    now = sandbox.now()
    taken = next(i for i in generated(sandbox) if rentable(i) and motion.taken(i, now))
    assert market(sandbox)[taken]["rented"] is True
    with pytest.raises(ex.FieldError) as info:
        client.create_order(server_id=taken, image=IMAGE, type="on-demand", currency="CLORE-Blockchain")
    assert info.value.error == "server-already-rented"
    # wait (virtually) until the other renter lets it go, then it is ours
    while motion.taken(taken, sandbox.now()) or motion.offline(taken, sandbox.now()):
        sandbox.advance(STEP)
    assert market(sandbox)[taken]["rented"] is False
    client.create_order(server_id=taken, image=IMAGE, type="on-demand", currency="CLORE-Blockchain")
    assert market(sandbox)[taken]["rented"] is True
    sandbox.advance(50 * STEP)  # our order holds it, whatever other renters do
    assert market(sandbox)[taken]["rented"] is True


def test_servers_go_offline_now_and_then(sandbox: Sandbox) -> None:
    motion = motion_of(sandbox)
    now = sandbox.now()
    candidates = [i for i in generated(sandbox) if not sandbox.catalogue.servers[i].wire["gigaspot"]]
    offline = None
    while offline is None:
        offline = next((i for i in candidates if motion.offline(i, now)), None)
        now = sandbox.advance(STEP)
    while not motion.offline(offline, sandbox.now()):
        sandbox.advance(STEP)  # back to an epoch where it is offline (we advanced one past)
    book = body(sandbox, "spot_marketplace", {"market": str(offline)})
    assert book["market"]["server"]["online"] is False
    coin = sandbox.catalogue.servers[offline].wire["allowed_coins"][0]
    answer = sandbox.handle(
        "POST",
        "/v1/create_order",
        {},
        {"auth": KEY},
        json.dumps(
            {"renting_server": offline, "type": "on-demand", "image": IMAGE, "currency": coin}
        ).encode(),
    )
    assert json.loads(answer.body) == {"code": 6, "error": "server-offline"}


def test_prices_drift_within_bounds_and_stay_consistent(sandbox: Sandbox) -> None:
    swing = motion_of(sandbox).price_swing
    moved = set()
    for _ in range(36):
        servers = market(sandbox)
        for server_id, entry in sandbox.catalogue.servers.items():
            base, now = entry.wire["price"], servers[server_id]["price"]
            for kind in ("on_demand", "spot"):
                for coin, price in base[kind].items():
                    if price:
                        ratio = now[kind][coin] / price
                        assert 1 - swing - 0.01 <= ratio <= 1 + swing + 0.01, (server_id, kind, coin)
                        if abs(ratio - 1) > 0.02:
                            moved.add(server_id)
            usd = now["usd"]["on_demand_usd"]
            if now["on_demand"].get("CLORE-Blockchain"):  # every currency says the same in USD
                clore_usd = now["on_demand"]["CLORE-Blockchain"] * RATES["CLORE-Blockchain"]
                assert clore_usd == pytest.approx(usd, rel=0.01, abs=0.01)
        sandbox.advance(STEP)
    assert len(moved) > len(sandbox.catalogue.servers) * 0.8


def _book(client: CloreAI, server_id: int) -> tuple[Any, list[Any]]:
    spot = client.spot_marketplace(server_id)
    mine = next(o for o in spot.offers or [] if o.my)
    others = [o for o in spot.offers or [] if not o.my]
    return mine, others


def test_competing_bids_outbid_mine_and_leave_and_a_higher_bid_wins(
    sandbox: Sandbox, client: CloreAI
) -> None:
    minimum = market(sandbox)[123]["price"]["spot"]["bitcoin"]
    bid = minimum * 1.25
    client.create_order(server_id=123, image=IMAGE, type="spot", currency="bitcoin", spot_price=bid)
    order_id = sandbox.orders_created(KEY)[-1]["id"]
    states = []
    for _ in range(60):  # five virtual hours
        mine, others = _book(client, 123)
        states.append(mine.active)
        if others:
            best = max(o.price * RATES[o.currency] for o in others)
            assert mine.active is (mine.price * RATES["bitcoin"] > best)
        sandbox.advance(STEP)
    assert True in states and False in states  # outbid sometimes, winning other times
    # the spot minimum drifts: keep above it, stay above any competitor (minimum x 1.3)
    while _book(client, 123)[0].active:
        sandbox.advance(STEP)
    mine, others = _book(client, 123)
    assert mine.active is False and others
    highest = max(o.price for o in others if o.currency == "bitcoin") if others else 0
    client.set_spot_price(order_id, round(max(highest, minimum) * 1.5, 8))
    assert _book(client, 123)[0].active is True


def test_lowering_rules_still_hold_in_a_moving_market(sandbox: Sandbox, client: CloreAI) -> None:
    minimum = market(sandbox)[123]["price"]["spot"]["bitcoin"]
    client.create_order(server_id=123, image=IMAGE, type="spot", currency="bitcoin", spot_price=minimum * 2)
    order_id = sandbox.orders_created(KEY)[-1]["id"]
    client.set_spot_price(order_id, round(minimum * 1.9, 8))
    with pytest.raises(ex.FieldError) as info:
        client.set_spot_price(order_id, round(minimum * 1.8, 8))
    assert info.value.error == "can_lower_every_600_seconds"
    sandbox.advance(600)
    with pytest.raises(ex.FieldError) as info:
        client.set_spot_price(order_id, round(minimum * 1.0, 8))
    assert info.value.error in ("exceeded_max_step", "amount_too_low")


def test_balances_drain_as_virtual_time_passes(sandbox: Sandbox, client: CloreAI) -> None:
    def clore_balance() -> float:
        return next(w.balance for w in client.wallets() if w.name == "CLORE-Blockchain") or 0.0

    before = clore_balance()
    sandbox.advance(86400)  # order 38 costs 1108.85 CLORE per day
    assert before - clore_balance() == pytest.approx(1108.85, rel=1e-6)


def test_forced_events_take_a_server_offline_it_and_outbid_me(sandbox: Sandbox, client: CloreAI) -> None:
    sandbox.take_server(123, seconds=900)
    assert market(sandbox)[123]["rented"] is True
    with pytest.raises(ex.FieldError) as info:
        client.create_order(server_id=123, image=IMAGE, type="on-demand", currency="bitcoin")
    assert info.value.error == "server-already-rented"
    sandbox.advance(900)
    assert market(sandbox)[123]["rented"] is False  # the other renter's time is up
    sandbox.set_offline(123)
    assert client.spot_marketplace(123).server.online is False  # type: ignore[union-attr]
    sandbox.free_server(123)
    assert client.spot_marketplace(123).server.online is True  # type: ignore[union-attr]

    minimum = market(sandbox)[123]["price"]["spot"]["bitcoin"]
    client.create_order(server_id=123, image=IMAGE, type="spot", currency="bitcoin", spot_price=minimum * 3)
    assert _book(client, 123)[0].active is True
    offer = sandbox.place_bid(123, minimum * 4, "bitcoin")
    mine, others = _book(client, 123)
    assert mine.active is False and any(o.order_id == offer and o.active for o in others)
    sandbox.withdraw_bid(offer)
    assert _book(client, 123)[0].active is True


def test_a_lost_race_looks_free_until_the_order_is_sent(sandbox: Sandbox, client: CloreAI) -> None:
    sandbox.take_server(123, when_ordered=True, seconds=600)
    assert market(sandbox)[123]["rented"] is False  # the listing still shows it free
    with pytest.raises(ex.FieldError) as info:
        client.create_order(server_id=123, image=IMAGE, type="on-demand", currency="bitcoin")
    assert info.value.error == "server-already-rented"
    assert market(sandbox)[123]["rented"] is True  # the winner holds it now
    sandbox.advance(600)
    client.create_order(server_id=123, image=IMAGE, type="on-demand", currency="bitcoin")
    assert sandbox.orders_created(KEY)[-1]["si"] == 123


def test_forced_events_work_on_a_still_market_too(clock: VirtualClock) -> None:
    sandbox = Sandbox(servers=60, clock=clock, rate_limits=RateLimits.off())
    sandbox.take_server(123)
    assert market(sandbox)[123]["rented"] is True
    sandbox.free_server(123)
    assert market(sandbox)[123]["rented"] is False


def test_a_still_sandbox_is_unchanged(clock: VirtualClock) -> None:
    still = Sandbox(servers=200, clock=clock, rate_limits=RateLimits.off())
    first = still.handle("GET", "/v1/marketplace", {}, {"auth": KEY}, b"").body
    still.advance(30 * 86400)
    assert still.handle("GET", "/v1/marketplace", {}, {"auth": KEY}, b"").body == first
    servers = {s["id"]: s for s in json.loads(first)["servers"]}
    for server_id, entry in still.catalogue.servers.items():
        expected = entry.wire if server_id != 5738 else {**entry.wire, "rented": True}
        assert servers[server_id] == expected
    state = still.store.transaction
    with state() as accounts:
        assert "_market" not in accounts  # nothing new is stored
    assert still.market_status()["motion"] is None


def test_speed_runs_one_time_line_shared_through_the_state_file(tmp_path: Any) -> None:
    wall = VirtualClock()
    path = tmp_path / "sandbox.json"
    fast = Sandbox(servers=10, clock=wall, store=FileStore(path), speed=60)
    start = fast.now()
    assert start == wall.now
    wall.advance(10)
    assert fast.now() == pytest.approx(start + 600)
    # another process on the same file without a speed continues the time line at 1x
    other = Sandbox(servers=10, clock=wall, store=FileStore(path))
    assert other.now() == pytest.approx(start + 600)
    wall.advance(10)
    assert other.now() == pytest.approx(start + 610)  # never backwards, never a jump
    assert other.market_status()["offset"] == pytest.approx(590)


def test_a_stored_market_setting_moves_every_sandbox_on_the_file(tmp_path: Any) -> None:
    path = tmp_path / "sandbox.json"
    clock = VirtualClock()
    Sandbox(servers=10, clock=clock, store=FileStore(path)).configure_market(MarketMotion(seed=3), speed=120)
    reader = Sandbox(servers=10, clock=clock, store=FileStore(path))
    status = reader.market_status()
    assert status["motion"]["seed"] == 3 and status["speed"] == 120
    clock.advance(5)
    assert reader.now() == pytest.approx(clock.now + 5 * 119)


def test_advance_without_a_virtual_clock_jumps_the_shared_time_line(tmp_path: Any) -> None:
    wall = [1_800_000_000.0]
    path = tmp_path / "sandbox.json"
    sandbox = Sandbox(servers=10, clock=lambda: wall[0], store=FileStore(path))
    assert sandbox.advance(3600) == wall[0] + 3600
    other = Sandbox(servers=10, clock=lambda: wall[0], store=FileStore(path))
    wall[0] += 5
    assert other.now() == wall[0] + 3600  # the jump is for every process on the file
    with pytest.raises(ValueError):
        sandbox.advance(-1)
    with pytest.raises(ValueError):
        VirtualClock().advance(-1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("still", None), ("moving", MarketMotion()), ("Moving:7", MarketMotion(seed=7))],
)
def test_market_settings_from_text(text: str, expected: MarketMotion | None) -> None:
    assert market_from_text(text) == expected


@pytest.mark.parametrize(
    "text", ["stil", "moving:x", "still:3", "", "moving:\u0661", "moving:99999999999999999999999"]
)
def test_bad_market_settings_say_what_is_allowed(text: str) -> None:
    with pytest.raises(ValueError, match="'still', 'moving' or 'moving:SEED'"):
        market_from_text(text)


def test_speed_from_text() -> None:
    assert speed_from_text("60") == 60.0
    for bad in ("0", "-1", "fast", "inf", "nan", "\u0661\u0660", "\uff11"):
        with pytest.raises(ValueError, match="speed must be"):
            speed_from_text(bad)


def test_motion_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        MarketMotion(rented_share=1.5)
    with pytest.raises(ValueError):
        MarketMotion(epoch_seconds=0)
    assert MarketMotion.from_json(MarketMotion(seed=5).to_json()) == MarketMotion(seed=5)


@pytest.mark.parametrize(
    "args",
    [
        ["--port", "-1"],
        ["--port", "\u0661"],
        ["--port", "70000"],
        ["--seed", "\u0661"],
        ["--rate-scale", "nan"],
    ],
)
def test_loopback_server_options_refuse_nonsense_before_binding(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """--port -1 was a traceback from bind(), --port ١ listened on port 1."""
    from clore_ai.sandbox.__main__ import _parser

    with pytest.raises(SystemExit) as stopped:
        _parser().parse_args(args)
    assert stopped.value.code == 2
    assert f"argument {args[0]}" in capsys.readouterr().err
