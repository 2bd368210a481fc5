"""Errors from every status, what is retried, back-off, Retry-After, and input checks."""

from __future__ import annotations

import email.utils
import pickle
from typing import Any

import httpx
import pytest

from clore_ai import exceptions as ex
from clore_ai._retry import backoff_delay, parse_retry_after

from .recording import Recorder, sync_client

KEY = "sk-secret-value-5678"


def html(status: int) -> httpx.Response:
    return httpx.Response(
        status, text="<html><body>Bad gateway</body></html>", headers={"content-type": "text/html"}
    )


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(401, json={"code": 3}), ex.AuthError),
        (httpx.Response(200, json={"code": 3}), ex.AuthError),
        (httpx.Response(400, json={"code": 2}), ex.InvalidInputError),
        (httpx.Response(404, json={"code": 4}), ex.InvalidEndpointError),
        (httpx.Response(200, json={"code": 6, "error": "not_enough_balance"}), ex.FieldError),
        (httpx.Response(418, json={"code": 6, "error": "x"}), ex.FieldError),
        (httpx.Response(200, json={"code": 7}), ex.UnknownAPIError),
        (httpx.Response(403, text="error code: 1010"), ex.InvalidResponseError),
        (httpx.Response(401, text="<html>401 Authorization Required</html>"), ex.AuthError),
        (httpx.Response(200, text="[1, 2]"), ex.InvalidResponseError),
        (httpx.Response(200, json={"code": "zero"}), ex.InvalidResponseError),
        (httpx.Response(200, json={"wallets": "nope", "code": 0}), ex.InvalidResponseError),
    ],
)
def test_body_code_decides_the_error_on_any_status(answer: httpx.Response, error: type[Exception]) -> None:
    recorder = Recorder(default=answer)
    with pytest.raises(error) as info, sync_client(recorder, api_key=KEY, max_retries=0) as client:
        client.wallets()
    assert isinstance(info.value, ex.CloreAPIError)
    assert KEY not in str(info.value) and KEY not in repr(info.value.args)
    assert len(str(info.value)) <= 500
    assert len(recorder.requests) == 1  # none of these is retried


def test_a_json_object_without_a_code_is_kept_with_the_error() -> None:
    recorder = Recorder(default=httpx.Response(403, json={"message": "Forbidden", "ray": "8f2c"}))
    with (
        pytest.raises(ex.InvalidResponseError) as info,
        sync_client(recorder, api_key=KEY, max_retries=0) as c,
    ):
        c.wallets()
    assert info.value.response == {"message": "Forbidden", "ray": "8f2c"} and info.value.http_status == 403


def test_field_error_exposes_error_and_extra_fields() -> None:
    body = {"code": 6, "error": "exceeded_max_step", "max_step": 0.000001}
    with pytest.raises(ex.FieldError) as info, sync_client(Recorder(body)) as client:
        client.set_spot_price(39, 0.000001)
    error = info.value
    assert error.code == 6 and error.error == "exceeded_max_step"
    assert error.details == {"max_step": 0.000001}
    assert error.max_step == 0.000001
    assert error.response == body
    assert "exceeded_max_step" in str(error) and "max_step" in str(error)
    clone = pickle.loads(pickle.dumps(error))
    assert isinstance(clone, ex.FieldError) and clone.error == "exceeded_max_step"


@pytest.mark.parametrize(
    "transient",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("reset"),
        html(502),
        httpx.Response(500, json={"code": 1}),
        httpx.Response(200, json={"code": 1}),
        httpx.Response(429, json={"code": 5}),
        httpx.Response(200, json={"code": 5}),
        httpx.Response(408, text="timeout"),
        httpx.Response(200, text='{"code": 0, "wall'),
    ],
)
def test_reads_are_retried_on_transient_failures(transient: Any) -> None:
    recorder = Recorder(transient, transient, {"wallets": [], "code": 0})
    with sync_client(recorder, max_retries=2) as client:
        assert client.wallets() == []
    assert len(recorder.requests) == 3


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_attempts_are_at_most_max_retries_plus_one(max_retries: int) -> None:
    recorder = Recorder(default=html(503))
    with pytest.raises(ex.InvalidResponseError), sync_client(recorder, max_retries=max_retries) as client:
        client.my_orders()
    assert len(recorder.requests) == max_retries + 1


def test_transport_errors_become_clore_errors_without_the_request() -> None:
    with (
        pytest.raises(ex.APITimeoutError) as info,
        sync_client(Recorder(default=httpx.ReadTimeout("slow")), api_key=KEY, max_retries=0) as client,
    ):
        client.wallets()
    error = info.value
    assert isinstance(error, ex.APIConnectionError)
    assert error.__cause__ is None and error.__context__ is None
    assert KEY not in repr(vars(error))


def test_rate_limit_error_after_retries_and_retry_after_too_long() -> None:
    recorder = Recorder(default=httpx.Response(429, json={"code": 5}, headers={"retry-after": "120"}))
    with pytest.raises(ex.RateLimitError) as info, sync_client(recorder, max_retries=5) as client:
        client.wallets()
    assert info.value.retry_after == 120 and len(recorder.requests) == 1


def test_rate_limited_calls_wait_for_the_limiter(clock: Any) -> None:
    from clore_ai import RateLimiter

    limiter = RateLimiter(clock=clock)
    recorder = Recorder(
        httpx.Response(429, json={"code": 5}, headers={"retry-after": "3"}), {"wallets": [], "code": 0}
    )
    with sync_client(recorder, limiter=limiter, sleep=clock.sleep) as client:
        start = clock.now
        client.wallets()
    assert clock.now - start >= 3.0


@pytest.mark.parametrize("attempt", range(8))
def test_backoff_is_bounded_with_jitter(attempt: int) -> None:
    ceiling = min(0.5 * 2**attempt, 8.0)
    low, high = backoff_delay(attempt, lambda: 1.0), backoff_delay(attempt, lambda: 0.0)
    assert (low, high) == (pytest.approx(ceiling * 0.75), pytest.approx(ceiling))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "junk", "retry-after": "3"}, 3.0),
        ({"retry-after": "-1"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": " 3 "}, 3.0),
        ({"retry-after": "120"}, 120.0),  # parsed; the client then raises instead of sleeping
        ({"retry-after-ms": "-100"}, None),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the precise header wins
        ({"retry-after": "Fri, 29 Sep 2023 16:26:57 GMT"}, None),  # a date in the past
        ({"retry-after": "Fri, 32 Foo 2023 99:99:99 GMT"}, None),
        ({}, None),
    ],
)
def test_retry_after_parsing(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(1_000_030.0, usegmt=True)
    assert parse_retry_after({"retry-after": when}, now=lambda: 1_000_000.0) == pytest.approx(30.0)


def test_client_settings_are_checked() -> None:
    from clore_ai import CloreAI

    # One error type for every bad option (issue 12): InvalidInputError, never TypeError/ValueError.
    for options in (
        {"max_retries": None},
        {"max_retries": -1},
        {"max_retries": 10**400},
        {"timeout": 0},
        {"timeout": float("nan")},
        {"timeout": 10**400},
        {"reconcile_timeout": float("nan")},
        {"reconcile_timeout": -5},
        {"max_queue_wait": float("inf")},
    ):
        with pytest.raises(ex.InvalidInputError, match=next(iter(options))) as caught:
            CloreAI(**options)
        assert not isinstance(caught.value, (TypeError, ValueError))


BAD_ORDERS = [
    ({"server_id": 0}, "server_id"),
    ({"server_id": -5}, "server_id"),
    ({"server_id": True}, "server_id"),
    ({"server_id": "abc"}, "server_id"),
    ({"image": ""}, "image"),
    ({"image": "has space"}, "image"),
    ({"type": "on_demand"}, "hyphen"),
    ({"type": "weekly"}, "type"),
    ({"currency": ""}, "currency"),
    ({"type": "spot"}, "spot_price is required"),
    ({"type": "spot", "spot_price": 0}, "spot_price"),
    ({"type": "spot", "spot_price": float("nan")}, "spot_price"),
    ({"spot_price": 0.1}, "only for spot"),
    ({"ssh_password": 12345}, "must be text"),
    ({"ssh_password": "a" * 33}, "limit is 32"),
    ({"ssh_key": "k" * 3073}, "3072"),
    ({"jupyter_token": "t" * 33}, "32"),
    ({"ports": {"22": "udp"}}, "tcp or http"),
    ({"ports": {"99999": "tcp"}}, "65535"),
    ({"ports": ["22"]}, "mapping"),
    ({"env": {"": "x"}}, "env name"),
    ({"env": {"A": "x" * 1537}}, "1536"),
    ({"env": "A=1"}, "mapping"),
    ({"required_price": -1}, "required_price"),
    ({"autossh_entrypoint": "maybe"}, "true or false"),
]


@pytest.mark.parametrize(("change", "message"), BAD_ORDERS)
def test_bad_create_order_input_is_refused_before_any_request(change: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "server_id": 123,
        "image": "cloreai/pytorch",
        "type": "on-demand",
        "currency": "bitcoin",
    }
    arguments.update(change)
    recorder = Recorder()
    with pytest.raises(ex.InvalidInputError, match=message), sync_client(recorder) as client:
        client.create_order(**arguments)
    assert recorder.requests == []


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("cancel_order", {"order_id": 0}),
        ("cancel_order", {"order_id": 38, "issue": "x" * 2049}),
        ("set_spot_price", {"order_id": 39, "price": 0}),
        ("set_spot_price", {"order_id": "39x", "price": 1}),
        ("spot_marketplace", {"server_id": -1}),
        ("server_config", {"server_name": " "}),
        ("set_server_settings", {"name": ""}),
        ("set_server_settings", {"name": "MyGPU", "mrl": 0}),
        ("set_server_settings", {"name": "MyGPU", "on_demand": -1}),
        ("set_server_settings", {"name": "MyGPU", "availability": "yes"}),
        ("cancel_orders", {"order_ids": []}),
        ("marketplace", {"max_price_usd": -1}),
        ("marketplace", {"min_gpu_count": 1.5}),
    ],
)
def test_other_bad_input_is_refused_before_any_request(method: str, args: dict[str, Any]) -> None:
    recorder = Recorder()
    with pytest.raises(ex.InvalidInputError), sync_client(recorder) as client:
        getattr(client, method)(**args)
    assert recorder.requests == []


def test_cancel_is_idempotent_when_the_order_already_ended(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder(default={"code": 6, "error": "order_not_active"})
    with sync_client(recorder) as client:
        assert client.cancel_order(38) == {"code": 0, "already_ended": True}
        result = client.cancel_order(38, issue="GPU overheating")
    assert result == {"code": 0, "already_ended": True, "issue_reported": False}
    assert "not delivered" in caplog.text


def test_cancel_other_field_errors_still_raise() -> None:
    with (
        pytest.raises(ex.FieldError, match="you_dont_own_this_order"),
        sync_client(Recorder(default={"code": 6, "error": "you_dont_own_this_order"})) as client,
    ):
        client.cancel_order(1)
