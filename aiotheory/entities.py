"""Single-table design: key `Template`s, typed `Collection`s of the models sharing a table, `template_of`.

A collection reads items of several models from one query and decodes each by its discriminator
attribute (see docs/single-table.md). Imports models and schemas only: no I/O, asyncio or transports.
"""

from __future__ import annotations

import types
import typing
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, TypeVar, overload

from ._registry import entry_for
from ._templates import Template
from .errors import UnknownEntity, ValidationError
from .model import Model, schema_of

if TYPE_CHECKING:
    from ._types import Item
    from .schema import IndexSchema, TableSchema

__all__ = ["Collection", "Template", "template_of"]

M = TypeVar("M", bound=Model)
T1 = TypeVar("T1", bound=Model)
T2 = TypeVar("T2", bound=Model)
T3 = TypeVar("T3", bound=Model)
T4 = TypeVar("T4", bound=Model)
T5 = TypeVar("T5", bound=Model)
T6 = TypeVar("T6", bound=Model)

Unknown = Literal["skip", "raise"]
_UNKNOWN: Final = ("skip", "raise")


def template_of(model: type[Model], field: str) -> Template:
    """The Template of a model's key field (for `begins_with(template_of(Order, "sk").prefix())`)."""
    return schema_of(model).template(field)


class Collection(Generic[M]):
    """Models that share one table, read together: `db.query(Collection(Customer, Order))`.

    Each item read is decoded as the member whose `entity` its discriminator attribute names. An item of
    no member (another entity, or written before the table was shared) is skipped and counted in
    `Page.skipped` with `unknown="skip"` (the default), or raises UnknownEntity with `unknown="raise"`.
    `db.query(Customer | Order)` is the same as `Collection(Customer, Order)`.
    """

    __slots__ = ("_by_entity", "_schemas", "models", "unknown")

    models: tuple[type[Model], ...]
    unknown: Unknown
    _schemas: tuple[TableSchema[Any], ...]
    _by_entity: dict[str, TableSchema[Any]]

    @overload
    def __init__(self: Collection[T1], m1: type[T1], /, *, unknown: Unknown = "skip") -> None: ...
    @overload
    def __init__(
        self: Collection[T1 | T2], m1: type[T1], m2: type[T2], /, *, unknown: Unknown = "skip"
    ) -> None: ...
    @overload
    def __init__(
        self: Collection[T1 | T2 | T3],
        m1: type[T1],
        m2: type[T2],
        m3: type[T3],
        /,
        *,
        unknown: Unknown = "skip",
    ) -> None: ...
    @overload
    def __init__(
        self: Collection[T1 | T2 | T3 | T4],
        m1: type[T1],
        m2: type[T2],
        m3: type[T3],
        m4: type[T4],
        /,
        *,
        unknown: Unknown = "skip",
    ) -> None: ...
    @overload
    def __init__(
        self: Collection[T1 | T2 | T3 | T4 | T5],
        m1: type[T1],
        m2: type[T2],
        m3: type[T3],
        m4: type[T4],
        m5: type[T5],
        /,
        *,
        unknown: Unknown = "skip",
    ) -> None: ...
    @overload
    def __init__(
        self: Collection[T1 | T2 | T3 | T4 | T5 | T6],
        m1: type[T1],
        m2: type[T2],
        m3: type[T3],
        m4: type[T4],
        m5: type[T5],
        m6: type[T6],
        /,
        *,
        unknown: Unknown = "skip",
    ) -> None: ...
    @overload
    def __init__(self: Collection[Model], *models: type[Model], unknown: Unknown = "skip") -> None: ...

    def __init__(self, *models: type[Model], unknown: Unknown = "skip") -> None:
        if not models:
            raise ValidationError("Collection needs at least one model")
        if unknown not in _UNKNOWN:
            raise ValidationError(f"Collection: unknown= must be one of {_UNKNOWN}, not {unknown!r}")
        schemas: list[TableSchema[Any]] = []
        for model in models:
            if not isinstance(model, type) or not issubclass(model, Model):
                raise ValidationError(f"Collection takes model classes, not {model!r}")
            schemas.append(schema_of(model))
        table = schemas[0].table
        for schema in schemas[1:]:
            if schema.table != table:
                raise ValidationError(
                    f"Collection: {schemas[0].model.__name__} lives in table {table!r} and "
                    f"{schema.model.__name__} in {schema.table!r}; a collection reads one table"
                )
        if len(schemas) > 1 and not entry_for(table).tagged:
            # Only TableTheory-format models share a table untagged: nothing in their items says which
            # model each is, so a collection could only skip them all.
            raise ValidationError(
                f"Collection: the items of table {table!r} carry no discriminator (its models use "
                "item_format='tabletheory', which never tags a table implicitly); set discriminator= "
                "(and entity=) on them to read a mix"
            )
        by_entity: dict[str, TableSchema[Any]] = {}
        for schema in schemas:
            other = by_entity.setdefault(schema.entity, schema)
            if other is not schema:
                raise ValidationError(f"Collection: {schema.model.__name__} is given twice")
        object.__setattr__(self, "models", tuple(models))
        object.__setattr__(self, "unknown", unknown)
        object.__setattr__(self, "_schemas", tuple(schemas))
        object.__setattr__(self, "_by_entity", by_entity)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Collection is immutable: cannot set {name!r}")

    def __repr__(self) -> str:
        return f"Collection({', '.join(m.__name__ for m in self.models)})"

    @classmethod
    def of(cls, union: object) -> Collection[Model]:
        """The collection of a `Customer | Order` union (what `db.query` does with one)."""
        if isinstance(union, Collection):
            return union
        if isinstance(union, types.UnionType) or typing.get_origin(union) is typing.Union:
            return Collection(*typing.get_args(union))
        raise ValidationError(f"expected a Collection or a union of models, not {union!r}")

    @property
    def schema(self) -> TableSchema[Any]:
        """The first member's schema: the table, its keys and the table name the collection reads."""
        return self._schemas[0]

    @property
    def discriminator(self) -> str:
        """The attribute whose value picks each item's model (the table's, read when a query is built)."""
        return entry_for(self._schemas[0].table).attribute

    def indexes(self) -> tuple[IndexSchema, ...]:
        """Every index any model of the table declares."""
        return entry_for(self._schemas[0].table).indexes()

    def decoder(self) -> _Dispatch:
        """The per-item decoder a query of this collection uses."""
        return _Dispatch(self.discriminator, self._by_entity, self.unknown == "raise", self.schema.table)

    def response_type(self) -> object:
        """`list[...]` of a pydantic tagged union of the members, for a FastAPI `response_model`.

        The union is discriminated by each value's model (its `entity`), so the OpenAPI schema lists each
        member once, with no field added to the models.
        """
        from typing import Annotated, Union

        from pydantic import Discriminator, Tag

        members = tuple(Annotated[s.model, Tag(s.entity)] for s in self._schemas)
        union: Any = Union.__getitem__(members)  # built at run time from a tuple
        return list[Annotated[union, Discriminator(_entity_tag)]]


def _entity_tag(value: object) -> str | None:
    """The pydantic discriminator of a collection's union: a model instance's entity (None otherwise, which
    pydantic reports as a value of no member)."""
    if isinstance(value, Model) and type(value).__dict__.get("__aiotheory__") is not None:
        return schema_of(type(value)).entity
    return None


class _Dispatch:
    """Decodes one item of a collection by its discriminator; None for an item of no member (skipped).

    `sealed` lists the members with Encrypted fields and `hooked` tells whether any member declares
    hooks: a query opens and hooks items by their own member, and pays nothing when neither applies.
    """

    __slots__ = ("_attribute", "_by_entity", "_members", "_raise", "_table", "hooked", "sealed")

    def __init__(
        self, attribute: str, by_entity: dict[str, TableSchema[Any]], raise_unknown: bool, table: str
    ) -> None:
        self._attribute = attribute
        self._by_entity = {tag: schema.decode for tag, schema in by_entity.items()}
        self._members = dict(by_entity)
        self._raise = raise_unknown
        self._table = table
        self.sealed: tuple[TableSchema[Any], ...] = tuple(s for s in by_entity.values() if s.encrypted)
        self.hooked = any(s.model.__aiotheory__.hooks is not None for s in by_entity.values())

    def member(self, item: Item) -> TableSchema[Any] | None:
        """The schema of the member `item`'s discriminator names; None for an item of no member."""
        av = item.get(self._attribute)
        return None if av is None else self._members.get(av.get("S"))  # type: ignore[arg-type]  # None misses

    def __call__(self, item: Item) -> Any:
        av = item.get(self._attribute)
        decode = None if av is None else self._by_entity.get(av.get("S"))  # type: ignore[arg-type]  # None misses
        if decode is not None:
            return decode(item)
        if self._raise:
            tag = None if av is None else av.get("S")
            raise UnknownEntity(
                f"an item of table {self._table!r} has {self._attribute}={tag!r}, no model of the collection",
                entity=tag if isinstance(tag, str) else None,
                table=self._table,
            )
        return None
