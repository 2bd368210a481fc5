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
field, an odd shape, a free-form value deeper than :data:`JSON_DEPTH`) makes the fast reader
fail, and the caller reads those objects the pydantic way, leniently.
tests/core/test_nested.py compares both readers.

What is not like pydantic: ``isinstance(specs, BaseModel)`` is false, the constructor takes
values as they are (like ``model_construct``), and ``exclude_unset`` drops the ``None`` fields.
"""

from __future__ import annotations

import copy
import threading
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Dict,
    Iterator,
    List,
    Optional,
    Set,
    Tuple,
    Type,
    TypeVar,
    Union,
)

import msgspec
from pydantic import ConfigDict, GetCoreSchemaHandler, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import core_schema
from typing_extensions import Self, TypedDict, get_args, get_origin

__all__ = ["JsonValue", "NestedModel", "convert_many", "decode_many", "decode_one", "prepare_readers"]

N = TypeVar("N", bound="NestedModel")

#: How deep a value of a free-form field (``pl``, ``original_usd``) the fast reader takes.
#: 4 takes every shape the API has sent (``pl: [450]``); each level costs import time (the
#: union's branches double with it: 8 levels added 55 ms to ``import clore_ai.models``).
JSON_DEPTH = 4

if TYPE_CHECKING:
    JsonValue = Any
else:
    # A JSON value at most JSON_DEPTH containers deep: a free-form field of the fast reader.
    # Deeper (a hostile host's 300-level ``pl``) fails it, and the pydantic reading decides
    # as it always has: it parses about 200 levels and sets aside what is deeper, where a
    # value msgspec read 300 deep would make every dump of the listing fail.
    JsonValue = Union[None, bool, int, float, str]
    for _ in range(JSON_DEPTH):
        JsonValue = Union[None, bool, int, float, str, List[JsonValue], Dict[str, JsonValue]]


class NestedModel(msgspec.Struct, kw_only=True, dict=True):
    """Base of the marketplace's nested objects (see the module's docstring).

    ``dict=True`` gives an instance room for what pydantic keeps in ``__pydantic_private__``
    (the raw values of ``unread_fields``); it costs nothing until used. The constructor
    takes values as they are, like pydantic's ``model_construct``: ``model_validate`` reads
    a value the way the API's answers are read.
    """

    #: Where :mod:`._lazy` keeps the raw values of fields it could not read, as on a
    #: pydantic model; an instance gets its own only when it has some.
    __pydantic_private__: ClassVar[Optional[Dict[str, Any]]] = None
    model_config: ClassVar[Dict[str, Any]] = {"extra": "ignore"}

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        fields_schema = handler.generate_schema(_fields_typeddict(cls))

        def validate(value: Any, validate_fields: core_schema.ValidatorFunctionWrapHandler) -> Any:
            if isinstance(value, cls):
                return value
            return cls(**validate_fields(value))

        def serialize(
            value: Any, serialize_fields: core_schema.SerializerFunctionWrapHandler, info: Any
        ) -> Any:
            if isinstance(value, NestedModel):
                fields = {name: getattr(value, name) for name in value.__struct_fields__}
                if info.exclude_defaults or info.exclude_unset:
                    # Every default is None; a struct does not record which fields were set.
                    fields = {name: item for name, item in fields.items() if item is not None}
                value = fields
            return serialize_fields(value)

        return core_schema.no_info_wrap_validator_function(
            validate,
            fields_schema,
            serialization=core_schema.wrap_serializer_function_ser_schema(
                serialize, schema=fields_schema, info_arg=True
            ),
        )

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: Optional[bool] = None,
        from_attributes: Optional[bool] = None,
        context: Optional[Dict[str, Any]] = None,
    ) -> Self:
        """Validate ``obj`` (a mapping or an instance) with pydantic's lax rules."""
        return _adapter(cls).validate_python(  # type: ignore[no-any-return]
            obj, strict=strict, from_attributes=from_attributes, context=context
        )

    @classmethod
    def model_validate_json(
        cls,
        data: str | bytes | bytearray,
        *,
        strict: Optional[bool] = None,
        context: Optional[Dict[str, Any]] = None,
    ) -> Self:
        return _adapter(cls).validate_json(data, strict=strict, context=context)  # type: ignore[no-any-return]

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
    def model_fields_set(self) -> Set[str]:
        """The fields with a value (every default is None)."""
        return {name for name in self.__struct_fields__ if getattr(self, name) is not None}

    @property
    def model_extra(self) -> None:
        """None: keys the wire has and the struct does not are ignored, as ``extra="ignore"``."""
        return None

    @property
    def unread_fields(self) -> Dict[str, Any]:
        """Raw values of the fields whose wire shape was unexpected; they read ``None``."""
        return dict((self.__pydantic_private__ or {}).get("clore_unread", {}))

    def __iter__(self) -> Iterator[Tuple[str, Any]]:
        """``(name, value)`` pairs, as iterating a pydantic model gives (``dict(specs)``)."""
        return ((name, getattr(self, name)) for name in self.__struct_fields__)

    def __str__(self) -> str:
        return " ".join(f"{name}={value!r}" for name, value in self)

    def __eq__(self, other: object) -> bool:
        """Fields and ``unread_fields`` equal, as pydantic compares its private state."""
        if type(other) is not type(self):
            return NotImplemented
        return msgspec.structs.astuple(self) == msgspec.structs.astuple(other) and (
            self.__pydantic_private__ == other.__pydantic_private__
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, like a pydantic model

    def __copy__(self) -> Self:
        return _rebuild(type(self), msgspec.structs.astuple(self), self.__pydantic_private__)

    def __reduce__(self) -> Tuple[Any, ...]:
        # msgspec's own reduce and copy leave out the instance dict, where unread_fields live.
        return (_rebuild, (type(self), msgspec.structs.astuple(self), self.__pydantic_private__))


def _rebuild(cls: Type[N], values: Tuple[Any, ...], private: Optional[Dict[str, Any]]) -> N:
    instance = cls(**dict(zip(cls.__struct_fields__, values)))
    if private is not None:
        instance.__dict__["__pydantic_private__"] = private
    return instance


def _model_fields(cls: Type[NestedModel]) -> Dict[str, FieldInfo]:
    return {
        field.name: FieldInfo(annotation=_for_pydantic(field.type), default=None)
        for field in msgspec.structs.fields(cls)
    }


_TYPEDDICTS: Dict[type, Any] = {}
_ADAPTERS: Dict[type, TypeAdapter[Any]] = {}
_DECODERS: Dict[Tuple[type, bool], Any] = {}


def _fields_typeddict(cls: type) -> Any:
    """A TypedDict of the struct's fields: what pydantic validates and dumps for it."""
    found = _TYPEDDICTS.get(cls)
    if found is None:
        fields = {field.name: Optional[_for_pydantic(field.type)] for field in msgspec.structs.fields(cls)}
        found = _make_typeddict(cls.__name__, fields, total=False)
        found.__doc__ = cls.__doc__
        found.__pydantic_config__ = ConfigDict(extra="ignore")  # keys the struct does not declare
        _TYPEDDICTS[cls] = found
    return found


_make_typeddict: Any = TypedDict  # the functional form, with a name made at run time


def _for_pydantic(annotation: Any) -> Any:
    """A field's type as pydantic reads it: a free-form value is ``Any`` there, as it was."""
    if annotation == JsonValue:
        return Any
    origin, args = get_origin(annotation), get_args(annotation)
    generic: Any = {Union: Union, list: List, dict: Dict}.get(origin)
    if generic is None or not args:
        return annotation
    return generic[tuple(_for_pydantic(arg) for arg in args)]


def _adapter(cls: type) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


_DECODERS_LOCK = threading.Lock()


def _decoder(cls: type, many: bool) -> Any:
    decoder = _DECODERS.get((cls, many))
    if decoder is None:
        # msgspec 0.22 can crash when two threads set up the same struct type at once.
        with _DECODERS_LOCK:
            decoder = _DECODERS.get((cls, many))
            if decoder is None:
                target: Any = List[Optional[cls]] if many else Optional[cls]  # type: ignore[valid-type]
                decoder = _DECODERS[cls, many] = msgspec.json.Decoder(target)
    return decoder


def prepare_readers(*classes: type) -> None:
    """Build the fast readers of ``classes`` now (at import: before any thread reads)."""
    for cls in classes:
        _decoder(cls, True)
        _decoder(cls, False)
        msgspec.convert([], List[Optional[cls]])  # type: ignore[valid-type]
        cls.model_fields = _model_fields(cls)  # type: ignore[attr-defined]


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
