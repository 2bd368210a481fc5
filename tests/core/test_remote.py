"""clore_ai.remote against the sandbox's real SSH endpoint on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from clore_ai.remote import AsyncRemote, Remote, RemoteError, SSHTarget

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def run(target: SSHTarget, command: str, **kwargs: Any) -> tuple[int, bytes, bytes]:
    out: list[bytes] = []
    err: list[bytes] = []
    with Remote(target) as remote:
        status = remote.exec(command, stdout=out.append, stderr=err.append, **kwargs)
    return status, b"".join(out), b"".join(err)


@pytest.mark.parametrize(("command", "status"), [("true", 0), ("exit 3", 3), ("no-such-command-here", 127)])
def test_exec_returns_the_exit_status(ssh_order: Any, command: str, status: int) -> None:
    assert run(ssh_order.target, command)[0] == status


def test_exec_keeps_stdout_and_stderr_apart_and_feeds_stdin(ssh_order: Any) -> None:
    status, out, err = run(ssh_order.target, "echo to-out; echo to-err >&2; tr a-z A-Z", stdin=b"piped\n")
    assert (status, out, err) == (0, b"to-out\nPIPED\n", b"to-err\n")


def test_exec_streams_output_as_it_arrives(ssh_order: Any) -> None:
    """The first chunk reaches the callback while the command still runs."""
    seen: list[tuple[float, bytes]] = []
    with Remote(ssh_order.target) as remote:
        started = time.monotonic()
        remote.exec("echo first; sleep 1; echo second", stdout=lambda b: seen.append((time.monotonic(), b)))
    assert b"".join(b for _, b in seen) == b"first\nsecond\n"
    assert seen[0][0] - started < 0.9 and seen[0][1] == b"first\n"


def test_commands_run_in_the_container_directory(ssh_order: Any) -> None:
    status, out, _ = run(ssh_order.target, 'pwd; echo "$HOME"; echo made > here.txt')
    home = str(ssh_order.home)
    assert status == 0 and out.decode().split() == [os.path.realpath(home), home]
    assert (ssh_order.home / "here.txt").read_text() == "made\n"


def test_key_login_works_and_a_wrong_password_is_refused_without_showing_it(ssh_order: Any) -> None:
    assert run(ssh_order.key_target, "exit 0")[0] == 0
    wrong = SSHTarget(ssh_order.target.host, ssh_order.target.port, password="Wrong-Secret-99")
    with pytest.raises(RemoteError) as caught:
        run(wrong, "true")
    message = str(caught.value)
    assert "refused the login" in message and str(wrong.port) in message
    assert not [t for t in threading.enumerate() if t.name == "clore-remote"]  # nothing left running
    assert "Wrong-Secret-99" not in message and "Wrong-Secret-99" not in repr(wrong)


def test_from_order_needs_an_ssh_port(ssh_order: Any) -> None:
    target = SSHTarget.from_order(ssh_order.order, password="x")
    assert (target.host, target.username) == ("127.0.0.1", "root")
    no_port = ssh_order.order.model_copy(update={"tcp_ports": None})
    with pytest.raises(RemoteError, match="no SSH port"):
        SSHTarget.from_order(no_port)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_copy_a_tree_up_and_back_and_again(ssh_order: Any, tmp_path: Path) -> None:
    source = tmp_path / "work"
    (source / "data" / "deep").mkdir(parents=True)
    (source / "run.sh").write_text("echo hi\n")
    (source / "data" / "blob.bin").write_bytes(os.urandom(300_000))
    (source / "data" / "deep" / "empty.txt").write_bytes(b"")
    progress: list[tuple[int, int]] = []
    with Remote(ssh_order.target) as remote:
        remote.upload(source, "job", progress=lambda done, total: progress.append((done, total)))
        assert tree(ssh_order.home / "job") == tree(source)
        assert progress[-1] == (300_008, 300_008) and progress[0] == (0, 300_008)
        remote.download("job", tmp_path / "back")
        assert tree(tmp_path / "back") == tree(source)
        # Re-running sends nothing that is unchanged, and changed files are replaced.
        before = (ssh_order.home / "job" / "data" / "blob.bin").stat().st_ino
        (source / "run.sh").write_text("echo changed\n")
        remote.upload(source, "job")
        assert (ssh_order.home / "job" / "data" / "blob.bin").stat().st_ino == before
        assert (ssh_order.home / "job" / "run.sh").read_text() == "echo changed\n"
        assert not list((ssh_order.home / "job").rglob("*.clore-part"))
        remote.download("job", tmp_path / "back")
        assert tree(tmp_path / "back") == tree(source)


def test_copy_a_file_into_a_directory_and_by_name(ssh_order: Any, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("A")
    with Remote(ssh_order.key_target) as remote:
        remote.exec("mkdir -p inbox")
        remote.upload(tmp_path / "a.txt", "inbox")
        remote.upload(tmp_path / "a.txt", "~/renamed.txt")
        remote.upload(tmp_path / "a.txt", "new/parents/a.txt")
        remote.upload(tmp_path / "a.txt", "new/deeper/b.txt")  # missing parents are made, as downloads do
        assert (ssh_order.home / "new" / "deeper" / "b.txt").read_text() == "A"
        assert (ssh_order.home / "inbox" / "a.txt").read_text() == "A"
        assert (ssh_order.home / "renamed.txt").read_text() == "A"
        assert (ssh_order.home / "new" / "parents" / "a.txt").read_text() == "A"
        (tmp_path / "down").mkdir()
        remote.download("inbox/a.txt", tmp_path / "down")
        assert (tmp_path / "down" / "a.txt").read_text() == "A"
        with pytest.raises(RemoteError, match=r"remote path missing\.txt does not exist"):
            remote.download("missing.txt", tmp_path)
        with pytest.raises(RemoteError, match="does not exist"):
            remote.upload(tmp_path / "missing.txt", "x")


def test_async_remote_is_the_same_api(ssh_order: Any, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("async")

    async def scenario() -> tuple[int, bytes]:
        out: list[bytes] = []
        async with AsyncRemote(ssh_order.target) as remote:
            await remote.upload(tmp_path / "f.txt", "f.txt")
            status = await remote.exec("cat f.txt; exit 5", stdout=out.append)
        return status, b"".join(out)

    assert asyncio.run(scenario()) == (5, b"async")


def _refuses(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_the_endpoint_listens_on_loopback_only_and_goes_away_with_the_order(ssh_order: Any) -> None:
    port = ssh_order.target.port
    addresses = {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    for address in addresses - {"127.0.0.1"}:
        with socket.socket() as probe:
            probe.settimeout(1)
            assert probe.connect_ex((address, port)) != 0, address
    assert not _refuses(port)
    ssh_order.client.cancel_order(ssh_order.order.id)
    assert _refuses(port)
    assert not ssh_order.home.exists()
    with pytest.raises(RemoteError, match="cannot connect"):
        run(ssh_order.target, "true")


def test_exec_timeout_is_a_remote_error_and_ends_the_command(ssh_order: Any) -> None:
    with (
        Remote(ssh_order.target) as remote,
        pytest.raises(RemoteError, match=r"did not finish within 2 s"),
    ):
        # 2 s, not less: on a loaded machine the shell must have written its pid by then
        remote.exec("echo $$ > pid; exec sleep 30", timeout=2)
    pid = int((ssh_order.home / "pid").read_text())
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return " Z " not in stat.read()  # a zombie has ended
    except FileNotFoundError:  # ended (and reaped) since the kill above - or there is no /proc
        return not os.path.exists("/proc/self")


def test_a_connection_the_server_closed_is_replaced_once_and_nothing_runs_twice(ssh_order: Any) -> None:
    """Servers drop idle connections: the next command opens a new one instead of failing."""
    out: list[bytes] = []
    with Remote(ssh_order.target) as remote:
        assert remote.exec("echo once >> ran.txt") == 0
        dropped = remote._remote._connection  # the server's side of closing it, as seen by the client
        assert dropped is not None
        remote._run(_close(dropped))
        assert remote.exec("cat ran.txt; echo again >> ran.txt", stdout=out.append) == 0
    assert b"".join(out) == b"once\n"
    assert (ssh_order.home / "ran.txt").read_text() == "once\nagain\n"


async def _close(connection: Any) -> None:
    connection.close()
    await connection.wait_closed()
