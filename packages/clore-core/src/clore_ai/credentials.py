"""Where the API key comes from, and where it is kept.

Resolution order: explicit argument → ``CLORE_API_KEY`` → OS keyring (service ``clore``,
one entry per profile) → ``~/.clore/config.json`` (``api_key`` for the default profile,
``profiles.<name>.api_key`` for others). A profile other than the default, named by the caller
(``profile=``, ``--profile``, ``CLORE_PROFILE``), means that profile's stored key:
``CLORE_API_KEY`` is then not used, so a key exported for another account cannot silently
take its place.

``keyring`` is imported only when the first two give nothing, and every keyring call runs
in a worker thread with a time limit, so a hanging D-Bus backend cannot hang the program.
When no keyring backend works, keys are stored in the config file, written atomically with
mode 0600, and the result says so. A key is never shown whole: :func:`mask` shows its last 4
characters.

A key is checked wherever it comes from: whitespace around it (a pasted newline) is dropped;
any other character that is not printable ASCII (a zero-width space, a line break, a letter
with an accent) raises :class:`CredentialsError` naming its position, never the key. A config
file that cannot be read, is not a JSON object, or has the wrong shape raises one
:class:`CredentialsError` naming the file and what to do; before a damaged file is replaced,
it is kept as ``config.json.bak-<UTC time>`` (mode 0600).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
import threading
import time
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
    "api_key_problem",
    "config_dir",
    "config_path",
    "current_profile",
    "delete_api_key",
    "mask",
    "read_config",
    "read_config_for_update",
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
    if override:
        return Path(override)
    try:
        return Path.home() / ".clore"
    except (RuntimeError, KeyError, OSError):
        pass
    raise CredentialsError(
        "cannot find your home directory for ~/.clore/config.json; set HOME, or CLORE_CONFIG_DIR "
        "to a private folder (or CLORE_API_KEY)"
    )


def api_key_problem(value: object, where: str = "") -> str | None:
    """Why ``value`` cannot be an API key, in one line without the key; None when it can.

    Whitespace around the key is ignored (it is dropped when the key is used); positions
    count from 1 after it. ``where`` names the source (" in CLORE_API_KEY").
    """
    if not isinstance(value, str):
        return f"the API key{where} must be text, not {type(value).__name__}"
    text = value.strip()
    if not text:
        return f"the API key{where} is empty"
    for index, char in enumerate(text, start=1):
        if char == " ":
            return f"the API key{where} contains a space at position {index}; copy it again"
        if not "!" <= char <= "~":
            return (
                f"the API key{where} contains an invisible or non-ASCII character at position {index}; "
                "copy it again"
            )
    return None


def config_path() -> Path:
    return config_dir() / "config.json"


# ── the config file ────────────────────────────────────────────────────────


class _Damaged(CredentialsError):
    """A config file that was read but has the wrong content (repairable, with a backup)."""


def _load(path: Path) -> tuple[Any, str | None]:
    """(parsed JSON, None) or (None, why it is not usable). Raises for an unreadable file."""
    problem: str | None = None
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, None
    except IsADirectoryError:
        problem = f"{path} is a folder, not a file; move it away (the config is a JSON file)"
    except PermissionError:
        problem = f"cannot read {path}: permission denied; give it to your user with mode 0600"
    except OSError as exc:
        problem = (
            f"cannot read {path}: {exc.strerror or type(exc).__name__}; check it or set CLORE_CONFIG_DIR"
        )
    if problem is not None:
        raise CredentialsError(problem)
    try:
        text = raw.decode("utf-8")
        return (json.loads(text) if text.strip() else {}), None
    except json.JSONDecodeError as exc:
        problem = f"it is not valid JSON (line {exc.lineno})"
    except UnicodeDecodeError:
        problem = "it is not UTF-8 text"
    except (ValueError, RecursionError):
        problem = "it is not valid JSON (too deep or a number too long)"
    return None, problem


# Top-level settings that are text when present (a list or a number there is damage, not
# a missing key).
_TEXT_SETTINGS = ("default_profile", "output")


def _shape_problem(data: Any) -> str | None:
    """What is wrong with the structure of parsed config data, or None."""
    if not isinstance(data, dict):
        return "it must hold a JSON object"
    if "api_key" in data and not isinstance(data["api_key"], str):
        return '"api_key" must be text'
    for setting in _TEXT_SETTINGS:
        if setting in data and not isinstance(data[setting], str):
            return f'"{setting}" must be text'
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        return '"profiles" must be an object of profiles'
    for name, profile in profiles.items():
        if not isinstance(profile, dict):
            return f'profile "{name}" must be an object'
        if "api_key" in profile and not isinstance(profile["api_key"], str):
            return f'"api_key" of profile "{name}" must be text'
    return None


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The config file as a dict ({} if absent). A corrupt file is an error, never a reset.

    Every problem (unreadable, a folder, not JSON, not an object, ``profiles`` or an
    ``api_key`` of the wrong type) raises one :class:`CredentialsError` naming the file.
    """
    path = path or config_path()
    data, problem = _load(path)
    problem = problem or _shape_problem(data)
    if problem is not None:
        del data  # it may hold keys: not in this frame's locals when the error leaves
        raise _Damaged(f"{path} is damaged: {problem}; fix or remove it")
    return data  # type: ignore[no-any-return]


def _repair(data: Any) -> dict[str, Any]:
    """What can be kept of damaged config data: wrongly typed entries are dropped."""
    if not isinstance(data, dict):
        return {}
    kept = dict(data)
    for setting in ("api_key", *_TEXT_SETTINGS):
        if not isinstance(kept.get(setting, ""), str):
            del kept[setting]
    profiles = kept.get("profiles", {})
    if not isinstance(profiles, dict):
        del kept["profiles"]
    else:
        kept["profiles"] = {
            name: {k: v for k, v in profile.items() if k != "api_key" or isinstance(v, str)}
            for name, profile in profiles.items()
            if isinstance(profile, dict)
        }
    return kept


def read_config_for_update(path: Path | None = None) -> dict[str, Any]:
    """The config to change and write back. A damaged file is first copied to
    ``config.json.bak-<UTC time>`` (mode 0600), and what can be kept of it is returned."""
    path = path or config_path()
    try:
        return read_config(path)
    except _Damaged as error:
        problem = error.message
    data, _ = _load(path)
    backup = _backup(path)
    log.warning("%s; it was saved as %s and a repaired file will be written", problem, backup)
    return _repair(data)


def _backup(path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    content = path.read_bytes()
    for n in range(100):
        backup = path.with_name(f"{path.name}.bak-{stamp}" + (f"-{n}" if n else ""))
        try:
            fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            problem = f"cannot back up the damaged {path}: {exc.strerror}; fix or remove it"
            del content
            break
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        return backup
    else:
        problem = f"cannot back up the damaged {path}: too many backups; remove old ones"
        del content
    raise CredentialsError(problem)


def write_config(data: dict[str, Any], path: Path | None = None) -> Path:
    """Write atomically (temp file + rename) with mode 0600 in a 0700 directory."""
    path = path or config_path()
    problem: str | None = None
    try:
        _write_atomically(data, path)
    except PermissionError:
        problem = "permission denied"
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
    if problem is not None:
        raise CredentialsError(
            f"cannot write {path}: {problem}; make {path.parent} a folder you can write, "
            "or set CLORE_CONFIG_DIR to one"
        )
    return path


def _write_atomically(data: dict[str, Any], path: Path) -> None:
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


def _file_key(data: dict[str, Any], profile: str) -> str | None:
    """The default profile's key is the top-level ``api_key``; one written by hand under
    ``profiles.default`` is read too (so a key with an odd character there is named, not
    reported as missing)."""
    value = (data.get("profiles", {}).get(profile) or {}).get("api_key")
    if profile == DEFAULT_PROFILE and data.get("api_key"):
        value = data.get("api_key")
    return value if isinstance(value, str) and value else None


def _set_file_key(data: dict[str, Any], profile: str, key: str | None) -> None:
    target = data if profile == DEFAULT_PROFILE else data.setdefault("profiles", {}).setdefault(profile, {})
    if key is None:
        target.pop("api_key", None)
    else:
        target["api_key"] = key
    if profile == DEFAULT_PROFILE:  # the default's key lives at the top level only
        by_hand = data.get("profiles", {}).get(DEFAULT_PROFILE)
        if isinstance(by_hand, dict):
            by_hand.pop("api_key", None)


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


def environment_key_applies(profile: str | None = None) -> bool:
    """Whether ``CLORE_API_KEY`` is the key for ``profile`` (None: ``CLORE_PROFILE``, else the
    default): it is the default profile's key; a profile named otherwise means its stored key."""
    return current_profile(profile) == DEFAULT_PROFILE


def resolve_api_key(
    explicit: str | None = None,
    *,
    profile: str | None = None,
    use_keyring: bool = True,
    keyring_timeout: float | None = None,
) -> ResolvedKey | None:
    """Find the key for ``profile``; None when there is none anywhere.

    A key with characters that cannot be part of one raises :class:`CredentialsError`; the
    error, its traceback's frames and its chain hold no copy of the key.
    """
    failure: CredentialsError | None = None
    try:
        return _resolve(explicit, current_profile(profile), use_keyring, keyring_timeout)
    except CredentialsError as error:
        failure = error
    del explicit  # not in this frame's locals when the error leaves
    raise failure.with_traceback(None)


def _checked(value: str, source: str, profile: str, where: str) -> ResolvedKey:
    problem = api_key_problem(value, where)
    if problem is not None:
        del value
        raise CredentialsError(problem)
    return ResolvedKey(Secret(value.strip()), source, profile)


def _resolve(
    explicit: str | None, name: str, use_keyring: bool, keyring_timeout: float | None
) -> ResolvedKey | None:
    if explicit is not None and not (isinstance(explicit, str) and not explicit):
        return _checked(explicit, "argument", name, "")
    env = os.environ.get(ENV_KEY)
    if env and environment_key_applies(name):
        return _checked(env, "environment", name, f" in {ENV_KEY}")
    if use_keyring:
        try:
            value = _keyring_get(name, keyring_timeout)
        except _KeyringUnavailable:
            value = None
        if value:
            return _checked(value, "keyring", name, f" in the keyring (profile {name})")
    path = config_path()
    from_file = _file_key(read_config(path), name)
    if from_file:
        _check_private(path)
        return _checked(from_file, "config file", name, f" in {path}")
    return None


def stored_api_key(profile: str, *, keyring_timeout: float | None = None) -> ResolvedKey | None:
    """The key stored for ``profile`` (keyring first, then the config file); ``CLORE_API_KEY`` is
    not looked at. None when neither holds one."""
    try:
        value = _keyring_get(profile, keyring_timeout)
    except _KeyringUnavailable:
        value = None
    if value:
        return _checked(value, "keyring", profile, f" in the keyring (profile {profile})")
    path = config_path()
    from_file = _file_key(read_config(path), profile)
    if from_file:
        _check_private(path)
        return _checked(from_file, "config file", profile, f" in {path}")
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
    problem = api_key_problem(key)
    if problem is not None:
        del key  # not in this frame's locals when the error leaves
        raise CredentialsError(problem)
    failure: CredentialsError | None = None
    try:
        return _store(key.strip(), current_profile(profile), allow_file, use_keyring, keyring_timeout)
    except CredentialsError as error:
        failure = error
    del key  # not in this frame's locals when the error leaves
    raise failure.with_traceback(None)


def _store(
    key: str, name: str, allow_file: bool, use_keyring: bool, keyring_timeout: float | None
) -> StoredKey:
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
    data = read_config_for_update()
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
        try:
            write_config(data)
        except CredentialsError as error:  # the key is safely in the keyring already
            log.warning("the key is in the keyring, but its old plain-text copy stays: %s", error)


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
