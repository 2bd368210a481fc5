"""Strict click parameter types: ASCII numbers, finite floats, ports, Docker image names.

Every value is checked before any request is sent; a bad one is echoed at most
:data:`SHOWN` characters long.
"""

from __future__ import annotations

import math
import os
import re
import stat
from typing import Any

import click

SHOWN = 80
MAX_SSH_KEY = 3072  # the API's limit (docs/reference)
MAX_ID = 2**63 - 1

_INT = re.compile(r"[+-]?[0-9]{1,30}")
_FLOAT = re.compile(r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,3})?")
_PORT = re.compile(r"[0-9]{1,5}")
# A shell variable name, ASCII only: what a container can read as $NAME.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_SECONDS = 86400.0  # like the SDK's timeout: at most a day
MAX_USD_PER_DAY = 1e9  # like the SDK's MAX_PRICE: far above any real price

# Docker's reference grammar (github.com/distribution/reference, regexp.go), ASCII only.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
# As in splitDockerDomain: the first component is a registry only when it has a dot or a
# port or is localhost; otherwise it is a (lowercase) path component, so UPPER/case is refused.
_DOMAIN = (
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})+(?::[0-9]+)?"
    rf"|{_DOMAIN_NAME}:[0-9]+|localhost|{_IPV6}(?::[0-9]+)?)"
)
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
IMAGE_REFERENCE = re.compile(rf"(?a){_NAME}(?::{_TAG})?(?:@{_DIGEST})?")
MAX_IMAGE = 255 + 1 + 128 + 1 + 160  # name, tag and digest at their longest


def shown(value: Any) -> str:
    """``value`` quoted, cut to about :data:`SHOWN` characters (a 5,000-digit port stays one line)."""
    text = repr(str(value))
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


class WholeNumber(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """An integer in ASCII digits within [min, max] (``int()`` accepts '٣'; the API does not)."""

    name = "integer"

    def __init__(self, min: int = 1, max: int | None = None) -> None:
        self.min: int = min
        self.max: int | None = max

    def convert(self, value: Any, param: Any, ctx: click.Context | None) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            if not _INT.fullmatch(text):
                self.fail(f"{shown(value)} is not a whole number", param, ctx)
            number = int(text)
        if number < self.min or (self.max is not None and number > self.max):
            self.fail(f"{shown(value)} is not in the range {self._range()}", param, ctx)
        return number

    def _range(self) -> str:
        if self.max is None:
            return f"{self.min} or more"
        return f"{self.min}..{self.max}"


class Number(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """A finite decimal number in ASCII (no nan, inf, '١'), optionally bounded."""

    name = "number"

    def __init__(self, min: float | None = None, *, min_open: bool = False, max: float | None = None) -> None:
        self.min, self.min_open, self.max = min, min_open, max

    def convert(self, value: Any, param: Any, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        else:
            text = str(value).strip()
            if not _FLOAT.fullmatch(text):
                self.fail(f"{shown(value)} is not a number", param, ctx)
            number = float(text)
        if not math.isfinite(number):
            self.fail(f"{shown(value)} is not a finite number", param, ctx)
        if self.min is not None and (number < self.min or (self.min_open and number == self.min)):
            self.fail(f"{shown(value)} must be {'>' if self.min_open else '>='} {self.min:g}", param, ctx)
        if self.max is not None and number > self.max:
            self.fail(f"{shown(value)} must be at most {self.max:.15g}", param, ctx)
        return number


class Seconds(Number):
    """A finite number of seconds > 0 (or >= ``min``), at most a day (:data:`MAX_SECONDS`)."""

    name = "seconds"

    def __init__(self, min: float = 0.0) -> None:
        super().__init__(min, min_open=min == 0.0, max=MAX_SECONDS)


class ImageName(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    """``[registry[:port]/]name[/name...][:tag][@digest]`` with lowercase path components."""

    name = "image"

    def convert(self, value: Any, param: Any, ctx: click.Context | None) -> str:
        text = str(value)
        if len(text) > MAX_IMAGE or not IMAGE_REFERENCE.fullmatch(text):
            self.fail(
                f"{shown(value)} is not a Docker image name; use [registry[:port]/]name[:tag][@digest] "
                "with lowercase names, e.g. cloreai/ubuntu22.04-cuda12:latest",
                param,
                ctx,
            )
        return text


def parse_port(value: str) -> tuple[str, str]:
    """``22:tcp`` → ("22", "tcp"); ASCII digits 1..65535 and tcp or http, else a usage error."""
    port, sep, proto = value.partition(":")
    port, proto = port.strip(), proto.strip().lower()
    if not sep or not _PORT.fullmatch(port) or not 1 <= int(port) <= 65535 or proto not in ("tcp", "http"):
        raise click.BadParameter(
            f"{shown(value)} must look like 22:tcp or 8888:http (port 1..65535)", param_hint="--port"
        )
    return str(int(port)), proto


def read_key_file(path: str) -> str:
    """An ssh public key from a regular, UTF-8 text file of at most MAX_SSH_KEY characters.

    Opened without blocking and checked to be a regular file, so ``@/dev/zero`` or a FIFO
    is refused at once instead of hanging.
    """
    where = os.path.expanduser(path)
    hint = "--ssh-key"
    try:
        descriptor = os.open(where, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise click.BadParameter(f"cannot read {shown(path)}: {error.strerror}", param_hint=hint) from None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise click.BadParameter(
                f"{shown(path)} is not a regular file; give the public key file (e.g. ~/.ssh/id_ed25519.pub)",
                param_hint=hint,
            )
        data = os.read(descriptor, MAX_SSH_KEY * 4 + 1)
    except OSError as error:  # EIO from /proc/self/mem, a failing disk …: a usage error too
        raise click.BadParameter(f"cannot read {shown(path)}: {error.strerror}", param_hint=hint) from None
    finally:
        os.close(descriptor)
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise click.BadParameter(
            f"{shown(path)} is not UTF-8 text; give the public key file (e.g. ~/.ssh/id_ed25519.pub)",
            param_hint=hint,
        ) from None
    check_ssh_key(text, f"{shown(path)} holds")
    return text


def check_ssh_key(text: str, what: str = "the key has") -> None:
    if len(text) > MAX_SSH_KEY:
        raise click.BadParameter(
            f"{what} more than {MAX_SSH_KEY} characters; an ssh public key is shorter",
            param_hint="--ssh-key",
        )
    if any((ord(c) < 32 and c not in "\n\r\t") or c == "\x7f" for c in text):
        raise click.BadParameter(
            f"{what} control characters; give an ssh public key (ssh-ed25519 AAAA…)", param_hint="--ssh-key"
        )


_USD_RATE = re.compile(r"\$?\s*(?P<number>[^/\s]+)\s*/\s*(?P<unit>h|hr|hour|d|day)")


class UsdPerTime(Number):
    """A USD price that states its unit: ``0.5/h`` (per hour) or ``12/day`` (per day); a ``$``
    in front is allowed. Converted to USD **per day**, the API's unit."""

    name = "usd/h|usd/day"

    def __init__(self) -> None:
        super().__init__(0)

    def convert(self, value: Any, param: Any, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        text = str(value).strip().lower()
        found = _USD_RATE.fullmatch(text)
        if found is None:
            self.fail(
                f"{shown(value)} needs its unit: write 0.5/h (USD per hour) or 12/day (USD per day)",
                param,
                ctx,
            )
        number = super().convert(found.group("number"), param, ctx)
        per_day = number * 24 if found.group("unit") in ("h", "hr", "hour") else number
        if per_day > MAX_USD_PER_DAY:
            self.fail(f"{shown(value)} must be at most {MAX_USD_PER_DAY:.15g} USD per day", param, ctx)
        return per_day
