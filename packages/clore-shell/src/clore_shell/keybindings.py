"""Key bindings: Ctrl-C clears the line (the prompt raises KeyboardInterrupt, the loop goes on)."""

from __future__ import annotations

from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent


def shell_key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("c-l")
    def _clear(event: KeyPressEvent) -> None:
        event.app.renderer.clear()

    return bindings
