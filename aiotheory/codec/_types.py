"""Type codecs: how each annotation is stored, picked once per field into an immutable `TypeCodec`.

One job (a table of codecs per annotation shape: scalars, X | None, lists, maps, sets, enums, Literal,
converters, nested models), hence the length. No I/O; pydantic is only read, never run. A nested model's
codec is reached through the class's compiled object (`__aiotheory__`), so this module imports no model.
"""

from __future__ import annotations

import types
import typing
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, Union
from uuid import UUID

from .._model_markers import TTL, Converter, EpochSeconds, JSONString, RFC3339Nano
from ..errors import ValidationError
from ._scalars import (
    EMPTY_SET,
    INT_HIGH,
    INT_LOW,
    check_texts,
    checked_name,
    checked_text,
    dec_bool,
    dec_bytes,
    dec_date,
    dec_datetime,
    dec_decimal,
    dec_epoch,
    dec_float,
    dec_int,
    dec_json,
    dec_str,
    dec_uuid,
    decimal_text,
    decode_untyped,
    enc_bool,
    enc_bytes,
    enc_date,
    enc_datetime,
    enc_datetime_nano,
    enc_decimal,
    enc_epoch,
    enc_epoch_whole,
    enc_float,
    enc_int,
    enc_json,
    enc_str,
    enc_uuid,
    encode_value,
    float_text,
    from_b64,
    int_from_text,
    int_text,
    number_from_text,
    number_text,
    to_b64,
    zero_time,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from .._types import AttributeValue, Item

__all__ = [
    "JSON",
    "KeyType",
    "TypeCodec",
    "converter_codec",
    "markers_of",
    "optional_codec",
    "str_bound",
    "type_codec",
]

KeyType = Literal["S", "N", "B"]
_NONE_TYPE: Final = type(None)


# ------------------------------------------------------------------------------------------ type codecs


class TypeCodec:
    """How one python type is stored: `enc` trusts a validated value, `coerce` checks an unvalidated one.

    `dec` raises KeyError / ValueError / TypeError when the AttributeValue does not fit; `empty` builds the
    empty value for types that have one (str, bytes, list, dict, set, the numbers, bool, datetime: what
    `OmitEmpty` leaves out); `key_type` is set for types a
    DynamoDB key can hold. Immutable; hand-written rather than a frozen dataclass, which costs about
    0.7 ms of import time.
    """

    __slots__ = (
        "coerce",
        "dec",
        "depth",
        "empty",
        "enc",
        "inner",
        "is_float",
        "is_set",
        "key_type",
        "label",
        "nested",
        "py",
        "size",
        "sizer",
    )

    enc: Callable[[Any], AttributeValue]
    dec: Callable[[AttributeValue], Any]
    coerce: Callable[[object], Any]
    label: str
    key_type: KeyType | None
    empty: Callable[[], object] | None
    is_set: bool
    is_float: bool
    py: type | None  # the python scalar type stored, for marker checks (Version needs int)
    nested: type | None  # the model class of a nested-model value (for `Payment.address.city`)
    # An upper bound of the stored size: `size` when fixed, else `sizer(value)`; neither: measure the AV.
    size: int | None
    sizer: Callable[[Any], int] | None
    # M/L levels this codec adds (1 for list/map, 0 otherwise) on top of `inner`'s; None: unknown until
    # encoded (untyped values, converters). A nested model's depth is its fields' (`_model_depth`).
    depth: int | None
    inner: TypeCodec | None  # the element codec of a list/map, the wrapped codec of X | None

    def __init__(
        self,
        *,
        enc: Callable[[Any], AttributeValue],
        dec: Callable[[AttributeValue], Any],
        coerce: Callable[[object], Any],
        label: str,
        key_type: KeyType | None = None,
        empty: Callable[[], object] | None = None,
        is_set: bool = False,
        is_float: bool = False,
        py: type | None = None,
        nested: type | None = None,
        size: int | None = None,
        sizer: Callable[[Any], int] | None = None,
        depth: int | None = 0,
        inner: TypeCodec | None = None,
    ) -> None:
        setter = object.__setattr__
        setter(self, "enc", enc)
        setter(self, "dec", dec)
        setter(self, "coerce", coerce)
        setter(self, "label", label)
        setter(self, "key_type", key_type)
        setter(self, "empty", empty)
        setter(self, "is_set", is_set)
        setter(self, "is_float", is_float)
        setter(self, "py", py)
        setter(self, "nested", nested)
        setter(self, "size", size)
        setter(self, "sizer", sizer)
        setter(self, "depth", depth)
        setter(self, "inner", inner)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"TypeCodec is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"TypeCodec is immutable: cannot delete {name!r}")

    def __repr__(self) -> str:
        return f"TypeCodec(label={self.label!r}, key_type={self.key_type!r})"


class _Coerce:
    """Accept instances of `types` (never a bool unless bool is listed); `convert` widens other inputs."""

    __slots__ = ("_convert", "_label", "_types")

    def __init__(self, types_: tuple[type, ...], label: str, convert: Callable[[Any], Any] | None = None):
        self._types = types_
        self._label = label
        self._convert = convert

    def __call__(self, v: object) -> object:
        if isinstance(v, self._types) and (bool in self._types or not isinstance(v, bool)):
            return v
        if self._convert is not None and not isinstance(v, bool):
            try:
                return self._convert(v)
            except (TypeError, ValueError, ArithmeticError):
                pass
        raise ValidationError(f"expected {self._label}, got {_a(type(v).__name__)}")


def _a(noun: str) -> str:
    """`noun` with its indefinite article, for messages: "an int", "a str", "a UUID" (said "you-")."""
    vowel = noun[:1].lower() in "aeiou" and not noun.lower().startswith(("uu", "uni", "use"))
    return f"{'an' if vowel else 'a'} {noun}"


def _to_decimal(v: object) -> Decimal:
    if isinstance(v, int):
        return Decimal(v)
    raise TypeError


def _to_float(v: object) -> float:
    if isinstance(v, int | Decimal):
        return float(v)
    raise TypeError


def _to_uuid(v: object) -> UUID:
    if isinstance(v, str):
        return UUID(v)
    raise TypeError


def _accept_any(v: object) -> object:
    return v


# Upper bounds of stored sizes (bytes, DynamoDB's counting) for fixed-size scalars: a 38-digit number
# takes 20 bytes; an RFC 3339 datetime 27, an ISO date 10, a UUID 36.
_N_MAX: Final = 21


def str_bound(v: str) -> int:
    return len(v) << 2  # UTF-8 takes at most 4 bytes per code point


_STR: Final = TypeCodec(
    enc=enc_str,
    dec=dec_str,
    coerce=_Coerce((str,), "str"),
    label="S",
    key_type="S",
    empty=str,
    py=str,
    sizer=str_bound,
)
_INT: Final = TypeCodec(
    enc=enc_int,
    dec=dec_int,
    coerce=_Coerce((int,), "int"),
    label="N",
    key_type="N",
    empty=int,
    py=int,
    size=_N_MAX,
)
_DECIMAL: Final = TypeCodec(
    enc=enc_decimal,
    dec=dec_decimal,
    coerce=_Coerce((Decimal,), "Decimal", _to_decimal),
    label="N",
    key_type="N",
    empty=Decimal,
    py=Decimal,
    size=_N_MAX,
)
_FLOAT: Final = TypeCodec(
    enc=enc_float,
    dec=dec_float,
    coerce=_Coerce((float,), "float", _to_float),
    label="N",
    is_float=True,
    empty=float,
    py=float,
    size=_N_MAX,
)
_BOOL: Final = TypeCodec(
    enc=enc_bool, dec=dec_bool, coerce=_Coerce((bool,), "bool"), label="BOOL", empty=bool, py=bool, size=1
)
_BYTES: Final = TypeCodec(
    enc=enc_bytes,
    dec=dec_bytes,
    coerce=_Coerce((bytes,), "bytes"),
    label="B",
    key_type="B",
    empty=bytes,
    py=bytes,
    sizer=len,
)
_DATETIME: Final = TypeCodec(
    enc=enc_datetime,
    dec=dec_datetime,
    coerce=_Coerce((datetime,), "datetime"),
    label="S (RFC 3339 datetime)",
    key_type="S",
    empty=zero_time,
    py=datetime,
    size=27,
)
# Go's RFC3339Nano as TableTheory writes it; reads every RFC 3339 form, like the default codec.
_DATETIME_NANO: Final = TypeCodec(
    enc=enc_datetime_nano,
    dec=dec_datetime,
    coerce=_Coerce((datetime,), "datetime"),
    label="S (RFC 3339 datetime)",
    key_type="S",
    empty=zero_time,
    py=datetime,
    size=27,
)
_EPOCH: Final = TypeCodec(
    enc=enc_epoch,
    dec=dec_epoch,
    coerce=_Coerce((datetime,), "datetime"),
    label="N (epoch seconds)",
    key_type="N",
    empty=zero_time,
    py=datetime,
    size=_N_MAX,
)
_TTL: Final = TypeCodec(
    enc=enc_epoch_whole,
    dec=dec_epoch,
    coerce=_Coerce((datetime,), "datetime"),
    label="N (epoch seconds)",
    key_type="N",
    empty=zero_time,
    py=datetime,
    size=_N_MAX,
)
_DATE: Final = TypeCodec(
    enc=enc_date,
    dec=dec_date,
    coerce=_Coerce((date,), "date"),
    label="S (ISO date)",
    key_type="S",
    py=date,
    size=10,
)
_UUID: Final = TypeCodec(
    enc=enc_uuid,
    dec=dec_uuid,
    coerce=_Coerce((UUID,), "UUID", _to_uuid),
    label="S (UUID)",
    key_type="S",
    py=UUID,
    size=36,
)
# JSON, dynamic and converted values have no python-side bound: their encoded AttributeValue is measured.
JSON: Final = TypeCodec(enc=enc_json, dec=dec_json, coerce=_accept_any, label="S (JSON)", key_type="S")
_DYNAMIC: Final = TypeCodec(enc=encode_value, dec=decode_untyped, coerce=_accept_any, label="any", depth=None)

_SCALARS: Final[dict[object, TypeCodec]] = {
    str: _STR,
    int: _INT,
    Decimal: _DECIMAL,
    float: _FLOAT,
    bool: _BOOL,
    bytes: _BYTES,
    datetime: _DATETIME,
    date: _DATE,
    UUID: _UUID,
    Any: _DYNAMIC,
    object: _DYNAMIC,
}


class _Optional:
    __slots__ = ("_inner", "_size")

    def __init__(self, inner: TypeCodec) -> None:
        self._inner = inner
        self._size = inner.sizer

    def enc(self, v: object) -> AttributeValue:
        return {"NULL": True} if v is None else self._inner.enc(v)

    def dec(self, av: AttributeValue) -> object:
        return None if "NULL" in av else self._inner.dec(av)

    def coerce(self, v: object) -> object:
        return None if v is None else self._inner.coerce(v)

    def sizer(self, v: object) -> int:
        return 1 if v is None else self._size(v)  # type: ignore[misc]  # only installed when inner has a sizer


def optional_codec(inner: TypeCodec) -> TypeCodec:
    o = _Optional(inner)
    return TypeCodec(
        enc=o.enc,
        dec=o.dec,
        coerce=o.coerce,
        label=inner.label + " or NULL",
        size=None if inner.size is None else max(inner.size, 1),
        sizer=o.sizer if inner.sizer is not None else None,
        inner=inner,
    )


def _sum_bounds(sizer: Callable[[Any], int], values: typing.Iterable[Any]) -> int:
    total = 0
    for x in values:
        total += sizer(x)
    return total


class _List:
    __slots__ = ("_item", "_item_size", "_tuple")

    def __init__(self, item: TypeCodec, as_tuple: bool) -> None:
        self._item = item
        self._tuple = as_tuple
        self._item_size = item.size

    def enc(self, v: list[object]) -> AttributeValue:
        enc = self._item.enc
        return {"L": [enc(x) for x in v]}

    def enc_str(self, v: list[str]) -> AttributeValue:
        if not "".join(v).isascii():  # one C pass over a list: cheaper than isascii() per element
            check_texts(v)
        return {"L": [{"S": x} for x in v]}

    def enc_int(self, v: list[Any]) -> AttributeValue:
        if v and not (min(v) > INT_LOW and max(v) < INT_HIGH):
            return self.enc(v)  # some number needs the full 38-digit / range check
        return {"L": [{"N": t} for t in map(int.__repr__, v)]}

    def dec(self, av: AttributeValue) -> object:
        dec = self._item.dec
        out = [dec(x) for x in av["L"]]
        return tuple(out) if self._tuple else out

    def dec_str(self, av: AttributeValue) -> object:
        out = [x["S"] for x in av["L"]]
        return tuple(out) if self._tuple else out

    def dec_int(self, av: AttributeValue) -> object:
        try:
            out = [int(x["N"]) for x in av["L"]]
        except ValueError:
            return self.dec(av)  # exponent forms ("1E+3") take the careful path
        return tuple(out) if self._tuple else out

    def coerce(self, v: object) -> object:
        if not isinstance(v, list | tuple):
            raise ValidationError(f"expected a list, got {_a(type(v).__name__)}")
        coerce = self._item.coerce
        out = [coerce(x) for x in v]
        return tuple(out) if self._tuple else out

    # "A List or Map takes 3 bytes, plus 1 byte per element" on top of the elements' sizes.
    def size_fixed(self, v: list[object]) -> int:
        return 3 + len(v) * (1 + self._item_size)  # type: ignore[operator]  # installed when item size is fixed

    def size_str(self, v: list[str]) -> int:
        return 3 + len(v) + (sum(map(len, v)) << 2)

    def size_each(self, v: list[object]) -> int:
        return 3 + len(v) + _sum_bounds(self._item.sizer, v)  # type: ignore[arg-type]  # installed when item has one


class _Map:
    __slots__ = ("_value", "_value_size")

    def __init__(self, value: TypeCodec) -> None:
        self._value = value
        self._value_size = value.size

    def enc(self, v: dict[str, object]) -> AttributeValue:
        enc = self._value.enc
        key = checked_name
        return {"M": {(k if k and k.isascii() else key(k)): enc(x) for k, x in v.items()}}

    def enc_str(self, v: dict[str, str]) -> AttributeValue:
        # Checked inline (about 12 ns a string); "".join() over a dict's keys measured 280 ns for six.
        key = checked_name
        text = checked_text
        return {
            "M": {
                (k if k and k.isascii() else key(k)): {"S": x if x.isascii() else text(x)}
                for k, x in v.items()
            }
        }

    def dec(self, av: AttributeValue) -> dict[str, object]:
        dec = self._value.dec
        return {k: dec(x) for k, x in av["M"].items()}

    def dec_str(self, av: AttributeValue) -> dict[str, object]:
        return {k: x["S"] for k, x in av["M"].items()}

    def coerce(self, v: object) -> object:
        if not isinstance(v, dict):
            raise ValidationError(f"expected a dict, got {_a(type(v).__name__)}")
        coerce = self._value.coerce
        out: dict[str, object] = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise ValidationError(f"map keys must be strings, not {type(k).__name__}")
            out[k] = coerce(x)
        return out

    def size_fixed(self, v: dict[str, object]) -> int:
        return 3 + len(v) * (1 + self._value_size) + (sum(map(len, v)) << 2)  # type: ignore[operator]  # fixed

    def size_str(self, v: dict[str, str]) -> int:
        return 3 + len(v) + ((sum(map(len, v)) + sum(map(len, v.values()))) << 2)

    def size_each(self, v: dict[str, object]) -> int:
        return 3 + len(v) + (sum(map(len, v)) << 2) + _sum_bounds(self._value.sizer, v.values())  # type: ignore[arg-type]  # installed when value has one


class _Set:
    """SS / NS / BS: `text` turns one element into its wire string, `parse` turns it back."""

    __slots__ = ("_coerce", "_frozen", "_parse", "_tag", "_text")

    def __init__(
        self,
        tag: str,
        text: Callable[[Any], str] | None,
        parse: Callable[[str], Any] | None,
        coerce: Callable[[object], Any],
        frozen: bool,
    ) -> None:
        self._tag = tag
        self._text = text
        self._parse = parse
        self._coerce = coerce
        self._frozen = frozen

    def enc(self, v: set[Any]) -> AttributeValue:
        if not v:
            raise ValidationError(EMPTY_SET)
        # Sorted, so one set always encodes to the same bytes (stable payloads, goldens, signatures).
        text = self._text
        if text is not None:
            return {self._tag: [text(x) for x in sorted(v)]}
        texts = sorted(v)
        if not "".join(texts).isascii():  # one C pass over the set; only SS has no text function
            check_texts(texts)
        return {self._tag: texts}

    def enc_int(self, v: set[int]) -> AttributeValue:
        if not v:
            raise ValidationError(EMPTY_SET)
        if not (min(v) > INT_LOW and max(v) < INT_HIGH):
            return self.enc(v)
        return {"NS": list(map(int.__repr__, sorted(v)))}

    def dec(self, av: AttributeValue) -> set[Any] | frozenset[Any]:
        parse = self._parse
        raw = av[self._tag]
        out = set(raw) if parse is None else {parse(x) for x in raw}
        return frozenset(out) if self._frozen else out

    def dec_int(self, av: AttributeValue) -> set[Any] | frozenset[Any]:
        try:
            out = set(map(int, av["NS"]))
        except ValueError:
            return self.dec(av)  # exponent forms ("1E+3") take the careful path
        return frozenset(out) if self._frozen else out

    def coerce(self, v: object) -> object:
        if not isinstance(v, set | frozenset):
            raise ValidationError(f"expected a set, got {_a(type(v).__name__)}")
        coerce = self._coerce
        out = {coerce(x) for x in v}
        return frozenset(out) if self._frozen else out

    def size(self, v: set[Any]) -> int:
        tag = self._tag
        if tag == "NS":
            return len(v) * _N_MAX
        if tag == "SS":
            return sum(map(len, v)) << 2
        return sum(map(len, v))


class _Enum:
    __slots__ = ("_members", "_tp", "_value")

    def __init__(self, tp: type[Enum], value: TypeCodec) -> None:
        self._tp = tp
        self._value = value
        self._members = dict(tp._value2member_map_)

    def enc(self, v: Enum) -> AttributeValue:
        return self._value.enc(v.value)

    def dec(self, av: AttributeValue) -> Enum:
        raw = self._value.dec(av)
        member = self._members.get(raw)
        return member if member is not None else self._tp(raw)

    def coerce(self, v: object) -> Enum:
        try:
            return self._tp(v)
        except ValueError:
            raise ValidationError(f"expected a {self._tp.__name__} member or value") from None


class _Literal:
    __slots__ = ("_base", "_values")

    def __init__(self, values: tuple[object, ...], base: TypeCodec) -> None:
        self._values = values
        self._base = base

    def dec(self, av: AttributeValue) -> object:
        v = self._base.dec(av)
        if v not in self._values:
            raise ValueError("not one of the Literal values")
        return v

    def coerce(self, v: object) -> object:
        if v not in self._values or isinstance(v, bool) is not isinstance(self._values[0], bool):
            raise ValidationError("not one of the field's Literal values")
        return v


class _Converted:
    __slots__ = ("_conv",)

    def __init__(self, conv: Converter) -> None:
        self._conv = conv

    def enc(self, v: object) -> AttributeValue:
        return self._conv.to_dynamo(v)

    def dec(self, av: AttributeValue) -> object:
        return self._conv.from_dynamo(av)


class _NestedCodec(Protocol):
    """What a nested value needs of its model's codec (`aiotheory.codec._model.ModelCodec`)."""

    def encode_map(self, obj: object) -> Item: ...
    def decode_map(self, item: Item) -> Any: ...
    def nested_bound(self, obj: object) -> int: ...


class _Nested:
    """A nested Model stored as M; its codec is looked up on first use (a model may refer to itself)."""

    __slots__ = ("_codec", "_tp")

    def __init__(self, tp: type) -> None:
        self._tp = tp
        self._codec: _NestedCodec | None = None

    def _get(self) -> _NestedCodec:
        codec = self._codec
        if codec is None:
            # The class's compiled object (`aiotheory.schema.Compiled`) builds its codec once.
            codec = self._codec = self._tp.__aiotheory__.codec()  # type: ignore[attr-defined]  # a Model
        return codec

    def enc(self, v: object) -> AttributeValue:
        return {"M": (self._codec or self._get()).encode_map(v)}

    def dec(self, av: AttributeValue) -> object:
        return (self._codec or self._get()).decode_map(av["M"])

    def coerce(self, v: object) -> object:
        if isinstance(v, self._tp):
            return v
        raise ValidationError(f"expected {_a(self._tp.__name__)}, got {_a(type(v).__name__)}")

    def sizer(self, v: object) -> int:
        return (self._codec or self._get()).nested_bound(v)


def _enum_codec(tp: type[Enum]) -> TypeCodec:
    values = [m.value for m in tp]
    if values and all(type(x) is str for x in values):
        base = _STR
    elif values and all(type(x) is int for x in values):
        base = _INT
    else:
        base = _DYNAMIC
    e = _Enum(tp, base)
    size = _N_MAX if base is _INT else max((len(v) for v in values), default=0) * 4 if base is _STR else None
    return TypeCodec(
        enc=e.enc,
        dec=e.dec,
        coerce=e.coerce,
        label=base.label,
        key_type=base.key_type,
        size=size,
        depth=base.depth,
    )


def _unsupported(tp: object) -> ValidationError:
    name = getattr(tp, "__name__", None) or repr(tp)
    return ValidationError(f"type {name} is not supported")


def markers_of(metadata: typing.Iterable[object]) -> tuple[bool, bool, Converter | None, bool]:
    """(epoch seconds, JSON string, converter, RFC3339Nano) as the markers in `metadata` ask."""
    epoch = json_ = nano = False
    conv: Converter | None = None
    for m in metadata:
        if m is EpochSeconds or m is TTL:
            epoch = True
        elif m is JSONString:
            json_ = True
        elif m is RFC3339Nano:
            nano = True
        elif _is_converter(m):
            conv = m  # type: ignore[assignment]  # has both Converter methods
    return epoch, json_, conv, nano


def _is_converter(m: object) -> bool:
    # Structural check by hand: isinstance() on a runtime Protocol costs ~50 µs per call at class creation.
    tp = type(m)
    return tp is not type and hasattr(tp, "to_dynamo") and hasattr(tp, "from_dynamo")


def type_codec(tp: Any, *, epoch: bool = False, ttl: bool = False, nano: bool = False) -> TypeCodec:
    """The codec for annotation `tp` (Annotated markers inside it apply at their level).

    `nano` stores datetimes as RFC3339Nano text; `epoch` (epoch seconds) wins over it.
    """
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        inner, *metadata = typing.get_args(tp)
        n_epoch, n_json, conv, n_nano = markers_of(metadata)
        if conv is not None:
            return converter_codec(conv)
        if n_json:
            return JSON
        return type_codec(inner, epoch=epoch or n_epoch, ttl=ttl, nano=nano or n_nano)
    if origin is Union or origin is types.UnionType:
        args = typing.get_args(tp)
        rest = [a for a in args if a is not _NONE_TYPE]
        if len(rest) != 1:
            raise ValidationError(f"union {tp} is not supported (only X | None)")
        inner_codec = type_codec(rest[0], epoch=epoch, ttl=ttl, nano=nano)
        return optional_codec(inner_codec) if len(rest) != len(args) else inner_codec
    if origin is None:
        return _plain_codec(tp, epoch=epoch, ttl=ttl, nano=nano)
    args = typing.get_args(tp)
    if origin is list:
        return _list_codec(type_codec(args[0], epoch=epoch, nano=nano) if args else _DYNAMIC, as_tuple=False)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _list_codec(type_codec(args[0], epoch=epoch, nano=nano), as_tuple=True)
        raise ValidationError(f"{tp} is not supported (use tuple[X, ...] or list[X])")
    if origin is dict:
        if args and args[0] is not str:
            raise ValidationError(f"{tp} is not supported: map keys must be str")
        return _map_codec(type_codec(args[1], epoch=epoch, nano=nano) if args else _DYNAMIC)
    if origin is set or origin is frozenset:
        return _set_codec(tp, args[0] if args else None, frozen=origin is frozenset)
    if origin is Literal:
        values = typing.get_args(tp)
        if all(type(v) is str for v in values):
            base = _STR
        elif all(type(v) is int for v in values):
            base = _INT
        else:
            raise ValidationError(f"{tp} is not supported: Literal values must be all str or all int")
        lit = _Literal(values, base)
        size = _N_MAX if base is _INT else max(len(v) for v in values) * 4
        return TypeCodec(
            enc=base.enc, dec=lit.dec, coerce=lit.coerce, label=base.label, key_type=base.key_type, size=size
        )
    raise _unsupported(tp)


def _plain_codec(tp: Any, *, epoch: bool, ttl: bool, nano: bool) -> TypeCodec:
    if tp is datetime:
        return _TTL if ttl else _EPOCH if epoch else _DATETIME_NANO if nano else _DATETIME
    found = _SCALARS.get(tp)
    if found is not None:
        return found
    if isinstance(tp, type):
        if issubclass(tp, Enum):
            return _enum_codec(tp)
        if getattr(tp, "__aiotheory_model__", False):
            n = _Nested(tp)
            return TypeCodec(enc=n.enc, dec=n.dec, coerce=n.coerce, label="M", nested=tp, sizer=n.sizer)
        if tp is list or tp is tuple:
            return _list_codec(_DYNAMIC, as_tuple=tp is tuple)
        if tp is dict:
            return _map_codec(_DYNAMIC)
        if tp is set or tp is frozenset:
            raise ValidationError(
                f"bare {tp.__name__} is not supported: say set[str], set[int] or set[bytes]"
            )
        if hasattr(tp, "model_fields"):
            raise ValidationError(f"nested model {tp.__name__} must derive from aiotheory.Model")
    raise _unsupported(tp)


def _list_codec(item: TypeCodec, *, as_tuple: bool) -> TypeCodec:
    lst = _List(item, as_tuple)
    sizer: Callable[[Any], int] | None = None
    if item is _STR:
        sizer = lst.size_str
    elif item.size is not None:
        sizer = lst.size_fixed
    elif item.sizer is not None:
        sizer = lst.size_each
    return TypeCodec(
        enc=lst.enc_str if item is _STR else lst.enc_int if item is _INT else lst.enc,
        dec=lst.dec_str if item is _STR else lst.dec_int if item is _INT else lst.dec,
        coerce=lst.coerce,
        label="L",
        empty=tuple if as_tuple else list,
        sizer=sizer,
        depth=1,
        inner=item,
    )


def _map_codec(value: TypeCodec) -> TypeCodec:
    m = _Map(value)
    sizer: Callable[[Any], int] | None = None
    if value is _STR:
        sizer = m.size_str
    elif value.size is not None:
        sizer = m.size_fixed
    elif value.sizer is not None:
        sizer = m.size_each
    return TypeCodec(
        enc=m.enc_str if value is _STR else m.enc,
        dec=m.dec_str if value is _STR else m.dec,
        coerce=m.coerce,
        label="M",
        empty=dict,
        sizer=sizer,
        depth=1,
        inner=value,
    )


_SET_ELEMENTS: Final[dict[object, tuple[str, Callable[[Any], str] | None, Callable[[str], Any] | None]]] = {
    str: ("SS", None, None),
    bytes: ("BS", to_b64, from_b64),
    int: ("NS", int_text, int_from_text),
    Decimal: ("NS", decimal_text, Decimal),
    float: ("NS", float_text, float),
}


def _set_codec(tp: object, elem: object, *, frozen: bool) -> TypeCodec:
    found = _SET_ELEMENTS.get(elem)
    coerce: Callable[[object], Any]
    if found is not None:
        tag, text, parse = found
        coerce = _SCALARS[elem].coerce
    elif typing.get_origin(elem) in (Union, types.UnionType) and set(typing.get_args(elem)) == {int, Decimal}:
        # int | Decimal: either is written; integral text reads back as int, other numbers as Decimal.
        tag, text, parse, coerce = "NS", number_text, number_from_text, _accept_number
    else:
        raise ValidationError(f"{tp} is not supported: sets hold str, int, Decimal, float or bytes")
    s = _Set(tag, text, parse, coerce, frozen)
    return TypeCodec(
        enc=s.enc_int if elem is int else s.enc,
        dec=s.dec_int if elem is int else s.dec,
        coerce=s.coerce,
        label=tag,
        empty=frozenset if frozen else set,
        is_set=True,
        sizer=s.size,
    )


def _accept_number(v: object) -> object:
    if isinstance(v, int | Decimal) and not isinstance(v, bool):
        return v
    raise ValidationError(f"expected a number, got {_a(type(v).__name__)}")


def converter_codec(conv: Converter) -> TypeCodec:
    c = _Converted(conv)
    return TypeCodec(enc=c.enc, dec=c.dec, coerce=_accept_any, label="converted", depth=None)
