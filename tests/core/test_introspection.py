"""The clients' methods look like the methods they are: to ``inspect``, ``typing``, ``help()``
and ``unittest.mock`` — the tools users write their own tests and wrappers with."""

from __future__ import annotations

import asyncio
import inspect
import pydoc
import re
import sys
import typing
from typing import List
from unittest import mock

from clore_ai import AsyncCloreAI, CloreAI, RateLimiter, Wallet
from clore_ai.models import MarketplaceServer, Order
from clore_ai.sandbox import RateLimits, Sandbox, SandboxTransport


def client(cls: type) -> typing.Any:
    transport = SandboxTransport(Sandbox(rate_limits=RateLimits.off()))
    return cls(api_key="intro-key", transport=transport, limiter=RateLimiter(interval=0, order_interval=0))


def test_signatures_and_type_hints_are_the_callers_not_the_flows() -> None:
    assert str(inspect.signature(CloreAI.wallets)) == "(self) -> List[clore_ai.models.Wallet]"
    bound = inspect.signature(client(CloreAI).marketplace)
    assert list(bound.parameters) == ["gpu", "min_gpu_count", "min_ram_gb", "max_price_usd", "available_only"]
    assert bound.parameters["available_only"].default is True
    assert typing.get_type_hints(client(CloreAI).wallets) == {"return": List[Wallet]}
    assert typing.get_type_hints(AsyncCloreAI.my_orders)["return"] == List[Order]
    assert inspect.signature(CloreAI.marketplace).return_annotation == List[MarketplaceServer]
    if sys.version_info >= (3, 10):  # 3.9 cannot evaluate `str | None`: those stay text there
        assert typing.get_type_hints(CloreAI.marketplace)["gpu"] == typing.Optional[str]
    text = pydoc.render_doc(CloreAI, renderer=pydoc.plaintext)
    assert re.search(r"create_order\(self, server_id: '?int'?, image: '?str'?, type: '?str'?", text)


def test_methods_can_be_called_on_the_class_and_are_coroutines_on_the_async_client() -> None:
    sync = client(CloreAI)
    assert [w.name for w in CloreAI.wallets(sync)] == [w.name for w in sync.wallets()]
    assert inspect.iscoroutinefunction(AsyncCloreAI.wallets)
    assert inspect.iscoroutinefunction(client(AsyncCloreAI).wallets)
    assert not inspect.iscoroutinefunction(CloreAI.wallets)
    assert len(asyncio.run(AsyncCloreAI.wallets(client(AsyncCloreAI)))) == 3


def test_autospec_mocks_work_as_users_write_them() -> None:
    """``mock.patch.object(CloreAI, "wallets", autospec=True)`` raised "'NonCallableMagicMock'
    object is not callable": the class attribute was a descriptor, not a function."""
    sync = client(CloreAI)
    with mock.patch.object(CloreAI, "wallets", autospec=True) as wallets:
        wallets.return_value = []
        assert sync.wallets() == [] and wallets.call_args == mock.call(sync)
    fake = mock.create_autospec(CloreAI, instance=True)
    fake.my_orders.return_value = []
    assert fake.my_orders(include_completed=True) == []
    fake_async = mock.create_autospec(AsyncCloreAI, instance=True)
    fake_async.wallets.return_value = ["w"]
    assert asyncio.run(fake_async.wallets()) == ["w"]


def test_subclasses_keep_their_own_methods_and_see_patches_of_the_base() -> None:
    class Logged(CloreAI):
        def wallets(self) -> List[Wallet]:  # type: ignore[override]
            return []

    class Plain(CloreAI):
        pass

    logged = Logged(api_key="intro-key", transport=SandboxTransport(Sandbox()))
    assert logged.wallets() == []  # the subclass's own method is not replaced
    assert Plain.wallets is CloreAI.wallets
    with mock.patch.object(CloreAI, "wallets", autospec=True) as wallets:
        wallets.return_value = ["patched"]
        assert client(Plain).wallets() == ["patched"]
