"""Local checks of user input, so that bad input never costs a request (or money).

Every failure raises :class:`InvalidInputError` with one line naming the parameter, the
value's problem and what is allowed. Limits come from the API documentation
(docs/reference: ssh_password ≤ 32, ssh_key ≤ 3072, jupyter_token ≤ 32,
issue ≤ 2048, ports tcp/http).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Mapping

from .exceptions import InvalidInputError

__all__ = [
    "CURRENCIES",
    "CURRENCY_ALIASES",
    "ORDER_TYPES",
    "normalize_currency",
    "check_number",
    "check_positive_int",
    "check_price",
    "shown",
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
MAX_ID = 2**63 - 1  # ids, server ids and hours are whole numbers the API stores in 64 bits
MAX_PRICE = 1e9  # per day, in any currency: far above any real price, far below overflow
MAX_SECONDS = 86400.0  # client timeouts and waits: at most a day


def _fail(message: str) -> InvalidInputError:
    return InvalidInputError(message, code=2)


def shown(value: Any, limit: int = 40) -> str:
    """A short ``repr`` for messages that never fails: no 5,000-digit numbers, no hostile reprs."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return "a number that is too large"
    if isinstance(value, float):  # 38.0 stays 38.0: "must be a whole number, got 38" would not say why
        return _plain_float(value)
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - any broken __repr__ gets a neutral description
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain_float(value: float) -> str:
    """``3e-05`` → ``0.00003``: a number as people write it, exactly (its shortest repr's
    digits); exponents only where plain digits would not be readable (nan, inf, 1e300)."""
    if not math.isfinite(value) or not (value == 0 or 1e-12 <= abs(value) < 1e15):
        return repr(value)
    from decimal import Decimal

    text = format(Decimal(repr(value)), "f")
    return text if "." in text else text + ".0"


def plain_number(value: float) -> str:
    """A number in a message: ``0.0001``, ``5000``, ``0.00001``, never ``1e-05``."""
    return _plain_float(value).removesuffix(".0")


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float, or None (booleans, text, NaN, ±inf and ``10**400`` are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def check_number(name: str, value: Any, *, minimum: float, maximum: float, above: bool = False) -> float:
    """A finite number in ``[minimum, maximum]`` (``(minimum, maximum]`` with ``above``)."""
    number = finite_number(value)
    low = f"greater than {plain_number(minimum)}" if above else f"at least {plain_number(minimum)}"
    if number is None:
        raise _fail(f"{name} must be a finite number, got {shown(value)}")
    if number < minimum or (above and number == minimum) or number > maximum:
        raise _fail(f"{name} must be {low} and at most {plain_number(maximum)}, got {shown(value)}")
    return number


def normalize_currency(value: Any) -> str:
    """``"btc"`` → ``"bitcoin"``, ``"clore"`` → ``"CLORE-Blockchain"``, ``"usd"`` → ``"USD-Blockchain"``."""
    if isinstance(value, str):
        found = CURRENCY_ALIASES.get(value.strip().lower())
        if found:
            return found
    raise _fail(
        f"currency {shown(value)} is not known; use one of {', '.join(CURRENCIES)} (or btc, clore, usd)"
    )


# What a coin's name looks like on the wire (CLORE-Blockchain, USD-Blockchain, bitcoin).
_CURRENCY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _order_currency(value: Any) -> str:
    """A known name or alias normalised; any other name sent as given (the API decides)."""
    text = value.strip() if isinstance(value, str) else ""
    if text.lower() not in CURRENCY_ALIASES and _CURRENCY_NAME.fullmatch(text):
        return text
    return normalize_currency(value)


def _whole_number(value: Any, digits: int) -> int | None:
    """An int, or text of at most ``digits`` ASCII digits ("²" is a digit to ``str.isdigit``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if 0 < len(text) <= digits and text.isascii() and text.isdigit():
            return int(text)
    return None


def check_positive_int(name: str, value: Any, *, maximum: int = MAX_ID) -> int:
    number = _whole_number(value, len(str(maximum)))
    if number is None or not 1 <= number <= maximum:
        raise _fail(f"{name} must be a positive whole number (at most {maximum}), got {shown(value)}")
    return number


def check_price(name: str, value: Any, *, allow_zero: bool = False) -> float:
    number = finite_number(value)
    if number is None:
        raise _fail(f"{name} must be a number, got {shown(value)}")
    if number < 0 or (number == 0 and not allow_zero):
        raise _fail(f"{name} must be {'>= 0' if allow_zero else 'greater than 0'}, got {shown(value)}")
    if number > MAX_PRICE:
        raise _fail(f"{name} must be at most {plain_number(MAX_PRICE)} per day, got {shown(value)}")
    return number


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
        number = _whole_number(port, 5)
        if number is None or not 1 <= number <= 65535:
            raise _fail(f"port {shown(port)} must be a number from 1 to 65535")
        text = str(number)
        kind = protocol.strip().lower() if isinstance(protocol, str) else None
        if kind not in ("tcp", "http"):
            raise _fail(f"port {text} has protocol {shown(protocol)}; use tcp or http")
        checked[text] = kind
    return checked


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # ASCII: what a container reads as $NAME


def _check_env(env: Any) -> dict[str, str]:
    if not isinstance(env, Mapping):
        raise _fail('env must be a mapping like {"NAME": "value"}')
    checked: dict[str, str] = {}
    for key, value in env.items():
        if not isinstance(key, str) or not key or len(key) > MAX_ENV_KEY:
            raise _fail(f"env name {shown(key)} must be 1 to {MAX_ENV_KEY} characters")
        if not _ENV_NAME.fullmatch(key):
            raise _fail(f"env name {shown(key)} must be letters, digits and _ (not first a digit)")
        small_int = isinstance(value, int) and not isinstance(value, bool) and value.bit_length() <= 64
        if isinstance(value, str):
            text = value
        elif small_int or (isinstance(value, float) and math.isfinite(value)):
            text = str(value)
        else:
            raise _fail(f"env {key} must have a text value")
        if len(text) > MAX_ENV_VALUE:
            raise _fail(f"env {key} is {len(text)} characters long; the limit is {MAX_ENV_VALUE}")
        checked[key] = text
    if len(json.dumps(checked)) >= MAX_ENV_JSON:
        raise _fail(f"env is too large; its JSON must be under {MAX_ENV_JSON} characters")
    return checked


def check_flag(name: str, value: Any) -> bool:
    """True/False (or their text: "true", "no", "1"…); anything else is refused, not read by truthiness."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise _fail(f"{name} must be true or false, got {shown(value)}")


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
        raise _fail(f"image must be a Docker image name like cloreai/ubuntu22.04-cuda12, got {shown(image)}")
    body["image"] = image.strip().removeprefix("docker.io/")
    if type not in ORDER_TYPES:
        hint = ' (note the hyphen: "on-demand")' if type == "on_demand" else ""
        raise _fail(f'type must be "on-demand" or "spot", got {shown(type)}{hint}')
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
        body["autossh_entrypoint"] = check_flag("autossh_entrypoint", autossh_entrypoint)
    return body


# ── host settings ─────────────────────────────────────────────────────────

PRICE_KINDS = ("on_demand", "spot")


def _per_currency_prices(name: str, value: Any) -> dict[str, float]:
    """``{"btc": 0.0001}`` → ``{"bitcoin": 0.0001}``, every price checked (per day)."""
    if not isinstance(value, Mapping) or not value:
        raise _fail(f'{name} must be a number or a mapping like {{"bitcoin": 0.0001}}, got {shown(value)}')
    prices: dict[str, float] = {}
    for currency, price in value.items():
        coin = normalize_currency(currency)
        prices[coin] = check_price(f"{name}[{coin}]", price, allow_zero=True)
    return prices


def build_server_settings_body(
    *,
    name: Any,
    availability: Any = None,
    mrl: Any = None,
    on_demand: Any = None,
    spot: Any = None,
    enabled: Any = None,
    autoprice: Any = None,
    usd_pricing: Any = None,
) -> dict[str, Any]:
    """The ``set_server_settings`` body as current clients send it.

    A number for ``on_demand``/``spot`` is the legacy field of the same name; a mapping
    (currency → price per day in that currency) becomes ``<currency>_on_demand`` /
    ``<currency>_spot``. ``enabled`` (currency → bool) becomes ``enabled-<currency>``;
    ``usd_pricing`` is ``{"on_demand": usd, "spot": usd}`` per day.
    """
    if not isinstance(name, str) or not name.strip():
        raise _fail("name must be the non-empty name of a server you host")
    body: dict[str, Any] = {"name": name}
    if availability is not None:
        if not isinstance(availability, bool):
            raise _fail(f"availability must be true or false, got {shown(availability)}")
        body["availability"] = availability
    if mrl is not None:
        body["mrl"] = check_positive_int("mrl", mrl)
    for kind, value in (("on_demand", on_demand), ("spot", spot)):
        if value is None:
            continue
        if isinstance(value, Mapping):
            for coin, price in _per_currency_prices(kind, value).items():
                body[f"{coin}_{kind}"] = price
        else:
            body[kind] = check_price(kind, value, allow_zero=True)
    if enabled is not None:
        if not isinstance(enabled, Mapping) or not enabled:
            raise _fail(f'enabled must be a mapping like {{"bitcoin": True}}, got {shown(enabled)}')
        for currency, on in enabled.items():
            coin = normalize_currency(currency)
            if not isinstance(on, bool):
                raise _fail(f"enabled[{coin}] must be true or false, got {shown(on)}")
            body[f"enabled-{coin}"] = on
    if autoprice is not None:
        if not isinstance(autoprice, bool):
            raise _fail(f"autoprice must be true or false, got {shown(autoprice)}")
        body["autoprice"] = autoprice
    if usd_pricing is not None:
        if not isinstance(usd_pricing, Mapping) or not usd_pricing or set(usd_pricing) - set(PRICE_KINDS):
            raise _fail(
                f'usd_pricing must be a mapping like {{"on_demand": 4.5, "spot": 2.25}} (USD per day), '
                f"got {shown(usd_pricing)}"
            )
        body["usd_pricing"] = {
            kind: check_price(f"usd_pricing[{kind}]", price, allow_zero=True)
            for kind, price in usd_pricing.items()
        }
    if len(body) == 1:
        raise _fail("set_server_settings needs at least one setting besides name")
    return body


# ── GigaSPOT ──────────────────────────────────────────────────────────────

GIGASPOT_MIN_PRICE = 0.0001  # clore-gigaspot's client-side range, per day in the order currency
GIGASPOT_MAX_PRICE = 5000.0
_OC_FIELDS = ("pl", "core_offset", "mem_offset", "core_lock", "mem_lock")


def _check_gigaspot_price(name: str, value: Any) -> float:
    return check_number(name, value, minimum=GIGASPOT_MIN_PRICE, maximum=GIGASPOT_MAX_PRICE)


def _check_oc(name: str, value: Any) -> list[dict[str, int]]:
    if not isinstance(value, (list, tuple)):
        raise _fail(f'{name} must be a list with one entry per GPU, like [{{"pl": 300}}], got {shown(value)}')
    checked = []
    for index, entry in enumerate(value):
        if not isinstance(entry, Mapping) or "pl" not in entry:
            raise _fail(
                f"{name}[{index}] must be a mapping with at least a power limit pl, got {shown(entry)}"
            )
        item: dict[str, int] = {}
        for key, number in entry.items():
            if key not in _OC_FIELDS:
                raise _fail(f"{name}[{index}] has unknown key {shown(key)}; use {', '.join(_OC_FIELDS)}")
            if isinstance(number, bool) or not isinstance(number, int) or abs(number) > 100_000:
                raise _fail(f"{name}[{index}].{key} must be a whole number, got {shown(number)}")
            item[str(key)] = number
        checked.append(item)
    return checked


def _check_batch(name: str, value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, (list, tuple)) or not value:
        raise _fail(f"{name} must be a non-empty list of orders")
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise _fail(f"{name}[{index}] must be a mapping, got {shown(item)}")
    return list(value)


def build_gigaspot_create_body(orders: Any) -> list[dict[str, Any]]:
    """``create_gigaspot_orders``: each ``{currency, image, renting_server, price, oc[, env]}``."""
    body = []
    for index, order in enumerate(_check_batch("orders", orders)):
        where = f"orders[{index}]"
        image = order.get("image")
        if not isinstance(image, str) or not image.strip():
            raise _fail(f"{where}.image must be a CCR image id, got {shown(image)}")
        item: dict[str, Any] = {
            "currency": _order_currency(order.get("currency")),
            "image": image,
            "renting_server": check_positive_int(f"{where}.renting_server", order.get("renting_server")),
            "price": _check_gigaspot_price(f"{where}.price", order.get("price")),
            "oc": _check_oc(f"{where}.oc", order.get("oc", [])),
        }
        if order.get("env") is not None:
            item["env"] = _check_env(order["env"])
        unknown = set(order) - {"currency", "image", "renting_server", "price", "oc", "env"}
        if unknown:
            raise _fail(f"{where} has unknown key {shown(sorted(unknown)[0])}")
        body.append(item)
    return body


def build_gigaspot_edit_body(orders: Any) -> list[dict[str, Any]]:
    """``edit_gigaspot_orders``: each ``{order_id, price[, oc]}``."""
    body = []
    for index, order in enumerate(_check_batch("orders", orders)):
        where = f"orders[{index}]"
        item: dict[str, Any] = {
            "order_id": check_positive_int(f"{where}.order_id", order.get("order_id")),
            "price": _check_gigaspot_price(f"{where}.price", order.get("price")),
        }
        if order.get("oc") is not None:
            item["oc"] = _check_oc(f"{where}.oc", order["oc"])
        unknown = set(order) - {"order_id", "price", "oc"}
        if unknown:
            raise _fail(f"{where} has unknown key {shown(sorted(unknown)[0])}")
        body.append(item)
    return body
