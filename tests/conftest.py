"""Fixtures shared by every test: an isolated home, a fake clock, sandbox-backed clients."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Iterator

import pytest

from clore_ai import AsyncCloreAI, CloreAI, RateLimiter
from clore_ai.sandbox import RateLimits, Sandbox, SandboxTransport


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's keys, config, keyring or sandbox state."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    # No SSH host process for `clore --sandbox` unless a test asks (fixture cli_ssh_state).
    monkeypatch.setenv("CLORE_SANDBOX_SSH", "0")
    for name in (
        "CLORE_API_KEY",
        "CLORE_API_URL",
        "CLORE_PROFILE",
        "CLORE_CONFIG_DIR",
        "CLORE_SANDBOX_STATE",
    ):
        monkeypatch.delenv(name, raising=False)


class FakeClock:
    """Virtual time for one flow at a time: sleeping moves the clock, nothing waits."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> Sandbox:
    """A small sandbox on virtual time, with the real rate limits."""
    return Sandbox(servers=60, clock=clock, rate_limits=RateLimits(), deploy_seconds=5.0)


KEY = "sk-test-0123456789abcdef"


class Driver:
    """Runs the same scenario on CloreAI or AsyncCloreAI: ``driver.call("wallets")``."""

    def __init__(self, kind: str, make: Callable[..., Any]) -> None:
        self.kind = kind
        self._make = make
        self._loop = asyncio.new_event_loop() if kind == "async" else None
        self.client = make()

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.client, method)(*args, **kwargs)
        if self._loop is not None:
            return self._loop.run_until_complete(result)
        return result

    def close(self) -> None:
        if self._loop is not None:
            self._loop.run_until_complete(self.client.close())
            self._loop.close()
        else:
            self.client.close()


def make_client(kind: str, sandbox: Sandbox, clock: FakeClock, **options: Any) -> Any:
    transport = SandboxTransport(sandbox, sleep=clock.sleep, async_sleep=clock.async_sleep)
    limiter = options.pop("limiter", None) or RateLimiter(clock=clock)
    options.setdefault("api_key", KEY)
    if kind == "sync":
        return CloreAI(transport=transport, limiter=limiter, sleep=clock.sleep, **options)
    return AsyncCloreAI(transport=transport, limiter=limiter, sleep=clock.async_sleep, **options)


@pytest.fixture(params=["sync", "async"])
def driver(request: pytest.FixtureRequest, sandbox: Sandbox, clock: FakeClock) -> Iterator[Driver]:
    made = Driver(request.param, lambda **kw: make_client(request.param, sandbox, clock, **kw))
    yield made
    made.close()


@pytest.fixture
def make_driver(sandbox: Sandbox, clock: FakeClock) -> Iterator[Callable[..., Driver]]:
    made: list[Driver] = []

    def build(kind: str = "sync", **options: Any) -> Driver:
        d = Driver(kind, lambda: make_client(kind, sandbox, clock, **options))
        made.append(d)
        return d

    yield build
    for d in made:
        d.close()


@pytest.fixture
def ssh_order(tmp_path: Any) -> Iterator[Any]:
    """A running sandbox order with a live SSH endpoint on 127.0.0.1 (servers in a thread of
    this process): ``.target`` logs in with ``.password``, ``.key_target`` with ``.key_file``;
    ``.home`` is its container directory. See tests/remote_sandbox.py."""
    from .remote_sandbox import ORDER, SSH_PASSWORD, SSHOrder, make_key_pair

    sandbox = Sandbox(servers=60, rate_limits=RateLimits.off(), deploy_seconds=0, ssh=True)
    key_file, public_key = make_key_pair(tmp_path)
    client = CloreAI(api_key=KEY, transport=SandboxTransport(sandbox), limiter=RateLimiter(interval=0))
    order = client.create_order(**ORDER, ssh_password=SSH_PASSWORD, ssh_key=public_key)
    yield SSHOrder(sandbox, client, KEY, order, SSH_PASSWORD, key_file)
    client.close()
    sandbox.close()
