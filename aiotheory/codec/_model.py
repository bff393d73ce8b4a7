"""The model codec: one model class's encode/decode tables, and the partial decoder for projections.

`ModelCodec` is built once per class from its field plans (made by the definition rules in
`aiotheory._rules`) and kept in the class's compiled object (`aiotheory.schema.Compiled`); the whole
per-item work is two loops over tuples. No I/O; pydantic is only read, never run.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Protocol

from .._model_markers import PK, SK
from ..errors import DecodeError, ValidationError
from ._scalars import MAX_NESTED_CONTAINERS, is_zero_time, utf8_len, value_size
from ._types import TypeCodec, optional_codec, str_bound

if TYPE_CHECKING:
    from collections.abc import Callable

    from pydantic.fields import FieldInfo

    from .._model_markers import GSI, LSI
    from .._types import AttributeValue, Item

__all__ = [
    "DecodeFailure",
    "EncodeFailure",
    "FieldPlan",
    "ModelCodec",
    "Partial",
    "decode_failure_error",
    "key_text",
    "model_codec",
]


class EncodeFailure(ValidationError):
    """A value could not be encoded; `path` is the field path from the outermost model."""

    def __init__(self, path: list[str], reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"field {'.'.join(self.path)!r}: {self.reason}"


class DecodeFailure(Exception):
    """A stored value does not fit its field; the table boundary turns it into a DecodeError."""

    def __init__(self, path: list[str], reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


# ------------------------------------------------------------------------------------------ type codecs


# ------------------------------------------------------------------------------------------ field plans


class FieldPlan:
    """One field as the table sees it: its stored name, codec and the markers it carries.

    Immutable; hand-written rather than a frozen dataclass (about 0.5 ms of import time).
    """

    __slots__ = (
        "annotation",
        "codec",
        "ignore",
        "indexes",
        "info",
        "name",
        "omit_empty",
        "optional",
        "roles",
        "stored",
    )

    name: str
    stored: str
    codec: TypeCodec  # for the value without None
    optional: bool
    ignore: bool
    omit_empty: bool
    roles: frozenset[object]  # PK, SK, Version, CreatedAt, UpdatedAt, TTL
    indexes: tuple[GSI | LSI, ...]
    info: FieldInfo
    annotation: object

    def __init__(
        self,
        *,
        name: str,
        stored: str,
        codec: TypeCodec,
        optional: bool,
        ignore: bool,
        omit_empty: bool,
        roles: frozenset[object],
        indexes: tuple[GSI | LSI, ...],
        info: FieldInfo,
        annotation: object,
    ) -> None:
        setter = object.__setattr__
        setter(self, "name", name)
        setter(self, "stored", stored)
        setter(self, "codec", codec)
        setter(self, "optional", optional)
        setter(self, "ignore", ignore)
        setter(self, "omit_empty", omit_empty)
        setter(self, "roles", roles)
        setter(self, "indexes", indexes)
        setter(self, "info", info)
        setter(self, "annotation", annotation)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"FieldPlan is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"FieldPlan is immutable: cannot delete {name!r}")

    def __repr__(self) -> str:
        return f"FieldPlan(name={self.name!r}, stored={self.stored!r}, codec={self.codec!r})"


# ------------------------------------------------------------------------------------------ model codec


class _OmitEmptyTop:
    """Top-level encoder that writes nothing for an empty value (sets always; other types under OmitEmpty)."""

    __slots__ = ("_enc",)

    def __init__(self, enc: Callable[[Any], AttributeValue]) -> None:
        self._enc = enc

    def enc(self, v: Any) -> AttributeValue | None:
        return self._enc(v) if v else None

    def enc_time(self, v: Any) -> AttributeValue | None:
        # A datetime is always truthy: its empty value is the zero time (Go's zero `time.Time`).
        return None if is_zero_time(v) else self._enc(v)

    def enc_null(self, v: Any) -> AttributeValue:
        # TableTheory writes an empty set it may not omit as NULL (DynamoDB has no empty set).
        return self._enc(v) if v else {"NULL": True}


class _Default:
    """What a field missing from the item reads as: its empty value, or its pydantic default."""

    __slots__ = ("_empty", "_info")

    def __init__(self, info: FieldInfo, empty: Callable[[], object] | None) -> None:
        self._info = info
        self._empty = empty

    def __call__(self, values: dict[str, Any]) -> object:
        if self._empty is not None:
            return self._empty()
        return self._info.get_default(call_default_factory=True, validated_data=values)


_REQUIRED: Final = None
# Fields DynamoDB refuses a NULL in when they are keys; index keys are found by their markers.
_KEY_ROLES: Final = frozenset((PK, SK))
_NOT_STORED: Final = "\x00not stored"  # an attribute name no item holds: DynamoDB names are never NUL-led


def _decode_reason(exc: Exception, av: object, label: str) -> str:
    if isinstance(av, dict) and av:
        tags = "/".join(str(t) for t in av)
        if isinstance(exc, KeyError):
            return f"expected {label}, the item holds {tags}"
        return f"the stored {tags} value does not fit {label} ({type(exc).__name__})"
    return f"malformed AttributeValue for {label}"


class ModelCodec:
    """The compiled tables of one model class: the whole per-item work is two loops over tuples."""

    __slots__ = (
        "_all_names",
        "_bounded",
        "_dec_table",
        "_enc_maybe",
        "_enc_null",
        "_enc_plain",
        "_fixed",
        "_measured",
        "_null_empty",
        "_post_init",
        "_stored_count",
        "_str_fields",
        "deep",
        "fields",
        "model",
        "plans",
    )

    def __init__(self, cls: type, plans: tuple[FieldPlan, ...], *, tabletheory: bool = False) -> None:
        """`tabletheory`: write what TableTheory writes where it may not omit: NULL for None and for an
        empty set (index keys excepted: DynamoDB refuses a NULL there)."""
        self.model = cls
        self.plans = plans
        self.fields = {p.name: p for p in plans}
        # Fields that always hold a value go through the tight loop; optional / omittable ones check first.
        plain: list[tuple[str, str, Callable[[Any], AttributeValue]]] = []
        maybe: list[tuple[str, str, Callable[[Any], AttributeValue | None]]] = []
        nulls: list[tuple[str, str, Callable[[Any], AttributeValue]]] = []  # None written as NULL
        null_empty: dict[str, Callable[[], object]] = {}
        fixed = 0
        bounded: list[tuple[str, Callable[[Any], int]]] = []
        str_fields: list[str] = []
        measured: list[str] = []
        dec_table: list[tuple[str, str, Callable[[AttributeValue], Any], _Default | None]] = []
        for p in plans:
            codec = p.codec
            if p.ignore:
                dec_table.append((p.name, _NOT_STORED, codec.dec, _Default(p.info, None)))
                continue
            top = _OmitEmptyTop(codec.enc)
            keyed = bool(p.indexes) or bool(p.roles & _KEY_ROLES)
            if tabletheory and not p.omit_empty and not keyed and (codec.is_set or p.optional):
                enc = top.enc_null if codec.is_set else codec.enc
                if p.optional:
                    nulls.append((p.name, p.stored, enc))
                else:
                    plain.append((p.name, p.stored, enc))
                fixed += 1  # a NULL takes one byte where the value may take none
            elif codec.is_set or p.omit_empty:
                maybe.append((p.name, p.stored, top.enc_time if codec.py is datetime else top.enc))
            elif p.optional:
                maybe.append((p.name, p.stored, codec.enc))
            else:
                plain.append((p.name, p.stored, codec.enc))
            if (
                not p.optional
                and codec.empty is not None
                and (codec.depth == 1 or codec.is_set or p.omit_empty)
            ):
                # TableTheory writes an empty or omitted container (and an omitempty value) as NULL.
                null_empty[p.name] = codec.empty
            fixed += utf8_len(p.stored)
            if codec.size is not None:
                fixed += codec.size
            elif codec.sizer is str_bound:
                str_fields.append(p.name)
            elif codec.sizer is not None:
                bounded.append((p.name, codec.sizer))
            else:
                measured.append(p.stored)
            dec = optional_codec(codec).dec if p.optional else codec.dec
            missing: _Default | None
            if (codec.is_set or p.omit_empty) and not p.optional:
                missing = _Default(p.info, codec.empty)
            elif p.info.is_required():
                missing = _REQUIRED
            else:
                missing = _Default(p.info, None)
            dec_table.append((p.name, p.stored, dec, missing))
        self._enc_plain = tuple(plain)
        self._enc_maybe = tuple(maybe)
        self._enc_null = tuple(nulls)
        self._null_empty = null_empty
        self._fixed = fixed
        self._bounded = tuple(bounded)
        self._str_fields = tuple(str_fields)
        self._measured = tuple(measured)
        self._stored_count = len(plain) + len(maybe) + len(nulls)
        self._dec_table = tuple(dec_table)
        self._all_names = frozenset(p.name for p in plans)
        self._post_init = bool(getattr(cls, "__pydantic_post_init__", None))
        # (name, stored) of the fields whose values may nest past DynamoDB's 32 levels: usually none,
        # so typed values are never walked. Untyped, converted and self-nesting fields are listed.
        active = frozenset({cls})
        self.deep = tuple(
            (p.name, p.stored)
            for p in plans
            if not p.ignore and not _within(_codec_depth(p.codec, active), MAX_NESTED_CONTAINERS)
        )

    def encode_map(self, obj: object) -> Item:
        """All stored attributes of `obj`; None values and empty sets are left out."""
        d = obj.__dict__
        out: Item = {}
        name = ""
        v: object = None
        try:
            for name, stored, enc in self._enc_plain:
                v = d[name]
                out[stored] = enc(v)
            for name, stored, maybe_enc in self._enc_maybe:
                v = d[name]
                if v is None:
                    continue
                av = maybe_enc(v)
                if av is not None:
                    out[stored] = av
            for name, stored, enc in self._enc_null:
                v = d[name]
                out[stored] = {"NULL": True} if v is None else enc(v)
        except EncodeFailure as exc:
            exc.path.insert(0, name)
            raise
        except ValidationError as exc:
            raise EncodeFailure([name], str(exc)) from exc
        except KeyError as exc:
            raise EncodeFailure([name], "the field has no value") from exc
        except Exception as exc:
            raise EncodeFailure(
                [name], f"cannot encode a {type(v).__name__} value ({type(exc).__name__})"
            ) from exc
        return out

    def encode_m(self, obj: object) -> AttributeValue:
        return {"M": self.encode_map(obj)}

    def size_bound(self, obj: object, item: Item) -> int:
        """An upper bound of `item_size(item)` (`item` is `obj` encoded), cheap: no walk of strings or lists.

        Fixed-size fields count their maximum, strings 4 bytes per code point, and only values with no
        python-side bound (JSON, converted, untyped) are measured from the item.
        """
        d = obj.__dict__
        total = self._fixed + self._variable_bound(d)
        for stored in self._measured:
            av = item.get(stored)
            if av is not None:
                total += value_size(av)
        return total

    def nested_bound(self, obj: object) -> int:
        """An upper bound of this model's size as a nested M value."""
        if self._measured:
            return value_size(self.encode_m(obj))
        return 3 + self._stored_count + self._fixed + self._variable_bound(obj.__dict__)

    def _variable_bound(self, d: dict[str, Any]) -> int:
        chars = 0
        for name in self._str_fields:
            v = d[name]
            if v is not None:
                chars += len(v)
        total = chars << 2  # UTF-8 takes at most 4 bytes per code point
        for name, sizer in self._bounded:
            v = d[name]
            if v is not None:
                total += sizer(v)
        return total

    def decode_map(self, item: Item) -> Any:
        """A model instance from stored attributes, without pydantic validation; unknown ones are ignored."""
        values: dict[str, Any] = {}
        defaulted = False
        name = ""
        av: object = None
        try:
            for name, stored, dec, missing in self._dec_table:
                av = item.get(stored)
                if av is None:
                    if missing is None:
                        raise DecodeFailure([], "the required attribute is missing")
                    values[name] = missing(values)
                    defaulted = True
                else:
                    values[name] = dec(av)
        except DecodeFailure as exc:
            exc.path.insert(0, name)
            raise
        except Exception as exc:
            if name in self._null_empty and type(av) is dict and av.get("NULL") is True:
                return self._decode_nulls(item)  # off the fast path: only items holding such a NULL
            label = self.fields[name].codec.label
            raise DecodeFailure([name], _decode_reason(exc, av, label)) from exc
        cls = self.model
        obj: Any = object.__new__(cls)
        _set = object.__setattr__
        _set(obj, "__dict__", values)
        if defaulted:
            _set(obj, "__pydantic_fields_set__", {n for n, s, _, _ in self._dec_table if s in item})
        else:
            _set(obj, "__pydantic_fields_set__", set(self._all_names))
        _set(obj, "__pydantic_extra__", None)
        _set(obj, "__pydantic_private__", None)
        if self._post_init:
            obj.model_post_init(None)
        return obj

    def _decode_nulls(self, item: Item) -> Any:
        """`decode_map` for an item in which a field that has an empty value holds NULL: it reads empty."""
        null_empty = self._null_empty
        values: dict[str, Any] = {}
        defaulted = False
        name = ""
        av: object = None
        try:
            for name, stored, dec, missing in self._dec_table:
                av = item.get(stored)
                if av is None:
                    if missing is None:
                        raise DecodeFailure([], "the required attribute is missing")
                    values[name] = missing(values)
                    defaulted = True
                elif name in null_empty and av.get("NULL") is True:
                    values[name] = null_empty[name]()
                else:
                    values[name] = dec(av)
        except DecodeFailure as exc:
            exc.path.insert(0, name)
            raise
        except Exception as exc:
            label = self.fields[name].codec.label
            raise DecodeFailure([name], _decode_reason(exc, av, label)) from exc
        obj: Any = object.__new__(self.model)
        _set = object.__setattr__
        _set(obj, "__dict__", values)
        if defaulted:
            _set(obj, "__pydantic_fields_set__", {n for n, s, _, _ in self._dec_table if s in item})
        else:
            _set(obj, "__pydantic_fields_set__", set(self._all_names))
        _set(obj, "__pydantic_extra__", None)
        _set(obj, "__pydantic_private__", None)
        if self._post_init:
            obj.model_post_init(None)
        return obj

    def partial(self, fields: frozenset[str], table: str, key: tuple[str, ...]) -> Partial:
        """A decoder of items holding only `fields` (a projection); `key` names the stored key attributes."""
        return Partial(self, fields, table, key)


class Partial:
    """Decodes the projected fields into a model instance that holds those fields only (no validation).

    A projected field the item lacks reads as its default (an absent set as empty, as in a full decode);
    a field not in `fields` is left unset, so reading it raises AttributeError.
    """

    __slots__ = ("_cls", "_key", "_read", "_table")

    def __init__(self, codec: ModelCodec, fields: frozenset[str], table: str, key: tuple[str, ...]) -> None:
        read: list[
            tuple[
                str,
                str,
                Callable[[AttributeValue], object],
                bool,
                Any,
                Callable[[], object] | None,
                Callable[[], object] | None,
            ]
        ]
        read = []
        null_empty = codec._null_empty
        for plan in codec.plans:
            if plan.ignore or plan.name not in fields:
                continue
            # Empty sets (and OmitEmpty values) are never written: absent means empty, as in a full decode.
            empty = plan.codec.empty if (plan.codec.is_set or plan.omit_empty) and not plan.optional else None
            read.append(
                (
                    plan.name,
                    plan.stored,
                    plan.codec.dec,
                    plan.optional,
                    plan.info,
                    empty,
                    null_empty.get(plan.name),
                )
            )
        self._cls = codec.model
        self._read = tuple(read)
        self._table = table
        self._key = key

    def __call__(self, item: Item) -> Any:
        values: dict[str, Any] = {}
        fields_set: set[str] = set()
        for name, stored, dec, optional, info, empty, null_empty in self._read:
            av = item.get(stored)
            if av is None:
                if empty is not None:
                    values[name] = empty()
                elif not info.is_required():
                    values[name] = info.get_default(call_default_factory=True, validated_data=values)
                continue
            try:
                values[name] = None if optional and "NULL" in av else dec(av)
            except Exception as exc:
                if null_empty is not None and type(av) is dict and av.get("NULL") is True:
                    values[name] = null_empty()  # TableTheory's NULL for an empty container
                else:
                    key = {k: item[k] for k in self._key if k in item}
                    failure = DecodeFailure([name], f"the stored value does not fit ({type(exc).__name__})")
                    raise decode_failure_error(failure, self._table, key) from None
            fields_set.add(name)
        obj: Any = object.__new__(self._cls)
        _set = object.__setattr__
        _set(obj, "__dict__", values)
        _set(obj, "__pydantic_fields_set__", fields_set)
        _set(obj, "__pydantic_extra__", None)
        _set(obj, "__pydantic_private__", None)
        return obj


def _codec_depth(codec: TypeCodec, active: frozenset[type]) -> int | None:
    """The most M/L levels a value of `codec` holds; None when only its encoded value can tell."""
    if codec.nested is not None:
        return _model_depth(codec.nested, active)
    if codec.depth is None:
        return None
    if codec.inner is None:
        return codec.depth
    inner = _codec_depth(codec.inner, active)
    return None if inner is None else codec.depth + inner


def _within(depth: int | None, limit: int) -> bool:
    return depth is not None and depth <= limit


def _model_depth(cls: type, active: frozenset[type]) -> int | None:
    if cls in active:
        return None  # a model nesting itself has no static bound
    inside = active | {cls}
    deepest = 0
    try:
        plans = _compiled(cls).plans()
    except ValidationError:
        return None  # not resolvable yet: its values are measured when encoded
    for p in plans:
        if p.ignore:
            continue
        depth = _codec_depth(p.codec, inside)
        if depth is None:
            return None
        deepest = max(deepest, depth)
    return 1 + deepest


class _Compiled(Protocol):
    """What the codec needs of a class's compiled object (`aiotheory.schema.Compiled`)."""

    def plans(self) -> tuple[FieldPlan, ...]: ...
    def codec(self) -> ModelCodec: ...


def _compiled(cls: type) -> _Compiled:
    found: _Compiled = cls.__aiotheory__  # type: ignore[attr-defined]  # every Model subclass has one
    return found


def model_codec(cls: type) -> ModelCodec:
    """The codec of a model class: built on first use, once, and kept in the class's compiled object."""
    return _compiled(cls).codec()


def decode_failure_error(exc: DecodeFailure, table: str, key: Item) -> DecodeError:
    """The public DecodeError for a failure inside a table item: table, key and field path, no values."""
    field = ".".join(exc.path)
    shown = ", ".join(f"{k}={key_text(av)}" for k, av in key.items()) or "<no key>"
    return DecodeError(
        f"cannot read an item of table {table!r} (key {shown}): field {field!r}: {exc.reason}",
        table=table,
        key=key,
        field=field,
    )


def key_text(av: object) -> str:
    """A key value as shown in messages: the raw S/N/B text, never a non-key value."""
    if isinstance(av, dict) and len(av) == 1:
        ((tag, raw),) = av.items()
        if tag in ("S", "N", "B"):
            return repr(raw)
    return "<malformed>"
