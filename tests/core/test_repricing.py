"""clore_ai.repricing: percentiles, comparables per GPU, proposals within the floor and
ceiling, and the occupancy of hosted servers."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clore_ai import MarketplaceServer, MyServer, ServerConfig
from clore_ai.repricing import (
    gpu_model_of,
    implied_usd_rates,
    market_distribution,
    occupancy,
    percentile,
    percentile_rank,
    price_decimals,
    propose,
)

BTC_USD = 50_000.0
RATES = {"bitcoin": BTC_USD, "USD-Blockchain": 1.0}


def offer(
    server_id: int,
    usd_per_gpu_day: float,
    *,
    gpu: str = "RTX 4090",
    count: int = 1,
    spot_ratio: float = 0.5,
    coins: tuple[str, ...] = ("bitcoin", "USD-Blockchain"),
    gigaspot: bool = False,
    rented: bool = False,
) -> MarketplaceServer:
    usd = usd_per_gpu_day * count
    return MarketplaceServer.model_validate(
        {
            "id": server_id,
            "price": {
                "on_demand": {c: usd / RATES[c] for c in coins},
                "spot": {c: usd * spot_ratio / RATES[c] for c in coins},
                "usd": {"on_demand_btc": usd, "on_demand_usd": usd, "spot": usd * spot_ratio},
            },
            "rented": rented,
            "allowed_coins": list(coins),
            "gpu_array": [f" {gpu}" if server_id % 2 else gpu] * count,
            "gigaspot": gigaspot,
        }
    )


def mine(
    name: str = "rig",
    server_id: int = 900,
    *,
    gpu: str = "NVIDIA GeForce RTX 4090",
    count: int = 1,
    usd_per_day: float = 10.0,
    coins: tuple[str, ...] = ("bitcoin", "USD-Blockchain"),
    autoprice: Any = None,
) -> ServerConfig:
    return ServerConfig.model_validate(
        {
            "config": {
                "name": name,
                "id": server_id,
                "visibility": "public",
                "mrl": 72,
                "pricing": {c: usd_per_day / RATES[c] for c in coins},
                "spot_pricing": {c: usd_per_day / 2 / RATES[c] for c in coins},
                "allowed_coins": list(coins),
                "autoprice": autoprice,
                "specs": {"gpu": f"{count}x {gpu}"},
            }
        }
    )


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert [percentile(values, p) for p in (0, 25, 50, 100)] == [1.0, 1.75, 2.5, 4.0]
    assert percentile([7.0], 90) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_percentile_rank_is_its_inverse() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert percentile_rank(values, 0.5) == 0 and percentile_rank(values, 9) == 100
    assert percentile_rank(values, 3.0) == 50 and percentile_rank(values, 1.5) == 12.5
    assert percentile_rank([1.0, 2.0, 2.0, 2.0, 3.0], 2.0) == 50  # the middle of a run of equals


def test_gpu_models_ignore_vendor_words_and_spaces() -> None:
    assert gpu_model_of(offer(1, 1.0, count=8)) == ("rtx 4090", 8)
    assert gpu_model_of(mine(gpu="NVIDIA GeForce RTX 4090", count=2)) == ("rtx 4090", 2)
    mixed = MarketplaceServer.model_validate({"id": 3, "gpu_array": ["RTX 4090", "RTX 3090"]})
    assert gpu_model_of(mixed) is None


def test_comparables_are_per_gpu_same_model_not_mine_not_gigaspot_in_the_coin() -> None:
    market = [
        offer(1, 8.0),
        offer(2, 9.0, count=8),  # per GPU: 9
        offer(3, 1.0, gpu="RTX 3090"),  # another model
        offer(4, 2.0, gigaspot=True),  # not rentable with create_order
        offer(5, 3.0, coins=("USD-Blockchain",)),  # does not take bitcoin
        offer(900, 0.5),  # mine
    ]
    found = market_distribution(market, "rtx 4090", "bitcoin", "on_demand", exclude_ids={900})
    assert found.server_ids == (1, 2)
    assert found.per_gpu_per_day == pytest.approx((8.0 / BTC_USD, 9.0 / BTC_USD))
    spot = market_distribution(market, "rtx 4090", "USD-Blockchain", "spot", exclude_ids={900})
    assert spot.per_gpu_per_day == pytest.approx((1.5, 4.0, 4.5))


def test_an_eight_gpu_host_is_priced_per_gpu_times_eight() -> None:
    market = [offer(i, 10.0 + i, count=1 + i % 3) for i in range(1, 11)]  # per GPU 11..20
    (proposal,) = propose(
        [mine(count=8)], market, percentile=50, kinds=["on_demand"], currencies=["USD-Blockchain"]
    )
    assert proposal.comparables == 10 and proposal.gpu_count == 8
    assert proposal.new_per_day == 8 * 15.5 and proposal.new_percentile == 50
    assert proposal.new_usd_per_hour == pytest.approx(8 * 15.5 / 24)
    assert proposal.current_percentile == 0  # 10 USD for 8 GPUs is below every offer


def test_few_comparables_and_unaccepted_coins_are_skipped_with_a_reason() -> None:
    market = [offer(i, 10.0) for i in range(1, 5)]
    proposals = propose(
        [mine(coins=("bitcoin",))], market, percentile=25, currencies=["bitcoin", "USD-Blockchain"]
    )
    assert {p.skipped for p in proposals} == {
        "only 4 comparable offers (at least 5 needed)",
        "rig does not accept this currency",
    }
    assert all(p.new_per_day is None and not p.changed for p in proposals)


def test_floor_and_ceiling_are_usd_per_day_for_the_whole_server_converted_to_the_coin() -> None:
    market = [offer(i, float(i)) for i in range(1, 11)]  # 1..10 USD per GPU per day
    low, high = propose(
        [mine(count=2)], market, percentile=0, kinds=["on_demand"], currencies=["bitcoin"],
        floor_usd_per_day=5.0, usd_rates=RATES,
    ) + propose(
        [mine(count=2)], market, percentile=100, kinds=["on_demand"], currencies=["bitcoin"],
        ceiling_usd_per_day=12.0, usd_rates=RATES,
    )  # fmt: skip
    assert (low.new_per_day, low.clamped) == (0.0001, "floor")  # 5 USD / 50,000
    assert (high.new_per_day, high.clamped) == (0.00024, "ceiling")
    assert low.new_usd_per_day == pytest.approx(5.0) and high.new_usd_per_day == pytest.approx(12.0)


def test_autoprice_on_for_a_coin_is_a_warning() -> None:
    market = [offer(i, float(i)) for i in range(1, 11)]
    proposals = propose([mine(autoprice={"bitcoin": "usd"})], market, percentile=25, kinds=["on_demand"])
    by_coin = {p.currency: p.warnings for p in proposals}
    assert by_coin["USD-Blockchain"] == ()
    assert "autoprice (USD) is on for bitcoin" in by_coin["bitcoin"][0]


def test_implied_rates_come_from_the_market() -> None:
    assert implied_usd_rates([offer(i, 10.0) for i in range(1, 4)])["bitcoin"] == pytest.approx(BTC_USD)


prices = st.lists(
    st.floats(min_value=0.01, max_value=500, allow_nan=False, allow_infinity=False), min_size=5, max_size=25
)


@settings(max_examples=60, deadline=None)
@given(
    per_gpu=prices,
    counts=st.lists(st.sampled_from([1, 2, 4, 8]), min_size=25, max_size=25),
    target=st.floats(min_value=0, max_value=100),
    my_count=st.sampled_from([1, 2, 8]),
    bounds=st.tuples(
        st.none() | st.floats(min_value=0.01, max_value=4000),
        st.none() | st.floats(min_value=0.01, max_value=4000),
    ),
    my_price=st.floats(min_value=0.001, max_value=10_000),
)
def test_proposals_stay_within_bounds_land_at_the_percentile_and_ignore_my_servers(
    per_gpu: list[float],
    counts: list[int],
    target: float,
    my_count: int,
    bounds: tuple[float | None, float | None],
    my_price: float,
) -> None:
    floor, ceiling = sorted(bounds) if None not in bounds else bounds  # type: ignore[type-var]
    market = [offer(i + 1, p, count=counts[i]) for i, p in enumerate(per_gpu)]
    # My servers, at any price, in the market: never comparables.
    noisy = [*market, offer(900, my_price, count=my_count), offer(901, my_price / 7)]
    arguments: dict[str, Any] = {
        "percentile": target,
        "floor_usd_per_day": floor,
        "ceiling_usd_per_day": ceiling,
        "usd_rates": RATES,
        "kinds": ["on_demand"],
        "currencies": ["USD-Blockchain"],
    }
    host = mine(count=my_count, usd_per_day=my_price)
    (proposal,) = propose([host], noisy, exclude_ids={901}, **arguments)
    assert propose([host], market, **arguments) == [proposal]
    new = proposal.new_per_day
    assert new is not None and proposal.comparables == len(per_gpu)
    if floor is not None:
        assert new >= floor
    if ceiling is not None:
        assert new <= ceiling
    tick = 10 ** -price_decimals("USD-Blockchain")
    wanted = percentile(per_gpu, target) * my_count
    if proposal.clamped is None:
        # Rounded to the nearest tick, or by a whole tick inward when the nearest one would
        # cross a bound that sits within a tick of the wanted price.
        near_bound = (ceiling is not None and wanted > ceiling - tick) or (
            floor is not None and wanted < floor + tick
        )
        assert math.isclose(new, wanted, abs_tol=(tick if near_bound else tick / 2) + 1e-9)
    else:
        assert (wanted < floor) if proposal.clamped == "floor" else (wanted > ceiling)  # type: ignore[operator]


def test_occupancy_reads_my_servers_then_the_marketplace_and_never_invents_since() -> None:
    servers = [
        MyServer.model_validate(
            {"id": 1, "name": "a", "connected": True, "online": True, "visibility": "hidden",
             "rented": True, "remaining_time": 1893456000000, "pricing": {"bitcoin": 0.0001},
             "allowed_currencies": ["bitcoin"], "usd_pricing": {"on_demand": 5, "spot": 2}}
        ),
        MyServer.model_validate(
            {"id": 2, "name": "b", "connected": True, "online": True, "visibility": "public",
             "pricing": {"bitcoin": 0.0002, "CLORE-Blockchain": 0}, "allowed_currencies": ["bitcoin"]}
        ),
        MyServer.model_validate({"name": "c", "connected": False, "visibility": "hidden"}),
    ]  # fmt: skip
    market = [offer(2, 10.0, rented=True)]
    a, b, c = occupancy(servers, market)
    assert (a.rented, a.rented_source, a.rented_until.year if a.rented_until else None) == (
        True,
        "my_servers",
        2030,
    )
    assert (b.rented, b.rented_source, b.on_demand_per_day) == (True, "marketplace", {"bitcoin": 0.0002})
    assert b.on_demand_usd_per_day == 10.0  # what renters see on the marketplace
    assert a.on_demand_usd_per_day == 5  # the host's USD pricing when not listed
    assert (c.rented, c.rented_source) == (None, None)
    assert a.since is None and b.since is None
