"""Model definitions: markers, keys, indexes, renames, ignored fields, definition errors, class attributes."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

import pytest
from pydantic import BaseModel, Field

from aiotheory.errors import ValidationError
from aiotheory.expr import Attr
from aiotheory.model import (
    GSI,
    LSI,
    PK,
    SK,
    TTL,
    CreatedAt,
    FieldRef,
    Ignore,
    IndexSchema,
    KeyAttr,
    Model,
    OmitEmpty,
    Stored,
    TableSchema,
    UpdatedAt,
    Version,
    schema_of,
)
from aiotheory.schema import MISSING, key_target


class Payment(Model, table="payments"):
    partner_id: Annotated[str, PK]
    id: Annotated[str, SK]
    amount: int
    currency: str = "USD"
    status: Annotated[str, GSI("by-status", "pk")] = "pending"
    created_at: Annotated[datetime | None, CreatedAt, GSI("by-status", "sk")] = None
    updated_at: Annotated[datetime | None, UpdatedAt] = None
    version: Annotated[int, Version] = 0
    expires_at: Annotated[datetime | None, TTL] = None
    tags: set[str] = Field(default_factory=set)


class Address(Model):
    city: Annotated[str, Stored("c")]
    zip: str = ""


class Customer(Model, table="customers"):
    tenant: Annotated[str, PK, Stored("pk")]
    email: Annotated[str, SK, Stored("sk")]
    name: Annotated[str, Stored("n"), LSI("by-name", projection="INCLUDE", include=("score", "nick"))]
    score: Annotated[int, GSI("by-score", "pk", projection="KEYS_ONLY")] = 0
    nick: Annotated[str, Stored("nk")] = ""
    cache: Annotated[dict[str, int], Ignore] = Field(default_factory=dict)
    address: Address | None = None


def _define(body: dict[str, Any], *, table: str | None = "<per name>", name: str = "Bad") -> type[Model]:
    """Create a model class from annotations + defaults (class statements can't be parametrised).

    The table defaults to one per class name: a name is one entity, redefined at will (the registry
    replaces it), while two names in one table must agree on its keys.
    """
    if table == "<per name>":
        table = f"model_{name.lower()}s"
    namespace: dict[str, Any] = {"__annotations__": {}, "__module__": __name__}
    for field, spec in body.items():
        if isinstance(spec, tuple):
            namespace["__annotations__"][field], namespace[field] = spec
        else:
            namespace["__annotations__"][field] = spec
    kwargs = {"table": table} if table is not None else {}
    return type(Model)(name, (Model,), namespace, **kwargs)  # type: ignore[no-any-return]  # a Model class


# ---------------------------------------------------------------------------------------------- schema


def test_model_class_carries_one_compiled_object_when_schema_codec_and_fields_were_used():
    Thing = _define({"k": Annotated[str, PK], "n": int}, name="Thing")
    assert isinstance(Thing.n, Attr)
    assert schema_of(Thing).decode({"k": {"S": "a"}, "n": {"N": "1"}}) == Thing(k="a", n=1)
    assert Thing.__aiotheory_table__ is schema_of(Thing)
    assert [name for name in vars(Thing) if name.startswith("__aiotheory")] == ["__aiotheory__"]


def test_schema_of_builds_one_schema_when_threads_race_for_it():
    Thing = _define({"k": Annotated[str, PK], "n": int}, name="Thing")
    barrier = threading.Barrier(8)

    def first_use() -> TableSchema[Any]:
        barrier.wait()
        return schema_of(Thing)

    with ThreadPoolExecutor(8) as pool:
        schemas = list(pool.map(lambda _: first_use(), range(8)))
    assert all(schema is schemas[0] for schema in schemas)


def test_schema_of_describes_keys_indexes_and_special_fields_when_design_model():
    s = schema_of(Payment)
    assert isinstance(s, TableSchema)
    assert s.model is Payment
    assert s.table == "payments"
    assert s.pk == KeyAttr("partner_id", "partner_id", "S")
    assert s.sk == KeyAttr("id", "id", "S")
    assert s.indexes == (
        IndexSchema(
            name="by-status",
            kind="GSI",
            pk=KeyAttr("status", "status", "S"),
            sk=KeyAttr("created_at", "created_at", "S"),
            projection="ALL",
        ),
    )
    assert s.version == FieldRef("version", "version")
    assert s.created_at == FieldRef("created_at", "created_at")
    assert s.updated_at == FieldRef("updated_at", "updated_at")
    assert s.ttl == FieldRef("expires_at", "expires_at")


def test_schema_of_returns_the_same_object_when_called_twice():
    assert schema_of(Payment) is schema_of(Payment)
    assert Payment.__aiotheory_table__ is schema_of(Payment)


def test_schema_of_uses_stored_names_when_fields_are_renamed():
    s = schema_of(Customer)
    assert s.pk == KeyAttr("tenant", "pk", "S")
    assert s.sk == KeyAttr("email", "sk", "S")
    lsi, gsi = s.indexes
    assert lsi == IndexSchema(
        name="by-name",
        kind="LSI",
        pk=KeyAttr("tenant", "pk", "S"),
        sk=KeyAttr("name", "n", "S"),
        projection="INCLUDE",
        include=("score", "nk"),
    )
    assert gsi == IndexSchema(
        name="by-score", kind="GSI", pk=KeyAttr("score", "score", "N"), sk=None, projection="KEYS_ONLY"
    )
    assert s.stored("nick") == "nk"
    assert s.stored("tenant") == "pk"


def test_schema_of_raises_when_model_has_no_table():
    with pytest.raises(ValidationError, match="Address"):
        schema_of(Address)
    assert Address.__aiotheory_table__ is None


def test_schema_of_keeps_table_name_unprefixed_when_declared():
    Thing = _define({"k": Annotated[str, PK]}, table="env-free-name")
    assert schema_of(Thing).table == "env-free-name"


def test_key_types_follow_python_types_when_keys_are_not_str():
    class Color(Enum):
        RED = "red"

    cases = {
        int: "N",
        Decimal: "N",
        bytes: "B",
        UUID: "S",
        datetime: "S",
        Color: "S",
        Annotated[datetime, TTL]: "N",
    }
    for tp, expected in cases.items():
        Thing = _define({"k": Annotated[tp, PK]})  # type: ignore[valid-type]  # built at run time
        assert schema_of(Thing).pk.type == expected, tp


def test_subclass_inherits_fields_and_markers_when_base_is_abstract():
    class Stamped(Model):
        created_at: Annotated[datetime | None, CreatedAt] = None
        version: Annotated[int, Version] = 0

    class Doc(Stamped, table="docs"):
        id: Annotated[str, PK]
        version: Annotated[int, Version] = (
            1  # redeclared: no pydantic "shadows" warning (warnings are errors)
        )

    s = schema_of(Doc)
    assert s.created_at == FieldRef("created_at", "created_at")
    assert s.version == FieldRef("version", "version")
    assert Doc(id="a").version == 1


def test_subclass_is_abstract_when_it_gives_no_table():
    class Sub(Payment):
        extra: str = ""

    with pytest.raises(ValidationError, match="Sub"):
        schema_of(Sub)


def test_schema_of_compiles_when_model_refers_to_itself():
    class Node(Model, table="nodes"):
        id: Annotated[str, PK]
        children: list[Node] = Field(default_factory=list)

    s = schema_of(Node)
    tree = Node(id="a", children=[Node(id="b", children=[Node(id="c")])])
    assert s.decode(s.encode(tree)) == tree


# ------------------------------------------------------------------------------------------ class attributes


def test_class_attribute_returns_attr_when_field_is_stored():
    a = Payment.amount
    assert isinstance(a, Attr)
    assert a.path == ("amount",)
    assert a.field == "amount"
    assert a.model is Payment
    assert a.encode is not None
    assert a.encode(5) == {"N": "5"}


def test_class_attribute_returns_the_same_attr_when_accessed_twice():
    assert Payment.status is Payment.status


def test_class_attribute_uses_stored_name_when_field_is_renamed():
    assert Customer.name.path == ("n",)
    assert Customer.address.city.path == ("address", "c")


def test_class_attribute_raises_attribute_error_when_name_is_unknown():
    with pytest.raises(AttributeError):
        Payment.nope  # noqa: B018
    assert not hasattr(Payment, "nope")


def test_class_attribute_raises_attribute_error_when_field_is_ignored():
    with pytest.raises(AttributeError):
        Customer.cache  # noqa: B018


def test_instance_attribute_is_the_value_when_class_attribute_is_an_attr():
    p = Payment(partner_id="p1", id="pay_1", amount=10050)
    assert p.amount == 10050
    assert p.status == "pending"


def test_attr_encode_raises_when_value_has_wrong_type():
    with pytest.raises(ValidationError, match=r"Payment\.amount"):
        Payment.amount.encode("ten")  # type: ignore[union-attr]  # encode is set for fields


def test_attr_encode_returns_null_when_value_is_none():
    assert Payment.created_at.encode(None) == {"NULL": True}  # type: ignore[union-attr]  # set for fields


# ---------------------------------------------------------------------------------------------- keys


def test_key_returns_item_when_pk_and_sk_given():
    assert schema_of(Payment).key("p1", "pay_1") == {"partner_id": {"S": "p1"}, "id": {"S": "pay_1"}}
    assert schema_of(Customer).key("t", "e@x") == {"pk": {"S": "t"}, "sk": {"S": "e@x"}}


def test_key_raises_when_sort_key_is_missing():
    with pytest.raises(ValidationError, match=r"Payment.*sort key"):
        schema_of(Payment).key("p1")


def test_key_raises_when_sort_key_given_for_table_without_one():
    Thing = _define({"k": Annotated[str, PK]}, name="Thing")
    with pytest.raises(ValidationError, match=r"Thing.*no sort key"):
        schema_of(Thing).key("a", "b")


def test_key_raises_when_value_has_wrong_type():
    with pytest.raises(ValidationError, match=r"Payment\.partner_id: expected str, got an int"):
        schema_of(Payment).key(1, "x")


def test_key_returns_pk_item_when_sort_key_is_missing_for_pk_only_table():
    Thing = _define({"k": Annotated[str, PK]}, name="Thing")
    assert schema_of(Thing).key("a") == schema_of(Thing).key("a", MISSING) == {"k": {"S": "a"}}


def test_key_from_returns_item_when_given_pk_or_tuple():
    Thing = _define({"k": Annotated[str, PK]}, name="Thing")
    assert schema_of(Thing).key_from("a") == schema_of(Thing).key_from(("a",)) == {"k": {"S": "a"}}
    assert schema_of(Payment).key_from(("p1", "pay_1")) == schema_of(Payment).key("p1", "pay_1")


def test_key_from_raises_when_tuple_does_not_fit_the_table():
    Thing = _define({"k": Annotated[str, PK]}, name="Thing")
    with pytest.raises(ValidationError, match=r"Thing.*no sort key.*2-tuples"):
        schema_of(Thing).key_from(("a", "b"))
    with pytest.raises(ValidationError, match=r"Payment.*has a sort key.*\(pk, sk\) tuples"):
        schema_of(Payment).key_from("p1")


def test_key_target_returns_schema_and_key_when_given_instance_or_tuple():
    Thing = _define({"k": Annotated[str, PK]}, name="Thing")
    pay = Payment(partner_id="p1", id="pay_1", amount=1)
    assert key_target(pay, "op") == (schema_of(Payment), schema_of(Payment).key("p1", "pay_1"))
    assert key_target((Payment, "p1", "pay_1"), "op") == key_target((Payment, ("p1", "pay_1")), "op")
    assert key_target((Thing, "a"), "op") == (schema_of(Thing), {"k": {"S": "a"}})


def test_key_target_raises_when_target_is_neither_instance_nor_tuple():
    with pytest.raises(
        ValidationError, match=r"^op takes model instances or \(Model, pk\[, sk\]\) tuples, not str"
    ):
        key_target("p1", "op")
    with pytest.raises(ValidationError, match="has no table"):
        key_target((Address, "x"), "op")


def test_key_id_is_equal_when_numbers_differ_only_in_form():
    Counter = _define(
        {"n": Annotated[int, PK], "s": Annotated[Decimal, SK]}, table="model_counters", name="Counter"
    )
    schema = schema_of(Counter)
    assert schema.key_id({"n": {"N": "1"}, "s": {"N": "1.50"}}) == schema.key_id(
        {"n": {"N": "1"}, "s": {"N": "1.5"}}
    )
    assert schema.key_id(schema.key(1, Decimal(2))) != schema.key_id(schema.key(1, Decimal(3)))
    hash(schema.key_id(schema.key(1, Decimal(2))))


def test_key_raises_when_value_is_empty():
    with pytest.raises(ValidationError, match=r"Payment\.id: .*empty"):
        schema_of(Payment).key("p1", "")
    Blob = _define({"k": Annotated[bytes, PK]}, table="model_blobs", name="Blob")
    with pytest.raises(ValidationError, match="empty"):
        schema_of(Blob).key(b"")


def test_key_raises_when_value_is_none():
    with pytest.raises(ValidationError, match="None"):
        schema_of(Payment).key(None, "x")


def test_key_converts_value_when_type_widens_safely():
    Num = _define({"k": Annotated[Decimal, PK]}, table="model_nums", name="Num")
    assert schema_of(Num).key(5) == {"k": {"N": "5"}}
    Ident = _define({"k": Annotated[UUID, PK]}, name="Ident")
    u = "12345678-1234-5678-1234-567812345678"
    assert schema_of(Ident).key(u) == {"k": {"S": u}}


def test_key_of_returns_primary_key_when_given_instance():
    p = Payment(partner_id="p1", id="pay_1", amount=1)
    assert schema_of(Payment).key_of(p) == {"partner_id": {"S": "p1"}, "id": {"S": "pay_1"}}


def test_encode_value_returns_field_encoding_when_field_is_known():
    s = schema_of(Payment)
    assert s.encode_value("amount", 3) == {"N": "3"}
    assert s.encode_value("created_at", None) == {"NULL": True}
    assert s.encode_value("tags", {"a"}) == {"SS": ["a"]}


def test_encode_value_raises_when_field_is_unknown_or_ignored():
    with pytest.raises(ValidationError, match="nope"):
        schema_of(Payment).encode_value("nope", 1)
    with pytest.raises(ValidationError, match="cache"):
        schema_of(Customer).encode_value("cache", {})
    with pytest.raises(ValidationError, match="cache"):
        schema_of(Customer).stored("cache")


# ---------------------------------------------------------------------------------------------- ignore / omit


def test_encode_skips_field_when_marked_ignore():
    c = Customer(tenant="t", email="e", name="n", cache={"x": 1})
    item = schema_of(Customer).encode(c)
    assert "cache" not in item
    back = schema_of(Customer).decode({**item, "cache": {"M": {"x": {"N": "2"}}}})
    assert back.cache == {}


def test_encode_skips_empty_value_when_marked_omit_empty():
    Thing = _define(
        {
            "k": Annotated[str, PK],
            "note": (Annotated[str, OmitEmpty], ""),
            "xs": (Annotated[list[int], OmitEmpty], []),
        },
        name="Thing",
    )
    s = schema_of(Thing)
    obj = Thing(k="a")
    item = s.encode(obj)
    assert item == {"k": {"S": "a"}}
    assert s.decode(item) == obj


# ------------------------------------------------------------------------------------------ definition errors


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"a": str}, r"Bad: table 'model_bads' needs one field marked PK"),
        ({"a": Annotated[str, PK], "b": Annotated[str, PK]}, r"Bad\.b: a second PK field"),
        ({"a": Annotated[str, PK], "b": Annotated[str, SK], "c": Annotated[str, SK]}, r"Bad\.c: a second SK"),
        ({"a": Annotated[str, PK, SK]}, r"Bad\.a: a field cannot be both PK and SK"),
        ({"a": Annotated[float, PK]}, r"Bad\.a: a float cannot be the partition key"),
        ({"a": Annotated[str, PK], "b": Annotated[float, SK]}, r"Bad\.b: a float cannot be the sort key"),
        ({"a": Annotated[bool, PK]}, r"Bad\.a: a BOOL value cannot be the partition key"),
        ({"a": Annotated[list[str], PK]}, r"Bad\.a: a L value cannot be the partition key"),
        ({"a": (Annotated[str | None, PK], None)}, r"Bad\.a: the partition key \(PK\) cannot be optional"),
        ({"a": Annotated[str, PK], "b": complex}, r"Bad\.b: type complex is not supported"),
        ({"a": Annotated[str, PK], "b": int | str}, r"Bad\.b: union .* is not supported"),
        ({"a": Annotated[str, PK], "b": dict[int, str]}, r"Bad\.b: .* map keys must be str"),
        ({"a": Annotated[str, PK], "b": set}, r"Bad\.b: bare set is not supported"),
        ({"a": Annotated[str, PK], "b": set[bool]}, r"Bad\.b: .* sets hold"),
        (
            {"a": Annotated[str, PK], "v": (Annotated[str, Version], "")},
            r"Bad\.v: a Version field must be an int",
        ),
        ({"a": Annotated[str, PK], "v": (Annotated[int | None, Version], None)}, r"Bad\.v: a Version field"),
        (
            {"a": Annotated[str, PK], "t": (Annotated[str, TTL], "")},
            r"Bad\.t: a TTL field must be a datetime or an int",
        ),
        (
            {"a": Annotated[str, PK], "c": (Annotated[str, CreatedAt], "")},
            r"Bad\.c: a CreatedAt field must be a datetime",
        ),
        (
            {"a": Annotated[str, PK], "u": (Annotated[int, UpdatedAt], 0)},
            r"Bad\.u: a UpdatedAt field must be a datetime",
        ),
        (
            {"a": Annotated[str, PK], "v": (Annotated[int, Version], 0), "w": (Annotated[int, Version], 0)},
            r"Bad\.w: a second Version field",
        ),
        (
            {"a": Annotated[str, PK], "x": Annotated[str, GSI("g", "sk")]},
            r"Bad\.x: GSI 'g' has a sort key but no pk",
        ),
        (
            {"a": Annotated[str, PK], "x": Annotated[str, GSI("g")], "y": Annotated[str, GSI("g")]},
            r"Bad\.y: GSI 'g' has two pk fields \(x and y\)",
        ),
        (
            {
                "a": Annotated[str, PK],
                "b": Annotated[str, SK],
                "x": Annotated[str, LSI("i")],
                "y": Annotated[str, GSI("i")],
            },
            r"Bad\.y: index name 'i' is used by an LSI too",
        ),
        (
            {
                "a": Annotated[str, PK],
                "b": Annotated[str, SK],
                "x": Annotated[str, GSI("i")],
                "y": Annotated[str, LSI("i")],
            },
            r"Bad\.y: index name 'i' is used by a GSI too",
        ),
        (
            {
                "a": Annotated[str, PK],
                "b": Annotated[str, SK],
                "x": Annotated[str, LSI("i")],
                "y": Annotated[str, LSI("i")],
            },
            r"Bad\.y: LSI 'i' is declared twice",
        ),
        (
            {"a": Annotated[str, PK], "x": Annotated[str, LSI("i")]},
            r"Bad\.x: LSI 'i' needs a table with a sort key",
        ),
        (
            {"a": Annotated[str, PK], "b": Annotated[str, SK, LSI("i")]},
            r"Bad\.b: LSI 'i' sort key cannot be a table key",
        ),
        (
            {
                "a": Annotated[str, PK],
                "x": Annotated[str, GSI("g", "pk", projection="KEYS_ONLY")],
                "y": Annotated[str, GSI("g", "sk")],
            },
            r"Bad\.y: GSI 'g' projection differs",
        ),
        (
            {"a": Annotated[str, PK], "x": Annotated[str, GSI("g", projection="INCLUDE", include=("nope",))]},
            r"Bad\.x: index 'g' includes 'nope', which is no stored field",
        ),
        (
            {"a": Annotated[str, PK], "x": Annotated[float, GSI("g")]},
            r"Bad\.x: a float cannot be the partition key of GSI",
        ),
        (
            {"a": Annotated[str, PK], "x": Annotated[str, Stored("a")]},
            r"Bad\.x: stored attribute name 'a' is used by",
        ),
        ({"a": Annotated[str, PK], "x": Annotated[str, Stored("")]}, r"Bad\.x: Stored\(\) needs a non-empty"),
        ({"a": Annotated[str, PK], "x": Annotated[str, Ignore]}, r"Bad\.x: an Ignore field needs a default"),
        ({"a": (Annotated[str, PK, Ignore], "x")}, r"Bad\.a: an Ignore field cannot be a key"),
        (
            {"a": Annotated[str, PK], "x": (Annotated[UUID | None, OmitEmpty], None)},
            r"Bad\.x: OmitEmpty applies to",
        ),
        (
            {"a": Annotated[str, PK], "x": (Annotated[str, Version, Version], "")},
            r"Bad\.x: marker Version is given twice",
        ),
    ],
)
def test_class_creation_raises_naming_class_and_field_when_definition_is_wrong(body, needle):
    with pytest.raises(ValidationError, match=needle):
        _define(body)


def test_class_creation_raises_when_nested_model_is_plain_pydantic():
    class Plain(BaseModel):
        x: int

    with pytest.raises(ValidationError, match=r"Bad\.p: nested model Plain must derive from aiotheory.Model"):
        _define({"a": Annotated[str, PK], "p": Plain})


def test_class_creation_raises_when_table_name_is_empty():
    with pytest.raises(ValidationError, match="table="):
        _define({"a": Annotated[str, PK]}, table="")


def test_index_markers_raise_when_projection_options_are_wrong():
    with pytest.raises(ValidationError, match="projection must be one of"):
        GSI("g", projection="SOME")  # type: ignore[arg-type]  # the error under test
    with pytest.raises(ValidationError, match="needs at least one name"):
        LSI("l", projection="INCLUDE")
    with pytest.raises(ValidationError, match="only allowed with projection='INCLUDE'"):
        GSI("g", include=("x",))
    with pytest.raises(ValidationError, match="role must be"):
        GSI("g", "both")  # type: ignore[arg-type]  # the error under test


def test_class_creation_accepts_pk_only_fields_when_model_is_abstract():
    base = _define({"a": Annotated[str, PK], "x": Annotated[str, LSI("i")]}, table=None, name="Base")
    assert base.__aiotheory_table__ is None


def test_field_may_carry_several_index_markers_when_indexes_differ():
    Thing = _define(
        {
            "a": Annotated[str, PK],
            "b": Annotated[str, SK],
            "x": Annotated[str, GSI("g1"), GSI("g2", "sk"), LSI("l1")],
            "y": Annotated[str, GSI("g2")],
        },
        name="Thing",
    )
    kinds = {
        (ix.name, ix.kind, ix.pk.field, ix.sk.field if ix.sk else None) for ix in schema_of(Thing).indexes
    }
    assert kinds == {("g1", "GSI", "x", None), ("g2", "GSI", "y", "x"), ("l1", "LSI", "a", "x")}


def test_import_loads_no_asyncio_when_importing_model_and_codec():
    code = (
        "import sys, aiotheory.model, aiotheory.codec;"
        "bad = [m for m in ('asyncio', 'anyio', 'aiotheory.transport', 'botocore') if m in sys.modules];"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


class _Event(Model, table="events_at"):
    stream: Annotated[UUID, PK]
    at: Annotated[datetime, SK]


def test_decode_key_returns_field_typed_values_and_names_missing_parts() -> None:
    import uuid

    from aiotheory.errors import DecodeError

    schema = schema_of(_Event)
    sid = uuid.uuid4()
    at = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert schema.decode_key(schema.key(sid, at)) == {"stream": sid, "at": at}
    with pytest.raises(DecodeError) as info:
        schema.decode_key({"stream": {"S": str(sid)}}, table="dev_events")
    assert info.value.field == "at" and info.value.table == "dev_events"
    with pytest.raises(DecodeError):
        schema.decode_key({"stream": {"N": "1"}, "at": {"S": "x"}})


@pytest.mark.parametrize("table", ["a", "ab", "x" * 256])
def test_class_creation_raises_naming_the_class_when_table_name_length_breaks_dynamodb_rules(
    table: str,
) -> None:
    with pytest.raises(ValidationError, match=r"Bad: table name .* characters; DynamoDB needs 3 to 255"):
        _define({"a": Annotated[str, PK]}, table=table, name="Bad")


@pytest.mark.parametrize("table", ["has space", "slash/es", "ünïcode", "colon:s"])
def test_class_creation_raises_naming_the_class_when_table_name_has_a_forbidden_character(
    table: str,
) -> None:
    with pytest.raises(ValidationError, match=r"Bad: table name .* may hold only letters"):
        _define({"a": Annotated[str, PK]}, table=table, name="Bad")


def test_class_creation_accepts_a_table_name_at_dynamodb_bounds() -> None:
    for table in ("abc", "A.b-c_9", "x" * 255):
        _define({"a": Annotated[str, PK]}, table=table)


def test_codec_error_says_an_before_a_vowel_and_a_before_a_consonant() -> None:
    Thing = _define({"k": Annotated[str, PK], "n": int}, name="Thing")
    with pytest.raises(ValidationError, match=r"Thing\.n: expected int, got a str"):
        schema_of(Thing).encode_value("n", "7x")
