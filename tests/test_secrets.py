"""With a sentinel key (and sentinel order secrets), nothing we print, log, raise or write holds it.

Covers the SDK (exceptions, their args, pickles, every local of SDK frames along the
traceback chain, DEBUG logs of clore_ai/httpx/httpcore, client repr), the CLI (`--debug`
included, as a real process), and where keys are written (0600, atomic).
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import clore_ai
from clore_ai import AsyncCloreAI, CloreAI, CloreAPIError, RateLimiter
from clore_ai.sandbox import RateLimits, Sandbox, SandboxServer, SandboxTransport

# The sandbox rejects keys starting with "invalid" (code 3): one sentinel for each case.
KEY = "sk-SENTINEL-key-4f9c2b7e"
BAD_KEY = "invalid-SENTINEL-key-77d1"
SSH_PASSWORD = "SENTINELssh93bd"
JUPYTER_TOKEN = "SENTINELjupyter61"
ENV_SECRET = "SENTINEL-env-value-0c3f"
SECRETS = (KEY, BAD_KEY, SSH_PASSWORD, JUPYTER_TOKEN, ENV_SECRET)
SDK_DIR = os.path.dirname(clore_ai.__file__)


def leaked(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return [s for s in SECRETS if s in text]


def chained(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def sdk_frame_locals(error: BaseException) -> Iterator[tuple[str, str, str]]:
    """(function, name, repr) of every local in clore_ai frames along the exception chain."""
    for exc in chained(error):
        tb: types.TracebackType | None = exc.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_code.co_filename.startswith(SDK_DIR):
                for name, value in frame.f_locals.items():
                    yield frame.f_code.co_name, name, repr(value)
            tb = tb.tb_next


def assert_error_is_clean(error: BaseException) -> None:
    assert not leaked(str(error)) and not leaked(repr(error)) and not leaked(repr(error.args))
    assert not leaked(pickle.dumps(error))
    assert not leaked(repr(vars(error)))
    for function, name, text in sdk_frame_locals(error):
        assert not leaked(text), f"{function}() local {name!r} holds a secret"


def order_arguments(server_id: int) -> dict[str, Any]:
    return {
        "server_id": server_id,
        "image": "cloreai/ubuntu22.04-cuda12",
        "type": "on-demand",
        "currency": "bitcoin",
        "ssh_password": SSH_PASSWORD,
        "jupyter_token": JUPYTER_TOKEN,
        "env": {"TOKEN": ENV_SECRET},
    }


def free_server(sandbox: Sandbox) -> int:
    lister = CloreAI(api_key="sk-lister-0001", transport=SandboxTransport(sandbox))
    return next(s.id for s in lister.marketplace() if not s.gigaspot)


Scenario = Callable[[Sandbox], tuple[str, Callable[[CloreAI], Any]]]


def auth_failure(sandbox: Sandbox) -> tuple[str, Callable[[CloreAI], Any]]:
    return BAD_KEY, lambda client: client.wallets()


def html_error_page(sandbox: Sandbox) -> tuple[str, Callable[[CloreAI], Any]]:
    sandbox.faults.inject("wallets", "html_5xx", times=10)
    return KEY, lambda client: client.wallets()


def read_timeout(sandbox: Sandbox) -> tuple[str, Callable[[CloreAI], Any]]:
    sandbox.faults.inject("my_orders", "timeout_after", times=10)
    return KEY, lambda client: client.my_orders()


def order_answer_lost(sandbox: Sandbox) -> tuple[str, Callable[[CloreAI], Any]]:
    server_id = free_server(sandbox)
    sandbox.faults.inject("create_order", "timeout_after", execute=False)  # never appears
    return KEY, lambda client: client.create_order(**order_arguments(server_id))


def order_refused(sandbox: Sandbox) -> tuple[str, Callable[[CloreAI], Any]]:
    return KEY, lambda client: client.create_order(**order_arguments(10**9))


def order_input_invalid(sandbox: Sandbox) -> tuple[str, Callable[[CloreAI], Any]]:
    arguments = {**order_arguments(1), "ssh_password": SSH_PASSWORD + "x" * 33}  # over the 32-character limit
    return KEY, lambda client: client.create_order(**arguments)


def rent_arguments() -> dict[str, Any]:
    secrets = {k: v for k, v in order_arguments(1).items() if k in ("ssh_password", "jupyter_token", "env")}
    return {"image": "cloreai/ubuntu22.04-cuda12", "currency": "btc", **secrets}


def rent_answer_lost(sandbox: Sandbox) -> tuple[str, Callable[[CloreAI], Any]]:
    sandbox.faults.inject("create_order", "timeout_after", execute=False)  # never appears
    return KEY, lambda client: clore_ai.rent(client, "gpus>=1", **rent_arguments())


def rent_refused(sandbox: Sandbox) -> tuple[str, Callable[[CloreAI], Any]]:
    return BAD_KEY, lambda client: clore_ai.rent(client, "gpus>=1", **rent_arguments())


def rent_input_invalid(sandbox: Sandbox) -> tuple[str, Callable[[CloreAI], Any]]:
    arguments = {**rent_arguments(), "ssh_password": SSH_PASSWORD + "x" * 33}
    return KEY, lambda client: clore_ai.rent(client, "gpus>=1", **arguments)


SCENARIOS = [
    (auth_failure, "AuthError"),
    (html_error_page, "InvalidResponseError"),
    (read_timeout, "APITimeoutError"),
    (order_answer_lost, "OrderOutcomeUnknown"),
    (order_refused, "FieldError"),
    (order_input_invalid, "InvalidInputError"),
    (rent_answer_lost, "RentOutcomeUnknown"),
    (rent_refused, "AuthError"),
    (rent_input_invalid, "InvalidInputError"),
]


@pytest.mark.parametrize(("scenario", "error_name"), SCENARIOS, ids=[s[1] for s in SCENARIOS])
def test_sdk_errors_logs_and_frames_never_hold_a_secret(
    scenario: Scenario, error_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = Sandbox(servers=30, rate_limits=RateLimits.off())
    key, action = scenario(sandbox)
    caplog.set_level(logging.DEBUG)  # every logger: clore_ai, httpx, httpcore
    with SandboxServer(sandbox) as server:
        client = CloreAI(
            api_key=key,
            base_url=server.url,
            max_retries=1,
            timeout=0.5,
            sleep=lambda seconds: None,
            limiter=RateLimiter(interval=0, order_interval=0),
            reconcile_timeout=0,
        )
        assert not leaked(repr(client)) and not leaked(str(client))
        with pytest.raises(CloreAPIError) as caught:
            action(client)
        client.close()
    assert type(caught.value).__name__ == error_name
    assert_error_is_clean(caught.value)
    assert caplog.records or error_name == "InvalidInputError", "nothing logged: the check would be empty"
    assert not leaked(caplog.text)
    assert not leaked(repr([r.__dict__ for r in caplog.records]))


async def test_async_errors_never_hold_a_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox = Sandbox(servers=10, rate_limits=RateLimits.off())
    sandbox.faults.inject("wallets", "drop_after", times=10)
    async with AsyncCloreAI(
        api_key=KEY, transport=SandboxTransport(sandbox), max_retries=1, limiter=RateLimiter(interval=0)
    ) as client:
        with pytest.raises(CloreAPIError) as caught:
            await client.wallets()
    assert_error_is_clean(caught.value)
    assert not leaked(caplog.text)


def test_redirects_are_not_followed_with_the_key() -> None:
    import httpx

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.host == "api.example":
            return httpx.Response(302, headers={"location": "https://evil.example/steal"})
        return httpx.Response(200, json={"code": 0, "wallets": []})

    client = CloreAI(
        api_key=KEY, base_url="https://api.example/v1", transport=httpx.MockTransport(handler), max_retries=0
    )
    with pytest.raises(CloreAPIError) as caught:
        client.wallets()
    assert seen == ["https://api.example/v1/wallets"]
    assert_error_is_clean(caught.value)


# ── the CLI as a real process ──────────────────────────────────────────────


def clore(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clore_cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLORE_")}
    env.update(HOME=str(tmp_path / "home"), CLORE_DISABLE_PLUGINS="1")
    return env


def test_cli_output_with_debug_never_holds_a_secret(cli_env: dict[str, str]) -> None:
    sandbox = Sandbox(servers=30, rate_limits=RateLimits.off())
    server_id = free_server(sandbox)
    sandbox.faults.inject("wallets", "html_5xx", times=1)
    with SandboxServer(sandbox) as server:
        env = {**cli_env, "CLORE_API_URL": server.url, "CLORE_API_KEY": KEY}
        order = [
            "--debug", "deploy", str(server_id), "--image", "cloreai/ubuntu22.04-cuda12",
            "--type", "on-demand", "--currency", "btc", "--ssh-password", SSH_PASSWORD,
            "--jupyter-token", JUPYTER_TOKEN, "--env", f"TOKEN={ENV_SECRET}", "--yes",
        ]  # fmt: skip
        runs = [
            clore(["--debug", "wallets"], env),  # retried after an HTML error page
            clore(["--debug", "orders"], env),
            clore([*order, "--dry-run"], env),
            clore(order, env),
            clore(["--debug", "wallets"], {**env, "CLORE_API_KEY": BAD_KEY}),
            clore(["--debug", "auth", "status"], env),
            clore(["--debug", "wallets", "-o", "json"], {**env, "CLORE_API_KEY": BAD_KEY}),
        ]
    assert [r.returncode for r in runs] == [0, 0, 0, 0, 4, 0, 4]
    assert "debug:" in runs[0].stderr  # --debug really logged something
    for result in runs:
        assert not leaked(result.stdout + result.stderr), result.args
    assert "****" in runs[2].stdout and "****2b7e" in runs[5].stdout


def test_a_key_with_an_invisible_character_never_appears(cli_env: dict[str, str]) -> None:
    """A pasted zero-width space: one line with its position; the key nowhere (issue 12)."""
    odd = KEY + "\u200b"
    for make in (CloreAI, AsyncCloreAI):
        with pytest.raises(clore_ai.CredentialsError, match=f"at position {len(KEY) + 1}") as caught:
            make(api_key=odd)
        assert_error_is_clean(caught.value)
    runs = [
        clore(["--debug", "wallets"], {**cli_env, "CLORE_API_KEY": odd}),
        clore(["--debug", "auth", "login", "--with-key"], cli_env, stdin=odd + "\n"),
    ]
    assert [r.returncode for r in runs] == [4, 2]
    for result in runs:
        assert not leaked(result.stdout + result.stderr), result.args
        assert "invisible or non-ASCII character" in result.stderr
        assert "UnicodeEncodeError" not in result.stderr
