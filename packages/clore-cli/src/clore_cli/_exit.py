"""Leave the ``clore`` process without tearing the interpreter down.

When a command is done, everything it had to do is done: the output is written, files were
closed by their ``with`` blocks, journals were replaced atomically. What is left for a normal
exit is Python's finalization: deallocating every module (pydantic's schemas, rich, click,
httpx) and a last cyclic collection. That costs ~50 ms of every command on a 2-core box,
about a fifth of a whole ``clore search``, for nothing a user can see (docs/performance.md).

So the ``clore`` entry point runs the ``atexit`` callbacks (logging's flush, temporary
directory clean-up, coverage's data), flushes stdout and stderr, and calls ``os._exit``.
It falls back to a normal exit whenever finalization could still matter: another
non-daemon thread is alive (its work would be cut short), a tracer or profiler is attached
(``python -m cProfile`` prints its report after the script returns), or Python runs in
development mode (``-X dev``, which reports leaks at finalization). The interactive shell and
the SDK never call it; only the command's own entry point does.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

__all__ = ["exit_now"]

#: What Python itself exits with when flushing stdout fails at exit.
FLUSH_FAILED = 120


def _finalization_matters() -> bool:
    if sys.flags.dev_mode or sys.gettrace() is not None or sys.getprofile() is not None:
        return True
    current = threading.current_thread()
    return any(t is not current and t.is_alive() and not t.daemon for t in threading.enumerate())


def exit_now(code: int) -> NoReturn:
    """Exit with ``code`` as ``sys.exit`` would, minus the interpreter's teardown."""
    if _finalization_matters():
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception as error:  # noqa: BLE001 - as Python does: a failed flush at exit is 120
            code = code or FLUSH_FAILED
            _say_output_was_lost(error)
    os._exit(code & 0xFF)


def _say_output_was_lost(error: Exception) -> None:
    """One line on the original stderr (Python itself would print an 'Exception ignored')."""
    reason = getattr(error, "strerror", None) or type(error).__name__
    try:
        os.write(2, f"error: could not write the output: {reason}\n".encode())
    except OSError:
        pass
