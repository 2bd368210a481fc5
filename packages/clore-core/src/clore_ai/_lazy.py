"""Nested model fields that are validated the first time they are read.

The marketplace repeats ``specs``, ``price`` and ``rating`` for thousands of servers, and most
callers look at a few of them (a filter reads ``rented``, a table shows twenty rows). Building
five nested models per server made ``marketplace()`` cost twice a bare ``json.loads`` of the
body; keeping the parsed objects as they are and validating one when it is first read brings
the whole call under one ``json.loads`` (docs/performance.md has the numbers).

An unread value is either the parsed object (a dict) or, when the answer was decoded by
``_rawjson``, its JSON text (``msgspec.Raw``), which is validated straight from the bytes.

A lazy field is declared with its real type, so type checkers and readers see
``Optional[ServerSpecs]``; :func:`install_lazy_fields` then puts a data descriptor over it
that validates and caches on first access. Validation never raises there: a malformed key
is set aside (:func:`read_leniently`), because one odd value must not make a whole listing
unreadable.

The objects of one answer share a :class:`LazyBatch`. A caller who reads a few of them pays
for those few; once a field has been read on more than :data:`BATCH_AFTER` of them, the
rest are validated for that field in a few pydantic-core calls (:data:`BATCH_SLICE` objects
each) with the cyclic GC paused (50,000 servers: reading every nested object 2.7 s → 0.3 s).
The values are the same as one at a time; only the moment they are built differs.

:func:`read_leniently` is also how a list answer reads the items that fail strict
validation: the field of an unexpected shape keeps its raw value (``unread_fields``) and its
typed attribute reads ``None``; the item itself is kept.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Type, TypeVar

from pydantic import (
    BaseModel,
    SerializerFunctionWrapHandler,
    SkipValidation,
    TypeAdapter,
    ValidationError,
    model_serializer,
)
from pydantic_core import from_json

from ._gcpause import gc_paused
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
M = TypeVar("M", bound=BaseModel)


#: Annotate a nested model field with this (``Annotated[Optional[Specs], LAZY]``) to keep
#: the parsed value until it is read. Skipping validation is native to pydantic-core: no
#: Python call per server.
LAZY: Any = SkipValidation()  # type: ignore[type-arg]


class UnreadableItem(ValueError):
    """An answer's item that no lenient reading can turn into its model (not an object,
    or a required field such as ``id`` missing or unreadable)."""


_UNREAD_KEY = "clore_unread"


def unread_fields_of(instance: BaseModel) -> Dict[str, Any]:
    """Raw values of the fields :func:`read_leniently` could not read (dotted paths)."""
    private = instance.__pydantic_private__
    return dict(private.get(_UNREAD_KEY, {})) if private else {}


def keep_unread(instance: BaseModel, name: str, value: Any) -> None:
    """Keep ``value`` in ``unread_fields`` under ``name``: a raw value no field could read."""
    private = dict(instance.__pydantic_private__ or {})
    private[_UNREAD_KEY] = {**private.get(_UNREAD_KEY, {}), name: value}
    object.__setattr__(instance, "__pydantic_private__", private)


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

#: Objects validated per pydantic-core call once a whole batch is validated for a field.
BATCH_SLICE = 256


class LazyBatch:
    """The objects of one answer (their field dicts, never the objects: no reference cycle).

    Once the whole batch is validated for every lazy field it lets go of the dicts.
    """

    __slots__ = ("_fields", "_lock", "_pending", "_reads")

    def __init__(self, fields: Iterable[Tuple[str, Type[BaseModel]]], members: Iterable[BaseModel]) -> None:
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
        holders = [held for held in self._pending if held.get(name).__class__ in _UNREAD]
        with gc_paused():  # a burst of live containers: see _gcpause
            # A slice at a time: each slice's parsed dicts are freed before the next is built,
            # so the new models reuse their memory instead of faulting in fresh pages
            # (5,000 servers: 3,300 → 2,000 page faults, reading every field 30 → 26.5 ms).
            for start in range(0, len(holders), BATCH_SLICE):
                part = holders[start : start + BATCH_SLICE]
                raw = [held[name] for held in part]
                for held, value, instance in zip(part, raw, _validate_slice(model, raw)):
                    if held[name] is value and instance is not _LEFT:  # not read alone meanwhile
                        held[name] = instance
                del raw
        del self._reads[name]
        if not self._reads:
            self._pending = []


#: Values of a lazy field not validated yet: a parsed object, or JSON text (``_rawjson``).
_UNREAD = (dict, RAW)
#: In a validated slice: this one is left for a lone read (it is not an object).
_LEFT: Any = object()


def _validate_slice(model: Type[BaseModel], raw: List[Any]) -> List[Any]:
    """``raw`` (all parsed objects, or all JSON text) validated in one pydantic-core call;
    when some are odd, each is read leniently, as alone."""
    try:
        if raw[0].__class__ is RAW:
            joined = b"[" + b",".join(raw) + b"]"
            return _list_adapter(model, optional=True).validate_json(joined)
        return _list_adapter(model).validate_python(raw)
    except (ValueError, TypeError):  # ValidationError; TypeError: a slice of both kinds
        pass
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


_ADAPTERS: Dict[Tuple[Type[BaseModel], bool], TypeAdapter[List[Any]]] = {}


def _list_adapter(model: Type[BaseModel], optional: bool = False) -> TypeAdapter[List[Any]]:
    """``List[model]``, or ``List[Optional[model]]`` for JSON text, where ``null`` reads None."""
    adapter = _ADAPTERS.get((model, optional))
    if adapter is None:
        item: Any = Optional[model] if optional else model
        adapter = _ADAPTERS[model, optional] = TypeAdapter(List[item])
    return adapter


def share_batch(instances: List[Any]) -> None:
    """Give the objects of one answer a shared :class:`LazyBatch` (models with lazy fields)."""
    fields: Optional[Dict[str, Type[BaseModel]]] = None
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

    def __init__(self, name: str, model: Type[BaseModel]) -> None:
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
                value = _parsed(value)
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


def install_lazy_fields(cls: Type[BaseModel], **models: Type[BaseModel]) -> None:
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
