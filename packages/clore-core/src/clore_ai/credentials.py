"""Where the API key comes from, and where it is kept.

Resolution order: explicit argument → ``CLORE_API_KEY`` → OS keyring (service ``clore``,
one entry per profile) → ``~/.clore/config.json`` (``api_key`` for the default profile,
``profiles.<name>.api_key`` for others).

``keyring`` is imported only when the first two give nothing, and every keyring call runs
in a worker thread with a time limit, so a hanging D-Bus backend cannot hang the program.
When no keyring backend works, keys are stored in the config file, written atomically with
mode 0600, and the result says so. A key is never shown whole: :func:`mask` shows its last 4
characters.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from ._secret import Secret, mask
from .exceptions import CredentialsError, KeyringUnavailableError

__all__ = [
    "DEFAULT_PROFILE",
    "KEYRING_SERVICE",
    "ResolvedKey",
    "StoredKey",
    "config_dir",
    "config_path",
    "current_profile",
    "delete_api_key",
    "mask",
    "read_config",
    "resolve_api_key",
    "store_api_key",
    "write_config",
]

KEYRING_SERVICE = "clore"
DEFAULT_PROFILE = "default"
KEYRING_TIMEOUT = 3.0
ENV_KEY = "CLORE_API_KEY"

T = TypeVar("T")
log = logging.getLogger("clore_ai")


@dataclass(frozen=True)
class ResolvedKey:
    """A key and where it was found. ``repr`` shows only the mask."""

    secret: Secret
    source: str  # "argument", "environment", "keyring" or "config file"
    profile: str

    @property
    def masked(self) -> str:
        return mask(self.secret.reveal())

    def describe(self) -> str:
        return f"{self.masked} (from {self.source}, profile {self.profile})"


@dataclass(frozen=True)
class StoredKey:
    """Where :func:`store_api_key` put a key; ``warning`` explains a fallback."""

    location: str  # "keyring" or "config file"
    path: Path | None = None
    warning: str | None = None


def current_profile(profile: str | None = None) -> str:
    return profile or os.environ.get("CLORE_PROFILE") or DEFAULT_PROFILE


def config_dir() -> Path:
    override = os.environ.get("CLORE_CONFIG_DIR")
    return Path(override) if override else Path.home() / ".clore"


def config_path() -> Path:
    return config_dir() / "config.json"


# ── the config file ────────────────────────────────────────────────────────


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The config file as a dict ({} if absent). A corrupt file is an error, never a reset."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CredentialsError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise CredentialsError(f"{path} is not valid JSON (line {exc.lineno}); fix or remove it") from None
    if not isinstance(data, dict):
        raise CredentialsError(f"{path} must hold a JSON object; fix or remove it")
    return data


def write_config(data: dict[str, Any], path: Path | None = None) -> Path:
    """Write atomically (temp file + rename) with mode 0600 in a 0700 directory."""
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=str(path.parent))
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _file_key(data: dict[str, Any], profile: str) -> str | None:
    if profile == DEFAULT_PROFILE:
        value = data.get("api_key")
    else:
        value = ((data.get("profiles") or {}).get(profile) or {}).get("api_key")
    return value if isinstance(value, str) and value else None


def _set_file_key(data: dict[str, Any], profile: str, key: str | None) -> None:
    target = data if profile == DEFAULT_PROFILE else data.setdefault("profiles", {}).setdefault(profile, {})
    if key is None:
        target.pop("api_key", None)
    else:
        target["api_key"] = key


# ── the keyring, time-limited ──────────────────────────────────────────────


class _KeyringUnavailable(Exception):
    pass


def _in_thread(fn: Callable[[], T], timeout: float | None) -> T:
    timeout = KEYRING_TIMEOUT if timeout is None else timeout
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the caller below
            box["error"] = exc

    worker = threading.Thread(target=run, name="clore-keyring", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise _KeyringUnavailable(f"the keyring did not answer within {timeout:g} s")
    if "error" in box:
        error = box["error"]
        if isinstance(error, _KeyringUnavailable):
            raise error
        raise _KeyringUnavailable(f"the keyring failed: {type(error).__name__}")
    return box["value"]  # type: ignore[no-any-return]


def _keyring_module() -> Any:
    try:
        import keyring
    except Exception as exc:  # noqa: BLE001 - any import failure means "no keyring"
        raise _KeyringUnavailable(f"keyring cannot be imported ({type(exc).__name__})") from None
    backend = keyring.get_keyring()
    name = f"{type(backend).__module__}.{type(backend).__name__}"
    if name.startswith(("keyring.backends.fail", "keyring.backends.null")):
        raise _KeyringUnavailable("no keyring backend is available")
    return keyring


def _keyring_get(profile: str, timeout: float | None) -> str | None:
    def get() -> Any:
        return _keyring_module().get_password(KEYRING_SERVICE, profile)

    value = _in_thread(get, timeout)
    return value if isinstance(value, str) and value else None


def _keyring_set(profile: str, key: str, timeout: float | None) -> None:
    def put() -> bool:
        module = _keyring_module()
        module.set_password(KEYRING_SERVICE, profile, key)
        return bool(module.get_password(KEYRING_SERVICE, profile) == key)

    if not _in_thread(put, timeout):
        raise _KeyringUnavailable("the keyring did not return the stored key")


def _keyring_delete(profile: str, timeout: float | None) -> bool:
    def delete() -> bool:
        module = _keyring_module()
        if module.get_password(KEYRING_SERVICE, profile) is None:
            return False
        module.delete_password(KEYRING_SERVICE, profile)
        return True

    return _in_thread(delete, timeout)


# ── public API ─────────────────────────────────────────────────────────────


def resolve_api_key(
    explicit: str | None = None,
    *,
    profile: str | None = None,
    use_keyring: bool = True,
    keyring_timeout: float | None = None,
) -> ResolvedKey | None:
    """Find the key for ``profile``; None when there is none anywhere."""
    name = current_profile(profile)
    if explicit:
        return ResolvedKey(Secret(explicit), "argument", name)
    env = os.environ.get(ENV_KEY)
    if env:
        return ResolvedKey(Secret(env), "environment", name)
    if use_keyring:
        try:
            value = _keyring_get(name, keyring_timeout)
        except _KeyringUnavailable:
            value = None
        if value:
            return ResolvedKey(Secret(value), "keyring", name)
    from_file = _file_key(read_config(), name)
    if from_file:
        _check_private(config_path())
        return ResolvedKey(Secret(from_file), "config file", name)
    return None


def _check_private(path: Path) -> None:
    """Refuse a key file others can read or that is a symlink; warn when the group can read it."""
    try:
        info = os.lstat(path)
    except OSError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise CredentialsError(f"{path} is a symbolic link; an API key is read only from a regular file")
    if info.st_mode & stat.S_IROTH:
        raise CredentialsError(
            f"{path} holds an API key and is readable by other users; run: chmod 600 {path}"
        )
    if info.st_mode & stat.S_IRGRP:
        log.warning("%s holds an API key and is readable by your group; run: chmod 600 %s", path, path)


def store_api_key(
    key: str,
    *,
    profile: str | None = None,
    allow_file: bool = True,
    use_keyring: bool = True,
    keyring_timeout: float | None = None,
) -> StoredKey:
    """Keep ``key`` for ``profile``: in the keyring if one works, else in the config file.

    The keyring is trusted only when reading the key back returns it. With
    ``allow_file=False`` a keyring failure raises :class:`KeyringUnavailableError` and
    nothing is written anywhere.
    """
    if not key or not key.strip() or any(c.isspace() for c in key):
        raise CredentialsError("an API key must be non-empty and contain no spaces")
    name = current_profile(profile)
    reason = "the keyring is disabled"
    if use_keyring:
        try:
            _keyring_set(name, key, keyring_timeout)
        except _KeyringUnavailable as exc:
            reason = str(exc)
        else:
            _drop_plaintext_copy(name)
            return StoredKey("keyring")
    if not allow_file:
        raise KeyringUnavailableError(reason)
    data = read_config()
    _set_file_key(data, name, key)
    path = write_config(data)
    return StoredKey(
        "config file",
        path,
        warning=f"{reason}; the key was stored in {path} (mode 0600) instead",
    )


def _drop_plaintext_copy(profile: str) -> None:
    try:
        data = read_config()
    except CredentialsError:
        return
    if _file_key(data, profile):
        _set_file_key(data, profile, None)
        write_config(data)


def delete_api_key(
    *, profile: str | None = None, use_keyring: bool = True, keyring_timeout: float | None = None
) -> list[str]:
    """Forget the key of ``profile`` everywhere it is stored; returns where it was."""
    name = current_profile(profile)
    removed: list[str] = []
    if use_keyring:
        try:
            if _keyring_delete(name, keyring_timeout):
                removed.append("keyring")
        except _KeyringUnavailable:
            pass
    data = read_config()
    if _file_key(data, name):
        _set_file_key(data, name, None)
        write_config(data)
        removed.append("config file")
    return removed
