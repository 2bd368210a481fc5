"""Listings decoded with their nested objects left as JSON text until they are read.

A marketplace answer is mostly nested objects: ``specs``, ``price`` and ``rating`` (with
``net`` and ``usd`` inside) of every server. Parsing the body into Python objects built all
of them - 5,000 servers: 20 ms, 4,000 fresh memory pages - only for :mod:`._lazy` to keep
them unvalidated, and most callers never read most of them. msgspec decodes the body into one
small struct per server instead, in a third of the time, and keeps each nested object as a
:class:`msgspec.Raw`: a view of its bytes in the body, not a copy. The top-level fields are
then validated by pydantic as before, and a nested object is validated straight from its
JSON text when first read (``_lazy.py``: alone, or a slice of the batch in one call).

This is a fast path with a fallback, never a second reading of the wire: the struct forbids
unknown keys and accepts any JSON value in every field, and its answer is used only when the
envelope's ``code`` is the integer 0 and pydantic validates every item. On anything else (a
key the model does not declare, an item that is not an object, an odd value, a body msgspec
cannot read) the decoder returns ``None`` and ``_core.envelope_parser`` reads the body as it
always has, leniently, item by item. The models, values and order are the same either way.
msgspec does not look inside a kept object, so a body that is not valid UTF-8 is checked
first (``bytes.isascii`` is all a normal answer costs) and goes the general way.

Two differences are by design. A key absent on the wire is given to pydantic as ``null``, so
``model_fields_set`` of a server names every field (every field of these models defaults to
``None``: no value differs). And a nested object nested deeper than pydantic-core parses
(about 200 levels), which makes the general reading reject the whole answer, costs only that
object here: it reads ``None``, its text kept in ``unread_fields`` (``_nested.JsonValue``
keeps msgspec from reading deeper than pydantic would); under a key the model ignores, depth
costs nothing.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple, Type

import msgspec
from pydantic import BaseModel, TypeAdapter, ValidationError

__all__ = ["RAW", "listing_decoder", "raw_json"]

#: The class of a nested object kept as JSON text (``_lazy.py`` validates it when read).
RAW: Type[msgspec.Raw] = msgspec.Raw
_NULL = msgspec.Raw(b"null")

ListingDecoder = Callable[[bytes], Optional[List[Any]]]


def raw_json(value: msgspec.Raw) -> bytes:
    """The JSON text of a kept nested object (pydantic-core reads bytes, not buffers)."""
    return bytes(value)


def listing_decoder(
    field: str, model: Type[BaseModel], skip: Optional[Callable[[Any], bool]] = None
) -> Optional[ListingDecoder]:
    """A decoder of ``{"code": 0, field: [...]}`` into ``model`` instances, or None when the
    model cannot take this path (no lazy fields, a field read from another key, or a
    validator that sees the raw item)."""
    lazy: Dict[str, Any] = getattr(model, "__clore_lazy_models__", None) or {}
    if not lazy or not _reads_plain_fields(model):
        return None
    wire: List[Tuple[Any, ...]] = []
    for name, info in model.model_fields.items():
        if name in lazy:
            wire.append((name, msgspec.Raw, _NULL))
        elif info.is_required():
            wire.append((name, Any))
        else:
            wire.append((name, Any, None))
    wire.sort(key=len)  # msgspec: fields without a default come first
    item = msgspec.defstruct(f"_{model.__name__}Wire", wire, forbid_unknown_fields=True)
    envelope = msgspec.defstruct(
        f"_{model.__name__}ListingWire",
        [("code", Any, None), (field, Optional[List[item]], None)],  # type: ignore[valid-type]
    )
    decoder = msgspec.json.Decoder(envelope)
    adapter: TypeAdapter[List[Any]] = TypeAdapter(List[model])  # type: ignore[valid-type]

    def decode(body: bytes) -> Optional[List[Any]]:
        if not body.isascii() and not _is_utf8(body):
            return None  # the general reading rejects it, as it always has
        try:
            answer = decoder.decode(body)
        except (msgspec.MsgspecError, ValueError, RecursionError):
            return None
        code, items = getattr(answer, "code"), getattr(answer, field)  # noqa: B009 - a built struct
        if type(code) is not int or code != 0 or items is None:
            return None  # errors and odd envelopes: the general reading decides
        if skip is not None:
            items = [one for one in items if not skip(one)]
        try:
            return adapter.validate_python(items, from_attributes=True)
        except ValidationError:
            return None

    return decode


def _reads_plain_fields(model: Type[BaseModel]) -> bool:
    """Every field read from its own key, and nothing that sees the raw item before pydantic
    does (a ``before``/``wrap``/``plain`` validator, a ``__clore_lift__``): those would be
    handed a struct instead of a dict."""
    if getattr(model, "__clore_lift__", None) is not None:
        return False
    if any(info.alias or info.validation_alias for info in model.model_fields.values()):
        return False
    decorators = model.__pydantic_decorators__
    validators: List[Any] = [*decorators.model_validators.values(), *decorators.field_validators.values()]
    return all(getattr(found.info, "mode", "after") == "after" for found in validators)


def _is_utf8(body: bytes) -> bool:
    try:
        str(body, "utf-8")
    except UnicodeDecodeError:
        return False
    return True
