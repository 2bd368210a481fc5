"""What goes on the wire: names, methods, header, body encoding — for both clients."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from clore_ai import DEFAULT_BASE_URL, AsyncCloreAI, CloreAI
from clore_ai.exceptions import InvalidInputError

from .recording import Recorder, async_client, sync_client

ORDER_ROW = {"id": 77, "si": 123, "ct": 10, "spot": False}


def run(kind: str, recorder: Recorder, method: str, *args: Any, **kwargs: Any) -> Any:
    if kind == "sync":
        with sync_client(recorder) as client:
            return getattr(client, method)(*args, **kwargs)

    async def go() -> Any:
        async with async_client(recorder) as client:
            return await getattr(client, method)(*args, **kwargs)

    return asyncio.run(go())


KINDS = pytest.mark.parametrize("kind", ["sync", "async"])


@KINDS
def test_auth_header_is_named_auth_and_never_authorization(kind: str) -> None:
    recorder = Recorder({"wallets": [], "code": 0})
    run(kind, recorder, "wallets")
    request = recorder.last
    assert request.headers["auth"] == "sk-wire-test-1234"
    assert "authorization" not in request.headers
    # a MockTransport answers: nothing leaves the machine
    assert request.method == "GET" and str(request.url) == f"{DEFAULT_BASE_URL}/wallets"


@KINDS
def test_server_config_is_a_get_with_a_json_body(kind: str) -> None:
    recorder = Recorder({"config": {"name": "MyGPU"}, "code": 0})
    run(kind, recorder, "server_config", "MyGPU")
    assert recorder.last.method == "GET"
    assert recorder.json() == {"server_name": "MyGPU"}
    assert recorder.last.headers["content-type"] == "application/json"


@KINDS
@pytest.mark.parametrize(("flag", "wire"), [(False, "false"), (True, "true")])
def test_my_orders_sends_return_completed(kind: str, flag: bool, wire: str) -> None:
    recorder = Recorder({"orders": [], "code": 0})
    run(kind, recorder, "my_orders", include_completed=flag)
    assert recorder.last.url.params["return_completed"] == wire


@KINDS
def test_spot_marketplace_sends_market(kind: str) -> None:
    recorder = Recorder({"market": {"offers": []}, "exists": True, "code": 0})
    run(kind, recorder, "spot_marketplace", server_id=6)
    assert recorder.last.url.params["market"] == "6"


@KINDS
def test_cancel_order_sends_id_and_issue(kind: str) -> None:
    recorder = Recorder({"code": 0})
    assert run(kind, recorder, "cancel_order", order_id=38, issue="GPU #1 overheating") == {"code": 0}
    assert recorder.last.method == "POST"
    assert recorder.json() == {"id": 38, "issue": "GPU #1 overheating"}


@KINDS
def test_cancel_order_without_issue_omits_it(kind: str) -> None:
    recorder = Recorder({"code": 0})
    run(kind, recorder, "cancel_order", 38)
    assert recorder.json() == {"id": 38}


@KINDS
def test_set_spot_price_sends_desired_price(kind: str) -> None:
    recorder = Recorder({"code": 0})
    run(kind, recorder, "set_spot_price", order_id=39, price=0.000003)
    assert recorder.json() == {"order_id": 39, "desired_price": 0.000003}


@KINDS
def test_set_server_settings_sends_zero_values(kind: str) -> None:
    recorder = Recorder({"code": 0})
    run(
        kind, recorder, "set_server_settings", name="MyGPU", availability=False, mrl=96, on_demand=0, spot=0.0
    )
    assert recorder.json() == {
        "name": "MyGPU",
        "availability": False,
        "mrl": 96,
        "on_demand": 0.0,
        "spot": 0.0,
    }


@KINDS
def test_cancel_orders_batch(kind: str) -> None:
    recorder = Recorder({"failed_to_cancel": [41], "code": 0})
    result = run(kind, recorder, "cancel_orders", [38, 41])
    assert recorder.json() == {"order_ids": [38, 41]}
    assert result.failed_to_cancel == [41] and not result.ok


@KINDS
def test_create_order_wire_names_and_types(kind: str) -> None:
    recorder = Recorder({"orders": [], "code": 0}, {"code": 0}, {"orders": [ORDER_ROW], "code": 0})
    order = run(
        kind,
        recorder,
        "create_order",
        server_id=123,
        image="cloreai/ubuntu22.04-cuda12",
        type="on-demand",
        currency="btc",
        ssh_password="MySecurePass123",
        ports={"22": "tcp", 8888: "http"},
        env={"A": "1"},
        jupyter_token="tok",
        command="echo hi",
        required_price=0.0001,
        autossh_entrypoint="true",
    )
    assert recorder.endpoints() == ["my_orders", "create_order", "my_orders"]
    body = recorder.json(1)
    assert body == {
        "renting_server": 123,
        "image": "cloreai/ubuntu22.04-cuda12",
        "type": "on-demand",
        "currency": "bitcoin",
        "ssh_password": "MySecurePass123",
        "ports": {"22": "tcp", "8888": "http"},
        "env": {"A": "1"},
        "jupyter_token": "tok",
        "command": "echo hi",
        "required_price": 0.0001,
        "autossh_entrypoint": True,
    }
    assert order.id == 77 and order.server_id == 123


@KINDS
def test_spot_order_sends_spotprice(kind: str) -> None:
    row = {**ORDER_ROW, "spot": True}
    recorder = Recorder({"orders": [], "code": 0}, {"code": 0}, {"orders": [row], "code": 0})
    run(
        kind,
        recorder,
        "create_order",
        server_id=123,
        image="cloreai/pytorch",
        type="spot",
        currency="bitcoin",
        spot_price=0.000005,
    )
    assert recorder.json(1)["spotprice"] == 0.000005 and recorder.json(1)["type"] == "spot"


def test_marketplace_is_public_but_sends_the_key_when_there_is_one() -> None:
    recorder = Recorder({"servers": [], "code": 0})
    with sync_client(recorder, api_key=None) as client:
        assert client.marketplace() == []
        assert "auth" not in recorder.last.headers
        with pytest.raises(Exception, match="no API key"):
            client.wallets()
    assert len(recorder.requests) == 1


def test_env_base_url_overrides_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLORE_API_URL", "http://127.0.0.1:9/v1/")
    recorder = Recorder({"wallets": [], "code": 0})
    with sync_client(recorder) as client:
        client.wallets()
    assert str(recorder.last.url) == "http://127.0.0.1:9/v1/wallets"


@pytest.mark.parametrize(
    "url", [DEFAULT_BASE_URL.replace("https:", "http:"), "ftp://x/v1", "http://10.0.0.1/v1"]
)
def test_plain_http_is_refused_except_on_loopback(url: str) -> None:
    with pytest.raises(InvalidInputError, match="https"):
        CloreAI(api_key="x" * 10, base_url=url)


def test_redirects_are_not_followed_so_the_key_stays_home() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        return httpx.Response(302, headers={"location": "https://evil.example/steal"})

    client = CloreAI(api_key="sk-redirect-9999", transport=httpx.MockTransport(handler), max_retries=0)
    with pytest.raises(Exception) as info:
        client.wallets()
    assert seen == [urlsplit(DEFAULT_BASE_URL).hostname]
    assert "sk-redirect-9999" not in str(info.value)


def test_methods_keep_their_names_and_docs() -> None:
    client = CloreAI(api_key="x" * 10)
    assert client.create_order.__name__ == "create_order"
    assert "once" in (client.create_order.__doc__ or "")
    documented = [
        "wallets",
        "marketplace",
        "my_servers",
        "server_config",
        "my_orders",
        "spot_marketplace",
        "create_order",
        "cancel_order",
        "set_server_settings",
        "set_spot_price",
    ]
    async_client = AsyncCloreAI(api_key="x" * 10)
    for name in [*documented, "poh_balance", "renter_fees", "cancel_orders"]:
        assert inspect.iscoroutinefunction(getattr(async_client, name)), name
        assert not inspect.iscoroutinefunction(getattr(client, name)), name
        assert getattr(client, name).__doc__ == getattr(async_client, name).__doc__
