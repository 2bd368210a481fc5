"""Exit codes and one-line error messages (one table: docs/cli.md)."""

from __future__ import annotations

import json
import sys
from enum import IntEnum
from typing import Any

import click


class ExitCode(IntEnum):
    OK = 0
    API_ERROR = 1  # the API refused (code 1, 4, 6, unknown) or something unexpected failed
    USAGE = 2  # bad command line or invalid input: nothing was sent
    OUTCOME_UNKNOWN = 3  # create_order may or may not have created an order
    AUTH = 4  # no key, the key was rejected, or it cannot be stored/read safely
    RATE_LIMITED = 5  # still rate limited after retries
    CONNECTION = 6  # could not reach the API, timed out, or unreadable answers
    ORDER_INTERRUPTED = 7  # Ctrl-C after create_order was sent: an order exists or may exist, billing
    WAIT_TIMED_OUT = (
        8  # --wait/ssh gave up: the order exists (and bills) but its container is not running yet
    )
    LIMIT_CROSSED = 9  # guard --once: a spending limit is crossed (with --cancel: orders were cancelled)
    JOB_FAILED = 10  # clore run: the job's own commands exited non-zero (their code is in the message/JSON)
    NO_EVENT = 11  # watch --timeout passed without any event
    NO_OFFER = 12  # rent: no offer could be rented under the cap (or every try was refused); nothing bills
    PLUGIN_FAILED = 13  # a plugin's output format failed to render the command's result
    INTERRUPTED = 130  # Ctrl-C
    REMOTE = 255  # exec/cp: the SSH connection, login or a copy failed (what ssh itself exits with)


class PluginFailed(click.ClickException):
    """A plugin's code failed while a command ran (its output format's ``render``): one line
    naming the plugin, exit 13."""

    exit_code = ExitCode.PLUGIN_FAILED


class BadInput(click.ClickException):
    """Bad input that is not a command-line mistake (a bid under the server's minimum, an
    order of the wrong kind): one line, exit 2, nothing sent or stored."""

    exit_code = ExitCode.USAGE


def exit_code_for(error: BaseException) -> ExitCode:
    from clore_ai import exceptions as ex

    if isinstance(error, ex.InvalidInputError):
        return ExitCode.USAGE
    if isinstance(error, ex.RemoteError):
        return ExitCode.REMOTE
    if isinstance(error, ex.OrderOutcomeUnknown):
        return ExitCode.OUTCOME_UNKNOWN
    if isinstance(error, (ex.AuthError, ex.CredentialsError)):
        return ExitCode.AUTH
    if isinstance(error, ex.RateLimitError):
        return ExitCode.RATE_LIMITED
    if isinstance(error, (ex.APIConnectionError, ex.InvalidResponseError)):
        return ExitCode.CONNECTION
    return ExitCode.API_ERROR


def report(message: str, code: int, *, as_json: bool, details: dict[str, Any] | None = None) -> None:
    """One line on stderr (a JSON object with ``-o json``)."""
    from .formats import sanitize

    # click lays some messages out on lines ("Choose from:\n\ton-demand,\n\tspot"): one line.
    text = " ".join(line.strip(" \t") for line in sanitize(message).split("\n")).replace("\t", " ")
    if as_json:
        payload = {"error": text, "exit_code": int(code), **(details or {})}
        print(json.dumps(payload), file=sys.stderr)
    else:
        from ._consent import wrap_for_stderr

        # at a terminal, wrapped between words (never "BILLIN" / "G"); piped, one line
        print(wrap_for_stderr(f"error: {text}", hang="       "), file=sys.stderr)
