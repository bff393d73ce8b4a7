"""TableTheory's item format: OmitEmpty on numbers, NULL reads, sorted JSON, RFC3339Nano, naming, formats."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

import pytest

from aiotheory.codec import item_size
from aiotheory.errors import DecodeError, ValidationError
from aiotheory.model import (
    GSI,
    PK,
    SK,
    TTL,
    CreatedAt,
    EpochSeconds,
    JSONString,
    Model,
    OmitEmpty,
    RFC3339Nano,
    Stored,
    schema_of,
)

_ZERO_TIME = datetime.min.replace(tzinfo=UTC)
_WHEN = datetime(2026, 1, 2, 3, 4, 5, 100000, tzinfo=UTC)


def _codec(cls: type[Model]) -> Any:
    return cls.__aiotheory__.codec()


def encode_item(obj: Model) -> dict[str, Any]:
    return schema_of(type(obj)).encode(obj)


def decode_item(cls: type[Model], item: dict[str, Any]) -> Any:
    return schema_of(cls).decode(item)


# ------------------------------------------------------------------------------------------ OmitEmpty


class Counters(Model, table="tt_counters"):
    id: Annotated[str, PK]
    hits: Annotated[int, OmitEmpty] = 0
    ratio: Annotated[float, OmitEmpty] = 0.0
    amount: Annotated[Decimal, OmitEmpty] = Decimal(0)
    active: Annotated[bool, OmitEmpty] = False
    seen: Annotated[datetime, OmitEmpty] = _ZERO_TIME
    expires: Annotated[int, TTL, OmitEmpty] = 0


def test_encode_leaves_out_every_field_when_omit_empty_values_are_zero() -> None:
    assert encode_item(Counters(id="a")) == {"id": {"S": "a"}}


def test_encode_writes_value_when_omit_empty_number_is_not_zero() -> None:
    item = encode_item(
        Counters(
            id="a", hits=-1, ratio=0.5, amount=Decimal("0.01"), active=True, seen=_WHEN, expires=1700000000
        )
    )
    assert item == {
        "id": {"S": "a"},
        "hits": {"N": "-1"},
        "ratio": {"N": "0.5"},
        "amount": {"N": "0.01"},
        "active": {"BOOL": True},
        "seen": {"S": "2026-01-02T03:04:05.100000Z"},
        "expires": {"N": "1700000000"},
    }


def test_encode_leaves_out_datetime_when_omit_empty_holds_naive_zero_time() -> None:
    assert "seen" not in encode_item(Counters(id="a", seen=datetime.min))


def test_encode_omits_datetime_when_omit_empty_holds_zero_instant_in_another_zone() -> None:
    # Go's IsZero compares instants: 01:00+01:00 on day one is the zero time, 00:00+01:00 is not.
    plus_one = timezone(timedelta(hours=1))
    assert "seen" not in encode_item(Counters(id="a", seen=datetime(1, 1, 1, 1, tzinfo=plus_one)))
    assert "seen" in encode_item(Counters(id="a", seen=datetime(1, 1, 1, 2, tzinfo=plus_one)))


def test_decode_reads_empty_values_when_omit_empty_attributes_are_absent() -> None:
    got = decode_item(Counters, {"id": {"S": "a"}})
    assert (got.hits, got.ratio, got.amount, got.active, got.seen, got.expires) == (
        0,
        0.0,
        Decimal(0),
        False,
        _ZERO_TIME,
        0,
    )


def test_partial_decode_agrees_with_full_decode_when_omit_empty_attributes_are_absent() -> None:
    names = frozenset(("id", "hits", "active", "seen"))
    partial = _codec(Counters).partial(names, "tt_counters", ("id",))
    got = partial({"id": {"S": "a"}})
    full = decode_item(Counters, {"id": {"S": "a"}})
    assert (got.hits, got.active, got.seen) == (full.hits, full.active, full.seen) == (0, False, _ZERO_TIME)


class _Colour(Enum):
    RED = "red"


class _Inner(Model):
    x: int = 0


@pytest.mark.parametrize(
    ("annotation", "default"),
    [(UUID | None, None), (_Colour, _Colour.RED), (_Inner | None, None)],
    ids=["uuid", "enum", "nested-model"],
)
def test_class_creation_raises_when_omit_empty_type_has_no_empty_value(
    annotation: Any, default: object
) -> None:
    with pytest.raises(ValidationError, match=r"Bad\.x: OmitEmpty applies to str, bytes, .* int, float"):
        type(
            "Bad",
            (Model,),
            {
                "__annotations__": {"a": Annotated[str, PK], "x": Annotated[annotation, OmitEmpty]},
                "x": default,
            },
            table="bad",
        )


# ------------------------------------------------------------------------------------------ NULL reads


class Address(Model):
    city: str = ""
    lines: list[str] = []


class Holder(Model, table="holders"):
    id: Annotated[str, PK]
    tags: set[str] = set()
    frozen: frozenset[int] = frozenset()
    items: list[int] = []
    pair: tuple[str, ...] = ()
    meta: dict[str, str] = {}
    maybe_tags: set[str] | None = None
    maybe_items: list[int] | None = None
    name: str = ""
    address: Address | None = None


_NULL = {"NULL": True}


def test_decode_reads_empty_containers_when_non_optional_fields_hold_null() -> None:
    item = {"id": {"S": "a"}, "tags": _NULL, "frozen": _NULL, "items": _NULL, "pair": _NULL, "meta": _NULL}
    got = decode_item(Holder, item)
    assert (got.tags, got.frozen, got.items, got.pair, got.meta) == (set(), frozenset(), [], (), {})


def test_decode_reads_none_when_optional_containers_hold_null() -> None:
    got = decode_item(Holder, {"id": {"S": "a"}, "maybe_tags": _NULL, "maybe_items": _NULL})
    assert (got.maybe_tags, got.maybe_items) == (None, None)


def test_decode_reads_empty_list_when_nested_model_field_holds_null() -> None:
    got = decode_item(Holder, {"id": {"S": "a"}, "address": {"M": {"city": {"S": "Oslo"}, "lines": _NULL}}})
    assert got.address == Address(city="Oslo", lines=[])


def test_partial_decode_reads_empty_containers_when_projected_fields_hold_null() -> None:
    partial = _codec(Holder).partial(frozenset(("id", "tags", "items", "maybe_tags")), "holders", ("id",))
    got = partial({"id": {"S": "a"}, "tags": _NULL, "items": _NULL, "maybe_tags": _NULL})
    assert (got.tags, got.items, got.maybe_tags) == (set(), [], None)


def test_decode_raises_decode_error_when_plain_str_field_holds_null() -> None:
    with pytest.raises(DecodeError, match="field 'name'"):
        decode_item(Holder, {"id": {"S": "a"}, "tags": _NULL, "name": _NULL})


def test_decode_raises_decode_error_when_container_holds_another_type() -> None:
    with pytest.raises(DecodeError, match="field 'items'"):
        decode_item(Holder, {"id": {"S": "a"}, "items": {"S": "x"}})


# ------------------------------------------------------------------------------------------ JSONString


class Doc(Model, table="docs"):
    id: Annotated[str, PK]
    body: Annotated[dict[str, Any], JSONString] = {}


def test_encode_writes_sorted_compact_json_when_field_is_json_string() -> None:
    body = {"z": 1, "a": {"y": [True, None], "b": "x"}, "m": 1.5}
    text = encode_item(Doc(id="a", body=body))["body"]["S"]
    # TableTheory's Python writer: json.dumps(value, separators=(",", ":"), sort_keys=True).
    assert text == json.dumps(body, separators=(",", ":"), sort_keys=True)
    assert text == '{"a":{"b":"x","y":[true,null]},"m":1.5,"z":1}'


def test_encode_keeps_non_ascii_text_when_field_is_json_string() -> None:
    assert encode_item(Doc(id="a", body={"k": "é"}))["body"]["S"] == '{"k":"é"}'


# ------------------------------------------------------------------------------------------ RFC3339Nano


class Stamp(Model, table="stamps"):
    id: Annotated[str, PK]
    at: Annotated[datetime, RFC3339Nano]
    many: list[Annotated[datetime, RFC3339Nano]] = []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 100000, tzinfo=UTC), "2026-01-02T03:04:05.1Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 123450, tzinfo=UTC), "2026-01-02T03:04:05.12345Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 1), "2026-01-02T03:04:05.000001Z"),
        (
            datetime(2026, 1, 2, 5, 4, 5, 120000, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T03:04:05.12Z",
        ),
        (_ZERO_TIME, "0001-01-01T00:00:00Z"),
    ],
)
def test_encode_writes_trimmed_rfc3339nano_when_field_is_marked(value: datetime, text: str) -> None:
    item = encode_item(Stamp(id="a", at=value, many=[value]))
    assert item["at"] == {"S": text}
    assert item["many"] == {"L": [{"S": text}]}


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-02T03:04:05.1Z",
        "2026-01-02T03:04:05.100000Z",
        "2026-01-02T03:04:05.100000000Z",
        "2026-01-02T05:04:05.1+02:00",
        "2026-01-02T03:04:05.1+00:00",
    ],
)
def test_decode_reads_same_instant_when_rfc3339_text_has_any_precision_or_offset(text: str) -> None:
    for cls in (Stamp, Counters):
        field = "at" if cls is Stamp else "seen"
        got = decode_item(cls, {"id": {"S": "a"}, field: {"S": text}})
        assert getattr(got, field) == _WHEN
        assert getattr(got, field).tzinfo is UTC


def test_trimmed_text_sorts_before_whole_second_when_instant_is_later() -> None:
    # What docs/tabletheory.md says: '.' (0x2E) sorts before 'Z' (0x5A) and before the digits, so
    # within one second trimmed texts are out of instant order; six fixed digits keep the order.
    whole, tenth, twelfth = "2026-01-02T03:04:05Z", "2026-01-02T03:04:05.1Z", "2026-01-02T03:04:05.12Z"
    assert sorted([whole, tenth, twelfth]) == [
        twelfth,
        tenth,
        whole,
    ]  # instant order is whole, tenth, twelfth
    fixed = ["2026-01-02T03:04:05.000000Z", "2026-01-02T03:04:05.100000Z", "2026-01-02T03:04:05.120000Z"]
    assert sorted(fixed) == fixed
    assert sorted(["2026-01-02T03:04:05.9Z", "2026-01-02T03:04:06Z"])[0].endswith(
        "05.9Z"
    )  # across seconds: fine


def test_class_creation_raises_when_field_asks_for_epoch_and_rfc3339nano() -> None:
    with pytest.raises(ValidationError, match=r"Bad\.x: RFC3339Nano and EpochSeconds"):
        type(
            "Bad",
            (Model,),
            {
                "__annotations__": {
                    "a": Annotated[str, PK],
                    "x": Annotated[datetime, RFC3339Nano, EpochSeconds],
                }
            },
            table="bad",
        )


# ------------------------------------------------------------------------------------------ naming


@pytest.mark.parametrize(
    ("field", "camel", "snake"),
    [
        ("email_hash", "emailHash", "email_hash"),
        ("created_at", "createdAt", "created_at"),
        ("PK", "PK", "pk"),
        ("SK", "SK", "sk"),
        ("pk", "pk", "pk"),
        ("ttl", "ttl", "ttl"),
        ("address_line_1", "addressLine1", "address_line_1"),
        ("emailHash", "emailHash", "email_hash"),
        ("UserID", "userID", "user_id"),
        ("URLValue", "urlValue", "url_value"),
        ("url_value", "urlValue", "url_value"),
        ("ID", "id", "id"),
        ("v2Beta", "v2Beta", "v2beta"),
    ],
)
def test_stored_name_follows_tabletheory_rules_when_naming_is_set(field: str, camel: str, snake: str) -> None:
    for naming, expected in (("camelCase", camel), ("snake_case", snake)):
        cls = type(
            "Named",
            (Model,),
            {"__annotations__": {"key": Annotated[str, PK, Stored("k")], field: str}},
            table="named",
            naming=naming,
        )
        assert _codec(cls).fields[field].stored == expected


class User(Model, table="users_contract", naming="camelCase"):
    PK: Annotated[str, PK]
    SK: Annotated[str, SK]
    email_hash: Annotated[str | None, GSI("gsi-email")] = None
    display: Annotated[str, Stored("screenName")] = ""


def test_explicit_stored_name_wins_when_naming_is_set() -> None:
    assert encode_item(User(PK="U#1", SK="P", email_hash="h", display="d")) == {
        "PK": {"S": "U#1"},
        "SK": {"S": "P"},
        "emailHash": {"S": "h"},
        "screenName": {"S": "d"},
    }
    index = schema_of(User).indexes[0]
    assert (index.name, index.pk.stored) == ("gsi-email", "emailHash")


class Person(Model, naming="camelCase"):  # abstract: no table
    id: Annotated[str, PK]
    email_hash: str = ""


class Admin(Person, table="admins"):
    level_name: str = ""


class Legacy(Person, table="legacy", naming="snake_case"):
    level_name: str = ""


def test_subclass_inherits_naming_when_it_names_none() -> None:
    assert _codec(Admin).fields["level_name"].stored == "levelName"
    assert _codec(Admin).fields["email_hash"].stored == "emailHash"
    assert _codec(Legacy).fields["level_name"].stored == "level_name"
    assert _codec(Legacy).fields["email_hash"].stored == "email_hash"


@pytest.mark.parametrize(
    ("naming", "field", "marker", "needle"),
    [
        ("camelCase", "x", Stored("screen_name"), r"Bad\.x: attribute name 'screen_name' is not camelCase"),
        ("camelCase", "naïve", None, r"Bad\.naïve: attribute name 'naïve' is not camelCase"),
        ("snake_case", "x", Stored("screenName"), r"Bad\.x: attribute name 'screenName' is not snake_case"),
        ("snake_case", "x", Stored("PK"), r"Bad\.x: attribute name 'PK' is not snake_case"),
    ],
)
def test_class_creation_raises_naming_field_when_stored_name_breaks_convention(
    naming: str, field: str, marker: object, needle: str
) -> None:
    annotation = Annotated[str, marker] if marker is not None else str
    with pytest.raises(ValidationError, match=needle):
        type(
            "Bad",
            (Model,),
            {"__annotations__": {"a": Annotated[str, PK, Stored("a")], field: annotation}, field: ""},
            table="bad",
            naming=naming,
        )


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"naming": "kebab"}, r"naming= must be one of"),
        ({"item_format": "go"}, r"item_format= must be one of"),
    ],
)
def test_class_creation_raises_when_class_option_is_unknown(kwargs: dict[str, str], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        type("Bad", (Model,), {"__annotations__": {"a": Annotated[str, PK]}}, table="bad", **kwargs)


# ------------------------------------------------------------------------------------------ item_format


class Event(Model, table="events", naming="camelCase", item_format="tabletheory"):
    PK: Annotated[str, PK]
    SK: Annotated[str, SK]
    status: Annotated[str | None, GSI("gsi-status")] = None
    note: str | None = None
    labels: set[str] = set()
    maybe_labels: set[str] | None = None
    quiet_labels: Annotated[set[str], OmitEmpty] = set()
    at: datetime | None = None
    expires: Annotated[datetime | None, EpochSeconds] = None
    created_at: Annotated[datetime | None, CreatedAt] = None


class PlainEvent(Model, table="plain_events"):
    PK: Annotated[str, PK]
    SK: Annotated[str, SK]
    status: Annotated[str | None, GSI("gsi-status")] = None
    note: str | None = None
    labels: set[str] = set()
    at: datetime | None = None


def test_encode_writes_null_for_none_and_empty_set_when_item_format_is_tabletheory() -> None:
    item = encode_item(Event(PK="E#1", SK="1"))
    assert item == {
        "PK": {"S": "E#1"},
        "SK": {"S": "1"},
        "note": _NULL,
        "labels": _NULL,
        "maybeLabels": _NULL,
        "at": _NULL,
        "expires": _NULL,
        "createdAt": _NULL,
    }  # the GSI key stays absent (DynamoDB refuses a NULL index key); OmitEmpty still omits


def test_encode_writes_trimmed_datetimes_when_item_format_is_tabletheory() -> None:
    item = encode_item(Event(PK="E#1", SK="1", at=_WHEN, expires=_WHEN, labels={"b", "a"}, status="open"))
    assert item["at"] == {"S": "2026-01-02T03:04:05.1Z"}
    assert item["expires"] == {"N": "1767323045.100000"}  # EpochSeconds is kept
    assert item["labels"] == {"SS": ["a", "b"]}
    assert item["status"] == {"S": "open"}


def test_encode_keeps_aiotheory_format_when_item_format_is_default() -> None:
    assert encode_item(PlainEvent(PK="E#1", SK="1")) == {"PK": {"S": "E#1"}, "SK": {"S": "1"}}
    assert encode_item(PlainEvent(PK="E#1", SK="1", at=_WHEN))["at"] == {"S": "2026-01-02T03:04:05.100000Z"}


def test_decode_round_trips_when_item_format_is_tabletheory() -> None:
    event = Event(PK="E#1", SK="1", at=_WHEN, note="n")
    got = decode_item(Event, encode_item(event))
    assert got == event


def test_size_bound_covers_item_size_when_nulls_are_written() -> None:
    event = Event(PK="E#1", SK="1")
    item = encode_item(event)
    assert _codec(Event).size_bound(event, item) >= item_size(item)


class Child(Event, table="children"):
    when: datetime | None = None


def test_subclass_inherits_item_format_when_it_names_none() -> None:
    item = encode_item(Child(PK="C", SK="1", when=_WHEN))
    assert item["when"] == {"S": "2026-01-02T03:04:05.1Z"}
    assert item["note"] == _NULL
