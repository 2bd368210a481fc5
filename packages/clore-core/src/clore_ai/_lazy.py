"""Nested model fields that are validated the first time they are read.

The marketplace repeats ``specs``, ``price`` and ``rating`` for thousands of servers, and most
callers look at a few of them (a filter reads ``rented``, a table shows twenty rows). Building
five nested models per server made ``marketplace()`` cost twice a bare ``json.loads`` of the
body; keeping the parsed objects as they are and validating one when it is first read brings
the whole call under one ``json.loads`` (docs/performance.md has the numbers).

A lazy field is declared with its real type, so type checkers and readers see
``Optional[ServerSpecs]``; :func:`install_lazy_fields` then puts a data descriptor over it
that validates and caches on first access. Validation never raises there: a malformed key
is dropped with a warning, because one odd value must not make a whole listing unreadable.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, Type

from pydantic import (
    BaseModel,
    SerializerFunctionWrapHandler,
    SkipValidation,
    ValidationError,
    model_serializer,
)

__all__ = ["LAZY", "WithLazyFields", "install_lazy_fields", "materialize"]

log = logging.getLogger("clore_ai")


#: Annotate a nested model field with this (``Annotated[Optional[Specs], LAZY]``) to keep
#: the parsed value until it is read. Skipping validation is native to pydantic-core: no
#: Python call per server.
LAZY: Any = SkipValidation()  # type: ignore[type-arg]


def validate_leniently(model: Type[BaseModel], data: Dict[str, Any]) -> BaseModel:
    """``model.model_validate(data)``; keys that fail validation are dropped, not fatal."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        bad = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
        names = ", ".join(sorted(bad))
        log.warning("ignored malformed %s field(s) in the response: %s", model.__name__, names)
        kept = {k: v for k, v in data.items() if k not in bad}
        try:
            return model.model_validate(kept)
        except ValidationError:
            return model.model_construct()


class _LazyField:
    """Data descriptor over a pydantic field: validates the stored dict on first read."""

    def __init__(self, name: str, model: Type[BaseModel]) -> None:
        self.name = name
        self.model = model

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__.get(self.name)
        if value is None or isinstance(value, self.model):
            return value
        if isinstance(value, dict):
            value = validate_leniently(self.model, value)
        else:
            log.warning("ignored a malformed %s in the response", self.model.__name__)
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


def materialize(instance: BaseModel) -> None:
    """Validate every lazy field of ``instance`` now (before dumping or comparing it)."""
    for name in getattr(type(instance), "__clore_lazy_fields__", ()):
        getattr(instance, name)


class WithLazyFields(BaseModel):
    """Base of models with lazy fields: dumping, comparing and repr see validated values."""

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
