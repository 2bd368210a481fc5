"""Reads: what is never retried, finite timeouts against a server that never answers, and no
connection left open afterwards (reliability.md §B6-B8)."""

from __future__ import annotations

import os
import ssl
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from clore_ai import CloreAI, RateLimiter
from clore_ai import exceptions as ex
from clore_ai._retry import MAX_DELAY
from clore_ai.sandbox import RateLimits, Sandbox, SandboxServer

from .recording import Recorder, sync_client


def certificate_failure() -> httpx.ConnectError:
    try:
        try:
            raise ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed certificate")
        except ssl.SSLError as cause:
            raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]") from cause
    except httpx.ConnectError as error:
        return error


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(200, json={"code": 2}), ex.InvalidInputError),
        (httpx.Response(200, json={"code": 3}), ex.AuthError),
        (httpx.Response(200, json={"code": 4}), ex.InvalidEndpointError),
        (httpx.Response(200, json={"code": 6, "error": "server_not_found"}), ex.FieldError),
        (httpx.Response(401, json={"code": 3}), ex.AuthError),
        (httpx.Response(404, text="<html>Not Found</html>"), ex.InvalidResponseError),
        (httpx.Response(400, text="bad request"), ex.InvalidResponseError),
        (certificate_failure(), ex.APICertificateError),
    ],
)
def test_definitive_failures_of_reads_are_not_retried(answer: Any, error: type[Exception]) -> None:
    recorder = Recorder(default=answer)
    with pytest.raises(error), sync_client(recorder, max_retries=3) as client:
        client.wallets()
    assert len(recorder.requests) == 1


def test_a_certificate_failure_never_resends_an_order() -> None:
    recorder = Recorder({"code": 0, "orders": []}, certificate_failure())
    with pytest.raises(ex.APICertificateError), sync_client(recorder, max_retries=3) as client:
        client.create_order(server_id=1, image="a/b", type="on-demand", currency="bitcoin")
    assert recorder.endpoints() == ["my_orders", "create_order"]


def test_timeouts_are_finite_by_default_and_travel_with_every_request() -> None:
    client = CloreAI(api_key="sk-timeouts-0001")
    timeout = client._client().timeout
    assert 0 < client.timeout < float("inf")
    assert all(0 < t < float("inf") for t in (timeout.connect, timeout.read, timeout.write, timeout.pool))
    # httpx < 0.28 ignores the client's timeout for requests it did not build itself.
    request = client._core.build_request("wallets")
    assert request.extensions["timeout"] == timeout.as_dict()
    client.close()


def test_a_per_client_timeout_reaches_the_request() -> None:
    client = CloreAI(api_key="sk-timeouts-0002", timeout=2.5)
    assert client._core.build_request("wallets").extensions["timeout"]["read"] == 2.5
    client.close()


def open_sockets() -> int:
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            pass
    return count


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts sockets in /proc/self/fd")
def test_a_server_that_never_answers_times_out_in_bounded_time_and_leaks_nothing() -> None:
    sandbox = Sandbox(servers=5, rate_limits=RateLimits.off())
    sandbox.faults.inject("wallets", "timeout_after", times=100)  # accepts, reads, never answers
    timeout, retries = 0.3, 2
    before = open_sockets()  # the server runs in this process: count after it has stopped
    with SandboxServer(sandbox) as server:
        client = CloreAI(
            api_key="sk-hanging-0001",
            base_url=server.url,
            timeout=timeout,
            max_retries=retries,
            limiter=RateLimiter(interval=0),
        )
        started = time.monotonic()
        with pytest.raises(ex.APITimeoutError):
            client.wallets()
        elapsed = time.monotonic() - started
        client.close()
    leaked = open_sockets() - before
    attempts = retries + 1
    assert len([r for r in sandbox.requests if r.endpoint == "wallets"]) == attempts
    assert elapsed <= (timeout + MAX_DELAY) * attempts + 1
    assert elapsed >= timeout * attempts  # it really waited for each answer
    assert leaked <= 0
