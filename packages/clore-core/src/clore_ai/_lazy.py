"""Nested model fields that are validated the first time they are read.

The marketplace repeats ``specs``, ``price`` and ``rating`` for thousands of servers, and most
callers look at a few of them (a filter reads ``rented``, a table shows twenty rows). Building
five nested models per server made ``marketplace()`` cost twice a bare ``json.loads`` of the
body; keeping the parsed objects as they are and validating one when it is first read brings
the whole call under one ``json.loads`` (docs/performance.md has the numbers).

An unread value is either the parsed object (a dict) or, when the answer was decoded by
``_rawjson``, its JSON text (``msgspec.Raw``), which is read straight from the bytes. The
nested models are ``_nested`` structs: msgspec reads them (strict rules), and what it cannot
read is read the pydantic way, leniently, with the same result for every value both read.

A lazy field is declared with its real type, so type checkers and readers see
``Optional[ServerSpecs]``; :func:`install_lazy_fields` then puts a data descriptor over it
that validates and caches on first access. Validation never raises there: a malformed key
is set aside (:func:`read_leniently`), because one odd value must not make a whole listing
unreadable.

The objects of one answer share a :class:`LazyBatch`. A caller who reads a few of them pays
for those few; once a field has been read on more than :data:`BATCH_AFTER` of them, the
rest are read for that field in a few msgspec calls (:data:`BATCH_SLICE` objects each) with
the cyclic GC paused (50,000 servers: reading every nested object 2.7 s → 0.2 s).
The values are the same as one at a time; only the moment they are built differs.

:func:`read_leniently` is also how a list answer reads the items that fail strict
validation: the field of an unexpected shape keeps its raw value (``unread_fields``) and its
typed attribute reads ``None``; the item itself is kept.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, Iterable, List, Mapping, Optional, Protocol, Set, Tuple, Type, TypeVar

from pydantic import (
    BaseModel,
    SerializerFunctionWrapHandler,
    SkipValidation,
    ValidationError,
    model_serializer,
)
from pydantic_core import from_json
from typing_extensions import Self

from ._gcpause import gc_paused
from ._nested import convert_many, decode_many, decode_one
from ._rawjson import RAW, raw_json

__all__ = [
    "LAZY",
    "LazyBatch",
    "UnreadableItem",
    "WithLazyFields",
    "install_lazy_fields",
    "keep_unread",
    "materialize",
    "read_leniently",
    "unread_fields_of",
]

log = logging.getLogger("clore_ai")
M = TypeVar("M", bound="Validating")


class Validating(Protocol):
    """What lenient reading needs of a model: a pydantic model or a ``_nested`` struct."""

    __pydantic_private__: Optional[Dict[str, Any]]

    @classmethod
    def model_validate(cls, obj: Any) -> Self: ...

    @classmethod
    def model_construct(cls, _fields_set: Optional[Set[str]] = None) -> Self: ...


#: Annotate a nested model field with this (``Annotated[Optional[Specs], LAZY]``) to keep
#: the parsed value until it is read. Skipping validation is native to pydantic-core: no
#: Python call per server.
LAZY: Any = SkipValidation()  # type: ignore[type-arg]


class UnreadableItem(ValueError):
    """An answer's item that no lenient reading can turn into its model (not an object,
    or a required field such as ``id`` missing or unreadable)."""


_UNREAD_KEY = "clore_unread"


def unread_fields_of(instance: Any) -> Dict[str, Any]:
    """Raw values of the fields :func:`read_leniently` could not read (dotted paths)."""
    private = instance.__pydantic_private__
    return dict(private.get(_UNREAD_KEY, {})) if private else {}


def keep_unread(instance: Any, name: str, value: Any) -> None:
    """Keep ``value`` in ``unread_fields`` under ``name``: a raw value no field could read."""
    private = dict(instance.__pydantic_private__ or {})
    private[_UNREAD_KEY] = {**private.get(_UNREAD_KEY, {}), name: value}
    if isinstance(instance, BaseModel):
        object.__setattr__(instance, "__pydantic_private__", private)
    else:  # a _nested struct: its own __dict__, where the class's None is shadowed
        instance.__dict__["__pydantic_private__"] = private


def _set_aside(data: Dict[str, Any], loc: Tuple[Any, ...], unread: Dict[str, Any]) -> int:
    """Take the value at ``loc`` out of ``data`` (copied along the path) into ``unread``.

    The walk goes down through objects and lists as far as the error points, so an odd
    ``specs.ram`` costs only ``ram`` and an odd offer only that offer, not the whole list.
    Returns 0 when ``loc`` names nothing in ``data`` (a missing required field at the top),
    1 when a key was taken out of an object, 2 when an element was taken out of a list (the
    later indexes of that error report have moved).
    """
    container: Any = data
    path: List[str] = []
    parents: List[Tuple[Any, Any]] = []
    for step in loc:
        if isinstance(container, dict):
            if not isinstance(step, str) or step not in container:
                break
        elif not isinstance(step, int) or not 0 <= step < len(container):
            break
        path.append(str(step))
        parents.append((container, step))
        value = container[step]
        if not isinstance(value, (dict, list)) or len(path) == len(loc):
            break
        copy: Any = dict(value) if isinstance(value, dict) else list(value)
        container[step] = copy
        container = copy
    if not parents:
        return 0
    # The deepest value reached is wrong, or lacks a required key: it is set aside.
    parent, key = parents[-1]
    name, again = ".".join(path), 2
    while name in unread:  # a list element taken out before sat at the same index
        name, again = f"{'.'.join(path)}#{again}", again + 1
    unread[name] = parent.pop(key)
    return 2 if isinstance(parent, list) else 1


def read_leniently(model: Type[M], data: Any) -> M:
    """``model.model_validate(data)``, but a field of an unexpected shape does not fail it.

    Each field named by a validation error is set aside (its raw value stays readable as
    ``unread_fields``) and validation is retried without it, so the typed attribute takes
    its default (``None``). Raises :class:`UnreadableItem` when no such reading exists: the
    data is not an object, or a required field is missing or unreadable.
    """
    if not isinstance(data, Mapping):
        raise UnreadableItem(f"a {model.__name__} must be a JSON object")
    lift = getattr(model, "__clore_lift__", None)
    kept: Dict[str, Any] = dict(lift(data) if lift is not None else data)
    unread: Dict[str, Any] = {}
    while True:
        try:
            instance = model.model_validate(kept)
        except ValidationError as error:
            moved = 0
            for entry in error.errors():
                moved = _set_aside(kept, tuple(entry["loc"]), unread) or moved
                if moved == 2:
                    break  # indexes after a removed list element have moved: validate again
            if not moved:
                raise UnreadableItem(f"a {model.__name__} without a readable required field") from None
            continue
        for name, value in unread.items():
            keep_unread(instance, name, value)
        return instance


def validate_leniently(model: Type[M], data: Dict[str, Any]) -> M:
    """A lazily validated nested object: read leniently, never fatal."""
    try:
        return model.model_validate(data)
    except ValidationError:
        pass
    try:
        instance = read_leniently(model, data)
    except UnreadableItem:
        log.warning("ignored a malformed %s in the response", model.__name__)
        return model.model_construct()
    unread = unread_fields_of(instance)
    if unread:
        log.info("read %s leniently; unexpected field(s): %s", model.__name__, ", ".join(sorted(unread)))
    return instance


#: Reads of one field, one object at a time, before the rest of its batch is validated at once.
BATCH_AFTER = 32

#: Objects read per call once a whole batch is read for a field.
BATCH_SLICE = 256


class LazyBatch:
    """The objects of one answer (their field dicts, never the objects: no reference cycle).

    Once the whole batch is validated for every lazy field it lets go of the dicts.
    """

    __slots__ = ("_fields", "_lock", "_pending", "_reads")

    def __init__(self, fields: Iterable[Tuple[str, Type[Any]]], members: Iterable[BaseModel]) -> None:
        self._fields = dict(fields)
        self._pending: List[Dict[str, Any]] = [member.__dict__ for member in members]
        self._reads = dict.fromkeys(self._fields, 0)
        self._lock = threading.Lock()

    def read(self, name: str) -> bool:
        """Count one lone read of ``name``; True when the batch has just validated it for all."""
        reads = self._reads.get(name)
        if reads is None:  # the field is done for the whole batch
            return False
        self._reads[name] = reads + 1
        if reads < BATCH_AFTER:
            return False
        with self._lock:
            if name in self._reads:
                self._validate_all(name)
        return True

    def _validate_all(self, name: str) -> None:
        model = self._fields[name]
        with gc_paused():  # a burst of new objects: see _gcpause
            # A slice at a time: a few hundred objects' text joined and read in one call
            # is faster than one call each, and than the whole batch at once (fresh memory).
            for start in range(0, len(self._pending), BATCH_SLICE):
                part = self._pending[start : start + BATCH_SLICE]
                raw = [held.get(name) for held in part]
                if not _ONLY_TEXT.issuperset(map(type, raw)):  # some were read alone already
                    part = [held for held, value in zip(part, raw) if value.__class__ in _UNREAD]
                    raw = [held[name] for held in part]
                for held, value, instance in zip(part, raw, _validate_slice(model, raw)):
                    if held[name] is value and instance is not _LEFT:  # not set meanwhile
                        held[name] = instance
        del self._reads[name]
        if not self._reads:
            self._pending = []


#: Values of a lazy field not validated yet: a parsed object, or JSON text (``_rawjson``).
_UNREAD = (dict, RAW)
_ONLY_TEXT = frozenset({RAW})  # a slice nobody has read from yet
#: In a validated slice: this one is left for a lone read (it is not an object).
_LEFT: Any = object()


def _validate_slice(model: Type[Any], raw: List[Any]) -> List[Any]:
    """``raw`` (parsed objects and JSON text, not yet read) read in one call of the fast
    reader (``_nested``) when it can; otherwise each is read leniently, as alone."""
    if not raw:
        return []
    kinds = set(map(type, raw))
    fast: Optional[List[Any]] = None
    if kinds == {RAW}:
        fast = decode_many(model, b"[" + b",".join(raw) + b"]")
    elif kinds == {dict}:
        fast = convert_many(model, raw)
    if fast is not None:
        return fast
    built: List[Any] = []
    for value in raw:
        data = _parsed(value) if value.__class__ is RAW else value
        if data is None:
            built.append(None)
        elif isinstance(data, dict):
            built.append(validate_leniently(model, data))
        else:  # the lone read sets it aside (unread_fields), as for any malformed value
            built.append(_LEFT)
    return built


def _parsed(value: Any) -> Any:
    """A kept nested object's JSON text, parsed; text pydantic-core cannot parse (nested
    deeper than it goes) comes back as a ``str``, which reads as a malformed value."""
    text = raw_json(value)
    try:
        return from_json(text)
    except (ValueError, RecursionError):
        return text.decode("utf-8", "replace")


def share_batch(instances: List[Any]) -> None:
    """Give the objects of one answer a shared :class:`LazyBatch` (models with lazy fields)."""
    fields: Optional[Dict[str, Type[Any]]] = None
    if instances:
        fields = getattr(type(instances[0]), "__clore_lazy_models__", None)
    if not fields or len(instances) <= BATCH_AFTER:
        return
    batch = LazyBatch(fields.items(), instances)
    slot = WithLazyFields.__dict__["_clore_batch"]  # the slot's member descriptor
    for instance in instances:
        slot.__set__(instance, batch)


class _LazyField:
    """Data descriptor over a pydantic field: validates the stored dict on first read.

    Every read of the field passes through ``__get__``: the path for a value already
    validated is kept to two lookups and a class check.
    """

    __slots__ = ("model", "name")

    def __init__(self, name: str, model: Type[Any]) -> None:
        self.name = name
        self.model = model

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__.get(self.name)
        if value.__class__ is self.model or value is None:
            return value
        return self._load(instance, value)

    def _load(self, instance: Any, value: Any) -> Any:
        if isinstance(value, self.model):
            return value
        if isinstance(value, _UNREAD):
            batch: Optional[LazyBatch] = getattr(instance, "_clore_batch", None)
            if batch is not None and batch.read(self.name):
                value = instance.__dict__.get(self.name)
                if value is None or isinstance(value, self.model):
                    return value
            if isinstance(value, RAW):
                fast = decode_one(self.model, raw_json(value))
                value = _parsed(value) if fast is NotImplemented else fast
                if value is None or isinstance(value, self.model):
                    instance.__dict__[self.name] = value
                    return value
        if value is None:
            pass
        elif isinstance(value, dict):
            value = validate_leniently(self.model, value)
        else:
            log.info("read a malformed %s in the response as None", self.model.__name__)
            keep_unread(instance, self.name, value)
            value = None
        instance.__dict__[self.name] = value
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.name] = value


def install_lazy_fields(cls: Type[BaseModel], **models: Type[Any]) -> None:
    """Put a validating descriptor over each named field of ``cls``."""
    for name, model in models.items():
        if name not in cls.model_fields:
            raise TypeError(f"{cls.__name__} has no field {name!r}")
        setattr(cls, name, _LazyField(name, model))
    cls.__clore_lazy_fields__ = tuple(models)  # type: ignore[attr-defined]
    cls.__clore_lazy_models__ = dict(models)  # type: ignore[attr-defined]


def materialize(instance: BaseModel) -> None:
    """Validate every lazy field of ``instance`` now (before dumping or comparing it)."""
    for name in getattr(type(instance), "__clore_lazy_fields__", ()):
        getattr(instance, name)


class WithLazyFields(BaseModel):
    """Base of models with lazy fields: dumping, comparing and repr see validated values.

    ``_clore_batch`` is a slot, outside the fields: it is neither compared, dumped, copied
    nor pickled.
    """

    __slots__ = ("_clore_batch",)

    @model_serializer(mode="wrap")
    def _materialize_before_dump(self, handler: SerializerFunctionWrapHandler) -> Any:
        materialize(self)
        return handler(self)

    def __eq__(self, other: object) -> bool:
        materialize(self)
        if isinstance(other, BaseModel):
            materialize(other)
        return super().__eq__(other)

    def __repr_args__(self) -> Any:
        materialize(self)
        return super().__repr_args__()
