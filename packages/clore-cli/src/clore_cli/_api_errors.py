"""The API's code-6 strings (docs/reference/clore-api.md §2.17) as sentences with the next step,
and the SDK's Python parameter names as the CLI's options."""

from __future__ import annotations

import re
from typing import Any, Callable

__all__ = ["CODE6", "cli_terms", "explain"]

CODE6: dict[str, str] = {
    "server-dont-exist": "that server is not on the marketplace; pick one with `clore search`",
    "server-offline": "the server is offline right now; pick another with `clore search`",
    "server-already-rented": (
        "the server is already rented on demand; pick another with `clore search`, or bid for "
        "it with --type spot"
    ),
    "not_enough_balance": (
        "your wallet does not cover this order; see `clore wallets`, deposit, or pay in another currency"
    ),
    "cant_rent_from_yourself": "this server is one of yours and cannot be rented by you; pick another one",
    "too_low_price": (
        "your --spot-price is below the server's minimum spot price{min_price}; bid at least that "
        "(see `clore spot SERVER_ID`)"
    ),
    "price_changed": (
        "the server's price is no longer your --required-price{current_price}; nothing was rented. "
        "Run again with the new price as --required-price, or without it (see the quote)"
    ),
    "you_already_have_spot_order": (
        "you already have a spot order on this server; change its bid with `clore spot-price ORDER_ID PRICE`"
    ),
    "currency-not-allowed": (
        "the server does not accept this currency; the Coins column of `clore search` shows "
        "what each server takes"
    ),
    "machine-is-on-gigaspot": "the server is on GigaSPOT and cannot be rented with deploy; pick "
    "another with `clore search`",
    "you_dont_own_this_order": "that order is not one of yours; see `clore orders`",
    "order_not_active": "that order has already ended; see `clore orders --completed`",
    "issue_description_too_long": "the --issue text is longer than 2048 characters; shorten it",
    "order_dont_exist": (
        "you have no active spot order with that id; spot-price applies to spot orders (see `clore orders`)"
    ),
    "amount_too_low": "the bid is below the server's minimum spot price; see it with `clore spot SERVER_ID`",
    "can_lower_every_600_seconds": "a spot bid can be lowered once every 600 s; try again in "
    "{time_to_lowering} s",
    "exceeded_max_step": (
        "the bid was lowered by more than one step allows (at most {max_step} per day at a "
        "time); lower it in "
        "smaller steps"
    ),
    "server_dont_exist": "you have no server with that name{names}",
    "not_all_parameters_present": (
        "the API wants every setting at once: give availability, maximum rental length, on-demand "
        "and spot prices together (see `clore server-settings --help`)"
    ),
    "invalid_mrl": "the maximum rental length is out of range; give 6 to 3000 hours",
    "invalid_input": "the API refused a setting as invalid; check the values (see `clore "
    "server-settings --help`)",
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _amount(value: Any) -> str:
    """``3.82e-06`` -> ``0.00000382``: an amount of coin as people write it."""
    from .formats import human_number

    return human_number(float(value))


def explain(error: Any, servers: Callable[[], list[str]] | None = None) -> str | None:
    """A code-6 error as one sentence with the next step, the API's string kept at the end."""
    name = getattr(error, "error", None)
    template = CODE6.get(name or "")
    if template is None:
        return None
    details = dict(getattr(error, "details", None) or {})
    minimum, current = details.get("min_price"), details.get("current_price")
    step = details.get("max_step", "?")
    fields: dict[str, Any] = {
        "min_price": f" ({_amount(minimum)} per day)" if _is_number(minimum) else "",
        "current_price": f" (it is {_amount(current)} per day now)" if _is_number(current) else "",
        "time_to_lowering": details.get("time_to_lowering", "a few minutes"),
        "max_step": _amount(step) if _is_number(step) else step,
        "names": "",
    }
    if name == "server_dont_exist" and servers is not None:
        try:
            names = servers()
        except Exception:  # noqa: BLE001 - the sentence stands without the list
            names = []
        fields["names"] = f"; your servers: {', '.join(names)}" if names else "; see `clore servers`"
    if fields["max_step"] == "?":
        template = template.replace(" (at most {max_step} per day at a time)", "")
    return template.format(**fields) + f" (API: {name})"


_TERMS = [
    (re.compile(r"\borders\[\d+\]\.oc\[\d+\]\.pl\b"), "--pl"),  # gigaspot-order bodies
    (re.compile(r"\borders\[\d+\]\.price\b"), "--price"),
    (re.compile(r'use type="spot"'), "use --type spot"),
    (re.compile(r"\bspot_price\b"), "--spot-price"),
    (re.compile(r"\brequired_price\b"), "--required-price"),
    (re.compile(r"\bssh_password\b"), "--ssh-password"),
    (re.compile(r"\bssh_key\b"), "--ssh-key"),
    (re.compile(r"\bjupyter_token\b"), "--jupyter-token"),
    (re.compile(r"\bautossh_entrypoint\b"), "--autossh-entrypoint"),
    (re.compile(r"^image\b"), "--image"),
    (re.compile(r"^env\b"), "--env"),
    (re.compile(r"^command\b"), "--command"),
    (re.compile(r"^type\b"), "--type"),
]


def cli_terms(message: str) -> str:
    """``spot_price is required …`` -> ``--spot-price is required …``."""
    for pattern, replacement in _TERMS:
        message = pattern.sub(replacement, message)
    return message
