"""Key resolution order, storage with keyring or 0600 file, and that keys never leak."""

from __future__ import annotations

import builtins
import json
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from clore_ai import CloreAI, credentials
from clore_ai.exceptions import CredentialsError, MissingAPIKeyError

SENTINEL = "sk-SENTINEL-never-print-me-9f3a"


class MemoryKeyring:
    """An in-memory keyring backend, importable by `PYTHON_KEYRING_BACKEND`."""

    store: ClassVar[dict[tuple[str, str], str]] = {}
    priority = 1

    def get_password(self, service: str, user: str) -> str | None:
        return self.store.get((service, user))

    def set_password(self, service: str, user: str, password: str) -> None:
        self.store[(service, user)] = password

    def delete_password(self, service: str, user: str) -> None:
        self.store.pop((service, user), None)


@pytest.fixture
def keyring_memory(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], str]:
    import keyring
    from keyring.backend import KeyringBackend

    class Backend(MemoryKeyring, KeyringBackend):  # type: ignore[misc]
        pass

    MemoryKeyring.store = {}
    monkeypatch.setattr(keyring, "get_keyring", lambda: Backend())
    monkeypatch.setattr(keyring, "get_password", Backend().get_password)
    monkeypatch.setattr(keyring, "set_password", Backend().set_password)
    monkeypatch.setattr(keyring, "delete_password", Backend().delete_password)
    return MemoryKeyring.store


def write_file_key(key: str, profile: str | None = None) -> Path:
    data: dict[str, Any] = {"api_key": key} if profile is None else {"profiles": {profile: {"api_key": key}}}
    return credentials.write_config(data)


def test_resolution_order(monkeypatch: pytest.MonkeyPatch, keyring_memory: dict[Any, str]) -> None:
    write_file_key("from-file-1111")
    assert credentials.resolve_api_key().source == "config file"  # type: ignore[union-attr]
    keyring_memory[("clore", "default")] = "from-keyring-2222"
    assert credentials.resolve_api_key().source == "keyring"  # type: ignore[union-attr]
    monkeypatch.setenv("CLORE_API_KEY", "from-env-3333")
    resolved = credentials.resolve_api_key()
    assert (
        resolved is not None
        and resolved.source == "environment"
        and resolved.secret.reveal() == "from-env-3333"
    )
    explicit = credentials.resolve_api_key("explicit-4444")
    assert explicit is not None and explicit.source == "argument"
    assert explicit.describe() == "****4444 (from argument, profile default)"


def test_client_resolves_the_key_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    write_file_key(SENTINEL)
    client = CloreAI()
    assert client.key_source == "config file" and client.api_key_hint == "****9f3a"
    assert SENTINEL not in repr(client) and SENTINEL not in str(vars(client))


def test_profiles_are_separate(keyring_memory: dict[Any, str]) -> None:
    credentials.store_api_key("work-key-5555", profile="work")
    assert credentials.resolve_api_key(profile="work").secret.reveal() == "work-key-5555"  # type: ignore[union-attr]
    assert credentials.resolve_api_key() is None


def test_store_prefers_keyring_and_drops_plaintext(keyring_memory: dict[Any, str]) -> None:
    path = write_file_key("old-plaintext-key")
    result = credentials.store_api_key(SENTINEL)
    assert result.location == "keyring" and keyring_memory[("clore", "default")] == SENTINEL
    assert "api_key" not in json.loads(path.read_text())


def test_no_keyring_backend_falls_back_to_a_0600_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "umask", os.umask)
    old = os.umask(0)
    try:
        result = credentials.store_api_key(SENTINEL)
    finally:
        os.umask(old)
    assert result.location == "config file" and result.warning and "no keyring backend" in result.warning
    assert result.path is not None
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(result.path.parent.stat().st_mode) == 0o700
    assert credentials.resolve_api_key().source == "config file"  # type: ignore[union-attr]
    with pytest.raises(CredentialsError, match="keyring"):
        credentials.store_api_key(SENTINEL, allow_file=False)


def test_keyring_that_does_not_store_is_not_trusted(
    monkeypatch: pytest.MonkeyPatch, keyring_memory: Any
) -> None:
    import keyring

    monkeypatch.setattr(keyring, "set_password", lambda *a: None)  # silently drops the key
    result = credentials.store_api_key(SENTINEL)
    assert result.location == "config file"


def test_hanging_keyring_is_time_limited(monkeypatch: pytest.MonkeyPatch, keyring_memory: Any) -> None:
    import keyring

    monkeypatch.setattr(keyring, "get_password", lambda *a: time.sleep(5))
    started = time.monotonic()
    assert credentials.resolve_api_key(keyring_timeout=0.2) is None
    assert time.monotonic() - started < 2


def test_environment_key_never_imports_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLORE_API_KEY", SENTINEL)
    monkeypatch.delitem(sys.modules, "keyring", raising=False)
    real_import = builtins.__import__

    def guarded(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "keyring" or name.startswith("keyring."):
            raise AssertionError("keyring imported")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", guarded)
    assert CloreAI().key_source == "environment"


def test_corrupt_config_is_a_clear_error_not_a_reset() -> None:
    path = credentials.config_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(CredentialsError, match="not valid JSON"):
        credentials.resolve_api_key()
    assert path.read_text() == "{not json"


def test_other_config_keys_survive_writes(keyring_memory: Any) -> None:
    credentials.write_config({"api_key": "a" * 10, "theme": "dark"})
    credentials.delete_api_key()
    assert credentials.read_config() == {"theme": "dark"}


def test_delete_reports_where_it_was(keyring_memory: dict[Any, str]) -> None:
    credentials.store_api_key("k" * 12)
    assert credentials.delete_api_key() == ["keyring"]
    assert credentials.delete_api_key() == []


def test_missing_key_error_says_what_to_do() -> None:
    client = CloreAI()
    with pytest.raises(MissingAPIKeyError, match="CLORE_API_KEY"):
        client.wallets()


def test_bad_keys_are_refused() -> None:
    with pytest.raises(CredentialsError):
        credentials.store_api_key("has space")


def test_mask_shows_at_most_four() -> None:
    assert credentials.mask(SENTINEL) == "****9f3a"
    assert credentials.mask("short") == "****"
    assert credentials.mask(None) == "(none)"
