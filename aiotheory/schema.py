"""The table schema of a model class: keys, indexes, special fields, and the one way to build a key.

`TableSchema` is compiled once per class (`aiotheory.model.schema_of`) from the layout the definition rules
(`aiotheory._rules`) found and the model codec; it holds what the DB needs per call. Imports no pydantic
at runtime and nothing of I/O, asyncio or transports.

Keys have one path: `key(pk[, sk])` from values, `key_of(obj)` from an instance, `key_from(key)` from a
pk / `(pk, sk)` tuple, `key_target(target)` from an instance or `(Model, pk[, sk])` tuple, and `key_id`
for a hashable identity. A caller's "no sort key given" is `MISSING`, the one sentinel.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, TypeVar

from ._registry import TableEntry, entry_for
from ._templates import Template
from .codec import MAX_ITEM_BYTES, MAX_NESTED_CONTAINERS, item_size, nests_deeper
from .codec._model import DecodeFailure, EncodeFailure, ModelCodec, decode_failure_error, key_text
from .codec._types import type_codec
from .errors import DecodeError, KeyTemplateMismatch, ValidationError

if TYPE_CHECKING:
    from ._types import AttributeValue, Item
    from .codec._model import FieldPlan, Partial
    from .codec._types import TypeCodec
    from .model import Model

__all__ = [
    "MISSING",
    "STORED",
    "FieldEncoder",
    "FieldRef",
    "IndexSchema",
    "KeyAttr",
    "Layout",
    "TableSchema",
    "KeyTemplate",
    "build_schema",
    "key_target",
    "key_templates",
]

M = TypeVar("M", bound="Model")
_PLAIN_STR: Final = type_codec(str)  # a plain `str` key field's codec: `_key_value` takes it inline


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


#: The `__dict__` entry of a model read from (or written to) a table: the attributes as stored.
STORED: Final = "__aiotheory_stored__"

#: "Not given": the default of every optional key part (`sk`) across the package.
MISSING: Final[Any] = _Missing()


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


class FieldEncoder:
    """Encodes a caller's value the way one field stores it (None -> NULL); what `Payment.amount` carries."""

    __slots__ = ("_coerce", "_enc", "_where")

    def __init__(self, where: str, codec: TypeCodec) -> None:
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


class Layout:
    """What class creation learns about the table: keys, indexes and special fields (see `_rules`).

    Never mutated; a plain slotted class, since a dataclass costs about 0.5 ms of import.
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
    _codec: ModelCodec = field(repr=False, compare=False)
    _pk_codec: TypeCodec = field(repr=False, compare=False)
    _sk_codec: TypeCodec | None = field(repr=False, compare=False)
    # (stored name, S/B type, is a table key): attributes DynamoDB refuses to hold an empty value for.
    _key_checks: tuple[tuple[str, str, bool], ...] = field(repr=False, compare=False)
    _encoders: dict[str, FieldEncoder] = field(repr=False, compare=False)
    #: Stored names of the `Encrypted` fields; empty for most models, so every crypto step is one test.
    encrypted: frozenset[str] = frozenset()
    #: The model's own KMS key (`class X(Model, table=..., kms_key_id=...)`); None uses the DB's.
    kms_key_id: str | None = None
    #: The discriminator value this model writes (its `entity=`, default the class name).
    entity: str = ""
    # The table's registry entry: whether items carry the discriminator, and under which attribute.
    _entry: TableEntry | None = field(default=None, repr=False, compare=False)
    # Key attributes built from other fields (Template), the table's first; empty for most models.
    _templates: tuple[KeyTemplate, ...] = field(default=(), repr=False, compare=False)
    #: Whether any key attribute is built from a Template (a field, not a property: read on every write).
    templated: bool = field(default=False, repr=False, compare=False)
    _pk_template: KeyTemplate | None = field(default=None, repr=False, compare=False)
    _sk_template: KeyTemplate | None = field(default=None, repr=False, compare=False)

    @property
    def discriminator(self) -> str | None:
        """The attribute this model's items carry its `entity` in; None while the table holds one model."""
        entry = self._entry
        return entry.attribute if entry is not None and entry.tagged else None

    def table_indexes(self) -> tuple[IndexSchema, ...]:
        """This model's indexes and those of the other models of its table (what the table must have)."""
        entry = self._entry
        if entry is None:
            return self.indexes
        merged = {ix.name: ix for ix in self.indexes}
        for ix in entry.indexes(besides=self.entity):
            merged.setdefault(ix.name, ix)
        return tuple(merged.values())

    @property
    def template_attributes(self) -> tuple[str, ...]:
        """The stored names of templated keys and of their components (what a put writes whole)."""
        out: list[str] = []
        for kt in self._templates:
            out.append(kt.stored)
            out.extend(kt.component_stored)
        return tuple(dict.fromkeys(out))

    def template(self, field: str) -> Template:
        """The Template of a key field; ValidationError when `field` has none."""
        for kt in self._templates:
            if kt.field == field:
                return kt.template
        raise ValidationError(f"{self.model.__name__}.{field} has no Template")

    def key(self, pk: object, sk: object = MISSING) -> Item:
        """The key item for python key values; ValidationError for a wrong, missing or empty part.

        The one path from key values to a key item: `key_from` and `key_target` end here, and callers
        pass their own `sk` default as `MISSING`, never a sentinel of their own.
        """
        name = self.model.__name__
        if sk is MISSING:
            if self.sk is not None:
                raise ValidationError(f"{name}: the key needs a sort key value ({self.sk.field})")
            return {self.pk.stored: self._key_value(self.pk, self._pk_codec, pk)}
        if self.sk is None or self._sk_codec is None:
            raise ValidationError(f"{name}: table {self.table!r} has no sort key, but one was given")
        return {
            self.pk.stored: self._key_value(self.pk, self._pk_codec, pk),
            self.sk.stored: self._key_value(self.sk, self._sk_codec, sk),
        }

    def key_from(self, key: object) -> Item:
        """The key item for a key as lists of keys spell it: a pk value, or a `(pk, sk)` tuple."""
        if self.sk is None:
            if isinstance(key, tuple):
                if len(key) != 1:
                    raise ValidationError(
                        f"{self.model.__name__}: table {self.table!r} has no sort key; "
                        f"give pk values, not {len(key)}-tuples"
                    )
                key = key[0]
            return self.key(key)
        if not isinstance(key, tuple) or len(key) != 2:
            raise ValidationError(
                f"{self.model.__name__}: table {self.table!r} has a sort key; give keys as (pk, sk) tuples"
            )
        return self.key(key[0], key[1])

    def key_id(self, item: Item) -> tuple[object, ...]:
        """The key identity of `item` (a key item or a whole item): hashable, equal for equal numbers."""
        pk = _scalar(item[self.pk.stored])
        if self.sk is None:
            return (pk,)
        return (pk, _scalar(item[self.sk.stored]))

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

    def _key_value(self, attr: KeyAttr, codec: TypeCodec, value: object) -> AttributeValue:
        # Twice per get/delete: the error context is formatted only when raising.
        if codec is _PLAIN_STR and type(value) is str and value and value.isascii():
            # The common key, a plain str: what coerce and enc_str would return, without their calls.
            return {"S": value}
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
        if self._templates:
            return self._templated_key(d)
        out: Item = {self.pk.stored: self._own_key(self.pk, self._pk_codec, d)}
        if self.sk is not None and self._sk_codec is not None:
            out[self.sk.stored] = self._own_key(self.sk, self._sk_codec, d)
        return out

    def _templated_key(self, d: dict[str, Any]) -> Item:
        pk_t = self._pk_template
        pk = {"S": pk_t.key_text(d)} if pk_t is not None else self._own_key(self.pk, self._pk_codec, d)
        out: Item = {self.pk.stored: pk}
        if self.sk is not None and self._sk_codec is not None:
            sk_t = self._sk_template
            out[self.sk.stored] = (
                {"S": sk_t.key_text(d)} if sk_t is not None else self._own_key(self.sk, self._sk_codec, d)
            )
        return out

    def template_values(self, obj: M) -> dict[str, str]:
        """The templated key fields of `obj` whose value differs from what their Template renders.

        What a write fills in on the model it returns, so `written.pk` is the key that was stored.
        """
        d = obj.__dict__
        out: dict[str, str] = {}
        for kt in self._templates:
            text = kt.render(d)
            if text is not None and d.get(kt.field) != text:
                out[kt.field] = text
        return out

    def _own_key(self, attr: KeyAttr, codec: TypeCodec, d: dict[str, Any]) -> AttributeValue:
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
        except EncodeFailure as exc:
            raise ValidationError(f"{self.model.__name__}: {exc}") from None
        if self._templates:
            d = obj.__dict__
            for kt in self._templates:
                text = kt.render(d)
                if text is None:
                    # A GSI key with a missing component is left out: the item stays out of that index.
                    item.pop(kt.stored, None)
                else:
                    item[kt.stored] = {"S": text}
        entry = self._entry
        if entry is not None and entry.tagged:
            item[entry.attribute] = {"S": self.entity}
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
        if self._templates:
            item = self._with_components(item)
        try:
            obj: M = self._codec.decode_map(item)
        except DecodeFailure as exc:
            key = {a.stored: item[a.stored] for a in (self.pk, self.sk) if a is not None and a.stored in item}
            raise decode_failure_error(exc, self.table, key) from None
        # What `db.save` diffs against. In `__dict__` rather than private state: pydantic's `__eq__`
        # compares private state but only fields once the dicts differ, `model_copy` keeps the entry,
        # and serialisation, `repr` and iteration skip a name no field can have (fields never start
        # with "_"). Never mutated: the item is the reply's, and nothing writes to a decoded reply.
        obj.__dict__[STORED] = item
        return obj

    def _with_components(self, item: Item) -> Item:
        """`item` with the component attributes its templated keys hold but it lacks (a KEYS_ONLY read,
        an item another tool wrote); the item itself when none is missing."""
        out = item
        for kt in self._templates:
            av = item.get(kt.stored)
            if av is None:
                continue
            for stored in kt.component_stored:  # a plain loop: no generator frame per item
                if stored not in item:
                    break
            else:
                continue
            text = av.get("S")
            if not isinstance(text, str):
                raise DecodeError(
                    f"an item of table {self.table!r} holds templated key {kt.stored!r} of the wrong type",
                    table=self.table,
                    field=kt.field,
                )
            try:
                parsed = kt.parse_encoded(text)
            except KeyTemplateMismatch as exc:
                raise KeyTemplateMismatch(
                    f"an item of table {self.table!r} holds key {kt.stored!r}={text!r}, "
                    f"which does not match {kt.template!r}",
                    template=kt.template.pattern,
                    table=self.table,
                    key={kt.stored: av},
                    field=kt.field,
                ) from exc
            if out is item:
                out = dict(item)
            for stored, value in parsed.items():
                out.setdefault(stored, value)
        return out

    def encode_value(self, field: str, value: object) -> AttributeValue:
        """`value` encoded the way `field` stores it (None -> NULL), type-checked; for expressions."""
        encoder = self._encoders.get(field)
        if encoder is None:
            raise ValidationError(f"{self.model.__name__} has no stored field {field!r}")
        return encoder(value)

    def partial(self, fields: frozenset[str]) -> Partial:
        """A decoder of items holding only `fields` (a projection) into models holding those fields."""
        key = tuple(a.stored for a in (self.pk, self.sk) if a is not None)
        return self._codec.partial(fields, self.table, key)

    @property
    def plans(self) -> tuple[FieldPlan, ...]:
        """The field plans of the model, in field order (stored name, codec and markers of each field)."""
        return self._codec.plans

    def stored(self, field: str) -> str:
        """The attribute name `field` is stored under."""
        plan = self._codec.fields.get(field)
        if plan is None or plan.ignore:
            raise ValidationError(f"{self.model.__name__} has no stored field {field!r}")
        return plan.stored

    def _key_text(self, item: Item) -> str:
        parts = [f"{a.stored}={key_text(item.get(a.stored))}" for a in (self.pk, self.sk) if a is not None]
        return "(" + ", ".join(parts) + ")"


# ------------------------------------------------------------------------------------------ key templates


class KeyTemplate:
    """A Template compiled against its model's fields: render a key from an instance, parse one back.

    Built once per class. Each component is (literal before it, field name, stored name, spec, codec,
    stored tag S/N); a component without a spec is written as its field stores it.
    """

    __slots__ = ("_comps", "_tail", "component_stored", "field", "model", "stored", "table_key", "template")

    model: str
    field: str  # the key field
    stored: str  # its attribute name
    template: Template
    table_key: bool  # the table's PK or SK (else an index key only)
    component_stored: tuple[str, ...]  # the components' attribute names
    _comps: tuple[tuple[str, str, str, str, TypeCodec, str], ...]
    _tail: str

    def __init__(
        self,
        *,
        model: str,
        field: str,
        stored: str,
        template: Template,
        table_key: bool,
        comps: tuple[tuple[str, str, str, str, TypeCodec, str], ...],
        tail: str,
    ) -> None:
        setter = object.__setattr__  # immutable once built, like FieldPlan
        setter(self, "model", model)
        setter(self, "field", field)
        setter(self, "stored", stored)
        setter(self, "template", template)
        setter(self, "table_key", table_key)
        setter(self, "_comps", comps)
        setter(self, "_tail", tail)
        setter(self, "component_stored", tuple(c[2] for c in comps))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"KeyTemplate is immutable: cannot set {name!r}")

    def render(self, d: dict[str, Any]) -> str | None:
        """The key text for an instance's values; None when a component is None (sparse index key)."""
        out: list[str] = []
        for literal, name, _stored, spec, codec, tag in self._comps:
            value = d.get(name)
            if value is None:
                return None
            out.append(literal)
            if spec:
                out.append(format(value, spec))
            elif type(value) is str:
                out.append(value)
            else:
                out.append(codec.enc(value)[tag])
        out.append(self._tail)
        return "".join(out)

    def key_text(self, d: dict[str, Any]) -> str:
        """`render`, raising ValidationError when a component has no value (a table key must exist)."""
        text = self.render(d)
        if text is None:
            missing = [c[1] for c in self._comps if d.get(c[1]) is None]
            raise ValidationError(
                f"{self.model}.{self.field}: template component {', '.join(missing)} has no value"
            )
        return text

    def parse_encoded(self, text: str) -> dict[str, AttributeValue]:
        """The component attributes (stored name -> AttributeValue) a key text was built from.

        Exact: the values must render back to `text`, or KeyTemplateMismatch.
        """
        parts = self.template.parse(text)
        values: dict[str, object] = {}
        out: dict[str, AttributeValue] = {}
        for _literal, name, stored, spec, codec, tag in self._comps:
            raw = parts[name]
            try:
                value = _parse_component(raw, spec, codec, tag)
            except (ValueError, TypeError, KeyError, ArithmeticError, ValidationError):
                raise KeyTemplateMismatch(
                    f"component {name!r} of a key does not parse as its field", template=self.template.pattern
                ) from None
            values[name] = value
            out[stored] = codec.enc(value)
        if self.render(values) != text:
            raise KeyTemplateMismatch(
                f"a key does not render back from its components under {self.template!r}",
                template=self.template.pattern,
            )
        return out


def _parse_component(raw: str, spec: str, codec: TypeCodec, tag: str) -> object:
    if not spec:
        return codec.dec({tag: raw})
    py = codec.py
    if py is str:
        return raw
    if py is _dt.datetime:
        return _dt.datetime.strptime(raw, spec).replace(tzinfo=_dt.UTC)
    if py is _dt.date:
        return _dt.datetime.strptime(raw, spec).date()
    if py is int:
        return int(raw)
    if py is Decimal:
        return Decimal(raw)
    raise ValidationError(f"a {codec.label} component with a format spec cannot be read back")


_SPEC_TYPES: Final = (str, int, Decimal, _dt.datetime, _dt.date)


def key_templates(cls: type, plans: tuple[FieldPlan, ...], layout: Layout) -> tuple[KeyTemplate, ...]:
    """The compiled Templates of `cls`'s key fields, the table's first; ValidationError naming the field
    for a Template on a non-key or non-str field, or a component that is no usable field."""
    by_name = {p.name: p for p in plans}
    key_roles: dict[str, bool] = {}
    for attr, table_key in [(layout.pk, True), (layout.sk, True)] + [
        (a, False) for ix in layout.indexes for a in (ix.pk, ix.sk)
    ]:
        if attr is not None:
            key_roles[attr.field] = key_roles.get(attr.field, False) or table_key
    out: list[KeyTemplate] = []
    templated: set[str] = set()
    for p in plans:
        found = [m for m in p.info.metadata if isinstance(m, Template)]
        if not found:
            continue
        where = f"{cls.__name__}.{p.name}"
        if len(found) > 1:
            raise ValidationError(f"{where}: a field takes one Template")
        if p.name not in key_roles:
            raise ValidationError(f"{where}: a Template belongs on a key field (PK, SK, GSI or LSI key)")
        if p.codec.py is not str:
            raise ValidationError(f"{where}: a templated key field must be a str")
        templated.add(p.name)
    for p in plans:
        if p.name not in templated:
            continue
        where = f"{cls.__name__}.{p.name}"
        template = next(m for m in p.info.metadata if isinstance(m, Template))
        comps: list[tuple[str, str, str, str, TypeCodec, str]] = []
        tail = ""
        for literal, name, spec in template._parts:
            if name is None:
                tail = literal
                continue
            cp = by_name.get(name)
            if cp is None or cp.ignore:
                raise ValidationError(f"{where}: template component {name!r} is no stored field")
            if name in templated:
                raise ValidationError(f"{where}: template component {name!r} is itself templated")
            tag = cp.codec.key_type
            if tag not in ("S", "N"):
                raise ValidationError(
                    f"{where}: template component {name!r} must be a str, number, UUID, datetime, date or "
                    "str/int Enum field"
                )
            if spec and cp.codec.py not in _SPEC_TYPES:
                raise ValidationError(
                    f"{where}: a format spec on {name!r} ({cp.codec.label}) cannot be read back; "
                    "drop the spec"
                )
            comps.append((literal, name, cp.stored, spec, cp.codec, tag))
        out.append(
            KeyTemplate(
                model=cls.__name__,
                field=p.name,
                stored=p.stored,
                template=template,
                table_key=key_roles[p.name],
                comps=tuple(comps),
                tail=tail,
            )
        )
    # The table's keys first: encode renders them before any index key.
    return tuple([kt for kt in out if kt.table_key] + [kt for kt in out if not kt.table_key])


# ------------------------------------------------------------------------------------------ keys


def _scalar(av: AttributeValue) -> object:
    ((tag, value),) = av.items()
    if tag == "N":
        # DynamoDB answers numbers in its own normal form ("1.50" comes back as "1.5").
        try:
            return ("N", Decimal(value))
        except InvalidOperation:
            return ("N", value)
    return (tag, value)


def key_target(target: object, what: str) -> tuple[TableSchema[Any], Item]:
    """The schema and key item of a target: a model instance, or a `(Model, pk[, sk])` tuple.

    `what` names the call in the error (e.g. "transact_get").
    """
    tp = type(target)
    if getattr(tp, "__aiotheory_model__", False):
        schema = _schema(tp)
        return schema, schema.key_of(target)
    if isinstance(target, tuple) and len(target) in (2, 3) and isinstance(target[0], type):
        schema = _schema(target[0])
        return schema, schema.key_from(target[1:] if len(target) == 3 else target[1])
    raise ValidationError(f"{what} takes model instances or (Model, pk[, sk]) tuples, not {tp.__name__}")


def _schema(cls: type) -> TableSchema[Any]:
    # `__aiotheory_table__` compiles on first touch (aiotheory.model); None for an abstract model.
    found: TableSchema[Any] | None = getattr(cls, "__aiotheory_table__", None)
    if found is None:
        raise ValidationError(f"{cls.__name__!r} has no table: declare class X(Model, table='...')")
    return found


# ------------------------------------------------------------------------------------------ building


def build_schema(
    cls: type[M],
    table: str,
    layout: Layout,
    codec: ModelCodec,
    *,
    kms_key_id: str | None = None,
    entity: str | None = None,
) -> TableSchema[M]:
    """The TableSchema of `cls` from its layout and codec; called once per class, under its lock.

    `entity` is the class's `entity=` (default: its name), the discriminator value it writes.
    """
    pk = layout.pk
    if pk is None:  # the definition rules raised already for a table without PK
        raise ValidationError(f"{cls.__name__}: no PK")
    checks: dict[str, tuple[str, str, bool]] = {}
    for attr, table_key in [(pk, True), (layout.sk, True)] + [
        (a, False) for ix in layout.indexes for a in (ix.pk, ix.sk)
    ]:
        if attr is not None and attr.stored not in checks:
            checks[attr.stored] = (attr.stored, attr.type, table_key)
    encoders = {
        p.name: FieldEncoder(f"{cls.__name__}.{p.name}", p.codec) for p in codec.plans if not p.ignore
    }
    sk = layout.sk
    from ._model_markers import Encrypted

    encrypted = frozenset(
        p.stored for p in codec.plans if not p.ignore and any(m is Encrypted for m in p.info.metadata)
    )
    _refuse_nested_encrypted(cls, codec.plans, Encrypted, set())
    templates = key_templates(cls, codec.plans, layout)
    # A Template copies its components into a key attribute, which is stored (and indexed) in the clear.
    leaked = sorted(encrypted.intersection(a for kt in templates for a in kt.component_stored))
    if leaked:
        raise ValidationError(
            f"{cls.__name__}: Encrypted attribute(s) {', '.join(map(repr, leaked))} feed a key Template; "
            "a key is stored in the clear, so an Encrypted field cannot be part of one"
        )
    entry = entry_for(table)
    attribute = entry.attribute
    if entry.tagged and any(p.stored == attribute and not p.ignore for p in codec.plans):
        raise ValidationError(
            f"{cls.__name__}: a field is stored as {attribute!r}, the table's discriminator attribute; "
            "rename it or choose another discriminator="
        )
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
        encrypted=encrypted,
        kms_key_id=kms_key_id,
        entity=cls.__name__ if entity is None else entity,
        _entry=entry,
        _templates=templates,
        templated=bool(templates),
        _pk_template=next((t for t in templates if t.field == pk.field), None),
        _sk_template=None if sk is None else next((t for t in templates if t.field == sk.field), None),
    )


def _refuse_nested_encrypted(
    owner: type, plans: tuple[FieldPlan, ...], marker: object, seen: set[type]
) -> None:
    """Encrypted only seals a table model's own attributes: on a nested model's field it would store
    plaintext while promising ciphertext, so it is refused (nested models directly held, recursively)."""
    for p in plans:
        nested = p.codec.nested
        if nested is None or nested in seen:
            continue
        seen.add(nested)
        inner: tuple[FieldPlan, ...] = nested.__aiotheory__.plans()  # type: ignore[attr-defined]  # a Model
        for q in inner:
            if any(m is marker for m in q.info.metadata):
                raise ValidationError(
                    f"{owner.__name__}.{p.name}: nested model {nested.__name__} has an Encrypted field "
                    f"({q.name}); only a table model's own fields can be Encrypted"
                )
        _refuse_nested_encrypted(owner, inner, marker, seen)
