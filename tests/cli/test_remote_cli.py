"""clore exec, clore cp and clore ssh against the sandbox's SSH host process, as a user runs them
(child processes; one order per module, so the suite stays quick)."""

from __future__ import annotations

import glob
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from clore_cli._main import main

from ..remote_sandbox import (
    CLORE,
    SSH_PASSWORD,
    CLIOrder,
    cli_ssh_environment,
    clore,
    deploy_with_ssh,
    stop_cli_ssh_host,
)


@pytest.fixture(scope="module")
def order(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CLIOrder]:
    folder = tmp_path_factory.mktemp("remote-cli")
    environment = cli_ssh_environment(folder)
    try:
        yield deploy_with_ssh(environment, folder)
    finally:
        stop_cli_ssh_host(environment)


def run(order: CLIOrder, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``clore --sandbox ARGS`` as a child process."""
    return clore(order.environment, *args, stdin=stdin)


@pytest.fixture
def here(
    order: CLIOrder, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> Callable[..., tuple[int, str, str]]:
    """``clore --sandbox ARGS`` in this process (quicker), in the order's environment."""
    for name, value in order.environment.items():
        if name.startswith(("CLORE_", "XDG_")) or name == "HOME":
            monkeypatch.setenv(name, value)

    def call(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
        code = main(["--sandbox", *args])
        out, err = capsysbinary.readouterr()
        return code, out.decode(), err.decode()

    return call


def test_exec_exits_with_the_command_status_and_keeps_streams_apart(order: CLIOrder) -> None:
    login = ["--password-file", str(order.password_file)]
    done = run(order, "exec", order.id, *login, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
    piped = run(
        order, "exec", order.id, "-i", str(order.key_file), "tr a-z A-Z; no-such-command", stdin="up\n"
    )
    assert (piped.returncode, piped.stdout) == (127, "UP\n") and "not found" in piped.stderr


def test_a_refused_login_exits_255_in_one_line_without_the_password(order: CLIOrder, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("Not-The-Password-42\n")
    done = run(order, "exec", order.id, "--password-file", str(wrong), "--", "true")
    assert done.returncode == 255 and done.stderr.count("\n") == 1 and "refused the login" in done.stderr
    assert "Not-The-Password-42" not in done.stderr + done.stdout
    nothing = run(order, "exec", order.id, "--", "true")
    assert nothing.returncode == 255 and "--password-file" in nothing.stderr


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_cp_round_trip_of_a_tree_is_safe_to_rerun(
    order: CLIOrder, tmp_path: Path, here: Callable[..., Any]
) -> None:
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "a.txt").write_text("alpha\n")
    (work / "sub" / "b.bin").write_bytes(os.urandom(50_000))
    login = ["--password-file", str(order.password_file)]
    code, out, err = here("cp", str(work), f"{order.id}:job", *login)
    assert code == 0 and out.startswith(f"Copied {work} to {order.id}:job"), err
    assert tree(order.home / "job") == tree(work)
    code, out, err = here("cp", str(work), f"{order.id}:job", *login)  # again: all there already
    assert (
        code == 0
        and out.strip() == f"Nothing to copy: {order.id}:job already matches {work} (2 files, 50.0 KB)"
    )
    (work / "a.txt").write_text("changed\n")
    code, out, _ = here("cp", str(work), f"{order.id}:~/job", *login, "-o", "json")
    record = json.loads(out)[0]
    assert record["bytes"] == 50_008 and tree(order.home / "job") == tree(work)
    assert (record["bytes_sent"], record["files_copied"], record["files_unchanged"]) == (8, 1, 1)
    code, _, _ = here("cp", f"{order.id}:job", str(tmp_path / "back"), "-i", str(order.key_file))
    assert code == 0 and tree(tmp_path / "back") == tree(work)
    assert not list(tmp_path.rglob("*.clore-part")) and not list(order.home.rglob("*.clore-part"))


@pytest.mark.parametrize(
    ("source", "destination", "words"),
    [
        ("{tmp}/a", "{tmp}/b", "both SOURCE and DESTINATION are local"),
        ("7:a", "8:b", "from one order to another"),
        ("{tmp}/missing", "7:x", "no such file or directory"),
    ],
)
def test_cp_mistakes_are_one_line_and_exit_2_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, source: str, destination: str, words: str
) -> None:
    (tmp_path / "a").write_text("a")
    code = main(["--sandbox", "cp", source.format(tmp=tmp_path), destination.format(tmp=tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and words in err and err.startswith("error: ") and err.count("\n") == 1, err


def test_cp_of_a_missing_remote_path_names_it(order: CLIOrder, tmp_path: Path) -> None:
    done = run(
        order, "cp", f"{order.id}:missing", f"{tmp_path}/", "--password-file", str(order.password_file)
    )
    assert done.returncode == 255 and "remote path missing does not exist" in done.stderr


def secrets_in_processes(secret: bytes) -> list[str]:
    leaks = []
    for path in glob.glob("/proc/[0-9]*/cmdline") + glob.glob("/proc/[0-9]*/environ"):
        try:
            with open(path, "rb") as handle:
                if secret in handle.read():
                    leaks.append(path)
        except OSError:
            continue
    return leaks


def secrets_in_files(root: Path, secret: bytes, allowed: set[Path]) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and p not in allowed and secret in p.read_bytes()]


@pytest.mark.skipif(not os.path.exists("/proc/self/cmdline"), reason="needs Linux /proc")
def test_the_password_is_in_no_process_and_no_file_we_write(order: CLIOrder) -> None:
    secret = SSH_PASSWORD.encode()
    running = subprocess.Popen(
        [
            *CLORE,
            "exec",
            order.id,
            "--password-file",
            str(order.password_file),
            "--",
            "echo up; sleep 2; echo done",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env=order.environment,
    )
    assert running.stdout is not None and running.stdout.readline() == b"up\n"  # logged in, running
    leaks = secrets_in_processes(secret)
    assert running.stdout.read() == b"done\n" and running.wait(30) == 0
    assert leaks == []
    folder = order.state_file.parent.parent  # the home, the state file, the containers
    assert secrets_in_files(folder, secret, {order.password_file}) == []


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs OpenSSH")
def test_clore_ssh_opens_a_real_session_and_hands_the_password_over_out_of_sight(order: CLIOrder) -> None:
    pexpect = pytest.importorskip("pexpect")
    session = pexpect.spawn(
        sys.executable,
        ["-m", "clore_cli", "--sandbox", "ssh", order.id, "--password-file", str(order.password_file)],
        env={**order.environment, "TERM": "dumb"},
        timeout=60,
    )
    session.expect(rb"[#$] ")
    session.sendline(b"echo sum=$((40+2))")
    session.expect(rb"sum=42")
    leaks = secrets_in_processes(SSH_PASSWORD.encode())
    session.sendline(b"exit 4")
    session.expect(pexpect.EOF)
    session.close()
    assert leaks == [] and session.exitstatus == 4
    assert not glob.glob(os.path.join(os.environ.get("TMPDIR", "/tmp"), "clore-askpass-*", "password"))


def listening_addresses(port: int) -> set[str]:
    """Local addresses of sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                address, hex_port = fields[1].split(":")
                if fields[3] == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux /proc")
def test_the_endpoint_listens_on_loopback_only_and_stops_with_the_order(tmp_path: Path) -> None:
    from clore_ai.sandbox._sshd import DaemonSSHHost

    environment = cli_ssh_environment(tmp_path)
    try:
        order = deploy_with_ssh(environment, tmp_path)
        assert listening_addresses(order.port) == {"0100007F"}  # 127.0.0.1 and nothing else
        host = DaemonSSHHost(order.state_file.resolve())
        assert host.running()
        cancelled = clore(environment, "cancel", order.id, "--yes")
        assert cancelled.returncode == 0, cancelled.stderr
        assert listening_addresses(order.port) == set()
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", order.port)) != 0
        deadline = time.monotonic() + 30  # the host process exits 1 s after the last order
        while host.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not host.running()
    finally:
        stop_cli_ssh_host(environment)


def test_clore_ssh_without_openssh_opens_the_session_itself(order: CLIOrder, tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    no_programs = tmp_path / "empty-path"
    no_programs.mkdir()
    session = pexpect.spawn(
        sys.executable,
        ["-m", "clore_cli", "--sandbox", "ssh", order.id, "--password-file", str(order.password_file)],
        env={**order.environment, "TERM": "dumb", "PATH": str(no_programs)},
        timeout=60,
    )
    session.expect(rb"[#$] ")
    session.sendline(b"echo sum=$((40+2))")
    session.expect(rb"sum=42")
    session.sendline(b"exit 6")
    session.expect(pexpect.EOF)
    session.close()
    assert session.exitstatus == 6


def test_exec_with_o_json_gives_one_record_and_still_exits_with_the_status(
    here: Callable[..., tuple[int, str, str]], order: CLIOrder
) -> None:
    code, out, err = here(
        "exec",
        order.id,
        "--password-file",
        str(order.password_file),
        "-o",
        "json",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 4",
    )
    record = json.loads(out)
    assert code == 4 and err == ""
    assert record[0]["exit_code"] == 4 and record[0]["stdout"] == "out\n" and record[0]["stderr"] == "err\n"
    assert record[0]["order_id"] == int(order.id)


def test_the_sandbox_sample_orders_say_they_have_no_ssh_server_without_resolving_a_host(
    here: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_lookups(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a host name was resolved")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookups)
    for args in (["exec", "38", "--", "true"], ["cp", "38:x", "."]):
        code, out, err = here(*args)
        assert code == 1 and out == "" and err.count("\n") == 1, (args, err)
        assert "sample orders and has no SSH server" in err and "--ssh-password" in err


def test_sandbox_ssh_keeps_host_keys_out_of_the_users_known_hosts(
    here: Callable[..., tuple[int, str, str]], order: CLIOrder
) -> None:
    code, out, _ = here("ssh", order.id, "--print")
    assert code == 0 and "UserKnownHostsFile=" in out and "sandbox_known_hosts" in out
    assert ".ssh/known_hosts" not in out
