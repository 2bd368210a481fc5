"""Hostile SDK arguments: only clore errors escape, and bad input sends nothing (issue 12).

Every public method of :class:`CloreAI` (every ``endpoint`` of ``_endpoints.Endpoints``) and
every numeric constructor option is called with hostile values: NaN, infinities, negative
numbers, ``10**400`` (``float()`` of it raises OverflowError), 5,000-digit ids (``str()`` of
them raises ValueError), ``"²"`` (``str.isdigit()`` is True, ``int()`` fails), ids beyond
2**63, wrong types. The only exception allowed out is a :class:`CloreAPIError`; a local
:class:`InvalidInputError` (no response) means no request reached the transport.
"""

from __future__ import annotations

import inspect
import math
from typing import Any, Callable

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clore_ai import CloreAI, CloreAPIError, InvalidInputError, RateLimiter
from clore_ai._core import check_base_url
from clore_ai._endpoints import Endpoints, endpoint
from clore_ai.sandbox import Sandbox, SandboxTransport

from ..conftest import KEY, FakeClock

HUGE = 10**5000  # str() of it raises ValueError (the int-string conversion limit)
HOSTILE: list[Any] = [
    math.nan,
    math.inf,
    -math.inf,
    -5,
    -0.5,
    0,
    10**400,
    -(10**400),
    2**63,
    2**64 + 1,
    HUGE,
    "²",
    "²²",
    " 12 ",
    "9" * 5000,
    "1e400",
    "nan",
    "",
    "\u200b",
    "\ud800",
    "x" * 5000,
    True,
    None,
    [],
    [HUGE],
    ["²"],
    [1, "²"],
    {},
    {"²": "tcp"},
    {"²²": "tcp"},
    {HUGE: "tcp"},
    {22: HUGE},
    {"22": None},
    {"A": HUGE},
    {HUGE: "x"},
    {"A": math.nan},
    object(),
    b"12",
    1.5,
    5,
]

# Values that pass, so that the other arguments' checks are reached.
VALID: dict[str, list[Any]] = {
    "server_id": [1, 2, "3"],
    "order_id": [1, 5],
    "order_ids": [[1], [1, 2]],
    "image": ["cloreai/ubuntu22.04-cuda12"],
    "type": ["on-demand", "spot"],
    "currency": ["bitcoin", "clore"],
    "price": [0.0001],
    "spot_price": [None, 0.0001],
    "required_price": [None, 0.0001],
    "ports": [None, {"22": "tcp"}],
    "env": [None, {"A": "1"}],
    "name": ["MyGPU"],
    "server_name": ["MyGPU"],
    "mrl": [None, 96],
    "on_demand": [None, 0.0001],
    "spot": [None, 0.0001],
    "availability": [None, True],
    "ssh_password": [None, "abc123"],
    "jupyter_token": [None, "tok"],
}

METHODS = sorted(name for name, value in vars(Endpoints).items() if isinstance(value, endpoint))


def parameters(name: str) -> list[str]:
    build: Callable[..., Any] = getattr(Endpoints, name).__wrapped__
    return [p for p in inspect.signature(build).parameters if p != "self"]


class CountingTransport(SandboxTransport):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return super().handle_request(request)


def fuzz_client() -> tuple[CloreAI, CountingTransport]:
    clock = FakeClock()
    sandbox = Sandbox(servers=5, clock=clock, deploy_seconds=0.0)
    transport = CountingTransport(sandbox, sleep=clock.sleep)
    client = CloreAI(
        api_key=KEY,
        transport=transport,
        limiter=RateLimiter(interval=0.0, order_interval=0.0, clock=clock),
        sleep=clock.sleep,
        reconcile_timeout=2.0,
        max_retries=0,
    )
    return client, transport


def check_call(client: CloreAI, transport: CountingTransport, method: str, kwargs: dict[str, Any]) -> None:
    before = transport.requests
    try:
        getattr(client, method)(**kwargs)
    except InvalidInputError as error:
        if error.response is None:  # refused locally: nothing may have been sent
            assert transport.requests == before, f"{method}({kwargs!r:.200}) sent a request"
        assert len(str(error)) <= 500 and "\n" not in str(error)
    except CloreAPIError:
        pass


@st.composite
def method_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    method = draw(st.sampled_from(METHODS))
    kwargs: dict[str, Any] = {}
    names = parameters(method)
    hostile = draw(st.sets(st.sampled_from(names), min_size=1)) if names else set()
    for name in names:
        if name in hostile:
            kwargs[name] = draw(
                st.one_of(
                    st.sampled_from(HOSTILE),
                    st.integers(),
                    st.floats(),
                    st.text(max_size=8),
                    st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2),
                )
            )
        elif name in VALID:
            kwargs[name] = draw(st.sampled_from(VALID[name]))
    return method, kwargs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=method_calls())
def test_hostile_arguments_raise_only_clore_errors_and_send_nothing(call: tuple[str, dict[str, Any]]) -> None:
    client, transport = fuzz_client()
    with client:
        check_call(client, transport, *call)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("value", HOSTILE, ids=[f"v{i}" for i in range(len(HOSTILE))])
def test_every_method_and_every_argument_refuses_hostile_values(method: str, value: Any) -> None:
    client, transport = fuzz_client()
    with client:
        for name in parameters(method):
            kwargs = {n: VALID[n][-1] for n in parameters(method) if n in VALID and n != name}
            kwargs[name] = value
            check_call(client, transport, method, kwargs)


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("spot_marketplace", {"server_id": "²"}),
        ("spot_marketplace", {"server_id": "9" * 5000}),
        ("spot_marketplace", {"server_id": 2**63}),
        ("spot_marketplace", {"server_id": HUGE}),
        ("cancel_order", {"order_id": "²²"}),
        ("cancel_orders", {"order_ids": 5}),
        ("cancel_orders", {"order_ids": [HUGE]}),
        ("set_spot_price", {"order_id": 1, "price": 10**400}),
        ("set_spot_price", {"order_id": 1, "price": 1e300}),
        ("set_server_settings", {"name": "MyGPU", "on_demand": 10**400}),
        ("set_server_settings", {"name": "MyGPU", "mrl": HUGE}),
        ("marketplace", {"max_price_usd": 10**400}),
        ("marketplace", {"min_ram_gb": -(10**400)}),
        (
            "create_order",
            {"server_id": 1, "image": "x/y", "type": "on-demand", "currency": "usd", "ports": {"²": "tcp"}},
        ),
        (
            "create_order",
            {"server_id": 1, "image": "x/y", "type": "on-demand", "currency": "usd", "ports": {HUGE: "tcp"}},
        ),
        (
            "create_order",
            {"server_id": 1, "image": "x/y", "type": "on-demand", "currency": "usd", "env": {"A": HUGE}},
        ),
        (
            "create_order",
            {"server_id": 1, "image": "x/y", "type": "on-demand", "currency": "usd", "env": {"A B": "x"}},
        ),
        (
            "create_order",
            {"server_id": 1, "image": "x/y", "type": "on-demand", "currency": "usd", "env": {"1A": "x"}},
        ),
        (
            "create_order",
            {"server_id": 1, "image": "x/y", "type": "on-demand", "currency": "usd", "env": {"A\u200b": "x"}},
        ),
        (
            "create_order",
            {"server_id": 1, "image": "x/y", "type": "spot", "currency": "usd", "spot_price": 10**400},
        ),
    ],
)
def test_named_hostile_arguments_are_invalid_input(method: str, kwargs: dict[str, Any]) -> None:
    client, transport = fuzz_client()
    with client, pytest.raises(InvalidInputError) as caught:
        getattr(client, method)(**kwargs)
    assert caught.value.response is None and transport.requests == 0
    assert len(str(caught.value)) < 200


CONSTRUCTOR_OPTIONS = ["timeout", "max_retries", "max_queue_wait", "reconcile_timeout"]


@pytest.mark.parametrize("option", CONSTRUCTOR_OPTIONS)
@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -5, -0.5, 10**400, HUGE, "30", True, object(), 1e300, 10**6],
    ids=["nan", "inf", "-5", "-0.5", "10**400", "10**5000", "text", "True", "object", "1e300", "10**6"],
)
def test_client_options_are_checked_with_invalid_input_error(option: str, value: Any) -> None:
    if option == "max_queue_wait" and value is None:
        return
    with pytest.raises(InvalidInputError, match=option):
        CloreAI(api_key=KEY, **{option: value})


@pytest.mark.parametrize(
    "value",
    [10**400, 2**1024, HUGE, 2**63, math.nan, math.inf, -5, 0, 1.5, "4096", True, object(), 1e300],
    ids=[
        *["10**400", "2**1024", "10**5000", "2**63", "nan", "inf", "-5"],
        *["0", "1.5", "text", "True", "object", "1e300"],
    ],
)
def test_max_response_bytes_is_checked_with_invalid_input_error(value: Any) -> None:
    """Huge integers once escaped as OverflowError (math.isfinite on an int beyond float)."""
    with pytest.raises(InvalidInputError, match="max_response_bytes"):
        CloreAI(api_key=KEY, max_response_bytes=value)


@settings(max_examples=100, deadline=None)
@given(
    option=st.sampled_from(CONSTRUCTOR_OPTIONS),
    value=st.one_of(st.sampled_from(HOSTILE), st.integers(), st.floats(), st.text(max_size=5)),
)
def test_client_options_raise_only_clore_errors(option: str, value: Any) -> None:
    try:
        CloreAI(api_key=KEY, **{option: value}).close()
    except CloreAPIError:
        pass


@pytest.mark.parametrize(
    "url",
    [
        "http://127.attacker.example/v1",
        "http://127.0.0.1.nip.io/v1",
        "http://localhost.attacker.example/v1",
        "http://10.0.0.1/v1",
        "http://127.0.0.1:99999/v1",
        "https://api.example.test:99999/v1",
        "https://api.example.test:-1/v1",
        "http://[::1/v1",
        "https://",
        "ftp://127.0.0.1/v1",
        "",
    ],
)
def test_base_url_guard_parses_the_host(url: str) -> None:
    with pytest.raises(InvalidInputError):
        check_base_url(url)
    if url:  # an empty base_url means the default
        with pytest.raises(InvalidInputError):
            CloreAI(api_key=KEY, base_url=url)


@pytest.mark.parametrize("value", [5, None.__class__, b"https://api.example.test/v1"])
def test_base_url_of_the_wrong_type_is_invalid_input(value: Any) -> None:
    with pytest.raises(InvalidInputError):
        check_base_url(value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/v1",
        "http://127.5.6.7/v1",
        "http://localhost:1234/v1",
        "http://LOCALHOST/v1",
        "http://[::1]:8080/v1",
        "https://api.example.test/v1",
        "https://api.example.test:8443/v1/",
    ],
)
def test_loopback_and_https_urls_are_accepted(url: str) -> None:
    assert check_base_url(url) == url.rstrip("/")
