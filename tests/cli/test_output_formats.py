"""`-o json` and `-o csv` of every command, as a script reads them: JSON whose computed numbers
have at most 15 significant digits, CSV that is CSV (no Python repr, no exponent, `true`/`false`,
nested values as JSON text), or one line refusing CSV where the output is no table; warnings
on stderr are in the JSON too; amounts too small for 8 decimals are never shown as 0."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import click
import pytest

from clore_cli.commands import jobs as jobs_cli
from clore_cli.commands import remote as remote_cli
from clore_cli.formats import Column, CsvFormat, Dataset, coin_amount, human_number
from clore_cli.testing import CloreResult, run_clore

from ..fake_remote import LocalContainers

TASK = """
name: shout
resources: {query: "gpus>=1", max_price: 5, currency: usd}
image: cloreai/ubuntu22.04-cuda12
run: echo done-here
"""

# a number with an exponent: a whole cell, or a number in a cell's JSON text (not "shout-64e193")
EXPONENT = re.compile(r"(?:^|[:,\[])-?\d+(?:\.\d+)?[eE][-+]?\d+(?:$|[,\]}])")
PYTHON_REPR = re.compile(r"\{'|\['|'\}|'\]|\bTrue\b|\bFalse\b|\bNone\b")
NUMBER = re.compile(r"-?\d+\.\d+")


@dataclass(frozen=True)
class Run:
    """One way to run a command: after ``before`` (set the scene), ``args``; ``csv`` False when
    CSV is refused (a stream or a plan is no table); ``code``: its exit status with -o json."""

    args: str
    before: tuple[str, ...] = ()
    csv: bool = True
    code: int = 0


# Every command that takes -o (the built-in ones and the example plugin's), and how a user runs
# it on the sandbox.
RUNS: dict[str, list[Run]] = {
    "auth list": [Run("auth list")],
    "cheapest": [Run("cheapest")],
    "cp": [Run("cp input.txt 39:copy.txt")],
    "deploy": [
        Run("deploy 123 --image ubuntu --type on-demand --currency usd --dry-run", csv=False),
        Run("deploy 123 --image x/y --type spot --spot-price 0.0001 --currency btc --dry-run", csv=False),
        Run("deploy 1130 --image ubuntu --type on-demand --currency btc --yes --wait"),
    ],
    "exec": [Run("exec 39 -n -- echo hi")],
    "gigaspot": [Run("gigaspot")],
    "gigaspot-order create": [
        Run("gigaspot-order create 2849 --price 1 --currency usd --dry-run", csv=False),
        Run("gigaspot-order create 2849 --price 5 --currency usd --yes"),
    ],
    "gigaspot-order edit": [
        Run(
            "gigaspot-order edit 1000 --price 2 --dry-run",
            before=("gigaspot-order create 2849 --price 1 --currency usd --yes",),
            csv=False,
        ),
        Run(
            "gigaspot-order edit 1000 --price 2 --yes",
            before=("gigaspot-order create 2849 --price 1 --currency usd --yes",),
            csv=False,
        ),
    ],
    "guard": [Run("guard --max-hourly 0.05 --once", csv=False, code=9)],
    "host config": [Run("host config MyGPU")],
    "host occupancy": [Run("host occupancy")],
    "host reprice": [
        Run("host reprice MyGPU --percentile 25 --floor 100/h --kind on-demand --dry-run"),
        Run("host reprice --percentile 25 --yes"),
    ],
    "host servers": [Run("host servers")],
    "host settings": [Run("host settings MyGPU --on-demand 1e-12 --currency btc --dry-run", csv=False)],
    "jobs": [Run("jobs", before=("run task.yaml --yes",))],
    "order": [Run("order 39")],
    "orders": [Run("orders --completed")],
    "plugins": [Run("plugins")],
    "profiles": [Run("profiles")],
    "rent": [
        Run("rent gpu=4090 --image x/y --currency btc --dry-run"),
        Run("rent gpu=4090 --image x/y --currency usd --max-price 5 --yes"),
    ],
    "run": [Run("run task.yaml --dry-run"), Run("run task.yaml --yes")],
    "sandbox advance": [Run("sandbox advance 2h", before=("sandbox market moving:7 --speed 60",))],
    "sandbox market": [Run("sandbox market moving:7 --speed 60")],
    "sandbox status": [Run("sandbox status", before=("sandbox market moving:7 --speed 60",))],
    "search": [Run("search --all --limit 300"), Run("search --currency clore")],
    "server-config": [Run("server-config MyGPU")],
    "server-settings": [
        Run("server-settings MyGPU --on-demand 0.0002 --currency btc --dry-run", csv=False),
        Run("server-settings MyGPU --on-demand 0.0002 --currency btc --yes", csv=False),
    ],
    "servers": [Run("servers")],
    "spend": [Run("spend")],
    "spot": [Run("spot 6")],
    "spot-bid": [
        Run("spot-bid 39"),
        Run("spot-bid --server 6"),
        Run("spot-bid 39 --auto --cap 0.3/h --once --dry-run", csv=False),
    ],
    "wallets": [Run("wallets")],
    "watch": [Run("watch gpu=4090 --initial --once", csv=False)],
}


OURS = ("clore_cli.", "clore_plugins_example")


def commands_with_output() -> set[str]:
    """The paths (``host reprice``) of the commands that take ``-o``: clore's own and the
    example plugin's (a plugin installed on this machine is its authors' to test)."""
    from clore_cli._main import _host, cli

    _host()
    found: set[str] = set()

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        elif any(p.name == "output" for p in command.params) and (
            command.callback is not None and command.callback.__module__.startswith(OURS)
        ):
            found.add(" ".join(path))

    walk(cli, [])
    return found


def test_every_command_with_an_output_format_is_run_below() -> None:
    found = commands_with_output()
    assert found <= set(RUNS) and set(RUNS) - found <= {"cheapest"}  # the example plugin may be absent


class FakeRemote:
    """exec and cp without an SSH server: what they print is what is tested here."""

    def exec(self, line: str, *, stdout: Any, stderr: Any, stdin: Any = None) -> int:
        stdout(b"hi\n")
        return 0

    def upload(self, source: str, target: str, *, progress: Any = None) -> Any:
        return types.SimpleNamespace(
            total_bytes=6, bytes_sent=6, files=1, copied=1, skipped=0, nothing_sent=False
        )


@pytest.fixture
def scene(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with a task file; jobs on local stand-ins, exec and cp faked."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "task.yaml").write_text(TASK)
    (work / "input.txt").write_text("hello\n")
    monkeypatch.chdir(work)
    monkeypatch.setenv("CLORE_SANDBOX_DEPLOY_SECONDS", "0")
    monkeypatch.setattr(jobs_cli, "REMOTE_FACTORY", LocalContainers(tmp_path / "servers"))

    @contextlib.contextmanager
    def connected(target: Any) -> Iterator[FakeRemote]:
        yield FakeRemote()

    monkeypatch.setattr(remote_cli, "connected", connected)
    monkeypatch.setattr(remote_cli, "ssh_target", lambda app, order_id, **options: None)
    return tmp_path


def run_in(home: Path, run: Run, output: str) -> CloreResult:
    for args in run.before:
        done = run_clore(["--sandbox", *args.split()], home=home)
        assert done.exit_code == 0, (args, done.stderr)
    command, dashes, rest = run.args.partition(" -- ")  # -o before `--`: after it, it is exec's
    return run_clore(["--sandbox", *command.split(), "-o", output, *dashes.split(), *rest.split()], home=home)


def significant_digits(number: str) -> int:
    return len(number.lower().split("e")[0].lstrip("-").replace(".", "").lstrip("0"))


def floats_in(document: Any) -> Iterator[float]:
    if isinstance(document, float):
        yield document
    elif isinstance(document, dict):
        for value in document.values():
            yield from floats_in(value)
    elif isinstance(document, list):
        for value in document:
            yield from floats_in(value)


def json_documents(text: str) -> list[Any]:
    """One JSON document, or JSON lines (a stream)."""
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("path", sorted(RUNS))
def test_json_and_csv_of_every_command_keep_the_number_rules(scene: Path, path: str) -> None:
    if path not in commands_with_output():
        pytest.skip(f"{path}: its plugin is not installed")
    for number, run in enumerate(RUNS[path]):
        result = run_in(scene / f"json-{number}", run, "json")
        assert result.exit_code == run.code, (run.args, result.stderr)
        documents = json_documents(result.stdout)
        noisy = [repr(v) for d in documents for v in floats_in(d) if significant_digits(repr(v)) > 15]
        assert documents and not noisy, (run.args, noisy)

        result = run_in(scene / f"csv-{number}", run, "csv")
        if not run.csv:  # one line saying which formats it prints; nothing ran, nothing printed
            assert result.exit_code == 2 and result.stdout == "", (run.args, result.stderr)
            (line,) = result.stderr.splitlines()
            assert "cannot print -o csv" in line and "use -o json" in line, line
            continue
        assert result.exit_code == run.code, (run.args, result.stderr)
        rows = list(csv.reader(io.StringIO(result.stdout)))
        assert len(rows) >= 2 and all(len(row) == len(rows[0]) for row in rows), (run.args, result.stdout)
        for cell in (cell for row in rows[1:] for cell in row):
            assert not EXPONENT.search(cell) and not PYTHON_REPR.search(cell), (run.args, cell)
            assert all(significant_digits(n) <= 15 for n in NUMBER.findall(cell)), (run.args, cell)
            if cell.startswith(("{", "[")):
                json.loads(cell)  # nested values are JSON text


@pytest.mark.parametrize(
    ("args", "command", "formats"),
    [
        ("watch gpu=4090 --initial --once", "watch", "-o json (one JSON object per event)"),
        ("guard --max-hourly 1 --once", "guard", "-o json (one JSON object per check and event)"),
        (
            "spot-bid 39 --auto --cap 0.3/h --once --dry-run",
            "spot-bid --auto",
            "-o json (one JSON object per step)",
        ),
        (
            "deploy 123 --image ubuntu --type on-demand --currency usd --dry-run",
            "deploy --dry-run",
            "-o json (the quote and the request)",
        ),
        (
            "gigaspot-order edit 39 --price 1 --dry-run",
            "gigaspot-order edit",
            "-o json (the request with --dry-run, else the API's answer)",
        ),
        ("server-settings MyGPU --mrl 48 --yes", "server-settings", "-o json (the changes and the request)"),
        ("host settings MyGPU --mrl 48 --yes", "host settings", "-o json (the changes and the request)"),
    ],
)
def test_csv_of_a_stream_or_a_plan_is_refused_in_one_line_before_anything_runs(
    tmp_path: Path, args: str, command: str, formats: str
) -> None:
    result = run_clore(["--sandbox", *args.split(), "-o", "csv"], home=tmp_path)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: clore {command} cannot print -o csv: it is not a table; use {formats}, or leave -o out\n"
    )
    settings = run_clore(["--sandbox", "server-config", "MyGPU", "-o", "json"], home=tmp_path).json()
    assert settings[0]["max_rental_hours"] == 72  # server-settings sent nothing


def csv_rows(result: CloreResult) -> list[dict[str, str]]:
    assert result.exit_code == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_csv_writes_nested_values_as_json_text_with_exact_plain_numbers(tmp_path: Path) -> None:
    [order] = csv_rows(run_clore(["--sandbox", "order", "39", "-o", "csv"], home=tmp_path))
    [exact] = run_clore(["--sandbox", "order", "39", "-o", "json"], home=tmp_path).json()
    assert json.loads(order["tcp_ports"]) == exact["tcp_ports"] and "'" not in order["tcp_ports"]

    [config] = csv_rows(run_clore(["--sandbox", "host", "config", "MyGPU", "-o", "csv"], home=tmp_path))
    [sent] = run_clore(["--sandbox", "host", "config", "MyGPU", "-o", "json"], home=tmp_path).json()
    assert config["pricing_per_day"] == '{"bitcoin":0.00006615,"CLORE-Blockchain":1663.3}'
    for key in ("pricing_per_day", "min_spot_pricing_per_day"):
        assert json.loads(config[key]) == sent[key]  # bit for bit what the API sent


def test_csv_booleans_read_as_json_writes_them(tmp_path: Path) -> None:
    [bid] = csv_rows(run_clore(["--sandbox", "spot-bid", "39", "-o", "csv"], home=tmp_path))
    assert bid["winning"] == "false"
    servers = csv_rows(run_clore(["--sandbox", "host", "occupancy", "-o", "csv"], home=tmp_path))
    assert {row["online"] for row in servers} == {"true", "false"}
    assert {row["listed"] for row in servers} == {"true", "false"}
    assert "Yes" not in str(servers) and "True" not in str(servers)


def test_a_new_order_in_csv_names_its_coin_next_to_its_price(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLORE_SANDBOX_DEPLOY_SECONDS", "0")
    args = ["--sandbox", "deploy", "1130", "--image", "ubuntu", "--type", "on-demand", "--currency", "btc"]
    result = run_clore([*args, "--yes", "--wait", "-o", "csv"], home=tmp_path)
    [order] = csv_rows(result)
    header = result.stdout.splitlines()[0].split(",")
    assert header[header.index("price_per_day") + 1] == "currency"
    assert (order["price_per_day"], order["currency"]) == ("0.00009879", "bitcoin")
    assert json.loads(order["tcp_ports"]).keys() == {"22"}
    table = run_clore(["--sandbox", "order", order["id"]], home=tmp_path).stdout
    assert "0.00009879 btc" in table and "Currency" not in table  # the cell names the coin


def test_every_warning_of_a_reprice_is_in_its_json_and_csv(tmp_path: Path) -> None:
    args = ["--sandbox", "host", "reprice", "MyGPU", "--percentile", "25", "--floor", "100/h"]
    args += ["--kind", "on-demand", "--dry-run"]
    result = run_clore([*args, "-o", "json"], home=tmp_path)
    assert result.exit_code == 0, result.stderr
    warned = [line.removeprefix("warning: ") for line in result.stderr.splitlines() if "warning" in line]
    proposals = {p["currency"]: p for p in result.json()["proposals"]}
    assert "the on-demand price (bitcoin) becomes more than 3× the current price" in warned
    assert proposals["bitcoin"]["warnings"] == [
        "the on-demand price (bitcoin) becomes more than 3× the current price"
    ]
    in_json = [w for p in proposals.values() for w in p["warnings"]]
    assert warned and all(w in in_json for w in warned)
    rows = csv_rows(run_clore([*args, "-o", "csv"], home=tmp_path))
    assert [json.loads(row["warnings"]) for row in rows] == [p["warnings"] for p in proposals.values()]
    assert {row["new_percentile"] for row in rows} == {
        repr(p["new_percentile"]) for p in proposals.values()
    }  # CSV and JSON: the same number, to 15 significant digits


def test_server_settings_json_has_the_warnings_stderr_shows(tmp_path: Path) -> None:
    args = ["--sandbox", "server-settings", "MyGPU", "--on-demand", "1e-12", "--currency", "btc"]
    result = run_clore([*args, "--dry-run", "-o", "json"], home=tmp_path)
    assert result.exit_code == 0, result.stderr
    warned = [line.removeprefix("warning: ") for line in result.stderr.splitlines() if "warning:" in line]
    assert warned and result.json()["warnings"] == warned


def test_a_spot_bid_warning_of_deploy_is_in_its_json(tmp_path: Path) -> None:
    args = "deploy 123 --image x/y --type spot --spot-price 0.0001 --currency btc --dry-run -o json"
    result = run_clore(["--sandbox", *args.split()], home=tmp_path)
    assert result.exit_code == 0, result.stderr
    [warned] = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert result.json()["quote"]["warnings"] == [warned.removeprefix("warning: ")]
    assert "× the lowest winning bid" in warned


def test_json_has_no_internal_fields_and_computed_numbers_to_15_digits(scene: Path) -> None:
    home = scene / "home"
    assert run_clore(["--sandbox", "run", "task.yaml", "--yes"], home=home).exit_code == 0
    [job] = run_clore(["--sandbox", "jobs", "-o", "json"], home=home).json()
    assert "usd" not in job and job["usd_per_hour"] is not None
    lines = run_clore(["--sandbox", "guard", "--max-hourly", "0.05", "--once", "-o", "json"], home=home)
    check = next(json.loads(line) for line in lines.stdout.splitlines() if '"check"' in line)
    assert check["readings"][0]["value"] == float(f"{check['readings'][0]['value']:.15g}")
    assert check["spent_usd"] == float(f"{check['spent_usd']:.15g}")


def test_amounts_too_small_for_the_table_are_echoed_whole(tmp_path: Path) -> None:
    args = "deploy 123 --image ubuntu --type spot --currency btc --spot-price 1e-9 --yes"
    result = run_clore(["--sandbox", *args.split()], home=tmp_path)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --spot-price 0.000000001 BTC/day is below the minimum")

    args = "server-settings MyGPU --on-demand 1e-12 --currency btc --dry-run"
    result = run_clore(["--sandbox", *args.split()], home=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "→ 0.000000000001 BTC/day, " in result.stderr and "→ 0 BTC" not in result.stderr
    assert result.json()["request"]["body"]["bitcoin_on_demand"] == 1e-12


@pytest.mark.parametrize(
    ("value", "table", "quote", "plain"),
    [
        (5e-11, "0.00000000005 btc", "0.00000000005 BTC", "0.00000000005"),
        (1.2e-08, "0.00000001 btc", "0.00000001 BTC", "0.000000012"),
        (0.0, "0 btc", "0 BTC", "0"),
        (6.615e-05, "0.00006615 btc", "0.00006615 BTC", "0.00006615"),
    ],
)
def test_a_coin_amount_is_never_shown_as_0_when_it_is_not(
    value: float, table: str, quote: str, plain: str
) -> None:
    from clore_cli.formats import exact_amount

    assert coin_amount(value, "bitcoin") == table
    assert coin_amount(value, "bitcoin", quote=True) == quote
    assert exact_amount(value, "bitcoin") == f"{plain} BTC"


def test_a_number_in_a_table_cell_is_never_0_when_it_is_not() -> None:
    assert (human_number(1e-12), human_number(-2e-11), human_number(0.0)) == (
        "0.000000000001",
        "-0.00000000002",
        "0",
    )


def test_csv_cells_of_lists_and_mappings_are_json_text() -> None:
    columns = [Column(key, key) for key in ("ports", "prices", "notes", "flag")]
    rows = [
        {
            "ports": {"22": 40811},
            "prices": {"bitcoin": 6.615e-05, "CLORE-Blockchain": 1663.3},
            "notes": ["a \x1b[31m", "b"],
            "flag": False,
        }
    ]
    line = CsvFormat().render(Dataset("t", columns, rows), color=False).splitlines()[1]
    assert next(csv.reader([line])) == [
        '{"22":40811}',
        '{"bitcoin":0.00006615,"CLORE-Blockchain":1663.3}',
        '["a \\u001b[31m","b"]',
        "false",
    ]
