"""Reads: what is never retried, finite timeouts against a server that never answers, and no
connection left open afterwards (reliability.md §B6-B8)."""

from __future__ import annotations

import gzip
import os
import ssl
import sys
import time
import tracemalloc
import zlib
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from clore_ai import AsyncCloreAI, CloreAI, RateLimiter
from clore_ai import exceptions as ex
from clore_ai._retry import MAX_DELAY
from clore_ai.sandbox import RateLimits, Sandbox, SandboxServer, SandboxTransport

from .loopback import RawServer, dripping
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
        attempts = retries + 1
        settle = time.monotonic() + 2  # the server's handler thread may still be parsing the last one
        while len(sandbox.requests) < attempts and time.monotonic() < settle:
            time.sleep(0.01)
    leaked = open_sockets() - before
    assert len([r for r in sandbox.requests if r.endpoint == "wallets"]) == attempts
    assert elapsed <= (timeout + MAX_DELAY) * attempts + 1
    assert elapsed >= timeout * attempts  # it really waited for each answer
    assert leaked <= 0


# ── hard limits: a deadline per attempt, a cap on the answer (reliability.md §2) ──

DRIP_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n"
DRIP_BODY = b'{"code": 0, "wallets": [' + b" " * 99000


def drip_client(url: str, **options: Any) -> CloreAI:
    options.setdefault("api_key", "sk-dripping-0001")
    options.setdefault("limiter", RateLimiter(interval=0))
    return CloreAI(base_url=url, **options)


@pytest.mark.slow
@pytest.mark.parametrize("part", ["body", "headers"])
def test_a_dripping_server_times_out_within_the_attempt_timeout(part: str) -> None:
    head = DRIP_HEAD if part == "body" else DRIP_HEAD * 50
    answer = dripping(head, DRIP_BODY if part == "body" else b"", every=0.1)
    before = open_sockets()
    with RawServer(answer) as server, drip_client(server.url, timeout=0.5, max_retries=0) as client:
        started = time.monotonic()
        with pytest.raises(ex.APITimeoutError):
            client.wallets()
        elapsed = time.monotonic() - started
    assert server.requests == 1
    assert open_sockets() <= before  # the abandoned connection was closed, not pooled
    assert 0.45 <= elapsed <= 0.5 + 0.5  # one attempt: timeout, not timeout per byte (measured 0.501 s)


@pytest.mark.slow
def test_a_dripping_server_bounds_the_whole_call_with_retries() -> None:
    answer = dripping(DRIP_HEAD, DRIP_BODY, every=0.1)
    backoffs: list[float] = []
    with (
        RawServer(answer) as server,
        drip_client(server.url, timeout=0.3, max_retries=2, sleep=backoffs.append) as client,
    ):
        started = time.monotonic()
        with pytest.raises(ex.APITimeoutError):
            client.wallets()
        elapsed = time.monotonic() - started
    assert server.requests == 3
    assert elapsed <= 0.3 * 3 + 0.6  # (timeout + back-off) x attempts, back-off not slept here
    assert len(backoffs) == 2 and all(b <= MAX_DELAY for b in backoffs)


@pytest.mark.slow
@pytest.mark.parametrize("part", ["body", "headers"])
async def test_a_dripping_server_times_out_within_the_attempt_timeout_async(part: str) -> None:
    head = DRIP_HEAD if part == "body" else DRIP_HEAD * 50
    answer = dripping(head, DRIP_BODY if part == "body" else b"", every=0.1)
    with RawServer(answer) as server:
        async with AsyncCloreAI(
            api_key="sk-dripping-0002",
            base_url=server.url,
            timeout=0.5,
            max_retries=0,
            limiter=RateLimiter(interval=0),
        ) as client:
            started = time.monotonic()
            with pytest.raises(ex.APITimeoutError):
                await client.wallets()
            elapsed = time.monotonic() - started
    assert server.requests == 1
    assert 0.45 <= elapsed <= 0.5 + 0.5


MiB = 1024 * 1024


def gzip_bomb(size: int) -> bytes:
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * MiB
    return b"".join([squeeze.compress(block) for _ in range(size // MiB)] + [squeeze.flush()])


def bomb_answer(bomb: bytes) -> Callable[[RawServer, Any], None]:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
        b"content-length: %d\r\n\r\n" % len(bomb)
    )

    def answer(server: RawServer, sock: Any) -> None:
        server.send(sock, head + bomb)

    return answer


def endless_answer(server: RawServer, sock: Any) -> None:
    server.send(
        sock, b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b" " * 64 * 1024)
    while server.sent < 64 * MiB:  # "endless" as far as the client may know
        server.send(sock, chunk)


def peak_bytes(call: Callable[[], Any]) -> tuple[BaseException | None, int]:
    tracemalloc.start()
    try:
        call()
        error = None
    except ex.CloreAPIError as raised:
        error = raised
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return error, peak


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["gzip bomb", "endless body"])
def test_an_oversize_answer_stops_at_the_cap_and_is_not_retried(kind: str) -> None:
    answer = bomb_answer(gzip_bomb(50 * MiB)) if kind == "gzip bomb" else endless_answer
    with (
        RawServer(answer) as server,
        drip_client(
            server.url, timeout=5, max_retries=3, max_response_bytes=MiB, sleep=lambda s: None
        ) as client,
    ):
        error, peak = peak_bytes(client.wallets)
    assert isinstance(error, ex.ResponseTooLargeError) and isinstance(error, ex.CloreAPIError)
    assert error.limit == MiB and "max_response_bytes" in str(error)
    assert server.requests == 1
    assert peak < 4 * MiB  # the cap plus a chunk, not 50 MiB
    if kind == "endless body":
        assert server.sent < 32 * MiB  # it stopped reading


@pytest.mark.slow
async def test_an_oversize_answer_stops_at_the_cap_async() -> None:
    with RawServer(bomb_answer(gzip_bomb(50 * MiB))) as server:
        async with AsyncCloreAI(
            api_key="sk-bomb-0002",
            base_url=server.url,
            max_retries=3,
            max_response_bytes=MiB,
            limiter=RateLimiter(interval=0),
        ) as client:
            tracemalloc.start()
            try:
                with pytest.raises(ex.ResponseTooLargeError):
                    await client.wallets()
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    assert server.requests == 1
    assert peak < 4 * MiB


def test_a_gzip_answer_under_the_cap_is_decoded() -> None:
    body = gzip.compress(b'{"code": 0, "wallets": []}')
    answer = httpx.Response(200, headers={"content-encoding": "gzip"}, content=body)
    recorder = Recorder(default=answer)
    with sync_client(recorder, max_response_bytes=1024) as client:
        assert client.wallets() == []


def test_an_oversize_create_order_answer_is_reconciled_not_resent() -> None:
    new = {"id": 7, "si": 1, "spot": False, "ct": 1}
    recorder = Recorder(
        {"code": 0, "orders": []},
        httpx.Response(200, content=b'{"code": 0}' + b" " * 4096),
        {"code": 0, "orders": [new]},
    )
    with sync_client(recorder, max_retries=3, max_response_bytes=1024) as client:
        order = client.create_order(server_id=1, image="a/b", type="on-demand", currency="bitcoin")
    assert order.id == 7 and order.reconciled
    assert recorder.endpoints() == ["my_orders", "create_order", "my_orders"]


@pytest.mark.parametrize("bad", [0, -1, 1023, 1.5, float("inf"), float("nan"), True, "1000000", None])
def test_max_response_bytes_is_validated(bad: Any) -> None:
    with pytest.raises(ex.InvalidInputError):
        CloreAI(api_key="sk-limits-0001", max_response_bytes=bad)


@pytest.mark.parametrize(
    ("encoding", "squeeze"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, no zlib header
        ("identity", lambda data: data),
    ],
)
def test_streamed_answers_are_decoded_under_the_cap(encoding: str, squeeze: Callable[[bytes], bytes]) -> None:
    from clore_ai._transfer import BodyTooLarge, BoundedBody

    body = b'{"code": 0, "wallets": []}' + b" " * 5000
    request = httpx.Request("GET", "https://api.example.test/v1/wallets")

    def collect(limit: int) -> bytes:
        data = squeeze(body)
        streamed = httpx.Response(
            200, headers={"content-encoding": encoding}, stream=httpx.ByteStream(data), request=request
        )
        exchange = BoundedBody(request, limit=limit, timeout=5)
        assert exchange.start(streamed)
        for index in range(0, len(data), 7):  # small chunks, as a slow network delivers them
            exchange.feed(data[index : index + 7])
        return exchange.finish().content

    assert collect(len(body)) == body
    with pytest.raises(BodyTooLarge):
        collect(len(body) - 1)
    garbage = BoundedBody(request, limit=1024, timeout=5)
    garbage.start(httpx.Response(200, headers={"content-encoding": encoding}, stream=httpx.ByteStream(b"")))
    if encoding != "identity":
        with pytest.raises(httpx.DecodingError):
            garbage.feed(b"\xff" * 32)


@pytest.mark.parametrize("client_class", [CloreAI, AsyncCloreAI])
def test_the_deadline_reaches_the_clients_transport_and_environment_proxies(
    client_class: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clore_ai._transfer import _wrappers

    # Proxies from the environment still work: httpx ignores them when it is handed a
    # transport, so the client builds its transports and the deadline is wrapped around them.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    client = client_class(api_key="sk-proxy-0001")
    http = client._client()
    transports = [http._transport, *[t for t in http._mounts.values() if t is not None]]
    assert len(transports) >= 2
    wrapped = _wrappers()
    assert all(isinstance(t._pool._network_backend, wrapped) for t in transports)


def test_an_async_client_used_again_from_a_new_event_loop_works() -> None:
    """Two ``asyncio.run`` calls on one client (a script, a notebook cell each): the second
    raised "Event loop is closed" from the first loop's connections."""
    import asyncio

    with SandboxServer(Sandbox(rate_limits=RateLimits.off())) as server:
        no_spacing = RateLimiter(interval=0, order_interval=0)
        client = AsyncCloreAI(api_key="loops-key", base_url=server.url, limiter=no_spacing)
        first = asyncio.run(client.wallets())
        second = asyncio.run(client.wallets())
        assert [w.name for w in first] == [w.name for w in second] and first
        asyncio.run(client.aclose())


def test_flags_are_read_as_flags_not_by_truthiness() -> None:
    """``include_completed="false"`` returned completed orders: a non-empty string is truthy."""
    no_spacing = RateLimiter(interval=0, order_interval=0)
    sandbox = Sandbox(rate_limits=RateLimits.off())
    client = CloreAI(api_key="flags-key", transport=SandboxTransport(sandbox), limiter=no_spacing)

    def ids(orders: list[Any]) -> list[int]:
        return [order.id for order in orders]

    client.cancel_order(38)  # a completed order, which only include_completed=True lists

    assert ids(client.my_orders(include_completed="false")) == ids(client.my_orders(include_completed=False))
    assert ids(client.my_orders(include_completed="true")) == ids(client.my_orders(include_completed=True))
    assert ids(client.my_orders(include_completed=True)) != ids(client.my_orders(include_completed=False))
    assert [s.id for s in client.marketplace(available_only="no")] == [
        s.id for s in client.marketplace(available_only=False)
    ]
    for bad in ("maybe", 2, None):
        with pytest.raises(ex.InvalidInputError, match="include_completed must be true or false"):
            client.my_orders(include_completed=bad)
