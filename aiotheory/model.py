"""Models: the pydantic v2 base with a table name, the key/index/field markers, and `schema_of`.

Each model class carries one compiled object (`__aiotheory__`): its field plans, layout, codec, table
schema and field expressions, each built once under one lock. Definition errors (`aiotheory._rules`) raise
when the class is created; the codec and schema are built on first use or by `schema_of` (which
`DB.register` calls). The schema itself lives in `aiotheory.schema`, re-exported here. Imports pydantic
and nothing of I/O, asyncio or transports.

Storage rules worth knowing:
- datetime is an RFC 3339 UTC string with microseconds ("2026-11-23T14:45:00.123456Z"); a naive datetime is
  taken as UTC, and every datetime reads back timezone-aware in UTC. `EpochSeconds` stores epoch seconds (N)
  with microseconds; `TTL` stores whole epoch seconds (sub-second precision is dropped).
- None is not written (the attribute is absent); an empty set is not written and reads back as an empty set
  (as None for an optional set). An empty set inside a list or map is a ValidationError.
- A stored NULL reads as the empty value of a container field (TableTheory writes empty sets so), and as
  None for an optional field.
- `item_format="tabletheory"` writes TableTheory's items instead (RFC3339Nano datetimes, NULL for None
  and empty sets); `naming=` derives stored names from field names (docs/tabletheory.md).
- Attributes of an item that no field names are ignored on read.
- A subclass without `table=` is abstract, even when its parent has a table.
- Several models may declare one table (single-table design, docs/single-table.md): `entity=` names the
  value of the discriminator attribute a model writes (default: its class name), `discriminator=` that
  attribute (default `_type`). Conflicting keys or indexes of two entities raise ValidationError at class
  creation; two classes of one entity (versions of a model) replace each other instead.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic._internal._model_construction import ModelMetaclass

from ._model_markers import (
    GSI,
    LSI,
    PK,
    SK,
    TTL,
    Converter,
    CreatedAt,
    Encrypted,
    EpochSeconds,
    Ignore,
    JSONString,
    OmitEmpty,
    RFC3339Nano,
    Stored,
    UpdatedAt,
    Version,
)
from ._registry import register
from ._rules import ITEM_FORMATS, NAMINGS, Hooks, check_table_name, field_plans, hooks_of, layout_of
from .codec._model import ModelCodec
from .errors import ValidationError
from .schema import (
    FieldEncoder,
    FieldRef,
    IndexSchema,
    KeyAttr,
    Layout,
    TableSchema,
    build_schema,
    key_templates,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._rules import ItemFormat, Naming
    from .codec._model import FieldPlan
    from .expr import Attr

__all__ = [
    "GSI",
    "LSI",
    "PK",
    "SK",
    "TTL",
    "Converter",
    "CreatedAt",
    "Encrypted",
    "EpochSeconds",
    "FieldRef",
    "Ignore",
    "IndexSchema",
    "JSONString",
    "KeyAttr",
    "Model",
    "OmitEmpty",
    "RFC3339Nano",
    "Stored",
    "TableSchema",
    "UpdatedAt",
    "Version",
    "schema_of",
]

M = TypeVar("M", bound="Model")

# One lock for every class's compiled parts. Reentrant: building a codec reads nested models' plans.
_LOCK: Final = threading.RLock()


class _Compiled:
    """What aiotheory builds once per model class, kept as the class's one ClassVar `__aiotheory__`.

    The field plans are made when the class is created (or on first use, once forward references
    resolve); the codec, the schema (tables only) and the field expressions on first use. Each part is
    built once, under `_LOCK`; reads take no lock once a part exists.
    """

    __slots__ = (
        "_cls",
        "_codec",
        "_discriminator",
        "_entity",
        "_layout",
        "_plans",
        "_schema",
        "attrs",
        "hooks",
        "item_format",
        "kms_key_id",
        "naming",
        "table",
    )

    def __init__(
        self,
        cls: type,
        table: str | None,
        naming: Naming | None = None,
        item_format: ItemFormat = "aiotheory",
        kms_key_id: str | None = None,
        entity: str | None = None,
        discriminator: str | None = None,
    ) -> None:
        self._cls = cls
        self.table = table  # the unprefixed table name; None for an abstract model
        self.naming: Naming | None = naming  # the class's stored-name convention (None: field names)
        self.item_format: ItemFormat = item_format
        self.kms_key_id = kms_key_id
        self._entity = entity  # the class kwargs of single-table design (aiotheory._registry)
        self._discriminator = discriminator
        self.attrs: dict[str, Attr[Any]] = {}  # field expressions (`Payment.amount`), made on first touch
        # The lifecycle hooks the class declares (`before_write`, `after_read`, `after_write` and
        # `before_delete` methods), found now; None when it declares none: the operations' fast path.
        self.hooks: Hooks | None = hooks_of(cls)
        self._plans: tuple[FieldPlan, ...] | None = None
        self._layout: Layout | None = None
        self._codec: ModelCodec | None = None
        self._schema: TableSchema[Any] | None = None

    def plans(self) -> tuple[FieldPlan, ...]:
        plans = self._plans
        if plans is None:
            with _LOCK:
                plans = self._plans
                if plans is None:
                    cls = self._cls
                    if not getattr(cls, "__pydantic_fields_complete__", True):
                        try:
                            cls.model_rebuild()  # type: ignore[attr-defined]  # a pydantic model
                        except Exception as exc:
                            raise ValidationError(
                                f"{cls.__name__}: annotations cannot be resolved yet ({exc})"
                            ) from exc
                    plans = self._plans = field_plans(cls, naming=self.naming, item_format=self.item_format)
        return plans

    def layout(self) -> Layout:
        layout = self._layout
        if layout is None:
            with _LOCK:
                layout = self._layout
                if layout is None:
                    layout = layout_of(self._cls, self.table, self.plans())
                    key_templates(self._cls, self.plans(), layout)  # a bad Template raises at class creation
                    if self.table:
                        # Conflicts with the table's other models raise here, at class creation.
                        register(
                            self._cls,
                            self.table,
                            layout,
                            entity=self._entity,
                            discriminator=self._discriminator,
                            implicit=self.item_format != "tabletheory",
                        )
                    self._layout = layout
        return layout

    def codec(self) -> ModelCodec:
        codec = self._codec
        if codec is None:
            with _LOCK:
                codec = self._codec
                if codec is None:
                    codec = self._codec = ModelCodec(
                        self._cls, self.plans(), tabletheory=self.item_format == "tabletheory"
                    )
        return codec

    def schema(self) -> TableSchema[Any]:
        schema = self._schema
        if schema is None:
            table = self.table
            if not table:
                raise ValidationError(
                    f"{self._cls.__name__!r} has no table: declare class X(Model, table='...')"
                )
            with _LOCK:
                schema = self._schema
                if schema is None:
                    schema = self._schema = build_schema(
                        self._cls,
                        table,
                        self.layout(),
                        self.codec(),
                        kms_key_id=self.kms_key_id,
                        entity=self._entity,
                    )
        return schema


# ------------------------------------------------------------------------------------------ the metaclass


class _Building(threading.local):
    depth = 0


# pydantic probes `getattr(cls, field)` and `hasattr(base, field)` while it builds a class; field
# expressions must not answer then, or they would read as defaults / shadowed attributes.
_BUILDING: Final = _Building()


class _ModelMeta(ModelMetaclass):
    """pydantic's metaclass plus `table=`, `naming=`, `item_format=` and class-level field expressions."""

    def __new__(
        mcs,
        cls_name: str,
        bases: tuple[type[Any], ...],
        namespace: dict[str, Any],
        table: str | None = None,
        naming: Naming | None = None,
        item_format: ItemFormat | None = None,
        kms_key_id: str | None = None,
        entity: str | None = None,
        discriminator: str | None = None,
        **kwargs: Any,
    ) -> type:
        _BUILDING.depth += 1
        try:
            cls = super().__new__(mcs, cls_name, bases, namespace, **kwargs)
        finally:
            _BUILDING.depth -= 1
        if table is not None and (not isinstance(table, str) or not table):
            raise ValidationError(f"{cls_name}: table= must be a non-empty string")
        if table is not None:
            check_table_name(cls_name, table)
        if naming is not None and naming not in NAMINGS:
            raise ValidationError(f"{cls_name}: naming= must be one of {NAMINGS}, not {naming!r}")
        if item_format is not None and item_format not in ITEM_FORMATS:
            raise ValidationError(
                f"{cls_name}: item_format= must be one of {ITEM_FORMATS}, not {item_format!r}"
            )
        if kms_key_id is not None and (not isinstance(kms_key_id, str) or not kms_key_id or table is None):
            raise ValidationError(f"{cls_name}: kms_key_id= must be a non-empty string, given with table=")
        for kwarg, given in (("entity", entity), ("discriminator", discriminator)):
            if given is not None and (table is None or not isinstance(given, str) or not given):
                raise ValidationError(f"{cls_name}: {kwarg}= must be a non-empty string, given with table=")
        if any(isinstance(b, _ModelMeta) for b in bases):
            # A subclass keeps its parent's naming and item format unless it names its own.
            parent: _Compiled | None = next(
                (c for c in (b.__dict__.get("__aiotheory__") for b in cls.__mro__[1:]) if c is not None), None
            )
            if parent is not None:
                naming = naming if naming is not None else parent.naming
                item_format = item_format if item_format is not None else parent.item_format
            compiled = _Compiled(
                cls, table, naming, item_format or "aiotheory", kms_key_id, entity, discriminator
            )
            type.__setattr__(cls, "__aiotheory__", compiled)
            if getattr(cls, "__pydantic_fields_complete__", True):
                # Annotations that cannot resolve yet (forward references) are checked on first use instead.
                compiled.layout()
        return cls

    @property
    def __aiotheory_table__(cls) -> TableSchema[Any] | None:
        """The compiled TableSchema (None for an abstract model); compiled on first touch."""
        compiled: _Compiled | None = cls.__dict__.get("__aiotheory__")
        return compiled.schema() if compiled is not None and compiled.table else None

    if not TYPE_CHECKING:  # like pydantic: keep unknown class attributes an error for type checkers

        def __getattr__(cls, name: str) -> Any:
            if name[:1] != "_" and not _BUILDING.depth:
                attr = _field_attr(cls, name)
                if attr is not None:
                    return attr
            return super().__getattr__(name)


def _field_attr(cls: type, name: str) -> Attr[Any] | None:
    compiled: _Compiled | None = cls.__dict__.get("__aiotheory__")
    if compiled is None:
        return None
    attrs = compiled.attrs
    found = attrs.get(name)
    if found is not None:
        return found
    fields = cls.__dict__.get("__pydantic_fields__")
    if not fields or name not in fields:
        return None
    plan = compiled.codec().fields[name]
    if plan.ignore:
        return None
    from .expr import Attr

    encoder = FieldEncoder(f"{cls.__name__}.{name}", plan.codec)
    attr: Attr[Any]
    if plan.codec.nested is not None:
        attr = Attr((plan.stored,), encoder, field=name, model=cls, nested=plan.codec.nested)
    else:
        attr = Attr((plan.stored,), encoder, field=name, model=cls)
    attrs[name] = attr
    return attr


class Model(BaseModel, metaclass=_ModelMeta):
    """Base of every stored model: `class Payment(Model, table="payments")`.

    A subclass without `table=` is abstract (a base for others, or a nested map). `Payment.amount` on the
    class is an expression (`aiotheory.expr.Attr`); on an instance it is the value.
    """

    # pydantic builds its validator on first validation, not at import: a read-only Lambda never pays it.
    model_config = ConfigDict(defer_build=True)
    __aiotheory_model__: ClassVar[bool] = True

    if TYPE_CHECKING:
        __aiotheory__: ClassVar[_Compiled]
        __aiotheory_table__: ClassVar[TableSchema[Any] | None]

        def __init_subclass__(
            cls,
            *,
            table: str | None = None,
            naming: Naming | None = None,
            item_format: ItemFormat | None = None,
            kms_key_id: str | None = None,
            entity: str | None = None,
            discriminator: str | None = None,
            **kwargs: Unpack[ConfigDict],
        ) -> None: ...


def schema_of(cls: type[M]) -> TableSchema[M]:
    """The compiled TableSchema of a model class, built on first call, kept; ValidationError if abstract."""
    compiled: _Compiled | None = cls.__dict__.get("__aiotheory__")
    if compiled is None:
        raise ValidationError(
            f"{getattr(cls, '__name__', cls)!r} has no table: declare class X(Model, table='...')"
        )
    found = compiled._schema  # the built schema: no call once it exists (this runs on every request)
    if found is None:
        found = compiled.schema()
    return found
