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


def test_a_named_profile_is_not_replaced_by_the_environment_key(
    monkeypatch: pytest.MonkeyPatch, keyring_memory: dict[Any, str]
) -> None:
    """CLORE_API_KEY is the default profile's key; naming another profile means its stored key,
    never a key exported for some other account (nor the environment's under its name)."""
    write_file_key("work-file-5555", profile="work")
    monkeypatch.setenv("CLORE_API_KEY", "from-env-3333")
    found = credentials.resolve_api_key(profile="work")
    assert found is not None and found.source == "config file" and found.secret.reveal() == "work-file-5555"
    client = CloreAI(profile="work")
    assert client.key_source == "config file" and client.api_key_hint == "****5555"
    monkeypatch.setenv("CLORE_PROFILE", "work")
    assert CloreAI().api_key_hint == "****5555"
    assert credentials.resolve_api_key(profile="nosuch") is None  # no stored key: none, not the env's
    monkeypatch.delenv("CLORE_PROFILE")
    assert CloreAI().key_source == "environment"  # the default profile still takes CLORE_API_KEY


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


# ── keys with odd characters (issue 12, item 11) ───────────────────────────

KEY_HEAD, KEY_TAIL = "sk-ODDHEAD-5e1c", "ODDTAIL-key-8d2f"
ODD_KEYS = {
    "zero-width space": (f"{KEY_HEAD}\u200b{KEY_TAIL}", len(KEY_HEAD) + 1),
    "line break inside": (f"{KEY_HEAD}\r\n{KEY_TAIL}", len(KEY_HEAD) + 1),
    "non-ASCII letter": (f"{KEY_HEAD}é{KEY_TAIL}", len(KEY_HEAD) + 1),
    "byte order mark first": (f"\ufeff{KEY_HEAD}{KEY_TAIL}", 1),
    "NUL": (f"{KEY_HEAD}\x00{KEY_TAIL}", len(KEY_HEAD) + 1),
    "lone surrogate": (f"{KEY_HEAD}\ud800{KEY_TAIL}", len(KEY_HEAD) + 1),
}


def assert_no_key(error: BaseException) -> None:
    """Neither half of the key in the error, its args, repr, pickle, chain or SDK frame locals."""
    import pickle

    from ..test_secrets import chained, sdk_frame_locals

    def clean(text: str | bytes) -> bool:
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        return KEY_HEAD not in text and KEY_TAIL not in text

    for exc in chained(error):
        assert clean(str(exc)) and clean(repr(exc)) and clean(repr(exc.args)) and clean(repr(vars(exc)))
        assert clean(pickle.dumps(exc))
    for function, name, text in sdk_frame_locals(error):
        assert clean(text), f"{function}() local {name!r} holds the key"


def put_key(source: str, key: str, monkeypatch: pytest.MonkeyPatch, keyring_memory: dict[Any, str]) -> Any:
    """Place ``key`` where ``source`` reads it; returns the explicit argument to pass."""
    if source == "environment":
        monkeypatch.setenv("CLORE_API_KEY", key)
    elif source == "keyring":
        keyring_memory[("clore", "default")] = key
    elif source == "config file":
        credentials.write_config({"api_key": key})
    return key if source == "argument" else None


@pytest.mark.parametrize("source", ["argument", "environment", "keyring", "config file"])
@pytest.mark.parametrize("kind", sorted(ODD_KEYS))
def test_a_key_with_odd_characters_is_one_line_without_the_key(
    source: str, kind: str, monkeypatch: pytest.MonkeyPatch, keyring_memory: dict[Any, str]
) -> None:
    key, position = ODD_KEYS[kind]
    if source == "environment" and kind in ("NUL", "lone surrogate"):
        return  # an environment variable cannot hold these
    explicit = put_key(source, key, monkeypatch, keyring_memory)
    for attempt in (
        lambda: credentials.resolve_api_key(explicit),
        lambda: CloreAI(api_key=explicit).key_source,
    ):
        with pytest.raises(CredentialsError) as caught:
            attempt()
        message = str(caught.value)
        assert f"contains an invisible or non-ASCII character at position {position}" in message
        assert message.startswith("the API key") and "\n" not in message
        assert_no_key(caught.value)


def test_surrounding_whitespace_of_a_pasted_key_is_dropped(
    monkeypatch: pytest.MonkeyPatch, keyring_memory: dict[Any, str]
) -> None:
    monkeypatch.setenv("CLORE_API_KEY", f"  {KEY_HEAD}{KEY_TAIL}\r\n")
    assert credentials.resolve_api_key().secret.reveal() == KEY_HEAD + KEY_TAIL  # type: ignore[union-attr]
    assert CloreAI(api_key=f"\t{KEY_HEAD}{KEY_TAIL}\n").api_key_hint == "****8d2f"
    credentials.store_api_key(f"{KEY_HEAD}{KEY_TAIL}\n", profile="work")
    assert keyring_memory[("clore", "work")] == KEY_HEAD + KEY_TAIL


@pytest.mark.parametrize("kind", sorted(ODD_KEYS))
def test_a_key_with_odd_characters_is_never_stored(kind: str, keyring_memory: dict[Any, str]) -> None:
    key, position = ODD_KEYS[kind]
    with pytest.raises(CredentialsError, match=f"at position {position}") as caught:
        credentials.store_api_key(key)
    assert_no_key(caught.value)
    assert keyring_memory == {} and not credentials.config_path().exists()


@pytest.mark.parametrize("key", [b"sk-bytes-key-1234", 12345678])
def test_a_key_that_is_not_text_is_refused(key: Any) -> None:
    with pytest.raises(CredentialsError, match="must be text"):
        CloreAI(api_key=key)


# ── damaged, unreadable and unwritable config files (issue 12, item 13) ────

DAMAGED = {
    "profiles is text": '{"profiles": "x"}',
    "a profile is text": '{"profiles": {"work": "x"}}',
    "api_key is a number": '{"api_key": 5}',
    "a profile api_key is a list": '{"profiles": {"work": {"api_key": []}}}',
    "a JSON list": "[1, 2]",
    "a JSON string": '"x"',
    "not JSON": "{not json",
    "not UTF-8": b"\xff\xfe{",
    "deeply nested": "[" * 100_000,
    "a 5,000-digit number": "1" * 5000,
}


def write_raw(content: str | bytes) -> Path:
    path = credentials.config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("profile", [None, "work"])
@pytest.mark.parametrize("kind", sorted(DAMAGED))
def test_a_damaged_config_is_one_clear_error_and_left_alone(kind: str, profile: str | None) -> None:
    path = write_raw(DAMAGED[kind])
    before = path.read_bytes()
    for attempt in (
        lambda: credentials.resolve_api_key(profile=profile),
        lambda: CloreAI(profile=profile).key_source,  # looked up when first needed
        lambda: credentials.read_config(),
    ):
        with pytest.raises(CredentialsError) as caught:
            attempt()
        message = str(caught.value)
        assert str(path) in message and "fix or remove it" in message and "\n" not in message
    assert path.read_bytes() == before


def test_a_config_that_is_a_folder_or_unreadable_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    path = credentials.config_path()
    path.mkdir(parents=True)
    with pytest.raises(CredentialsError, match="is a folder") as caught:
        credentials.resolve_api_key()
    assert str(path) in str(caught.value)
    path.rmdir()
    write_raw('{"api_key": "sk-unreadable-1234"}')

    def denied(*args: Any, **kwargs: Any) -> str:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "read_text", denied)
    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(CredentialsError, match="permission denied") as caught:
        CloreAI().key_source  # noqa: B018 - the key is looked up when first needed
    assert str(path) in str(caught.value)


def test_an_unwritable_config_folder_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("CLORE_CONFIG_DIR", str(blocker / "clore"))  # a folder inside a file
    with pytest.raises(CredentialsError, match="CLORE_CONFIG_DIR") as caught:
        credentials.store_api_key("sk-unwritable-1234", use_keyring=False)
    assert str(blocker / "clore" / "config.json") in str(caught.value)
    monkeypatch.delenv("CLORE_CONFIG_DIR")

    def read_only(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(credentials.tempfile, "mkstemp", read_only)
    with pytest.raises(CredentialsError, match="permission denied"):
        credentials.write_config({"theme": "dark"})


def test_without_a_home_directory_the_error_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    with pytest.raises(CredentialsError, match="CLORE_CONFIG_DIR"):
        credentials.resolve_api_key()
    with pytest.raises(CredentialsError, match="HOME"):
        CloreAI().key_source  # noqa: B018 - the key is looked up when first needed
    monkeypatch.setenv("CLORE_API_KEY", "sk-no-home-key-1234")
    assert CloreAI().key_source == "environment"  # the config file is never needed then


def test_a_damaged_config_is_backed_up_before_a_repaired_one_is_written() -> None:
    damaged = '{"profiles": "x", "theme": "dark", "api_key": 5}'
    path = write_raw(damaged)
    credentials.store_api_key("sk-repaired-key-4321", use_keyring=False)
    backups = sorted(path.parent.glob("config.json.bak-*"))
    assert len(backups) == 1 and backups[0].read_text() == damaged
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"api_key": "sk-repaired-key-4321", "theme": "dark"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    credentials.store_api_key("sk-repaired-key-9999", use_keyring=False)  # healthy now: no new backup
    assert len(list(path.parent.glob("config.json.bak-*"))) == 1


def test_a_keyring_store_succeeds_when_the_old_plaintext_copy_cannot_be_removed(
    monkeypatch: pytest.MonkeyPatch, keyring_memory: dict[Any, str], caplog: pytest.LogCaptureFixture
) -> None:
    write_file_key("old-plaintext-key-0000")

    def read_only(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(credentials.tempfile, "mkstemp", read_only)
    assert credentials.store_api_key(SENTINEL).location == "keyring"
    assert "old plain-text copy stays" in caplog.text and SENTINEL not in caplog.text


def test_config_errors_hold_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A damaged file's keys, and a key whose file cannot be written, stay out of the error."""
    write_raw(json.dumps({"api_key": KEY_HEAD + KEY_TAIL, "profiles": "x"}))
    for attempt in (credentials.read_config, credentials.resolve_api_key, lambda: CloreAI().key_source):
        with pytest.raises(CredentialsError) as caught:
            attempt()
        assert_no_key(caught.value)
    credentials.config_path().unlink()

    def read_only(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(credentials.tempfile, "mkstemp", read_only)
    with pytest.raises(CredentialsError, match="cannot write") as caught:
        credentials.store_api_key(KEY_HEAD + KEY_TAIL, use_keyring=False)
    assert_no_key(caught.value)
