"""Drop-in for code written against Clore's official ``clore-ai`` 0.1.1 (issue 13 item 7).

The usage patterns of its README and tests/test_client.py run against this SDK over the
sandbox: its import paths, constructor, attributes (``client.api_key`` — still out of
``repr``, logs and errors), exceptions and model properties. What does not exist here fails
with a message that says what to use instead.
"""

from __future__ import annotations

import asyncio
import importlib
import logging

import pytest

import clore_ai
from clore_ai import (
    AsyncCloreAI,
    AuthError,
    CloreAI,
    CloreAPIError,
    DBError,
    FieldError,
    InvalidEndpointError,
    InvalidInputError,
    MarketplaceServer,
    MyServer,
    Order,
    RateLimiter,
    RateLimitError,
    Server,
    ServerConfig,
    SpotMarket,
    Wallet,
)
from clore_ai._core import DEFAULT_BASE_URL
from clore_ai.sandbox import RateLimits, Sandbox, SandboxTransport

KEY = "test_key_0123456789"


def official_client(sandbox: Sandbox, key: str | None = KEY) -> CloreAI:
    return CloreAI(
        api_key=key, transport=SandboxTransport(sandbox), limiter=RateLimiter(interval=0, order_interval=0)
    )


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(servers=60, rate_limits=RateLimits.off(), deploy_seconds=0.0)


def test_the_official_import_paths_work() -> None:
    from clore_ai.client import AsyncCloreAI as OfficialAsync
    from clore_ai.client import CloreAI as Official
    from clore_ai.exceptions import AuthError as OfficialAuthError
    from clore_ai.models import NetworkSpecs, PriceUSD, ServerPrice, ServerRating, ServerSpecs, SpotOffer

    assert Official is CloreAI and OfficialAsync is AsyncCloreAI and OfficialAuthError is AuthError
    assert Server is MarketplaceServer
    assert {NetworkSpecs, PriceUSD, ServerPrice, ServerRating, ServerSpecs, SpotOffer}
    assert all(issubclass(e, CloreAPIError) for e in (RateLimitError, AuthError, InvalidInputError, DBError))
    assert issubclass(InvalidEndpointError, CloreAPIError) and issubclass(FieldError, CloreAPIError)
    assert {MyServer, Order, ServerConfig, SpotMarket, Wallet} and clore_ai.__version__


def test_what_is_gone_says_what_to_use_instead(sandbox: Sandbox) -> None:
    with pytest.raises(ImportError, match="install the clore-cli package and run `clore`"):
        importlib.import_module("clore_ai.cli")
    with pytest.raises(AttributeError, match=r"\.spot is \{currency: price per day\}"):
        clore_ai.models.PriceTier  # noqa: B018
    with pytest.raises(AttributeError, match="methods return models or dicts"):
        clore_ai.models.APIResponse  # noqa: B018
    client = official_client(sandbox)
    with pytest.raises(AttributeError, match="`rate_limiter` is `limiter` here"):
        client.rate_limiter  # noqa: B018
    with pytest.raises(AttributeError, match=r"pass transport=\.\.\. to the constructor"):
        client.client  # noqa: B018
    with pytest.raises(AttributeError, match="'CloreAI' object has no attribute 'nope'"):
        client.nope  # noqa: B018


def test_client_initialization_and_api_key_as_the_official_tests_use_them(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    client = CloreAI(api_key="test_key")
    assert client.api_key == "test_key"
    assert client.base_url == DEFAULT_BASE_URL == CloreAI.BASE_URL
    assert client.timeout == 30.0 and client.max_retries == 3
    with CloreAI(api_key="test") as other:
        assert other.api_key == "test"
    caplog.set_level(logging.DEBUG, logger="clore_ai")
    client = official_client(sandbox)
    assert client.api_key == KEY
    assert KEY not in repr(client) and KEY not in str(client)
    assert len(client.wallets()) == 3
    client.api_key = None  # test_auth_required
    assert client.api_key is None
    with pytest.raises(AuthError) as failure:
        client.wallets()
    assert KEY not in str(failure.value)
    client.api_key = "invalid-key-for-the-sandbox"  # the sandbox refuses keys starting "invalid"
    with pytest.raises(AuthError) as failure:
        client.wallets()
    assert "invalid-key-for-the-sandbox" not in str(failure.value) + repr(client)
    assert KEY not in caplog.text and "invalid-key-for-the-sandbox" not in caplog.text
    with pytest.raises(InvalidInputError, match="api_key must be a non-empty text or None"):
        client.api_key = ""


def test_the_readme_basic_example(sandbox: Sandbox) -> None:
    client = official_client(sandbox)
    servers = client.marketplace(gpu="RTX", max_price_usd=5.0)
    assert servers
    for server in servers:
        assert f"{server.id}: {server.gpu_model} - ${server.price_usd_per_hour}/h"
        assert server.price_usd_per_hour == server.price_usd
    target = next(s for s in servers if not s.on_gigaspot and "bitcoin" in (s.allowed_coins or []))
    order = client.create_order(
        server_id=target.id,
        image="cloreai/ubuntu22.04-cuda12",
        type="on-demand",
        currency="bitcoin",
        ports={"22": "tcp", "8888": "http"},
        ssh_password="mysecret",
    )
    assert order.id and order.server_id == target.id and order.pub_cluster
    orders = client.my_orders()
    assert all(f"{o.id}: {o.status} - {o.pub_cluster}" for o in orders)
    assert client.cancel_order(order_id=38)["code"] == 0
    for wallet in client.wallets():
        assert f"{wallet.currency}: {wallet.balance:.8f}" and wallet.currency == wallet.name
    assert client.my_servers()
    config = client.server_config("MyGPU")
    assert config.availability is True
    client.set_server_settings(name="MyGPU", availability=True, mrl=96, on_demand=0.0001, spot=0.00000113)
    assert client.server_config("MyGPU").mrl == 96
    offers = client.spot_marketplace(server_id=6)
    assert offers.offers
    assert client.set_spot_price(order_id=39, price=0.000005)["code"] == 0


def test_the_readme_async_example(sandbox: Sandbox) -> None:
    async def main() -> int:
        async with AsyncCloreAI(
            api_key=KEY,
            transport=SandboxTransport(sandbox),
            limiter=RateLimiter(interval=0, order_interval=0),
        ) as client:
            assert client.api_key == KEY
            servers = [s for s in await client.marketplace(gpu="RTX") if not s.on_gigaspot]
            server = next(s for s in servers if "bitcoin" in (s.allowed_coins or []))
            minimum = server.spot_price_per_day("bitcoin") or 0.00001
            order = await client.create_order(
                server_id=server.id,
                image="cloreai/pytorch",
                type="spot",
                currency="bitcoin",
                spot_price=minimum * 2,
            )
            return order.id

    assert asyncio.run(main()) >= 1000


def test_the_readme_error_handling(sandbox: Sandbox) -> None:
    client = official_client(sandbox, key="invalid")
    try:
        client.wallets()
    except AuthError as error:
        assert error.code == 3
    else:  # pragma: no cover - the sandbox refuses the key
        raise AssertionError("no AuthError")
