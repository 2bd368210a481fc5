"""clore_ai.query: the one query language search, rent and watch share."""

from __future__ import annotations

import pytest

from clore_ai import CloreAI, InvalidInputError
from clore_ai.query import MarketQuery, QueryError, not_rentable, parse_sort, rank
from clore_ai.sandbox import Sandbox, SandboxTransport


@pytest.fixture(scope="module")
def servers() -> list[object]:
    with CloreAI(api_key="query-tests", transport=SandboxTransport(Sandbox(servers=300))) as client:
        return list(client.marketplace())


def test_terms_filter_on_usd_per_hour_gpu_names_and_percent_reliability(servers: list[object]) -> None:
    query = MarketQuery.parse("gpu in 4090,3090 gpus >= 2 price<0.9 reliability>90%")
    hits = [s for s in servers if query.matches(s)]
    assert hits, "the sandbox has multi-GPU 4090/3090 servers under $0.90/h"
    for s in hits:
        assert ("4090" in s.gpu_model or "3090" in s.gpu_model) and s.gpu_count >= 2  # type: ignore[attr-defined]
        assert s.price_usd < 0.9 and s.reliability > 0.9  # type: ignore[attr-defined]
    expected = [
        s
        for s in servers
        if s.gpu_model  # type: ignore[attr-defined]
        and ("4090" in s.gpu_model.lower() or "3090" in s.gpu_model.lower())  # type: ignore[attr-defined]
        and (s.gpu_count or 0) >= 2  # type: ignore[attr-defined]
        and s.price_usd is not None  # type: ignore[attr-defined]
        and s.price_usd < 0.9  # type: ignore[attr-defined]
        and (s.reliability or 0) > 0.9  # type: ignore[attr-defined]
    ]
    assert [s.id for s in hits] == [s.id for s in expected]  # type: ignore[attr-defined]


def test_the_empty_query_matches_everything_and_keeps_its_text(servers: list[object]) -> None:
    assert all(MarketQuery.parse("").matches(s) for s in servers)
    assert str(MarketQuery.parse(["gpu=4090", "gpus>=2"])) == "gpu=4090 gpus>=2"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("colour=red", "cannot read query term 'colour=red'"),
        ("gpus>=two", "gpus needs a number, got 'two'"),
        ("gpu>4090", "gpu compares text: use = or !="),
        ("price<1,2", "a list of values needs = or !="),
        ("price<nan", "price needs a number"),
        ("gpus>=\u0661", "gpus needs a number"),
    ],
)
def test_unreadable_queries_raise_one_sentence(text: str, says: str) -> None:
    with pytest.raises(QueryError) as caught:
        MarketQuery.parse(text)
    assert says in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, InvalidInputError)


def test_rank_puts_missing_prices_last_and_is_stable(servers: list[object]) -> None:
    ranked = rank(servers, "price")
    prices = [s.price_usd for s in ranked if s.price_usd]  # type: ignore[attr-defined]
    assert prices == sorted(prices)
    assert all(not s.price_usd for s in ranked[len(prices) :])  # type: ignore[attr-defined]
    by_gpus = rank(servers, "-gpus,price")
    counts = [s.gpu_count for s in by_gpus]  # type: ignore[attr-defined]
    assert counts == sorted(counts, reverse=True)
    with pytest.raises(QueryError, match="cannot sort by 'speed'"):
        parse_sort("speed")


def test_bound_reads_the_price_cap_a_query_states() -> None:
    query = MarketQuery.parse("price<0.5 price<=0.4 gpus>=2")
    assert query.bound("usd_per_hour", "<=") == 0.4 and query.bound("usd_per_hour", "<") == 0.5
    assert query.bound("gpus", ">=") == 2 and query.bound("ram_gb", ">") is None


def test_not_rentable_names_gigaspot_and_the_missing_coin(servers: list[object]) -> None:
    giga = [s for s in servers if s.on_gigaspot]  # type: ignore[attr-defined]
    assert giga and all(not_rentable(s) == "on GigaSPOT" for s in giga)
    no_usd = [s for s in servers if not s.on_gigaspot and "USD-Blockchain" not in (s.allowed_coins or [])]  # type: ignore[attr-defined]
    assert no_usd and not_rentable(no_usd[0], "USD-Blockchain") == "does not take usd"
    assert not_rentable(no_usd[0]) is None
