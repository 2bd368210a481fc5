"""Completion as you type, from click's own completion machinery (one source with bash/zsh/fish).

Ids, GPU names and images come from the local cache that commands and the background
refresher keep warm: a keystroke never waits for the network.
"""

from __future__ import annotations

import shlex
from typing import Any, Iterable

from click.shell_completion import ShellComplete
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory, Suggestion
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from ._lineopts import MAX_INTERACTIVE, without_clore

SHELL_WORDS = {
    "help": "commands and plugins",
    "use": "switch profile: use PROFILE",
    "set": "set output FORMAT",
    "clear": "clear the screen",
    "exit": "leave the shell",
    "quit": "leave the shell",
}


class CloreCompleter(Completer):
    def __init__(self, cli: Any, holder: Any, profiles: Any = None) -> None:
        self.cli = cli
        self.holder = holder
        self.profiles = profiles or (lambda: ["default"])

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        if document.cursor_position > MAX_INTERACTIVE:
            return  # a pasted giant line: no per-keystroke work that grows with its length
        text = document.text_before_cursor
        split = split_line(text)
        if split is None:
            return
        words, incomplete, start = split
        words = without_clore(words)  # `clore ord<TAB>` completes as `ord<TAB>`: the shell runs both
        if not words:
            for word, meta in SHELL_WORDS.items():
                if word.startswith(incomplete):
                    yield Completion(word, start, display_meta=meta)
        elif words == ["use"]:
            yield from (Completion(p, start) for p in self.profiles() if p.startswith(incomplete))
            return
        elif words == ["set"]:
            if "output".startswith(incomplete):
                yield Completion("output", start)
            return
        elif words == ["set", "output"]:
            names = sorted(self.holder.app.formats)
            yield from (Completion(n, start) for n in names if n.startswith(incomplete))
            return
        elif words[0] in SHELL_WORDS:
            return
        machinery = ShellComplete(self.cli, {"obj": self.holder}, "clore", "_CLORE_COMPLETE")
        try:
            items = machinery.get_completions(words, incomplete)
        except Exception:  # noqa: BLE001 - a completion problem must never break typing
            return
        for item in items:
            if item.type == "plain":
                value = str(item.value)
                yield Completion(quoted(value), start, display=value, display_meta=item.help or "")


def quoted(value: str) -> str:
    """The value as one shell word: ``RTX 3090`` becomes ``'RTX 3090'``; plain words stay as they are."""
    return shlex.quote(value) if value else value


def split_line(text: str) -> tuple[list[str], str, int] | None:
    """(words before the one being typed, that word unquoted, where it starts relative to the cursor).

    A word opened with a quote (``--gpu "RTX 30``) is completed as a whole, quote included.
    """
    try:
        words = shlex.split(text)
    except ValueError:
        for quote in ('"', "'"):
            try:
                words = shlex.split(text + quote)
            except ValueError:
                continue
            incomplete = words.pop() if words else ""
            return words, incomplete, -(len(text) - text.rfind(quote))
        return None
    if not text or text[-1].isspace():
        return words, "", 0
    incomplete = words.pop() if words else ""
    for index in range(len(text) - 1, -1, -1):  # the typed word, as typed (quotes, backslashes)
        if index == 0 or text[index - 1].isspace():
            try:
                if shlex.split(text[index:]) == [incomplete]:
                    return words, incomplete, index - len(text)
            except ValueError:
                continue
    return words, incomplete, -len(incomplete)


class BoundedAutoSuggest(AutoSuggestFromHistory):
    """Suggestions from history, only for lines of ordinary length (bounded work per keystroke)."""

    def get_suggestion(self, buffer: Buffer, document: Document) -> Suggestion | None:
        if len(document.text) > MAX_INTERACTIVE:
            return None
        return super().get_suggestion(buffer, document)
