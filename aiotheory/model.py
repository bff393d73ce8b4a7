"""Models: the pydantic v2 base with a table name, the key/index/field markers, and the compiled TableSchema.

Definition errors raise when the class is created; the item codec is compiled on first use or by
`schema_of` (which `DB.register` calls), once. Imports pydantic and nothing of I/O, asyncio or transports.

Storage rules worth knowing:
- datetime is an RFC 3339 UTC string with microseconds ("2026-11-23T14:45:00.123456Z"); a naive datetime is
  taken as UTC, and every datetime reads back timezone-aware in UTC. `EpochSeconds` stores epoch seconds (N)
  with microseconds; `TTL` stores whole epoch seconds (sub-second precision is dropped).
- None is not written (the attribute is absent); an empty set is not written and reads back as an empty set
  (as None for an optional set). An empty set inside a list or map is a ValidationError.
- Attributes of an item that no field names are ignored on read.
- A subclass without `table=` is abstract, even when its parent has a table.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic._internal._model_construction import ModelMetaclass

from . import _codec_compile as _cc
from ._model_markers import (
    GSI,
    LSI,
    PK,
    SK,
    TTL,
    Converter,
    CreatedAt,
    EpochSeconds,
    Ignore,
    JSONString,
    OmitEmpty,
    Stored,
    UpdatedAt,
    Version,
)
from .codec import MAX_ITEM_BYTES, MAX_NESTED_CONTAINERS, item_size, nests_deeper
from .errors import DecodeError, ValidationError

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._types import AttributeValue, Item
    from .expr import Attr

__all__ = [
    "GSI",
    "LSI",
    "PK",
    "SK",
    "TTL",
    "Converter",
    "CreatedAt",
    "EpochSeconds",
    "FieldRef",
    "Ignore",
    "IndexSchema",
    "JSONString",
    "KeyAttr",
    "Model",
    "OmitEmpty",
    "Stored",
    "TableSchema",
    "UpdatedAt",
    "Version",
    "schema_of",
]

M = TypeVar("M", bound="Model")


# ------------------------------------------------------------------------------------------ value objects


@dataclass(frozen=True, slots=True)
class KeyAttr:
    """A key attribute of the table or an index: field name, stored name and DynamoDB scalar type."""

    field: str
    stored: str
    type: Literal["S", "N", "B"]


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexSchema:
    """A secondary index; `include` holds stored attribute names (projection INCLUDE only)."""

    name: str
    kind: Literal["GSI", "LSI"]
    pk: KeyAttr
    sk: KeyAttr | None
    projection: Literal["ALL", "KEYS_ONLY", "INCLUDE"]
    include: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A field with a special role (version, created_at, updated_at, ttl)."""

    field: str
    stored: str


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Final[Any] = _Missing()


class _FieldEncoder:
    """Encodes a caller's value the way one field stores it (None -> NULL); what `Payment.amount` carries."""

    __slots__ = ("_coerce", "_enc", "_where")

    def __init__(self, where: str, codec: _cc.TypeCodec) -> None:
        self._where = where
        self._coerce = codec.coerce
        self._enc = codec.enc

    def __call__(self, value: object) -> AttributeValue:
        if value is None:
            return {"NULL": True}
        try:
            return self._enc(self._coerce(value))
        except ValidationError as exc:
            raise ValidationError(f"{self._where}: {exc}") from None
        except Exception as exc:
            raise ValidationError(
                f"{self._where}: cannot encode a {type(value).__name__} value ({type(exc).__name__})"
            ) from None


class _Layout:
    """What class creation learns about the table: keys, indexes and special fields.

    Private and never mutated; a plain slotted class, since a dataclass costs about 0.5 ms of import.
    """

    __slots__ = ("created_at", "indexes", "pk", "sk", "ttl", "updated_at", "version")

    def __init__(
        self,
        *,
        pk: KeyAttr | None,
        sk: KeyAttr | None,
        indexes: tuple[IndexSchema, ...],
        version: FieldRef | None,
        created_at: FieldRef | None,
        updated_at: FieldRef | None,
        ttl: FieldRef | None,
    ) -> None:
        self.pk = pk
        self.sk = sk
        self.indexes = indexes
        self.version = version
        self.created_at = created_at
        self.updated_at = updated_at
        self.ttl = ttl


@dataclass(frozen=True, slots=True, kw_only=True)
class TableSchema(Generic[M]):
    """Everything the DB needs about one model's table, compiled once per class (see `schema_of`).

    `table` is the unprefixed table name; the DB adds its prefix.
    """

    model: type[M]
    table: str
    pk: KeyAttr
    sk: KeyAttr | None
    indexes: tuple[IndexSchema, ...]
    version: FieldRef | None
    created_at: FieldRef | None
    updated_at: FieldRef | None
    ttl: FieldRef | None
    _codec: _cc.ModelCodec = field(repr=False, compare=False)
    _pk_codec: _cc.TypeCodec = field(repr=False, compare=False)
    _sk_codec: _cc.TypeCodec | None = field(repr=False, compare=False)
    # (stored name, S/B type, is a table key): attributes DynamoDB refuses to hold an empty value for.
    _key_checks: tuple[tuple[str, str, bool], ...] = field(repr=False, compare=False)
    _encoders: dict[str, _FieldEncoder] = field(repr=False, compare=False)

    def key(self, pk: object, sk: object = _MISSING) -> Item:
        """The primary key item for python key values; ValidationError for a wrong, missing or empty part."""
        name = self.model.__name__
        if sk is _MISSING:
            if self.sk is not None:
                raise ValidationError(f"{name}: the key needs a sort key value ({self.sk.field})")
            return {self.pk.stored: self._key_value(self.pk, self._pk_codec, pk)}
        if self.sk is None or self._sk_codec is None:
            raise ValidationError(f"{name}: table {self.table!r} has no sort key, but one was given")
        return {
            self.pk.stored: self._key_value(self.pk, self._pk_codec, pk),
            self.sk.stored: self._key_value(self.sk, self._sk_codec, sk),
        }

    def decode_key(self, item: Item, *, table: str | None = None) -> dict[str, object]:
        """The key of `item` (a `Keys` map or a whole item) as field name -> value of the field's type.

        `table` names the table in error messages (e.g. the prefixed name a stream record carries).

        Raises:
            DecodeError: a key attribute is missing or holds the wrong type.
        """
        where = self.table if table is None else table
        out: dict[str, object] = {}
        for attr, codec in ((self.pk, self._pk_codec), (self.sk, self._sk_codec)):
            if attr is None or codec is None:
                continue
            av = item.get(attr.stored)
            if av is None:
                raise DecodeError(
                    f"an item of table {where!r} lacks key attribute {attr.stored!r}",
                    table=where,
                    field=attr.field,
                )
            try:
                out[attr.field] = codec.dec(av)
            except (KeyError, ValueError, TypeError):
                raise DecodeError(
                    f"an item of table {where!r} holds key {attr.stored!r} of the wrong type",
                    table=where,
                    field=attr.field,
                ) from None
        return out

    def _key_value(self, attr: KeyAttr, codec: _cc.TypeCodec, value: object) -> AttributeValue:
        # Twice per get/delete: the error context is formatted only when raising.
        if value is None:
            raise ValidationError(f"{self.model.__name__}.{attr.field}: a key value cannot be None")
        try:
            av = codec.enc(codec.coerce(value))
        except ValidationError as exc:
            raise ValidationError(f"{self.model.__name__}.{attr.field}: {exc}") from None
        if av[attr.type] == "":
            raise ValidationError(
                f"{self.model.__name__}.{attr.field}: DynamoDB does not accept an empty key value"
            )
        return av

    def key_of(self, obj: M) -> Item:
        """The primary key item of a model instance."""
        d = obj.__dict__
        out: Item = {self.pk.stored: self._own_key(self.pk, self._pk_codec, d)}
        if self.sk is not None and self._sk_codec is not None:
            out[self.sk.stored] = self._own_key(self.sk, self._sk_codec, d)
        return out

    def _own_key(self, attr: KeyAttr, codec: _cc.TypeCodec, d: dict[str, Any]) -> AttributeValue:
        value = d.get(attr.field)
        if value is None:
            raise ValidationError(f"{self.model.__name__}.{attr.field}: the key field has no value")
        av = codec.enc(value)
        if av[attr.type] == "":
            raise ValidationError(
                f"{self.model.__name__}.{attr.field}: DynamoDB does not accept an empty key value"
            )
        return av

    def encode(self, obj: M) -> Item:
        """The whole item for `obj`, with DynamoDB's limits checked (numbers, empty keys, 400 KB)."""
        try:
            item = self._codec.encode_map(obj)
        except _cc.EncodeFailure as exc:
            raise ValidationError(f"{self.model.__name__}: {exc}") from None
        for stored, typ, table_key in self._key_checks:
            av = item.get(stored)
            if av is None:
                if table_key:
                    raise ValidationError(f"{self.model.__name__}: key attribute {stored!r} has no value")
            elif av.get(typ) == "":
                raise ValidationError(
                    f"{self.model.__name__}: key attribute {stored!r} is empty; DynamoDB refuses empty keys"
                )
        deep = self._codec.deep
        if deep:
            for name, stored in deep:
                av = item.get(stored)
                if av is not None and nests_deeper(av):
                    raise ValidationError(
                        f"{self.model.__name__}.{name}: the value nests deeper than DynamoDB's "
                        f"{MAX_NESTED_CONTAINERS + 1} levels"
                    )
        # A cheap upper bound first; the faithful size only when the bound says the item might be too big.
        if self._codec.size_bound(obj, item) > MAX_ITEM_BYTES and (size := item_size(item)) > MAX_ITEM_BYTES:
            raise ValidationError(
                f"{self.model.__name__}: item {self._key_text(item)} is {size} bytes, "
                f"above DynamoDB's {MAX_ITEM_BYTES}-byte item limit"
            )
        return item

    def decode(self, item: Item) -> M:
        """A model instance from a stored item, without pydantic validation; unknown attributes are ignored.

        Raises DecodeError naming the table, the key and the field when a required attribute is missing or
        holds a value of the wrong type.
        """
        try:
            return self._codec.decode_map(item)  # type: ignore[no-any-return]  # an instance of self.model
        except _cc.DecodeFailure as exc:
            key = {a.stored: item[a.stored] for a in (self.pk, self.sk) if a is not None and a.stored in item}
            raise _cc.decode_failure_error(exc, self.table, key) from None

    def encode_value(self, field: str, value: object) -> AttributeValue:
        """`value` encoded the way `field` stores it (None -> NULL), type-checked; for expressions."""
        encoder = self._encoders.get(field)
        if encoder is None:
            raise ValidationError(f"{self.model.__name__} has no stored field {field!r}")
        return encoder(value)

    def stored(self, field: str) -> str:
        """The attribute name `field` is stored under."""
        plan = self._codec.fields.get(field)
        if plan is None or plan.ignore:
            raise ValidationError(f"{self.model.__name__} has no stored field {field!r}")
        return plan.stored

    def _key_text(self, item: Item) -> str:
        parts = [
            f"{a.stored}={_cc._key_text(item.get(a.stored))}" for a in (self.pk, self.sk) if a is not None
        ]
        return "(" + ", ".join(parts) + ")"


# ------------------------------------------------------------------------------------------ definition rules

_KEY_HELP: Final = "keys hold str, int, Decimal, bytes, UUID, datetime, date or a str/int Enum"


def _key_attr(cls: type, plan: _cc.FieldPlan, what: str, *, allow_optional: bool) -> KeyAttr:
    where = f"{cls.__name__}.{plan.name}"
    if plan.optional and not allow_optional:
        raise ValidationError(f"{where}: the {what} cannot be optional")
    codec = plan.codec
    if codec.is_float:
        raise ValidationError(
            f"{where}: a float cannot be the {what} (floats do not round-trip exactly; use int, Decimal, str)"
        )
    if codec.key_type is None:
        raise ValidationError(f"{where}: a {codec.label} value cannot be the {what}; {_KEY_HELP}")
    return KeyAttr(plan.name, plan.stored, codec.key_type)


def _single(cls: type, plans: tuple[_cc.FieldPlan, ...], marker: object) -> _cc.FieldPlan | None:
    found: _cc.FieldPlan | None = None
    for p in plans:
        if marker in p.roles:
            if found is not None:
                raise ValidationError(
                    f"{cls.__name__}.{p.name}: a second {marker!r} field ({found.name} is one)"
                )
            found = p
    return found


def _layout(cls: type, table: str | None, plans: tuple[_cc.FieldPlan, ...]) -> _Layout:
    name = cls.__name__
    pk_plan = _single(cls, plans, PK)
    sk_plan = _single(cls, plans, SK)
    if pk_plan is not None and pk_plan is sk_plan:
        raise ValidationError(f"{name}.{pk_plan.name}: a field cannot be both PK and SK")
    if table is not None and pk_plan is None:
        raise ValidationError(f"{name}: table {table!r} needs one field marked PK (Annotated[str, PK])")
    pk = _key_attr(cls, pk_plan, "partition key (PK)", allow_optional=False) if pk_plan else None
    sk = _key_attr(cls, sk_plan, "sort key (SK)", allow_optional=False) if sk_plan else None

    version = _single(cls, plans, Version)
    if version is not None and (version.codec.py is not int or version.optional):
        raise ValidationError(f"{name}.{version.name}: a Version field must be an int (not optional)")
    stamps: list[FieldRef | None] = []
    for marker in (CreatedAt, UpdatedAt):
        p = _single(cls, plans, marker)
        if p is not None and p.codec.py is not datetime:
            raise ValidationError(
                f"{name}.{p.name}: a {marker!r} field must be a datetime (or datetime | None)"
            )
        stamps.append(FieldRef(p.name, p.stored) if p else None)
    ttl = _single(cls, plans, TTL)
    if ttl is not None and ttl.codec.py not in (datetime, int):
        raise ValidationError(f"{name}.{ttl.name}: a TTL field must be a datetime or an int")

    indexes = _indexes(cls, table, plans, pk, sk)
    return _Layout(
        pk=pk,
        sk=sk,
        indexes=indexes,
        version=FieldRef(version.name, version.stored) if version else None,
        created_at=stamps[0],
        updated_at=stamps[1],
        ttl=FieldRef(ttl.name, ttl.stored) if ttl else None,
    )


def _indexes(
    cls: type,
    table: str | None,
    plans: tuple[_cc.FieldPlan, ...],
    pk: KeyAttr | None,
    sk: KeyAttr | None,
) -> tuple[IndexSchema, ...]:
    name = cls.__name__
    by_stored = {p.stored: p.stored for p in plans if not p.ignore}
    by_field = {p.name: p.stored for p in plans if not p.ignore}
    gsi: dict[str, dict[str, tuple[_cc.FieldPlan, GSI]]] = {}
    lsi: dict[str, tuple[_cc.FieldPlan, LSI]] = {}
    order: list[str] = []
    for p in plans:
        for marker in p.indexes:
            where = f"{name}.{p.name}"
            if isinstance(marker, LSI):
                if marker.name in lsi:
                    raise ValidationError(f"{where}: LSI {marker.name!r} is declared twice")
                if marker.name in gsi:
                    raise ValidationError(f"{where}: index name {marker.name!r} is used by a GSI too")
                lsi[marker.name] = (p, marker)
            else:
                if marker.name in lsi:
                    raise ValidationError(f"{where}: index name {marker.name!r} is used by an LSI too")
                roles = gsi.setdefault(marker.name, {})
                if marker.role in roles:
                    other = roles[marker.role][0].name
                    raise ValidationError(
                        f"{where}: GSI {marker.name!r} has two {marker.role} fields ({other} and {p.name})"
                    )
                roles[marker.role] = (p, marker)
            if marker.name not in order:
                order.append(marker.name)

    def include(where: str, index: str, names: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for n in names:
            stored = by_field.get(n) or by_stored.get(n)
            if stored is None:
                raise ValidationError(f"{where}: index {index!r} includes {n!r}, which is no stored field")
            out.append(stored)
        return tuple(out)

    result: list[IndexSchema] = []
    for index in order:
        if index in lsi:
            p, lm = lsi[index]
            where = f"{name}.{p.name}"
            if table is not None and sk is None:
                raise ValidationError(f"{where}: LSI {index!r} needs a table with a sort key (SK)")
            if pk is None:
                if table is None:
                    continue  # an abstract base: its tables check this
                raise ValidationError(f"{where}: LSI {index!r} needs a table partition key")
            if p.name in (pk.field, sk.field if sk else None):
                raise ValidationError(f"{where}: LSI {index!r} sort key cannot be a table key field")
            result.append(
                IndexSchema(
                    name=index,
                    kind="LSI",
                    pk=pk,
                    sk=_key_attr(cls, p, f"sort key of LSI {index!r}", allow_optional=True),
                    projection=lm.projection,
                    include=include(where, index, lm.include),
                )
            )
            continue
        roles = gsi[index]
        if "pk" not in roles:
            p = roles["sk"][0]
            raise ValidationError(
                f"{name}.{p.name}: GSI {index!r} has a sort key but no pk field (role='pk')"
            )
        p, gm = roles["pk"]
        where = f"{name}.{p.name}"
        gsk: KeyAttr | None = None
        if "sk" in roles:
            sp, sm = roles["sk"]
            if (sm.projection, sm.include) != (gm.projection, gm.include):
                raise ValidationError(
                    f"{name}.{sp.name}: GSI {index!r} projection differs from the one on {p.name}; "
                    "give the same projection and include on both markers"
                )
            gsk = _key_attr(cls, sp, f"sort key of GSI {index!r}", allow_optional=True)
        result.append(
            IndexSchema(
                name=index,
                kind="GSI",
                pk=_key_attr(cls, p, f"partition key of GSI {index!r}", allow_optional=True),
                sk=gsk,
                projection=gm.projection,
                include=include(where, index, gm.include),
            )
        )
    return tuple(result)


# ------------------------------------------------------------------------------------------ the metaclass


class _Building(threading.local):
    depth = 0


# pydantic probes `getattr(cls, field)` and `hasattr(base, field)` while it builds a class; field
# expressions must not answer then, or they would read as defaults / shadowed attributes.
_BUILDING: Final = _Building()


class _ModelMeta(ModelMetaclass):
    """pydantic's metaclass plus `table=` and class-level field expressions (`Payment.amount`)."""

    def __new__(
        mcs,
        cls_name: str,
        bases: tuple[type[Any], ...],
        namespace: dict[str, Any],
        table: str | None = None,
        **kwargs: Any,
    ) -> type:
        _BUILDING.depth += 1
        try:
            cls = super().__new__(mcs, cls_name, bases, namespace, **kwargs)
        finally:
            _BUILDING.depth -= 1
        if table is not None and (not isinstance(table, str) or not table):
            raise ValidationError(f"{cls_name}: table= must be a non-empty string")
        type.__setattr__(cls, "__aiotheory_table_name__", table)
        if any(isinstance(b, _ModelMeta) for b in bases) and getattr(
            cls, "__pydantic_fields_complete__", True
        ):
            # Annotations that cannot resolve yet (forward references) are checked on first use instead.
            plans = _cc.plans_of(cls)
            type.__setattr__(cls, "__aiotheory_layout__", _layout(cls, table, plans))
        return cls

    @property
    def __aiotheory_table__(cls) -> TableSchema[Any] | None:
        """The compiled TableSchema (None for an abstract model); compiled on first touch."""
        return schema_of(cls) if cls.__dict__.get("__aiotheory_table_name__") else None

    if not TYPE_CHECKING:  # like pydantic: keep unknown class attributes an error for type checkers

        def __getattr__(cls, name: str) -> Any:
            if name[:1] != "_" and not _BUILDING.depth:
                attr = _field_attr(cls, name)
                if attr is not None:
                    return attr
            return super().__getattr__(name)


def _field_attr(cls: type, name: str) -> Attr[Any] | None:
    attrs: dict[str, Attr[Any]] | None = cls.__dict__.get("__aiotheory_attrs__")
    if attrs is not None:
        found = attrs.get(name)
        if found is not None:
            return found
    fields = cls.__dict__.get("__pydantic_fields__")
    if not fields or name not in fields:
        return None
    plan = _cc.model_codec(cls).fields[name]
    if plan.ignore:
        return None
    from .expr import Attr

    encoder = _FieldEncoder(f"{cls.__name__}.{name}", plan.codec)
    attr: Attr[Any]
    if plan.codec.nested is not None:
        attr = Attr((plan.stored,), encoder, field=name, model=cls, nested=plan.codec.nested)
    else:
        attr = Attr((plan.stored,), encoder, field=name, model=cls)
    if attrs is None:
        attrs = {}
        type.__setattr__(cls, "__aiotheory_attrs__", attrs)
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
        __aiotheory_table__: ClassVar[TableSchema[Any] | None]

        def __init_subclass__(cls, *, table: str | None = None, **kwargs: Unpack[ConfigDict]) -> None: ...


def schema_of(cls: type[M]) -> TableSchema[M]:
    """The compiled TableSchema of a model class, built on first call, kept; ValidationError if abstract."""
    found: TableSchema[M] | None = cls.__dict__.get("__aiotheory_schema__")
    if found is not None:
        return found
    table = cls.__dict__.get("__aiotheory_table_name__")
    if not isinstance(cls, _ModelMeta) or not table:
        raise ValidationError(
            f"{getattr(cls, '__name__', cls)!r} has no table: declare class X(Model, table='...')"
        )
    with _cc._LOCK:
        found = cls.__dict__.get("__aiotheory_schema__")
        if found is None:
            found = _compile(cls, table)
            type.__setattr__(cls, "__aiotheory_schema__", found)
    return found


def _compile(cls: type[M], table: str) -> TableSchema[M]:
    codec = _cc.model_codec(cls)
    layout: _Layout | None = cls.__dict__.get("__aiotheory_layout__")
    if layout is None:
        layout = _layout(cls, table, codec.plans)
        type.__setattr__(cls, "__aiotheory_layout__", layout)
    pk = layout.pk
    if pk is None:  # _layout raised already for a table without PK
        raise ValidationError(f"{cls.__name__}: no PK")
    checks: dict[str, tuple[str, str, bool]] = {}
    for attr, table_key in [(pk, True), (layout.sk, True)] + [
        (a, False) for ix in layout.indexes for a in (ix.pk, ix.sk)
    ]:
        if attr is not None and attr.stored not in checks:
            checks[attr.stored] = (attr.stored, attr.type, table_key)
    encoders = {
        p.name: _FieldEncoder(f"{cls.__name__}.{p.name}", p.codec) for p in codec.plans if not p.ignore
    }
    sk = layout.sk
    return TableSchema(
        model=cls,
        table=table,
        pk=pk,
        sk=sk,
        indexes=layout.indexes,
        version=layout.version,
        created_at=layout.created_at,
        updated_at=layout.updated_at,
        ttl=layout.ttl,
        _codec=codec,
        _pk_codec=codec.fields[pk.field].codec,
        _sk_codec=codec.fields[sk.field].codec if sk else None,
        _key_checks=tuple(checks.values()),
        _encoders=encoders,
    )
