"""The marketplace's nested objects: msgspec structs that read and dump like pydantic models.

``specs``, ``price`` and ``rating`` (with ``net`` and ``usd`` inside) repeat for every server
of an answer. As pydantic models, reading all of them for 5,000 servers took 37 ms and 7,400
fresh memory pages on Python 3.13: pydantic-core gives every instance a ``__dict__`` and a
``__pydantic_fields_set__``, and building those is most of the cost. As msgspec structs
(fixed slots, no per-instance set) the same reading takes 10.5 ms and 2,500 pages.

A :class:`NestedModel` keeps the surface callers use on a pydantic model: keyword
construction, ``==``, ``repr``, ``model_validate``/``model_validate_json`` (pydantic's lax
rules and its ``ValidationError``), ``model_dump``/``model_dump_json`` (every pydantic
option), ``model_copy``, ``model_json_schema`` and ``unread_fields``. Inside a pydantic model
(``ServerConfig.specs``, ``MarketplaceServer.specs``) it validates and serializes through a
core schema pydantic builds from the struct's own fields, so an odd ``specs.ram`` is reported
at that path and set aside like any other field.

Two readers, one result. The fast reader (:func:`decode_many`, :func:`convert_many`) is
msgspec with its strict rules, which accept a value only when its JSON type is the field's
own type (an integer for a float field too): for those values pydantic's lax rules give
exactly the same Python value. Anything else (``"16"`` for ``ram``, ``11.0`` for an integer
field, an odd shape) makes the fast reader fail, and the caller reads those objects the
pydantic way, leniently. tests/core/test_nested.py compares both readers.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Dict, List, Optional, Set, Tuple, Type, TypeVar

import msgspec
from pydantic import ConfigDict, GetCoreSchemaHandler, TypeAdapter
from pydantic_core import core_schema
from typing_extensions import Self, TypedDict

__all__ = ["NestedModel", "convert_many", "decode_many", "decode_one", "is_nested_model"]

N = TypeVar("N", bound="NestedModel")


class NestedModel(msgspec.Struct, kw_only=True, dict=True):
    """Base of the marketplace's nested objects (see the module's docstring).

    ``dict=True`` gives an instance room for what pydantic keeps in ``__pydantic_private__``
    (the raw values of ``unread_fields``); it costs nothing until used.
    """

    #: Where :mod:`._lazy` keeps the raw values of fields it could not read, as on a
    #: pydantic model; an instance gets its own only when it has some.
    __pydantic_private__: ClassVar[Optional[Dict[str, Any]]] = None

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        fields_schema = handler.generate_schema(_fields_typeddict(cls))

        def validate(value: Any, validate_fields: core_schema.ValidatorFunctionWrapHandler) -> Any:
            if isinstance(value, cls):
                return value
            return cls(**validate_fields(value))

        def serialize(value: Any, serialize_fields: core_schema.SerializerFunctionWrapHandler) -> Any:
            if isinstance(value, NestedModel):
                value = {name: getattr(value, name) for name in value.__struct_fields__}
            return serialize_fields(value)

        return core_schema.no_info_wrap_validator_function(
            validate,
            fields_schema,
            serialization=core_schema.wrap_serializer_function_ser_schema(serialize, schema=fields_schema),
        )

    @classmethod
    def model_validate(cls, obj: Any) -> Self:
        """Validate ``obj`` (a mapping or an instance) with pydantic's lax rules."""
        return _adapter(cls).validate_python(obj)  # type: ignore[no-any-return]

    @classmethod
    def model_validate_json(cls, data: str | bytes | bytearray) -> Self:
        return _adapter(cls).validate_json(data)  # type: ignore[no-any-return]

    @classmethod
    def model_construct(cls, _fields_set: Optional[Set[str]] = None, **values: Any) -> Self:
        """An instance from ``values`` as they are, without validation (defaults elsewhere)."""
        return cls(**values)

    @classmethod
    def model_json_schema(cls, **options: Any) -> Dict[str, Any]:
        return _adapter(cls).json_schema(**options)

    def model_dump(self, **options: Any) -> Dict[str, Any]:
        """The fields as a dict, nested objects too; takes pydantic's ``model_dump`` options."""
        return _adapter(type(self)).dump_python(self, **options)  # type: ignore[no-any-return]

    def model_dump_json(self, **options: Any) -> str:
        return _adapter(type(self)).dump_json(self, **options).decode("utf-8")

    def model_copy(self, *, update: Optional[Dict[str, Any]] = None, deep: bool = False) -> Self:
        copied = copy.deepcopy(self) if deep else copy.copy(self)
        return msgspec.structs.replace(copied, **update) if update else copied

    @property
    def unread_fields(self) -> Dict[str, Any]:
        """Raw values of the fields whose wire shape was unexpected; they read ``None``."""
        return dict((self.__pydantic_private__ or {}).get("clore_unread", {}))


def is_nested_model(model: Any) -> bool:
    return isinstance(model, type) and issubclass(model, NestedModel)


_TYPEDDICTS: Dict[type, Any] = {}
_ADAPTERS: Dict[type, TypeAdapter[Any]] = {}
_DECODERS: Dict[Tuple[type, bool], Any] = {}


def _fields_typeddict(cls: type) -> Any:
    """A TypedDict of the struct's fields: what pydantic validates and dumps for it."""
    found = _TYPEDDICTS.get(cls)
    if found is None:
        fields = {field.name: Optional[field.type] for field in msgspec.structs.fields(cls)}
        found = _make_typeddict(f"{cls.__name__}Fields", fields, total=False)
        found.__pydantic_config__ = ConfigDict(extra="ignore")  # keys the struct does not declare
        _TYPEDDICTS[cls] = found
    return found


_make_typeddict: Any = TypedDict  # the functional form, with a name made at run time


def _adapter(cls: type) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


def _decoder(cls: type, many: bool) -> Any:
    decoder = _DECODERS.get((cls, many))
    if decoder is None:
        target: Any = List[Optional[cls]] if many else Optional[cls]  # type: ignore[valid-type]
        decoder = _DECODERS[cls, many] = msgspec.json.Decoder(target)
    return decoder


def decode_many(cls: Type[N], text: bytes) -> Optional[List[Optional[N]]]:
    """A JSON array of ``cls`` objects (or nulls) read by the fast reader; None when any
    value is not of its field's own JSON type (read those the pydantic way)."""
    try:
        return _decoder(cls, True).decode(text)  # type: ignore[no-any-return]
    except (msgspec.MsgspecError, ValueError, RecursionError):
        return None


def decode_one(cls: Type[N], text: bytes) -> Any:
    """One object's JSON text read by the fast reader; ``NotImplemented`` when it cannot."""
    try:
        return _decoder(cls, False).decode(text)
    except (msgspec.MsgspecError, ValueError, RecursionError):
        return NotImplemented


def convert_many(cls: Type[N], values: List[Any]) -> Optional[List[Optional[N]]]:
    """Parsed objects (dicts or None) read by the fast reader; None as for :func:`decode_many`."""
    try:
        return msgspec.convert(values, List[Optional[cls]])  # type: ignore[valid-type]
    except (msgspec.MsgspecError, ValueError, TypeError, RecursionError):
        return None
