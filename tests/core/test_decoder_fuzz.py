"""Untrusted responses: whatever the status and bytes, only clore errors escape, messages stay short."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clore_ai import CloreAPIError, exceptions
from clore_ai._core import code_only, decode, dict_body
from clore_ai._endpoints import _MARKETPLACE, _ORDERS, _SERVER_CONFIG, _SPOT_MARKET, _WALLETS

PARSERS = [_WALLETS, _MARKETPLACE, _ORDERS, _SERVER_CONFIG, _SPOT_MARKET, code_only, dict_body]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
envelopes = st.fixed_dictionaries(
    {"code": st.one_of(st.integers(-3, 9), st.text(max_size=3), st.floats(), st.none())},
    optional={
        "servers": json_values,
        "wallets": json_values,
        "orders": json_values,
        "market": json_values,
        "config": json_values,
        "error": json_values,
        "max_step": json_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=300),
    envelopes.map(lambda d: json.dumps(d).encode()),
    envelopes.map(lambda d: json.dumps(d).encode()[: max(1, len(json.dumps(d)) // 2)]),
    st.just(b"<html><body>502 Bad Gateway</body></html>"),
    st.just(b"[" * 5000),
    st.just(b'{"code": 0, "servers": [' + b'{"id": 1e400},' * 3 + b"{}]}"),
)


def check(status: int, body: bytes, parser: Any) -> None:
    response = httpx.Response(status, content=body, headers={"retry-after": "x"})
    try:
        decode(response, parser)
    except CloreAPIError as error:
        assert len(str(error)) <= 500
    except Exception as error:  # pragma: no cover - this is the failure being looked for
        pytest.fail(f"{type(error).__name__} escaped for status {status}: {error!r}"[:300])


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(status=st.integers(100, 599), body=bodies, parser=st.sampled_from(PARSERS))
def test_only_clore_errors_escape_the_decoder(status: int, body: bytes, parser: Any) -> None:
    check(status, body, parser)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, b"not json", exceptions.RateLimitError),
        (200, b'{"code": 7}', exceptions.UnknownAPIError),
        (200, b'{"code": -1}', exceptions.UnknownAPIError),
        (200, b'{"code": "0"}', None),
        (200, b'{"code": true}', exceptions.InvalidResponseError),
        (500, b'{"code": 0}', exceptions.InvalidResponseError),
        (200, b"[" * 100000, exceptions.InvalidResponseError),
    ],
)
def test_decoder_regressions(status: int, body: bytes, expected: type[Exception] | None) -> None:
    response = httpx.Response(status, content=body)
    if expected is None:
        decode(response, code_only)
        return
    with pytest.raises(expected):
        decode(response, code_only)
