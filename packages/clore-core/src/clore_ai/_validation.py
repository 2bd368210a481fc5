"""Local checks of user input, so that bad input never costs a request (or money).

Every failure raises :class:`InvalidInputError` with one line naming the parameter, the
value's problem and what is allowed. Limits come from the API documentation
(docs/reference: ssh_password ≤ 32, ssh_key ≤ 3072, jupyter_token ≤ 32,
issue ≤ 2048, ports tcp/http).
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

from .exceptions import InvalidInputError

__all__ = [
    "CURRENCIES",
    "CURRENCY_ALIASES",
    "ORDER_TYPES",
    "normalize_currency",
    "check_positive_int",
    "check_price",
    "build_create_order_body",
    "check_issue",
]

CURRENCIES = ("bitcoin", "CLORE-Blockchain", "USD-Blockchain")
CURRENCY_ALIASES = {
    "bitcoin": "bitcoin",
    "btc": "bitcoin",
    "clore": "CLORE-Blockchain",
    "clore-blockchain": "CLORE-Blockchain",
    "usd": "USD-Blockchain",
    "usdt": "USD-Blockchain",
    "usd-blockchain": "USD-Blockchain",
}
ORDER_TYPES = ("on-demand", "spot")
MAX_SSH_PASSWORD = 32
MAX_SSH_KEY = 3072
MAX_JUPYTER_TOKEN = 32
MAX_ISSUE = 2048
MAX_ENV_JSON = 12288
MAX_ENV_KEY = 128
MAX_ENV_VALUE = 1536


def _fail(message: str) -> InvalidInputError:
    return InvalidInputError(message, code=2)


def normalize_currency(value: Any) -> str:
    """``"btc"`` → ``"bitcoin"``, ``"clore"`` → ``"CLORE-Blockchain"``, ``"usd"`` → ``"USD-Blockchain"``."""
    if isinstance(value, str):
        found = CURRENCY_ALIASES.get(value.strip().lower())
        if found:
            return found
    raise _fail(f"currency {value!r} is not known; use one of {', '.join(CURRENCIES)} (or btc, clore, usd)")


def _order_currency(value: Any) -> str:
    """A known name or alias normalised; any other name sent as given (the API decides)."""
    if isinstance(value, str) and value.strip() and value.strip().lower() not in CURRENCY_ALIASES:
        return value.strip()
    return normalize_currency(value)


def check_positive_int(name: str, value: Any) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value)
    if number is None or number <= 0:
        raise _fail(f"{name} must be a positive whole number, got {value!r}")
    return number


def check_price(name: str, value: Any, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(f"{name} must be a number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise _fail(f"{name} must be {'>= 0' if allow_zero else 'greater than 0'}, got {value!r}")
    return float(value)


def _check_text(name: str, value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise _fail(f"{name} must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise _fail(f"{name} is {len(value)} characters long; the limit is {limit}")
    return value


def check_issue(issue: Any) -> str | None:
    if issue is None:
        return None
    return _check_text("issue", issue, MAX_ISSUE)


def _check_ports(ports: Any) -> dict[str, str]:
    if not isinstance(ports, Mapping):
        raise _fail('ports must be a mapping like {"22": "tcp", "8888": "http"}')
    checked: dict[str, str] = {}
    for port, protocol in ports.items():
        text = str(port).strip()
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            raise _fail(f"port {port!r} must be a number from 1 to 65535")
        kind = str(protocol).strip().lower()
        if kind not in ("tcp", "http"):
            raise _fail(f"port {text} has protocol {protocol!r}; use tcp or http")
        checked[text] = kind
    return checked


def _check_env(env: Any) -> dict[str, str]:
    if not isinstance(env, Mapping):
        raise _fail('env must be a mapping like {"NAME": "value"}')
    checked: dict[str, str] = {}
    for key, value in env.items():
        if not isinstance(key, str) or not key or len(key) > MAX_ENV_KEY:
            raise _fail(f"env name {key!r} must be 1 to {MAX_ENV_KEY} characters")
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise _fail(f"env {key} must have a text value")
        text = str(value)
        if len(text) > MAX_ENV_VALUE:
            raise _fail(f"env {key} is {len(text)} characters long; the limit is {MAX_ENV_VALUE}")
        checked[key] = text
    if len(json.dumps(checked)) >= MAX_ENV_JSON:
        raise _fail(f"env is too large; its JSON must be under {MAX_ENV_JSON} characters")
    return checked


def _check_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise _fail(f"{name} must be true or false, got {value!r}")


_SECRET_BODY_FIELDS = ("ssh_password", "jupyter_token", "dockerhub_auth")


def redacted_order_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with passwords, tokens and environment values replaced by ``****``."""
    shown = {k: ("****" if k in _SECRET_BODY_FIELDS else v) for k, v in body.items()}
    if isinstance(shown.get("env"), Mapping):
        shown["env"] = dict.fromkeys(shown["env"], "****")
    return shown


class OrderBody(dict):  # type: ignore[type-arg]
    """The create_order wire body. Its ``repr`` is redacted: it sits in frames and logs."""

    def __repr__(self) -> str:
        return f"OrderBody({redacted_order_body(self)!r})"


def build_create_order_body(
    *,
    server_id: Any,
    image: Any,
    type: Any,
    currency: Any,
    ssh_password: Any = None,
    ssh_key: Any = None,
    ports: Any = None,
    env: Any = None,
    jupyter_token: Any = None,
    command: Any = None,
    spot_price: Any = None,
    required_price: Any = None,
    autossh_entrypoint: Any = None,
) -> dict[str, Any]:
    """Validate create_order's arguments and map them to the wire body (an :class:`OrderBody`)."""
    body = OrderBody(renting_server=check_positive_int("server_id", server_id))
    if not isinstance(image, str) or not image.strip() or any(c.isspace() for c in image.strip()):
        raise _fail(f"image must be a Docker image name like cloreai/ubuntu22.04-cuda12, got {image!r}")
    body["image"] = image.strip().removeprefix("docker.io/")
    if type not in ORDER_TYPES:
        hint = ' (note the hyphen: "on-demand")' if type == "on_demand" else ""
        raise _fail(f'type must be "on-demand" or "spot", got {type!r}{hint}')
    body["type"] = type
    body["currency"] = _order_currency(currency)
    if type == "spot":
        if spot_price is None:
            raise _fail("spot_price is required for spot orders (your bid, per day, in the order currency)")
        body["spotprice"] = check_price("spot_price", spot_price)
    elif spot_price is not None:
        raise _fail('spot_price is only for spot orders; drop it or use type="spot"')
    if ssh_password is not None:
        # Length only: the live API accepted "GvDiagPass1!" (issue 13).
        body["ssh_password"] = _check_text("ssh_password", ssh_password, MAX_SSH_PASSWORD)
    if ssh_key is not None:
        body["ssh_key"] = _check_text("ssh_key", ssh_key, MAX_SSH_KEY)
    if ports is not None:
        body["ports"] = _check_ports(ports)
    if env is not None:
        body["env"] = _check_env(env)
    if jupyter_token is not None:
        body["jupyter_token"] = _check_text("jupyter_token", jupyter_token, MAX_JUPYTER_TOKEN)
    if command is not None:
        body["command"] = _check_text("command", command, 65536)
    if required_price is not None:
        if type == "spot":
            raise _fail("required_price is only for on-demand orders")
        body["required_price"] = check_price("required_price", required_price)
    if autossh_entrypoint is not None:
        body["autossh_entrypoint"] = _check_bool("autossh_entrypoint", autossh_entrypoint)
    return body
