"""exec, cp: run a command on an order's server and copy files to and from it (clore_ai.remote)."""

from __future__ import annotations

import contextlib
import re
import shlex
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from .. import hookimpl
from .._cache import completer
from .._main import app_of, output_options
from .._params import MAX_ID, MAX_SECONDS, Number
from ..formats import Column, Dataset
from .orders import ORDER_ID, _find_order, wait_until_running

_REMOTE_SPEC = re.compile(r"^(\d+):(.*)$", re.S)
_MAX_PASSWORD = 256


def login_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """--user, -i/--identity, --password-file, --ask-password and --timeout (shared by exec and cp)."""
    for option in reversed(
        [
            click.option("--user", default="root", show_default=True, help="Login name."),
            click.option(
                "-i",
                "--identity",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Private key file to log in with (default: your ssh agent and ~/.ssh keys).",
            ),
            click.option(
                "--password-file",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Read the ssh password from the first line of this file (keep it 0600).",
            ),
            click.option(
                "--ask-password", is_flag=True, help="Ask for the ssh password (hidden) on the terminal."
            ),
            click.option(
                "--timeout",
                type=Number(0, max=MAX_SECONDS),
                default=600,
                show_default=True,
                help="Seconds to wait for the container to run.",
            ),
        ]
    ):
        function = option(function)
    return function


def read_password(password_file: Path | None, ask: bool) -> str | None:
    if password_file is not None and ask:
        raise click.UsageError("give either --password-file or --ask-password, not both")
    if password_file is not None:
        try:
            with open(password_file, encoding="utf-8") as handle:
                line = handle.readline(_MAX_PASSWORD + 2)
        except OSError as error:
            raise click.BadParameter(
                f"cannot read {password_file}: {error.strerror}", param_hint="--password-file"
            ) from None
        except UnicodeDecodeError:
            raise click.BadParameter(f"{password_file} is not text", param_hint="--password-file") from None
        return line.rstrip("\r\n")
    if ask:
        if not sys.stdin.isatty():
            raise click.UsageError("--ask-password needs a terminal; use --password-file FILE")
        return str(click.prompt("SSH password", hide_input=True, err=True))
    return None


def ssh_target(
    app: Any,
    order_id: int,
    *,
    user: str,
    identity: Path | None,
    password_file: Path | None,
    ask_password: bool,
    timeout: float,
) -> Any:
    """The order's :class:`~clore_ai.remote.SSHTarget`, once its container runs (waits up to ``timeout``)."""
    from clore_ai.remote import RemoteError, SSHTarget

    if identity is not None and not identity.expanduser().is_file():
        raise click.BadParameter(f"{identity}: no such file", param_hint="--identity")
    password = read_password(password_file, ask_password)
    found = _find_order(app, order_id)
    if found.status == "expired":
        raise click.ClickException(f"order {order_id} has ended")
    if found.status != "running" and timeout > 0:
        found = wait_until_running(app, order_id, timeout)
    refuse_sandbox_order_without_ssh(app, found)
    try:
        target = SSHTarget.from_order(found, password=password, key_file=identity)
    except RemoteError as error:
        raise click.ClickException(str(error)) from None
    return SSHTarget(target.host, target.port, user, password, target.key_file)


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def refuse_sandbox_order_without_ssh(app: Any, order: Any) -> None:
    """The sandbox's sample orders point at made-up hosts: say so instead of resolving them."""
    if app.sandbox and order.ssh_host and str(order.ssh_host) not in _LOOPBACK:
        raise click.ClickException(
            f"order {order.id} is one of the sandbox's sample orders and has no SSH server; "
            "deploy one with --ssh-password - (or --ssh-key) to try exec, cp and ssh"
        )


@contextlib.contextmanager
def connected(target: Any) -> Iterator[Any]:
    """A connected :class:`~clore_ai.remote.Remote`; a refused login says which options log in."""
    from clore_ai.remote import Remote, RemoteError

    remote = Remote(target)
    try:
        try:
            remote.__enter__()
        except RemoteError as error:
            if "refused the login" in str(error) and target.password is None:
                raise RemoteError(
                    f"{error}; give the password with --password-file FILE or --ask-password, "
                    "or a key with -i FILE"
                ) from None
            raise
        yield remote
    finally:
        remote.close()


def _command_line(words: tuple[str, ...]) -> str:
    """One word is a shell command line as typed; several are quoted so each stays one word."""
    return words[0] if len(words) == 1 else shlex.join(words)


@click.command("exec")
@click.argument("order_id", type=ORDER_ID, shell_complete=completer("orders"))
@login_options
@click.option("-n", "--no-stdin", is_flag=True, help="Do not send this command's stdin (like ssh -n).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@output_options
@click.pass_context
def exec_command(
    ctx: click.Context,
    order_id: int,
    user: str,
    identity: Path | None,
    password_file: Path | None,
    ask_password: bool,
    timeout: float,
    no_stdin: bool,
    command: tuple[str, ...],
) -> None:
    """Run a command on an order's server over SSH: `clore exec ID -- CMD ARGS...`.

    Its output streams here (stdout to stdout, stderr to stderr) and clore exits with its exit
    status. One argument is run as a shell command line (`clore exec 5 'cd job && make'`);
    several are quoted word by word. stdin is sent when it is not a terminal (unless -n; never
    in clore shell). With -o json the output is collected into one record (exit_code, stdout,
    stderr). Exit 255 when the connection or login fails.
    """
    app = app_of(ctx)
    target = ssh_target(
        app,
        order_id,
        user=user,
        identity=identity,
        password_file=password_file,
        ask_password=ask_password,
        timeout=timeout,
    )
    # In `clore shell` stdin is the shell's own input: never sent.
    quiet_stdin = no_stdin or app.in_shell or sys.stdin is None or sys.stdin.isatty()
    stdin = None if quiet_stdin else sys.stdin.buffer.read()
    line = _command_line(command)
    if app.output not in (None, "table"):  # -o json/csv: one record after the command ends
        captured: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
        with connected(target) as remote:
            status = remote.exec(
                line, stdout=captured["stdout"].append, stderr=captured["stderr"].append, stdin=stdin
            )
        text = {name: b"".join(chunks).decode("utf-8", "replace") for name, chunks in captured.items()}
        app.emit(
            Dataset(
                f"exec on order {order_id}",
                [Column("exit_code", "Exit code"), Column("stdout", "stdout"), Column("stderr", "stderr")],
                [{"order_id": order_id, "command": line, "exit_code": status, **text}],
                id_key="order_id",
            )
        )
        ctx.exit(status)
    with connected(target) as remote:
        status = remote.exec(line, stdout=_writer(sys.stdout), stderr=_writer(sys.stderr), stdin=stdin)
    ctx.exit(status)


def _writer(stream: Any) -> Callable[[bytes], None]:
    def write(chunk: bytes) -> None:
        stream.buffer.write(chunk)
        stream.flush()

    return write


def _split(spec: str) -> tuple[int | None, str]:
    match = _REMOTE_SPEC.match(spec)
    if match is None:
        return None, spec
    order_id = int(match.group(1))
    if not 1 <= order_id <= MAX_ID:
        raise click.BadParameter(f"{order_id} is not an order id", param_hint="SOURCE/DESTINATION")
    return order_id, match.group(2) or "."


COPY_RECORD = [
    Column("order_id", "Order"),
    Column("direction", "Direction"),
    Column("source", "From"),
    Column("destination", "To"),
    Column("bytes", "Bytes", "right"),
    Column("bytes_sent", "Sent", "right"),
    Column("files", "Files", "right"),
    Column("files_copied", "Copied", "right"),
    Column("files_unchanged", "Unchanged", "right"),
]


@click.command("cp")
@click.argument("source")
@click.argument("destination")
@login_options
@output_options
@click.pass_context
def copy(
    ctx: click.Context,
    source: str,
    destination: str,
    user: str,
    identity: Path | None,
    password_file: Path | None,
    ask_password: bool,
    timeout: float,
) -> None:
    """Copy files or directories (recursively) to or from an order: `clore cp ./work 42:job`.

    Write the order's side as ID:PATH (relative to the login directory; ~/ works). The
    destination is the copy itself (cp -r into a new name; a file onto an existing directory
    goes inside it). Safe to re-run: each file is written under a temporary name and renamed,
    and files whose size and modification time match are skipped.
    """
    app = app_of(ctx)
    source_order, source_path = _split(source)
    target_order, target_path = _split(destination)
    if source_order is None and target_order is None:
        raise click.UsageError(
            "both SOURCE and DESTINATION are local paths; write the order's side as ID:PATH (e.g. 42:job)"
        )
    if source_order is not None and target_order is not None:
        raise click.UsageError(
            "copying from one order to another is not supported; copy to this machine first"
        )
    if source_order is None and not Path(source_path).expanduser().exists():
        raise click.UsageError(f"cannot copy {source_path}: no such file or directory")
    order_id = source_order if source_order is not None else target_order
    assert order_id is not None
    ssh = ssh_target(
        app,
        order_id,
        user=user,
        identity=identity,
        password_file=password_file,
        ask_password=ask_password,
        timeout=timeout,
    )
    with _progress_bar(f"{source} → {destination}") as progress, connected(ssh) as remote:
        if target_order is not None:
            done = remote.upload(source_path, target_path, progress=progress)
        else:
            done = remote.download(source_path, target_path, progress=progress)
    row = {
        "order_id": order_id,
        "direction": "upload" if target_order is not None else "download",
        "source": source,
        "destination": destination,
        "bytes": done.total_bytes,
        "bytes_sent": done.bytes_sent,
        "files": done.files,
        "files_copied": done.copied,
        "files_unchanged": done.skipped,
    }
    if app.output in (None, "table") and not app.quiet:
        click.echo(_copy_line(source, destination, done))
        return
    app.emit(Dataset("Copy", COPY_RECORD, [row], id_key="order_id", vertical=True))


def _copy_line(source: str, destination: str, done: Any) -> str:
    """What a person needs to know of a copy: what moved, and what was already there."""
    files = f"{done.files} file{'s' if done.files != 1 else ''}"
    if done.files and done.nothing_sent:
        return f"Nothing to copy: {destination} already matches {source} ({files}, {_size(done.total_bytes)})"
    line = f"Copied {source} to {destination} ({_size(done.bytes_sent)}"
    if done.skipped:
        line += f"; {done.skipped} of {files} unchanged, not sent"
    return line + ")"


def _size(count: int) -> str:
    size = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{count} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{count} bytes"  # pragma: no cover


class _Progress:
    """A ``progress(done, total)`` callback: a rich bar on stderr when it is a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.total = 0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=None)
        return self

    def __call__(self, done: int, total: int) -> None:
        self.total = total
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def _progress_bar(label: str) -> _Progress:
    return _Progress(label)


@hookimpl
def clore_register_commands(cli: Any) -> None:
    for command in (exec_command, copy):
        cli.add_command(command)
