"""The codec: round trips per type and per model, DynamoDB's limits, decode errors, sizes."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field

from aiotheory.codec import MAX_ITEM_BYTES, decode_value, encode_value, item_size
from aiotheory.errors import DecodeError, ValidationError

if TYPE_CHECKING:
    from aiotheory._types import AttributeValue

from aiotheory.model import (
    GSI,
    PK,
    SK,
    TTL,
    EpochSeconds,
    JSONString,
    Model,
    Stored,
    schema_of,
)

_examples = settings(max_examples=60, deadline=None)


class Color(Enum):
    RED = "red"
    BLUE = "blue"


class Level(IntEnum):
    LOW = 1
    HIGH = 2


class Money:
    """A Converter: cents stored as N of the amount in units."""

    def to_dynamo(self, value: object) -> AttributeValue:
        assert isinstance(value, int)
        return {"N": str(Decimal(value).scaleb(-2))}

    def from_dynamo(self, av: AttributeValue) -> object:
        return int(Decimal(av["N"]).scaleb(2))


class Address(Model):
    city: Annotated[str, Stored("c")]
    zip: str = ""


class Everything(Model, table="everything"):
    pk: Annotated[str, PK]
    sk: Annotated[int, SK]
    s: str = ""
    i: int = 0
    f: float = 0.0
    d: Decimal = Decimal(0)
    b: bool = False
    raw: bytes = b""
    at: datetime | None = None
    day: date | None = None
    uid: UUID | None = None
    color: Color = Color.RED
    level: Level = Level.LOW
    kind: Literal["a", "b"] = "a"
    xs: list[int] = Field(default_factory=list)
    names: tuple[str, ...] = ()
    meta: dict[str, str] = Field(default_factory=dict)
    anything: dict[str, Any] = Field(default_factory=dict)
    address: Address | None = None
    addresses: list[Address] = Field(default_factory=list)
    tags: set[str] = Field(default_factory=set)
    nums: set[int] = Field(default_factory=set)
    decs: frozenset[Decimal] = frozenset()
    blobs: set[bytes] = Field(default_factory=set)
    mixed: set[int | Decimal] = Field(default_factory=set)
    epoch: Annotated[datetime | None, EpochSeconds] = None
    expires: Annotated[datetime | None, TTL] = None
    doc: Annotated[Any, JSONString] = None
    cents: Annotated[int, Money()] = 0
    status: Annotated[str | None, GSI("by-status")] = None


SCHEMA = schema_of(Everything)

_text = st.text(max_size=20)
#: Map keys: DynamoDB refuses empty attribute names, at any depth.
_key = st.text(min_size=1, max_size=20)
_int38 = st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1)
_decimals = st.decimals(
    allow_nan=False, allow_infinity=False, places=6, min_value=-(10**20), max_value=10**20
)
_aware = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC))
_floats = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e100, max_value=1e100).filter(
    lambda x: x == 0 or abs(x) > 1e-100
)


def _everything() -> st.SearchStrategy[Everything]:
    return st.builds(
        Everything,
        pk=_text.filter(bool),
        sk=_int38,
        s=_text,
        i=_int38,
        f=_floats,
        d=_decimals,
        b=st.booleans(),
        raw=st.binary(max_size=20),
        at=st.none() | _aware,
        day=st.none() | st.dates(),
        uid=st.none() | st.uuids(),
        color=st.sampled_from(Color),
        level=st.sampled_from(Level),
        kind=st.sampled_from(["a", "b"]),
        xs=st.lists(_int38, max_size=4),
        names=st.lists(_text, max_size=3).map(tuple),
        meta=st.dictionaries(_key, _text, max_size=3),
        anything=st.dictionaries(
            _key, st.none() | st.booleans() | _text | _int38 | st.lists(_int38, max_size=2), max_size=3
        ),
        address=st.none() | st.builds(Address, city=_text, zip=_text),
        addresses=st.lists(st.builds(Address, city=_text), max_size=2),
        tags=st.sets(_text, max_size=3),
        nums=st.sets(_int38, max_size=3),
        decs=st.frozensets(_decimals, max_size=3),
        blobs=st.sets(st.binary(max_size=5), max_size=3),
        mixed=st.sets(st.integers(-100, 100), max_size=3),
        epoch=st.none() | _aware,
        expires=st.none() | _aware.map(lambda d: d.replace(microsecond=0)),
        doc=st.none() | st.dictionaries(_text, _text | st.integers(-1000, 1000), max_size=2),
        cents=st.integers(-(10**12), 10**12),
        status=st.none() | _text.filter(bool),
    )


# ---------------------------------------------------------------------------------------------- round trips


@_examples
@given(_everything())
def test_decode_returns_equal_model_when_item_was_encoded(obj):
    item = SCHEMA.encode(obj)
    json.dumps(item)  # wire JSON: only str/bool/list/dict
    assert SCHEMA.decode(item) == obj


@_examples
@given(st.none() | st.booleans() | _text | _int38 | st.binary(max_size=10))
def test_decode_value_returns_value_when_scalar_was_encoded(v):
    assert decode_value(encode_value(v)) == v


@_examples
@given(_decimals)
def test_decode_value_returns_equal_number_when_decimal_was_encoded(v):
    assert decode_value(encode_value(v)) == v


_json_like = st.recursive(
    st.none() | st.booleans() | _text | _int38,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_key, inner, max_size=3),
    max_leaves=10,
)


@_examples
@given(_json_like)
def test_decode_value_returns_value_when_nested_containers_were_encoded(v):
    assert decode_value(encode_value(v)) == v


@_examples
@given(st.sets(_text, min_size=1) | st.sets(_int38, min_size=1) | st.sets(st.binary(), min_size=1))
def test_decode_value_returns_set_when_set_was_encoded(v):
    assert decode_value(encode_value(v)) == v


def test_encode_value_writes_wire_shapes_when_types_vary():
    assert encode_value("x") == {"S": "x"}
    assert encode_value(12) == {"N": "12"}
    assert encode_value(Decimal("1.50")) == {"N": "1.50"}
    assert encode_value(1.5) == {"N": "1.5"}
    assert encode_value(True) == {"BOOL": True}
    assert encode_value(None) == {"NULL": True}
    assert encode_value(b"\x00\xff") == {"B": base64.b64encode(b"\x00\xff").decode()}
    assert encode_value([1, "a"]) == {"L": [{"N": "1"}, {"S": "a"}]}
    assert encode_value({"k": [True]}) == {"M": {"k": {"L": [{"BOOL": True}]}}}
    assert encode_value(frozenset({"a"})) == {"SS": ["a"]}
    assert encode_value({2}) == {"NS": ["2"]}
    assert encode_value({b"a"}) == {"BS": ["YQ=="]}
    assert encode_value(Color.BLUE) == {"S": "blue"}
    assert encode_value(Level.HIGH) == {"N": "2"}
    u = UUID(int=1)
    assert encode_value(u) == {"S": str(u)}
    assert encode_value(date(2026, 1, 2)) == {"S": "2026-01-02"}
    assert encode_value(Address(city="x")) == {"M": {"c": {"S": "x"}, "zip": {"S": ""}}}


def test_decode_value_returns_int_or_decimal_when_number_is_integral_or_not():
    assert decode_value({"N": "12"}) == 12
    assert type(decode_value({"N": "12"})) is int
    assert decode_value({"N": "1.5"}) == Decimal("1.5")
    assert decode_value({"N": "1E+3"}) == Decimal(1000)


def test_encode_value_raises_when_type_is_not_storable():
    with pytest.raises(ValidationError, match="complex"):
        encode_value(1j)
    with pytest.raises(ValidationError, match="map keys must be strings"):
        encode_value({1: "a"})
    with pytest.raises(ValidationError, match="only strings, only numbers or only bytes"):
        encode_value({1, "a"})


def test_decode_value_raises_decode_error_when_attribute_value_is_malformed():
    for bad in ({}, {"S": "a", "N": "1"}, {"X": 1}, {"N": "abc"}):
        with pytest.raises(DecodeError, match="malformed"):
            decode_value(bad)


# ---------------------------------------------------------------------------------------------- datetimes


def test_encode_writes_rfc3339_utc_with_microseconds_when_datetime_is_aware():
    at = datetime(2026, 11, 23, 14, 45, 0, 123456, tzinfo=UTC)
    assert SCHEMA.encode_value("at", at) == {"S": "2026-11-23T14:45:00.123456Z"}
    assert SCHEMA.encode_value("at", at.replace(microsecond=0)) == {"S": "2026-11-23T14:45:00.000000Z"}


def test_encode_converts_to_utc_when_datetime_has_another_offset():
    at = datetime(2026, 11, 23, 16, 45, tzinfo=timezone(timedelta(hours=2)))
    assert SCHEMA.encode_value("at", at) == {"S": "2026-11-23T14:45:00.000000Z"}


def test_encode_treats_datetime_as_utc_when_naive():
    naive = datetime(2026, 11, 23, 14, 45, 0, 7)
    assert SCHEMA.encode_value("at", naive) == {"S": "2026-11-23T14:45:00.000007Z"}
    obj = Everything(pk="a", sk=1, at=naive)
    assert SCHEMA.decode(SCHEMA.encode(obj)).at == naive.replace(tzinfo=UTC)


def test_decode_returns_utc_datetime_when_stored_string_has_offset_or_none():
    base = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    for text in ("2026-11-23T16:45:00+02:00", "2026-11-23T14:45:00", "2026-11-23T14:45:00Z"):
        at = SCHEMA.decode({**base, "at": {"S": text}}).at
        assert at == datetime(2026, 11, 23, 14, 45, tzinfo=UTC)
        assert at is not None
        assert at.utcoffset() == timedelta(0)


def test_encode_writes_epoch_seconds_when_field_is_epoch_or_ttl():
    at = datetime(2026, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)
    assert SCHEMA.encode_value("epoch", at) == {"N": "1767225601.500000"}
    assert SCHEMA.encode_value("expires", at) == {"N": "1767225601"}
    before = datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)
    assert SCHEMA.encode_value("epoch", before) == {"N": "-0.500000"}


def test_decode_returns_datetime_when_ttl_or_epoch_is_stored():
    base = {"pk": {"S": "a"}, "sk": {"N": "1"}}
    obj = SCHEMA.decode({**base, "expires": {"N": "1767225601"}, "epoch": {"N": "1767225601.25"}})
    assert obj.expires == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert obj.epoch == datetime(2026, 1, 1, 0, 0, 1, 250000, tzinfo=UTC)


def test_encode_writes_epoch_seconds_when_ttl_field_is_int():
    class Session(Model, table="sessions"):
        id: Annotated[str, PK]
        expires: Annotated[int, TTL] = 0

    s = schema_of(Session)
    assert s.encode(Session(id="a", expires=1767225601))["expires"] == {"N": "1767225601"}
    assert s.ttl is not None
    assert s.ttl.field == "expires"


# ---------------------------------------------------------------------------------------------- other types


def test_encode_writes_compact_json_when_field_is_json_string():
    obj = Everything(pk="a", sk=1, doc={"x": [1, 2], "y": "é"})
    assert SCHEMA.encode(obj)["doc"] == {"S": '{"x":[1,2],"y":"é"}'}
    assert SCHEMA.decode(SCHEMA.encode(obj)).doc == {"x": [1, 2], "y": "é"}


def test_encode_uses_converter_when_field_carries_one():
    obj = Everything(pk="a", sk=1, cents=12345)
    assert SCHEMA.encode(obj)["cents"] == {"N": "123.45"}
    assert SCHEMA.decode(SCHEMA.encode(obj)).cents == 12345


def test_encode_writes_enum_values_when_field_is_enum():
    item = SCHEMA.encode(Everything(pk="a", sk=1, color=Color.BLUE, level=Level.HIGH))
    assert item["color"] == {"S": "blue"}
    assert item["level"] == {"N": "2"}


def test_encode_writes_nested_model_as_map_when_field_is_model():
    obj = Everything(pk="a", sk=1, address=Address(city="Paris"), addresses=[Address(city="Oslo", zip="1")])
    item = SCHEMA.encode(obj)
    assert item["address"] == {"M": {"c": {"S": "Paris"}, "zip": {"S": ""}}}
    assert item["addresses"] == {"L": [{"M": {"c": {"S": "Oslo"}, "zip": {"S": "1"}}}]}
    assert SCHEMA.decode(item).address == Address(city="Paris")


def test_encode_leaves_out_attribute_when_value_is_none():
    item = SCHEMA.encode(Everything(pk="a", sk=1))
    assert "at" not in item
    assert "status" not in item


def test_decode_reads_null_as_none_when_optional_field_holds_null():
    obj = SCHEMA.decode({"pk": {"S": "a"}, "sk": {"N": "1"}, "at": {"NULL": True}})
    assert obj.at is None


# ---------------------------------------------------------------------------------------------- empty sets


def test_encode_leaves_out_set_when_set_is_empty():
    item = SCHEMA.encode(Everything(pk="a", sk=1))
    for name in ("tags", "nums", "decs", "blobs", "mixed"):
        assert name not in item


def test_decode_returns_empty_set_when_set_attribute_is_absent():
    class Tagged(Model, table="tagged"):
        id: Annotated[str, PK]
        tags: set[str]  # required, yet an empty set is never written
        frozen: frozenset[int] = frozenset({1})
        maybe: set[str] | None = None

    s = schema_of(Tagged)
    obj = Tagged(id="a", tags=set(), frozen=frozenset(), maybe=set())
    back = s.decode(s.encode(obj))
    assert back.tags == set()
    assert back.frozen == frozenset()
    assert back.maybe is None  # an optional empty set reads back as None (documented)


def test_encode_raises_when_empty_set_is_inside_list_or_map():
    with pytest.raises(ValidationError, match="empty set cannot be stored inside a list or map"):
        encode_value([set()])
    obj = Everything(pk="a", sk=1, anything={"k": set()})
    with pytest.raises(ValidationError, match=r"Everything: field 'anything': an empty set"):
        SCHEMA.encode(obj)


# ---------------------------------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    "value",
    [
        10**38 + 1,  # 39 significant digits
        -(10**38) - 1,
        Decimal("1" * 39),
        Decimal("0." + "1" * 39),
        Decimal("1E+126"),
        Decimal("1E-131"),
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        float("nan"),
        float("inf"),
        1e300,
        1e-300,
    ],
)
def test_encode_value_raises_when_number_breaks_dynamodb_limits(value):
    with pytest.raises(ValidationError) as info:
        encode_value(value)
    assert str(value).strip("-") not in str(info.value) or not Decimal(value).is_finite()  # values stay out


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (10**38 - 1, str(10**38 - 1)),
        (10**40, str(10**40)),  # one significant digit: trailing zeroes are trimmed
        (
            Decimal("9.9999999999999999999999999999999999999E+125"),
            "9.9999999999999999999999999999999999999E+125",
        ),
        (Decimal("1E-130"), "1E-130"),
        (Decimal("-0"), "-0"),
        (Decimal("0E-200"), "0"),
        (1e125, "1e+125"),
        (0.0, "0"),
    ],
)
def test_encode_value_accepts_number_when_at_dynamodb_limits(value, text):
    assert encode_value(value) == {"N": text}


def test_encode_raises_when_number_field_breaks_limits():
    obj = Everything(pk="a", sk=1, d=Decimal("1E+200"))
    with pytest.raises(ValidationError, match=r"Everything: field 'd': a number is out of DynamoDB's range"):
        SCHEMA.encode(obj)
    obj = Everything(pk="a", sk=1, xs=[1, 10**39 + 1])
    with pytest.raises(ValidationError, match=r"field 'xs': a number has 40 significant digits"):
        SCHEMA.encode(obj)


def test_encode_raises_when_key_value_is_empty():
    with pytest.raises(ValidationError, match=r"key attribute 'pk' is empty"):
        SCHEMA.encode(Everything(pk="", sk=1))


def test_encode_raises_when_index_key_value_is_empty():
    with pytest.raises(ValidationError, match=r"key attribute 'status' is empty"):
        SCHEMA.encode(Everything(pk="a", sk=1, status=""))


def test_encode_raises_naming_size_and_key_when_item_exceeds_400_kb():
    obj = Everything(pk="big", sk=7, s="x" * MAX_ITEM_BYTES, meta={"secret": "hunter2"})
    with pytest.raises(ValidationError, match=r"item \(pk='big', sk='7'\) is \d+ bytes") as info:
        SCHEMA.encode(obj)
    assert "hunter2" not in str(info.value)


def test_encode_accepts_item_when_size_is_just_under_400_kb():
    base = item_size(SCHEMA.encode(Everything(pk="a", sk=1)))
    obj = Everything(pk="a", sk=1, s="é" * ((MAX_ITEM_BYTES - base) // 2))
    assert item_size(SCHEMA.encode(obj)) <= MAX_ITEM_BYTES
    obj = Everything(pk="a", sk=1, s="é" * ((MAX_ITEM_BYTES - base) // 2 + 1))
    with pytest.raises(ValidationError, match=r"400|409600"):
        SCHEMA.encode(obj)


def test_item_size_counts_like_dynamodb_when_item_has_every_type():
    item = {
        "s": {"S": "héllo"},  # 1 + 6
        "n": {"N": "-0012.3400"},  # 1 + (4 digits: 2 bytes) + 1
        "b": {"B": base64.b64encode(b"abcd").decode()},  # 1 + 4
        "t": {"BOOL": True},  # 1 + 1
        "z": {"NULL": True},  # 1 + 1
        "l": {"L": [{"S": "ab"}, {"N": "1"}]},  # 1 + 3 + 2 elements (1 each) + 2 + 2
        "m": {"M": {"k": {"S": "v"}}},  # 1 + 3 + 1 element + 1 + 1
        "ss": {"SS": ["a", "bc"]},  # 2 + 3
        "ns": {"NS": ["1", "100"]},  # 2 + 2 + 2
        "bs": {"BS": [base64.b64encode(b"xyz").decode()]},  # 2 + 3
    }
    assert item_size(item) == 7 + 4 + 5 + 2 + 2 + 10 + 7 + 5 + 6 + 5


@_examples
@given(_everything())
def test_size_bound_is_at_least_item_size_when_model_is_encoded(obj):
    item = SCHEMA.encode(obj)
    assert SCHEMA._codec.size_bound(obj, item) >= item_size(item)


# ---------------------------------------------------------------------------------------------- decode errors


_KEY = {"pk": {"S": "p1"}, "sk": {"N": "7"}}


def test_decode_raises_naming_table_key_and_field_when_required_attribute_is_missing():
    class Strict(Model, table="strict"):
        pk: Annotated[str, PK]
        amount: int
        secret: str = ""

    with pytest.raises(DecodeError) as info:
        schema_of(Strict).decode({"pk": {"S": "p1"}, "secret": {"S": "hunter2"}})
    err = info.value
    assert err.table == "strict"
    assert err.key == {"pk": {"S": "p1"}}
    assert err.field == "amount"
    assert "strict" in str(err)
    assert "p1" in str(err)
    assert "amount" in str(err)
    assert "hunter2" not in str(err)


@pytest.mark.parametrize(
    ("field", "av", "reason"),
    [
        ("s", {"N": "1"}, "expected S, the item holds N"),
        ("i", {"S": "12"}, "expected N, the item holds S"),
        ("i", {"N": "1.5"}, "the stored N value does not fit N"),
        ("at", {"S": "yesterday"}, "does not fit S"),
        ("color", {"S": "green"}, "the stored S value does not fit S"),
        ("kind", {"S": "c"}, "does not fit"),
        ("tags", {"L": []}, "expected SS"),
        ("uid", {"S": "not-a-uuid"}, "does not fit"),
        ("b", {"S": "true"}, "expected BOOL"),
        ("xs", {"L": [{"S": "1"}]}, "expected L"),
    ],
)
def test_decode_raises_naming_table_key_and_field_when_value_has_wrong_type(field, av, reason):
    with pytest.raises(DecodeError, match=reason) as info:
        SCHEMA.decode({**_KEY, field: av})
    err = info.value
    assert (err.table, err.key, err.field) == ("everything", _KEY, field)
    assert "'p1'" in str(err)
    assert "'7'" in str(err)
    assert "yesterday" not in str(err)
    assert "green" not in str(err)


def test_decode_raises_with_field_path_when_nested_model_is_wrong():
    with pytest.raises(DecodeError) as info:
        SCHEMA.decode({**_KEY, "addresses": {"L": [{"M": {"zip": {"S": "1"}}}]}})
    assert info.value.field == "addresses.city"
    with pytest.raises(DecodeError) as info:
        SCHEMA.decode({**_KEY, "address": {"M": {"c": {"N": "1"}}}})
    assert info.value.field == "address.city"


def test_decode_returns_ints_when_numbers_come_back_in_exponent_form():
    obj = SCHEMA.decode({**_KEY, "i": {"N": "1E+3"}, "xs": {"L": [{"N": "2E+1"}]}, "nums": {"NS": ["3E+2"]}})
    assert (obj.i, obj.xs, obj.nums) == (1000, [20], {300})


def test_encode_raises_naming_field_when_required_value_is_none():
    obj = Everything.model_construct(pk="a", sk=1, i=None)
    with pytest.raises(ValidationError, match=r"field 'i': cannot encode a NoneType value"):
        SCHEMA.encode(obj)


def test_decode_ignores_attribute_when_no_field_names_it():
    obj = SCHEMA.decode({**_KEY, "legacy": {"S": "x"}, "other": {"M": {}}})
    assert obj == Everything(pk="p1", sk=7)


def test_decode_uses_default_factory_when_attribute_is_absent():
    counter = iter(range(100))

    class Defaults(Model, table="defaults"):
        pk: Annotated[str, PK]
        items: list[int] = Field(default_factory=list)
        n: int = Field(default_factory=lambda: next(counter))
        label: str = "x"

    s = schema_of(Defaults)
    a = s.decode({"pk": {"S": "a"}})
    b = s.decode({"pk": {"S": "b"}})
    assert a.items == []
    assert a.items is not b.items
    assert (a.n, b.n) == (0, 1)
    assert a.label == "x"
    assert a.model_fields_set == {"pk"}


def test_decode_builds_model_without_validation_when_item_is_well_formed():
    obj = SCHEMA.decode({**_KEY, "i": {"N": "5"}})
    assert type(obj) is Everything
    assert obj.i == 5
    assert obj.model_dump()["i"] == 5  # a real pydantic instance
    assert "i" in obj.model_fields_set


# ------------------------------------------------------------------------------- text, map keys, nesting

_LONE = "a\ud800b"


class _Node(Model, table="nodes"):
    """Nests itself: no static depth bound, so its values are measured when encoded."""

    id: Annotated[str, PK] = "n"
    children: list[_Node] = Field(default_factory=list)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("s", _LONE),
        ("names", ("ok", _LONE)),
        ("meta", {_LONE: "v"}),
        ("meta", {"k": _LONE}),
        ("anything", {_LONE: 1}),
        ("anything", {"k": [{"deep": _LONE}]}),
        ("tags", {"ok", _LONE}),
        ("doc", {"k": _LONE}),
        ("address", Address(city=_LONE)),
    ],
)
def test_encode_raises_naming_field_when_text_holds_a_lone_surrogate(field: str, value: object):
    obj = Everything(pk="a", sk=1, **{field: value})
    with pytest.raises(ValidationError, match=rf"field '{field}(\.city)?': a string holds a lone surrogate"):
        SCHEMA.encode(obj)


def test_encode_raises_validation_error_when_a_lone_surrogate_is_in_a_string_near_400_kb():
    obj = Everything(pk="a", sk=1, s="\ud800" + "x" * (MAX_ITEM_BYTES - 10))
    with pytest.raises(ValidationError, match=r"field 's'.*lone surrogate"):
        SCHEMA.encode(obj)


def test_item_size_raises_naming_attribute_when_text_holds_a_lone_surrogate():
    with pytest.raises(ValidationError, match=r"attribute 'm'.*lone surrogate"):
        item_size({"ok": {"S": "é"}, "m": {"M": {"\udc00": {"S": "x"}}}})


def test_encode_value_raises_when_text_holds_a_lone_surrogate():
    for value in ("\udfff", ["x", "\ud800"], {"\ud800": 1}, {"\ud800"}):
        with pytest.raises(ValidationError, match="lone surrogate"):
            encode_value(value)
    assert encode_value("caf\u00e9 \U0001f600") == {"S": "caf\u00e9 \U0001f600"}  # a surrogate *pair* is fine


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("meta", {"": "v"}),
        ("anything", {"": 1}),
        ("anything", {"k": [{"": 1}]}),
    ],
)
def test_encode_raises_naming_field_when_a_map_key_is_empty(field: str, value: object):
    obj = Everything(pk="a", sk=1, **{field: value})
    with pytest.raises(ValidationError, match=rf"field '{field}': a map key is empty"):
        SCHEMA.encode(obj)


def _nested_dict(dicts: int, bottom: object = 1) -> dict[str, Any]:
    """`dicts` nested dicts (at least one) with `bottom` inside the innermost."""
    value: Any = bottom
    for _ in range(dicts):
        value = {"k": value}
    return value  # type: ignore[no-any-return]  # a dict, since dicts >= 1


@pytest.mark.parametrize(
    ("anything", "ok"),
    [
        # The field's own dict is the first M; DynamoDB takes at most 31 nested M/L levels, and a
        # scalar or set (not a level) at the 32nd (measured on DynamoDB Local, tests/conformance).
        (_nested_dict(31), True),
        (_nested_dict(32), False),
        (_nested_dict(31, bottom={"a"}), True),
        (_nested_dict(30, bottom=[]), True),
        (_nested_dict(31, bottom=[]), False),  # an empty L is a level too
    ],
)
def test_encode_refuses_untyped_values_nested_past_32_levels(anything: dict[str, Any], ok: bool):
    obj = Everything(pk="a", sk=1, anything=anything)
    if ok:
        SCHEMA.encode(obj)
    else:
        with pytest.raises(
            ValidationError, match=r"Everything.anything: the value nests deeper than DynamoDB's 32"
        ):
            SCHEMA.encode(obj)


def test_encode_refuses_too_deep_values_when_model_nests_itself():
    schema = schema_of(_Node)
    node = _Node()
    for _ in range(15):  # each level is an M (the node) inside an L (children): 2 containers
        node = _Node(children=[node])
    schema.encode(node)  # 31 M/L levels, counting the top-level attribute's L
    with pytest.raises(ValidationError, match=r"_Node.children: the value nests deeper"):
        schema.encode(_Node(children=[_Node(children=[node])]))


def test_encode_walks_no_value_when_every_field_has_a_shallow_static_type():
    from aiotheory.codec._model import model_codec

    assert [name for name, _ in model_codec(Everything).deep] == ["anything", "cents"]  # untyped, converted
    assert model_codec(Address).deep == ()
