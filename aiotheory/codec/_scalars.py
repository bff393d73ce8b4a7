"""Scalars and sizes: python values <-> DynamoDB AttributeValue wire JSON, DynamoDB's limits checked.

The number rules (38 digits, 1E-130 .. 9.99E+125), the scalar encoders and decoders the type codecs
(`_types`) pick per field, the untyped path (`encode_value` / `decode_value`: one `type(v) -> function`
table) and DynamoDB's size counting. Imports no pydantic, no I/O, no asyncio.

Wire shapes: {"S": str}, {"N": str}, {"B": base64 str}, {"BOOL": bool}, {"NULL": True}, {"L": [...]},
{"M": {...}}, {"SS": [...]}, {"NS": [...]}, {"BS": [...]}. Reading never re-runs pydantic validation.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import Enum
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from ..errors import DecodeError, ValidationError

if TYPE_CHECKING:
    from .._types import AttributeValue, Item

__all__ = [
    "EMPTY_SET",
    "INT_HIGH",
    "INT_LOW",
    "MAX_ITEM_BYTES",
    "MAX_NESTED_CONTAINERS",
    "check_texts",
    "checked_name",
    "checked_text",
    "dec_bool",
    "dec_bytes",
    "dec_date",
    "dec_datetime",
    "dec_decimal",
    "dec_epoch",
    "dec_float",
    "dec_int",
    "dec_json",
    "dec_str",
    "dec_uuid",
    "decimal_text",
    "decode_untyped",
    "decode_value",
    "enc_bool",
    "enc_bytes",
    "enc_date",
    "enc_datetime",
    "enc_datetime_nano",
    "enc_decimal",
    "enc_epoch",
    "enc_epoch_whole",
    "enc_float",
    "enc_int",
    "enc_json",
    "enc_str",
    "enc_uuid",
    "encode_value",
    "float_text",
    "from_b64",
    "int_from_text",
    "int_text",
    "is_zero_time",
    "item_size",
    "nests_deeper",
    "number_from_text",
    "number_text",
    "to_b64",
    "utf8_len",
    "value_size",
    "zero_time",
]

#: "The maximum item size in DynamoDB is 400 KB" (attribute names and values, UTF-8).
MAX_ITEM_BYTES: Final = 400 * 1024

_Enc = Callable[[Any], "AttributeValue"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# "Positive range: 1E-130 to 9.9999999999999999999999999999999999999E+125", same for negatives.
_MAX_DIGITS: Final = 38
_MAX_ADJUSTED: Final = 125
_MIN_ADJUSTED: Final = -130
# ints strictly inside these bounds have at most 38 digits: no digit check needed.
INT_LOW: Final = -(10**38)
INT_HIGH: Final = 10**38
EMPTY_SET: Final = "an empty set cannot be stored inside a list or map (DynamoDB has no empty set)"
# Sorted keys: one value always stores the same text (TableTheory writes its json fields the same way),
# so a conditional write comparing a stored JSON attribute sees equal values as equal.
_JSON: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True)
_b2a: Final = binascii.b2a_base64
from_b64: Final = binascii.a2b_base64
#: "DynamoDB supports nested attributes up to 32 levels deep." Measured on DynamoDB Local: a top-level
#: attribute is level 1, and an M or L is refused at level 32 ("Nesting Levels have exceeded supported
#: limits") while a scalar or set there is accepted, so a value holds at most 31 nested M/L levels.
MAX_NESTED_CONTAINERS: Final = 31
_LONE_SURROGATE: Final = (
    "a string holds a lone surrogate (e.g. '\\ud800'), which is not valid Unicode; DynamoDB stores UTF-8"
)
_EMPTY_MAP_KEY: Final = "a map key is empty; DynamoDB refuses empty attribute names"


# ---------------------------------------------------------------------------------------------- numbers


def _check_digits(text: str) -> str:
    """Check the text of a number against DynamoDB's precision and range; returns it unchanged."""
    mantissa, _, exp_text = text.lower().lstrip("+-").partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    if not digits:
        return text  # zero
    # Position of the most significant digit relative to the decimal point (Decimal.adjusted()).
    lead_zeros = len(whole + frac) - len(digits)
    adjusted = len(whole) - 1 - lead_zeros + (int(exp_text) if exp_text else 0)
    significant = len(digits.rstrip("0"))
    if significant > _MAX_DIGITS:
        raise ValidationError(f"a number has {significant} significant digits; DynamoDB allows 38")
    if adjusted > _MAX_ADJUSTED or adjusted < _MIN_ADJUSTED:
        raise ValidationError("a number is out of DynamoDB's range (1E-130 .. 9.99...E+125 in magnitude)")
    return text


def enc_int(v: int) -> AttributeValue:
    text = int.__repr__(v)  # raises TypeError for a non-int, and turns a bool into "1"/"0"
    if len(text) > _MAX_DIGITS:
        _check_digits(text)
    return {"N": text}


def int_text(v: int) -> str:
    text = int.__repr__(v)  # raises TypeError for a non-int, and turns a bool into "1"/"0"
    if len(text) > _MAX_DIGITS:
        _check_digits(text)
    return text


def decimal_text(v: Decimal) -> str:
    text = str(v)
    # Plain notation of at most 38 characters: finite, at most 38 digits, magnitude inside the range.
    if len(text) <= _MAX_DIGITS and "E" not in text and text[-1] in "0123456789":
        return text
    if not v.is_finite():
        raise ValidationError("NaN and Infinity cannot be stored in DynamoDB")
    if not v:
        return "0"
    adjusted = v.adjusted()
    if adjusted > _MAX_ADJUSTED or adjusted < _MIN_ADJUSTED:
        raise ValidationError("a number is out of DynamoDB's range (1E-130 .. 9.99...E+125 in magnitude)")
    digits = v.as_tuple().digits
    if len(digits) > _MAX_DIGITS:
        significant = len(digits)
        while significant and digits[significant - 1] == 0:
            significant -= 1
        if significant > _MAX_DIGITS:
            raise ValidationError(f"a number has {significant} significant digits; DynamoDB allows 38")
    return str(v)


def float_text(v: float) -> str:
    text = float.__repr__(v)
    magnitude = abs(v)
    if 1e-129 < magnitude < 1e125:
        return text
    if magnitude != magnitude or magnitude == float("inf"):
        raise ValidationError("NaN and Infinity cannot be stored in DynamoDB")
    if not magnitude:
        return "0"
    return _check_digits(text)


def number_text(v: object) -> str:
    """An untyped number's N text (bool is not a number here)."""
    tp = type(v)
    if tp is int:
        return int_text(v)  # type: ignore[arg-type]  # type(v) is int
    if tp is Decimal:
        return decimal_text(v)  # type: ignore[arg-type]  # type(v) is Decimal
    if tp is float:
        return float_text(v)  # type: ignore[arg-type]  # type(v) is float
    if isinstance(v, int) and not isinstance(v, bool):
        return int_text(v)
    if isinstance(v, Decimal):
        return decimal_text(v)
    if isinstance(v, float):
        return float_text(v)
    raise ValidationError(f"a {tp.__name__} is not a number")


def int_from_text(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        # DynamoDB may hand back an integral number in exponent form ("1E+3").
        d = Decimal(text)
        if d != d.to_integral_value():
            raise ValueError("not an integral number") from None
        return int(d)


def number_from_text(text: str) -> int | Decimal:
    """An untyped N: int when integral text, else an exact Decimal."""
    try:
        return int(text)
    except ValueError:
        return Decimal(text)


# ---------------------------------------------------------------------------------------------- scalars
# Encoders trust the python type the annotation fixed (pydantic validated it); decoders raise KeyError,
# ValueError or TypeError on a mismatch, which the field loop turns into a DecodeError naming the field.


def enc_str(v: str) -> AttributeValue:
    # isascii() reads a flag of the string object (O(1)); only non-ASCII text pays for the UTF-8 check.
    return {"S": v if v.isascii() else checked_text(v)}


def checked_text(v: str) -> str:
    """`v` when it can be sent as UTF-8; a lone surrogate (which JSON would escape as `\\ud800`) cannot."""
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(_LONE_SURROGATE) from None
    return v


def checked_name(k: str) -> str:
    """`k` if DynamoDB takes it as an attribute name (not empty, valid Unicode); for keys not plain ASCII.

    Encoders write `k if k and k.isascii() else checked_name(k)`, which keeps the common case inline.
    """
    if not k:
        raise ValidationError(_EMPTY_MAP_KEY)
    return checked_text(k)


def check_texts(values: Iterable[str]) -> None:
    for v in values:
        if not v.isascii():
            checked_text(v)


dec_str: Final = itemgetter("S")


def dec_int(av: AttributeValue) -> int:
    text = av["N"]
    try:
        return int(text)
    except ValueError:
        return int_from_text(text)


def enc_decimal(v: Decimal) -> AttributeValue:
    return {"N": decimal_text(v)}


def dec_decimal(av: AttributeValue) -> Decimal:
    return Decimal(av["N"])


def enc_float(v: float) -> AttributeValue:
    return {"N": float_text(v)}


def dec_float(av: AttributeValue) -> float:
    return float(av["N"])


def enc_bool(v: bool) -> AttributeValue:
    return {"BOOL": v}


dec_bool: Final = itemgetter("BOOL")


def _enc_null(v: None) -> AttributeValue:
    return {"NULL": True}


def to_b64(v: bytes) -> str:
    return _b2a(v, newline=False).decode("ascii")


def enc_bytes(v: bytes) -> AttributeValue:
    return {"B": _b2a(v, newline=False).decode("ascii")}


def dec_bytes(av: AttributeValue) -> bytes:
    return from_b64(av["B"])


def _datetime_text(v: datetime) -> str:
    # Fixed-width microseconds keep stored strings sortable in the order of the instants.
    if v.tzinfo is None:
        return v.isoformat(timespec="microseconds") + "Z"  # naive: taken as UTC already
    offset = v.utcoffset()
    if offset:
        v = v - offset
    return v.isoformat(timespec="microseconds")[:26] + "Z"  # drop the "+HH:MM" suffix


def enc_datetime(v: datetime) -> AttributeValue:
    return {"S": _datetime_text(v)}


def enc_datetime_nano(v: datetime) -> AttributeValue:
    """Go's `time.RFC3339Nano` in UTC: the fraction loses its trailing zeros, and is gone when zero."""
    if v.tzinfo is not None:
        offset = v.utcoffset()
        if offset:
            v = v - offset
    text = v.isoformat(timespec="seconds")[:19]
    micros = v.microsecond
    if not micros:
        return {"S": text + "Z"}
    return {"S": f"{text}.{micros:06d}".rstrip("0") + "Z"}


_ZERO_TIME: Final = datetime.min.replace(tzinfo=UTC)
_NAIVE_MIN: Final = datetime.min


def zero_time() -> datetime:
    """The empty datetime: 0001-01-01T00:00:00Z, Go's zero `time.Time` (what `omitempty` leaves out)."""
    return _ZERO_TIME


def is_zero_time(v: datetime) -> bool:
    return v.year == 1 and v.replace(tzinfo=None) == _NAIVE_MIN and not v.utcoffset()


def dec_datetime(av: AttributeValue) -> datetime:
    v = datetime.fromisoformat(av["S"])
    tz = v.tzinfo
    if tz is UTC:
        return v
    if tz is None:
        return v.replace(tzinfo=UTC)
    return v.astimezone(UTC)


def _epoch_parts(v: datetime) -> tuple[int, int]:
    """Whole seconds since the epoch (floored) and the microseconds past them."""
    delta = (v if v.tzinfo is not None else v.replace(tzinfo=UTC)) - _EPOCH
    return delta.days * 86400 + delta.seconds, delta.microseconds


def enc_epoch(v: datetime) -> AttributeValue:
    seconds, micros = _epoch_parts(v)
    if not micros:
        return {"N": str(seconds)}
    return {"N": str(Decimal(seconds) + Decimal(micros).scaleb(-6))}


def enc_epoch_whole(v: datetime) -> AttributeValue:
    """TTL: DynamoDB expects whole epoch seconds; sub-second precision is dropped (floored)."""
    return {"N": str(_epoch_parts(v)[0])}


def dec_epoch(av: AttributeValue) -> datetime:
    text = av["N"]
    try:
        return _EPOCH + timedelta(seconds=int(text))
    except ValueError:
        micros = (Decimal(text) * 1_000_000).to_integral_value(ROUND_HALF_EVEN)
        return _EPOCH + timedelta(microseconds=int(micros))


def enc_date(v: date) -> AttributeValue:
    return {"S": v.isoformat()}


def dec_date(av: AttributeValue) -> date:
    return date.fromisoformat(av["S"])


def enc_uuid(v: UUID) -> AttributeValue:
    return {"S": str(v)}


def dec_uuid(av: AttributeValue) -> UUID:
    return UUID(av["S"])


def enc_json(v: object) -> AttributeValue:
    return enc_str(_JSON.encode(v))


def dec_json(av: AttributeValue) -> object:
    return json.loads(av["S"])


# ---------------------------------------------------------------------------------------------- untyped


def encode_value(v: object) -> AttributeValue:
    """Encode an untyped python value by its runtime type (the path for dict/list contents and `Any`).

    ints, Decimals and floats become N (limits checked), str S, bytes B, bool BOOL, None NULL, list/tuple L,
    dict M (str keys), set/frozenset SS/NS/BS (never empty), datetime an RFC 3339 UTC S, date an ISO S,
    Enum its value, UUID its S, a nested Model M. Raises ValidationError for anything else.
    """
    fn = _DYNAMIC_ENC.get(type(v))
    if fn is None:
        fn = _resolve_dynamic(type(v))
    return fn(v)


def _enc_dyn_list(v: list[object] | tuple[object, ...]) -> AttributeValue:
    return {"L": [encode_value(x) for x in v]}


def _enc_dyn_map(v: dict[object, object]) -> AttributeValue:
    out: dict[str, AttributeValue] = {}
    for k, x in v.items():
        if type(k) is not str and not isinstance(k, str):
            raise ValidationError(f"map keys must be strings, not {type(k).__name__}")
        out[k if k and k.isascii() else checked_name(k)] = encode_value(x)
    return {"M": out}


def _enc_dyn_set(v: set[object] | frozenset[object]) -> AttributeValue:
    if not v:
        raise ValidationError(EMPTY_SET)
    kinds = {type(x) for x in v}
    # Sorted, so one set always encodes to the same bytes (stable payloads, goldens, signatures).
    if kinds <= {str}:
        texts: list[str] = sorted(v)  # type: ignore[arg-type]  # all str
        if not "".join(texts).isascii():
            check_texts(texts)
        return {"SS": texts}
    if kinds <= {bytes}:
        return {"BS": [to_b64(x) for x in sorted(v)]}  # type: ignore[type-var, arg-type]  # all bytes
    if not (kinds & {bool}) and all(issubclass(k, (int, Decimal, float)) for k in kinds):
        return {"NS": [number_text(x) for x in sorted(v)]}  # type: ignore[type-var]  # all numbers
    raise ValidationError("a set must hold only strings, only numbers or only bytes")


def _enc_dyn_enum(v: Enum) -> AttributeValue:
    return encode_value(v.value)


_DYNAMIC_ENC: Final[dict[type, _Enc]] = {
    str: enc_str,
    int: enc_int,
    bool: enc_bool,
    float: enc_float,
    Decimal: enc_decimal,
    bytes: enc_bytes,
    type(None): _enc_null,
    list: _enc_dyn_list,
    tuple: _enc_dyn_list,
    dict: _enc_dyn_map,
    set: _enc_dyn_set,
    frozenset: _enc_dyn_set,
    datetime: enc_datetime,
    date: enc_date,
    UUID: enc_uuid,
}


def _resolve_dynamic(tp: type) -> _Enc:
    """Pick the encoder for a type missing from the table (subclasses, enums, models) and cache it."""
    fn: _Enc
    if issubclass(tp, Enum):
        fn = _enc_dyn_enum
    elif getattr(tp, "__aiotheory_model__", False):
        # A model class carries its compiled object (`aiotheory.schema.Compiled`), codec included.
        fn = tp.__aiotheory__.codec().encode_m  # type: ignore[attr-defined]  # a Model subclass
    elif issubclass(tp, bool):
        fn = enc_bool
    elif issubclass(tp, int):
        fn = enc_int
    elif issubclass(tp, str):
        fn = enc_str
    elif issubclass(tp, datetime):
        fn = enc_datetime
    elif issubclass(tp, date):
        fn = enc_date
    elif issubclass(tp, Decimal):
        fn = enc_decimal
    elif issubclass(tp, float):
        fn = enc_float
    elif issubclass(tp, (bytes, bytearray)):
        fn = enc_bytes
    elif issubclass(tp, UUID):
        fn = enc_uuid
    elif issubclass(tp, dict):
        fn = _enc_dyn_map
    elif issubclass(tp, (list, tuple)):
        fn = _enc_dyn_list
    elif issubclass(tp, (set, frozenset)):
        fn = _enc_dyn_set
    else:
        raise ValidationError(f"a value of type {tp.__name__} cannot be stored in DynamoDB")
    _DYNAMIC_ENC[tp] = fn
    return fn


def decode_value(av: AttributeValue) -> object:
    """Decode an untyped AttributeValue: N gives an int when integral text, else a Decimal; sets give sets.

    Raises DecodeError for a malformed AttributeValue.
    """
    try:
        return decode_untyped(av)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"malformed AttributeValue ({type(exc).__name__})") from exc


def decode_untyped(av: AttributeValue) -> object:
    ((tag, raw),) = av.items()
    return _DYNAMIC_DEC[tag](raw)


def _dec_dyn_list(raw: list[AttributeValue]) -> list[object]:
    return [decode_untyped(x) for x in raw]


def _dec_dyn_map(raw: dict[str, AttributeValue]) -> dict[str, object]:
    return {k: decode_untyped(x) for k, x in raw.items()}


def _dec_dyn_bool(raw: object) -> bool:
    if type(raw) is not bool:
        raise TypeError("BOOL must hold a boolean")
    return raw


def _dec_dyn_str(raw: object) -> str:
    if type(raw) is not str:
        raise TypeError("S must hold a string")
    return raw


def _dec_dyn_null(raw: object) -> None:
    return None


def _dec_dyn_ss(raw: list[str]) -> set[str]:
    return set(raw)


def _dec_dyn_ns(raw: list[str]) -> set[int | Decimal]:
    return {number_from_text(x) for x in raw}


def _dec_dyn_bs(raw: list[str]) -> set[bytes]:
    return {from_b64(x) for x in raw}


_DYNAMIC_DEC: Final[dict[str, Callable[[Any], object]]] = {
    "S": _dec_dyn_str,
    "N": number_from_text,
    "B": from_b64,
    "BOOL": _dec_dyn_bool,
    "NULL": _dec_dyn_null,
    "L": _dec_dyn_list,
    "M": _dec_dyn_map,
    "SS": _dec_dyn_ss,
    "NS": _dec_dyn_ns,
    "BS": _dec_dyn_bs,
}


# ---------------------------------------------------------------------------------------------- sizes


def utf8_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8"))


def _number_size(text: str) -> int:
    mantissa = text.lower().lstrip("+-").partition("e")[0]
    digits = mantissa.replace(".", "").strip("0")
    # "1 byte per two significant digits, plus 1 byte"; leading and trailing zeroes are trimmed.
    return (len(digits) + 1) // 2 + 1


def _binary_size(text: str) -> int:
    n = len(text)
    pad = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    return n * 3 // 4 - pad


def _list_size(raw: list[AttributeValue]) -> int:
    # "A List or Map requires 3 bytes of overhead ... and 1 byte per element."
    total = 3 + len(raw)
    for av in raw:
        total += value_size(av)
    return total


def _map_size(raw: dict[str, AttributeValue]) -> int:
    total = 3 + len(raw)
    for k, av in raw.items():
        total += utf8_len(k) + value_size(av)
    return total


def _one(raw: object) -> int:
    return 1


def _ss_size(raw: list[str]) -> int:
    return sum(utf8_len(x) for x in raw)


def _ns_size(raw: list[str]) -> int:
    return sum(_number_size(x) for x in raw)


def _bs_size(raw: list[str]) -> int:
    return sum(_binary_size(x) for x in raw)


_SIZE: Final[dict[str, Callable[[Any], int]]] = {
    "S": utf8_len,
    "N": _number_size,
    "B": _binary_size,
    "BOOL": _one,
    "NULL": _one,
    "L": _list_size,
    "M": _map_size,
    "SS": _ss_size,
    "NS": _ns_size,
    "BS": _bs_size,
}


def value_size(av: AttributeValue) -> int:
    ((tag, raw),) = av.items()
    return _SIZE[tag](raw)


def item_size(item: Item) -> int:
    """The size DynamoDB counts for `item`: UTF-8 attribute names plus value sizes (documented rules).

    Raises ValidationError naming the attribute when its name or value holds text UTF-8 cannot encode.
    """
    total = 0
    for name, av in item.items():
        try:
            total += utf8_len(name) + value_size(av)
        except UnicodeEncodeError:
            raise ValidationError(f"attribute {name!r}: {_LONE_SURROGATE}") from None
    return total


def nests_deeper(av: AttributeValue, containers: int = MAX_NESTED_CONTAINERS) -> bool:
    """True when `av` holds more than `containers` nested M/L levels (itself included)."""
    if "M" in av:
        children: Iterable[AttributeValue] = av["M"].values()
    elif "L" in av:
        children = av["L"]
    else:
        return False
    if containers == 0:
        return True
    return any(("M" in child or "L" in child) and nests_deeper(child, containers - 1) for child in children)
