"""Generate the command reference of docs/cli.md from the click tree.

python scripts/gen_cli_docs.py          # rewrite the generated section in docs/cli.md
python scripts/gen_cli_docs.py --check  # exit 1 if docs/cli.md is stale (a test runs this)
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
BEGIN, END = "<!-- BEGIN GENERATED COMMANDS -->", "<!-- END GENERATED COMMANDS -->"


def _params(command: click.Command) -> list[str]:
    lines = []
    for param in command.params:
        if isinstance(param, click.Argument):
            lines.append(
                f"- `{param.human_readable_name}` (argument{', required' if param.required else ''})"
            )
        elif isinstance(param, click.Option) and not param.hidden:
            names = ", ".join(f"`{o}`" for o in param.opts + param.secondary_opts)
            lines.append(f"- {names}: {param.help or ''}".rstrip())
    return lines


def _walk(command: click.Command, path: str, out: list[str]) -> None:
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            _walk(command.commands[name], f"{path} {name}".strip(), out)
        return
    help_text = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
    out.append(f"### `clore {path}`\n\n{help_text}\n")
    params = _params(command)
    if params:
        out.append("\n".join(params) + "\n")


def generate() -> str:
    """The built-in commands only: installed plugins (the shell, examples) document themselves."""
    from clore_cli._main import cli
    from clore_cli._plugins import PluginHost

    builtin = click.Group(name="clore", params=cli.params, help=cli.help)
    PluginHost(load_entry_points=False).register_commands(builtin)
    out: list[str] = []
    _walk(builtin, "", out)
    return "\n".join(out).strip() + "\n"


def updated(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n\n{generate()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    new = updated(text)
    if "--check" in argv:
        if new != text:
            print("docs/cli.md is out of date: run python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
