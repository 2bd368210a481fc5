"""`clore auth login` with every kind of keyring (reliability.md §21-22).

Absent, failing, hanging, dropping or working backend; interactive consent; the plain-text
fallback's permissions; and `CLORE_API_KEY` making every command work without ever
importing keyring.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from clore_ai import credentials
from clore_ai.sandbox import Sandbox, SandboxServer
from clore_cli._main import main

KEY = "sk-keyring-rules-5c1d"


@pytest.fixture(autouse=True)
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A sandbox API for `auth login` to verify keys against."""
    with SandboxServer(Sandbox(servers=5)) as server:
        monkeypatch.setenv("CLORE_API_URL", server.url)
        yield server.url


def login(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *options: str,
    stdin: str = KEY + "\n",
    terminal: bool = False,
) -> tuple[int, str, str]:
    fake = io.StringIO(stdin)
    fake.isatty = lambda: terminal  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stdin", fake)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal, raising=False)
    code = main(["auth", "login", "--with-key", *options])
    out, err = capsys.readouterr()
    return code, out, err


def use_backend(monkeypatch: pytest.MonkeyPatch, **methods: Callable[..., Any]) -> dict[tuple[str, str], str]:
    """Install a keyring backend whose methods are replaced by ``methods``."""
    import keyring
    from keyring.backend import KeyringBackend

    store: dict[tuple[str, str], str] = {}

    class Backend(KeyringBackend):  # type: ignore[misc]
        priority = 1  # type: ignore[assignment]

        def get_password(self, service: str, user: str) -> str | None:
            return store.get((service, user))

        def set_password(self, service: str, user: str, password: str) -> None:
            store[(service, user)] = password

        def delete_password(self, service: str, user: str) -> None:
            store.pop((service, user), None)

    for name, fn in methods.items():
        setattr(Backend, name, fn)
    keyring.set_keyring(Backend())
    monkeypatch.setattr(credentials, "KEYRING_TIMEOUT", 0.3)
    return store


def hang(*args: Any) -> None:
    time.sleep(3)


def fail(*args: Any) -> None:
    raise RuntimeError("backend exploded")


def nothing_stored() -> bool:
    return not credentials.config_path().exists()


BROKEN_KEYRINGS: dict[str, Callable[[pytest.MonkeyPatch], Any]] = {
    "null backend": lambda mp: mp.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring"),
    "fail backend": lambda mp: mp.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring"),
    "failing backend": lambda mp: use_backend(mp, set_password=fail),
    "hanging backend": lambda mp: use_backend(mp, set_password=hang),
    "backend that drops keys": lambda mp: use_backend(mp, set_password=lambda *a: None),
    "keyring not importable": lambda mp: mp.setitem(sys.modules, "keyring", None),
}


@pytest.fixture(autouse=True)
def fresh_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import keyring
    import keyring.core

    yield
    keyring.core._keyring_backend = None  # the next test resolves its backend again


@pytest.mark.parametrize("broken", list(BROKEN_KEYRINGS))
def test_without_a_working_keyring_a_script_gets_exit_4_and_nothing_is_stored(
    broken: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    BROKEN_KEYRINGS[broken](monkeypatch)
    started = time.monotonic()
    code, out, err = login(capsys, monkeypatch)
    assert time.monotonic() - started < 5
    assert code == 4
    assert err.count("\n") == 1 and "nothing was stored" in err and "--insecure-storage" in err
    assert "stored in" not in out + err and KEY not in out + err
    assert nothing_stored()


@pytest.mark.parametrize("broken", list(BROKEN_KEYRINGS))
def test_insecure_storage_writes_a_private_file_and_says_where(
    broken: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    BROKEN_KEYRINGS[broken](monkeypatch)
    old = os.umask(0)  # the file must be private whatever the umask
    try:
        code, out, err = login(capsys, monkeypatch, "--insecure-storage")
    finally:
        os.umask(old)
    path = credentials.config_path()
    assert code == 0 and str(path) in out and "keyring" not in out
    assert "warning" in err and str(path) in err and KEY not in out + err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert credentials.resolve_api_key(use_keyring=False).source == "config file"  # type: ignore[union-attr]


def test_a_working_keyring_is_used_and_confirmed_by_reading_back(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = use_backend(monkeypatch)
    code, out, _err = login(capsys, monkeypatch)
    assert code == 0 and "stored in the system keyring" in out
    assert store == {("clore", "default"): KEY} and nothing_stored()


@pytest.mark.parametrize(("answer", "expected"), [("y", 0), ("n", 4)])
def test_at_a_terminal_plain_text_needs_a_yes(
    answer: str, expected: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _out, err = login(capsys, monkeypatch, stdin=f"{KEY}\n{answer}\n", terminal=True)
    assert code == expected
    assert "No keyring could store the key" in err and "plain text" in err
    assert nothing_stored() is (expected == 4)


def test_a_world_readable_key_file_is_refused_group_readable_warns(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = credentials.write_config({"api_key": KEY})
    path.chmod(0o644)
    code, _, err = main(["auth", "status"]), *capsys.readouterr()
    assert code == 4 and f"chmod 600 {path}" in err and KEY not in err
    path.chmod(0o640)
    assert main(["auth", "status"]) == 0
    assert "readable by your group" in caplog.text


def test_a_symlinked_key_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = credentials.write_config({"api_key": KEY}, tmp_path / "elsewhere.json")
    credentials.config_path().parent.mkdir(parents=True, exist_ok=True)
    credentials.config_path().symlink_to(real)
    assert main(["auth", "status"]) == 4
    assert "symbolic link" in capsys.readouterr().err


FAKE_KEYRING = {
    "hangs": "import time\ntime.sleep(60)\n",
    "raises": "raise RuntimeError('keyring import exploded')\n",
}


@pytest.mark.parametrize("behaviour", list(FAKE_KEYRING))
def test_with_clore_api_key_set_keyring_is_never_imported(behaviour: str, tmp_path: Path, api: str) -> None:
    fake = tmp_path / "fake" / "keyring"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(FAKE_KEYRING[behaviour])
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLORE_")}
    env.update(PYTHONPATH=str(fake.parent), CLORE_API_KEY=KEY, CLORE_API_URL=api, CLORE_DISABLE_PLUGINS="1")
    started = time.monotonic()
    for command in (["wallets"], ["orders"], ["auth", "status"], ["search", "--limit", "2"]):
        result = subprocess.run(
            [sys.executable, "-m", "clore_cli", *command], capture_output=True, text=True, env=env, timeout=30
        )
        assert result.returncode == 0, (command, result.stderr)
    assert time.monotonic() - started < 20


def test_sdk_warnings_reach_a_terminal_as_one_warning_line() -> None:
    path = credentials.write_config({"api_key": KEY})
    path.chmod(0o640)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLORE_")}
    result = subprocess.run(
        [sys.executable, "-m", "clore_cli", "auth", "status"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert result.returncode == 0 and "****5c1d" in result.stdout
    assert (
        result.stderr
        == f"warning: {path} holds an API key and is readable by your group; run: chmod 600 {path}\n"
    )


def test_a_public_call_without_a_key_never_imports_keyring(tmp_path: Path, api: str) -> None:
    """The key is looked up lazily: `clore search` and ``marketplace()`` need none, so the
    keyring is neither imported nor probed; an authenticated call on the same client still
    finds the key through the chain (here the config file) and sends it."""
    fake = tmp_path / "fake" / "keyring"
    fake.mkdir(parents=True)
    marker = tmp_path / "keyring-imported"
    (fake / "__init__.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nraise ImportError('no keyring')\n"
    )
    config = tmp_path / "config"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLORE_")}
    env.update(
        PYTHONPATH=str(fake.parent),
        CLORE_API_URL=api,
        CLORE_DISABLE_PLUGINS="1",
        CLORE_CONFIG_DIR=str(config),
    )
    for command in (["search", "--limit", "2"], ["search", "--all", "-o", "json"], ["--version"]):
        result = subprocess.run(
            [sys.executable, "-m", "clore_cli", *command], capture_output=True, text=True, env=env, timeout=30
        )
        assert result.returncode == 0, (command, result.stderr)
        assert not marker.exists(), command
    config.mkdir(mode=0o700)
    (config / "config.json").write_text(json.dumps({"api_key": KEY}))
    (config / "config.json").chmod(0o600)
    script = (
        "import sys\n"
        "from clore_ai import CloreAI\n"
        "client = CloreAI()\n"
        "servers = client.marketplace()\n"
        "print(len(servers) > 0, 'keyring' in sys.modules)\n"
        "client.my_orders()\n"
        "print(client.key_source)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "config", "file"]
    assert marker.exists()  # the authenticated call went through the keyring first
