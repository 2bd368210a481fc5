"""What a job needs from an SSH connection (``clore_ai.remote.Remote`` provides it), and where
the ssh password or key of a job comes from."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from ..exceptions import RemoteError
from ._journal import PASSWORD_NOT_KEPT

if TYPE_CHECKING:
    from types import TracebackType

    from ..models import Order

__all__ = ["RemoteFactory", "RemoteLike", "SSHAuth", "remote_errors", "ssh_remote"]

KEYRING_SERVICE = "clore-job-ssh"


class RemoteLike(Protocol):
    """A connection to the order's container (the interface of ``clore_ai.remote.Remote``)."""

    def exec(
        self,
        command: str,
        *,
        stdout: Callable[[bytes], None] | None = None,
        stderr: Callable[[bytes], None] | None = None,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> int: ...

    def upload(
        self, local: str | Path, remote: str, *, progress: Callable[[int, int], None] | None = None
    ) -> object: ...

    def download(
        self, remote: str, local: str | Path, *, progress: Callable[[int, int], None] | None = None
    ) -> object: ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> Any: ...


@dataclass(frozen=True)
class SSHAuth:
    """How to log in to a job's container. ``source`` (kept in the journal) says where the
    secret comes from; the password itself is never shown (``repr`` hides it)."""

    source: str
    password: str | None = field(default=None, repr=False)
    key_file: Path | None = None
    public_key: str | None = field(default=None, repr=False)


RemoteFactory = Callable[["Order", SSHAuth], RemoteLike]


def ssh_remote(order: Order, auth: SSHAuth) -> RemoteLike:
    """The real connection: ``clore_ai.remote.Remote`` to the order's SSH port."""
    from ..remote import Remote, SSHTarget

    target = SSHTarget.from_order(order, password=auth.password, key_file=auth.key_file)
    return Remote(target)


def remote_errors() -> tuple[type[Exception], ...]:
    """What a lost or refused connection raises (the job reconnects on these)."""
    return (RemoteError, OSError, EOFError, TimeoutError)


def generated_password() -> str:
    """24 letters and digits (the API takes at most 32 alphanumerics)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(24))


def auth_for_new_job(
    job_id: str, *, password: str | None, password_source: str, key_file: str | Path | None
) -> SSHAuth:
    """A key file wins (its ``.pub`` is sent with the order), then a given password, then a
    password generated for this job and kept in the OS keyring when there is one."""
    if key_file is not None:
        private = Path(key_file).expanduser().resolve()
        public = Path(str(private) + ".pub")
        try:
            public_key = public.read_text(encoding="utf-8").strip()
        except OSError:
            from ..exceptions import InvalidInputError

            raise InvalidInputError(
                f"cannot read the public key {public} (beside the key file)", code=2
            ) from None
        return SSHAuth(source=f"key {private}", key_file=private, public_key=public_key)
    if password is not None:
        return SSHAuth(source=password_source, password=password)
    secret = generated_password()
    kept = _keyring_put(job_id, secret)
    return SSHAuth(source="keyring" if kept else PASSWORD_NOT_KEPT, password=secret)


def auth_for_attach(job_id: str, source: str | None, password: str | None) -> SSHAuth | None:
    """How to log in again to a job started earlier; None when there is no way (then
    :func:`no_login_reason` says why)."""
    if source and source.startswith("key ") and Path(source[4:]).is_file():
        return SSHAuth(source=source, key_file=Path(source[4:]))
    if password is not None:
        return SSHAuth(source="given", password=password)
    if source == "keyring":
        kept = _keyring_get(job_id)
        if kept:
            return SSHAuth(source=source, password=kept)
    return None


def no_login_reason(job_id: str, source: str | None, order_id: int | None) -> str:
    """Why :func:`auth_for_attach` found no login for a job, and what gets one, by where the
    job's login came from (the journal's ``ssh_auth``)."""
    bills = f"its order still bills: stop it with `clore cancel {order_id}`"
    if source and source.startswith("env "):
        name = source[4:]
        return (
            f"no ssh password for job {job_id}: it was started with the password in {name}, which is "
            f"not set now; set {name} again (or give --password-file FILE) to read its log"
        )
    if source and source.startswith("key "):
        return (
            f"no ssh login for job {job_id}: it was started with the key {source[4:]}, which is not "
            f"there now; put it back to read its log (else {bills})"
        )
    if source == "keyring":
        return (
            f"no ssh password for job {job_id}: the password generated for it was kept in the OS "
            "keyring, which does not have it now (no keyring here, or it was removed); give it with "
            f"CLORE_SSH_PASSWORD or --password-file FILE if you have it, else its log cannot be read "
            f"again and {bills}"
        )
    if source == PASSWORD_NOT_KEPT:
        return (
            f"no ssh password for job {job_id}: it was generated for the job and not kept "
            f"(no OS keyring), so its log cannot be read again; {bills} (set CLORE_SSH_PASSWORD "
            "before `clore run` to re-attach later)"
        )
    how = f" ({source})" if source else ""
    return (
        f"no ssh password for job {job_id}: it was started with a password given to it{how}, which "
        "is never kept; give the same one with CLORE_SSH_PASSWORD or --password-file FILE to read its log"
    )


def forget_password(job_id: str, source: str | None) -> None:
    if source == "keyring":
        _keyring_call(lambda keyring: keyring.delete_password(KEYRING_SERVICE, job_id))


def _keyring_call(action: Callable[[Any], Any]) -> Any:
    from ..credentials import _in_thread, _keyring_module

    try:
        return _in_thread(lambda: action(_keyring_module()), 3.0)
    except Exception:  # noqa: BLE001 - no keyring (or a failing one) means "not kept"
        return None


def _keyring_put(job_id: str, secret: str) -> bool:
    def put(keyring: Any) -> bool:
        keyring.set_password(KEYRING_SERVICE, job_id, secret)
        return bool(keyring.get_password(KEYRING_SERVICE, job_id) == secret)

    return bool(_keyring_call(put))


def _keyring_get(job_id: str) -> str | None:
    value = _keyring_call(lambda keyring: keyring.get_password(KEYRING_SERVICE, job_id))
    return value if isinstance(value, str) and value else None
