"""DynamoDB's limits, checked against the engine itself.

Our codec refuses some values before any request (38 significant digits, the number range, 400 KB
items, empty key values, nesting past 32 levels, empty map keys), and so do expressions (paths past 32
levels, list indexes past 2**31-1, empty names, an empty partition key in a query). These tests send
the raw boundary payloads past our checks, straight through the call function, and assert that the real
engine draws the line where our codec does. DynamoDB Local is the authority; moto is lax about limits
(TESTING.md), so the engine-side halves are ddblocal_only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import pytest

from aiotheory import DB, PK, AwsError, AwsValidationError, F, Model, ValidationError
from aiotheory.codec import MAX_ITEM_BYTES, encode_value, item_size, nests_deeper
from aiotheory.model import schema_of

if TYPE_CHECKING:
    from aiotheory.expr import Attr

#: (number text, whether DynamoDB accepts it): 38 significant digits, magnitudes 1E-130 .. <1E+126;
#: trailing zeros are not significant digits.
_NUMBERS = [
    ("1" * 38, True),
    ("1" * 39, False),
    ("9.9999999999999999999999999999999999999E+125", True),
    ("1E+126", False),
    ("1E-130", True),
    ("1E-131", False),
    ("1" + "0" * 100, True),
]


class Blob(Model, table="limits"):
    id: Annotated[str, PK]
    data: str = ""
    n: Decimal = Decimal(0)


async def _raw_put(db: DB, item: dict[str, object]) -> None:
    await db.raw("PutItem", {"TableName": db.table_name(Blob), "Item": item})


def _item_of_size(total: int) -> dict[str, dict[str, str]]:
    """An item of Blob's shape whose DynamoDB size (by our item_size) is exactly `total` bytes."""
    from aiotheory.model import schema_of

    base = schema_of(Blob).encode(Blob(id="k"))
    item = {**base, "data": {"S": "x" * (total - item_size(base))}}
    assert item_size(item) == total
    return item


@pytest.mark.parametrize(
    ("text", "ok"),
    _NUMBERS,
)
def test_codec_number_limits_match_dynamodb_rules(text: str, ok: bool) -> None:
    if ok:
        assert "N" in encode_value(Decimal(text))
    else:
        with pytest.raises(ValidationError):
            encode_value(Decimal(text))


@pytest.mark.ddblocal_only
@pytest.mark.parametrize(
    ("text", "ok"),
    _NUMBERS,
)
async def test_engine_number_limits_match_the_codec(db: DB, make_table, text: str, ok: bool) -> None:
    await make_table(Blob)
    item = {"id": {"S": "k"}, "n": {"N": text}}
    if ok:
        await _raw_put(db, item)
        got = await db.get(Blob, "k")
        assert got.n == Decimal(text)
    else:
        with pytest.raises(AwsError) as info:
            await _raw_put(db, item)
        assert info.value.code == "ValidationException"


def test_codec_rejects_items_over_400kb_and_accepts_the_boundary() -> None:
    from aiotheory.model import schema_of

    schema = schema_of(Blob)
    at_limit = _item_of_size(MAX_ITEM_BYTES)
    schema.encode(Blob(id="k", data=at_limit["data"]["S"]))
    with pytest.raises(ValidationError):
        schema.encode(Blob(id="k", data=at_limit["data"]["S"] + "x"))


@pytest.mark.ddblocal_only
async def test_engine_item_size_boundary_matches_item_size(db: DB, make_table) -> None:
    await make_table(Blob)
    await _raw_put(db, _item_of_size(MAX_ITEM_BYTES))  # exactly 400 KB by our formula: accepted
    with pytest.raises(AwsError) as info:
        await _raw_put(db, _item_of_size(MAX_ITEM_BYTES + 1))
    assert info.value.code == "ValidationException"


async def test_engine_rejects_empty_key_value_as_codec_does(db: DB, make_table) -> None:
    await make_table(Blob)
    with pytest.raises(ValidationError):
        await db.get(Blob, "")
    with pytest.raises(AwsError) as info:
        await _raw_put(db, {"id": {"S": ""}})
    assert info.value.code == "ValidationException"


def _chain(shape: str, n: int) -> tuple[str, dict[str, dict[str, str]]]:
    values = {":v": {"N": "1"}, ":w": {"N": "2"}}
    parts = {
        "or": ("#a = :v", " OR "),
        "not": ("NOT (#a = :v)", " AND "),
        "exists": ("attribute_exists(#a)", " AND "),
        "in": ("#a IN (:v, :w)", " AND "),
        "size": ("size(#a) > :v", " AND "),
        "between": ("#a BETWEEN :v AND :w", " AND "),
    }
    term, joint = parts[shape]
    expression = joint.join([term] * n)
    return expression, {k: v for k, v in values.items() if k in expression}


#: (shape, n): chains just under and just over 300 operators by DynamoDB's count.
_CHAINS = [
    ("or", 150), ("or", 151), ("not", 100), ("not", 101), ("exists", 150), ("exists", 151),
    ("in", 150), ("in", 151), ("size", 100), ("size", 101), ("between", 150), ("between", 151),
]  # fmt: skip


@pytest.mark.ddblocal_only
@pytest.mark.parametrize(("shape", "n"), _CHAINS)
async def test_engine_operator_limit_matches_count_operators(db: DB, make_table, shape: str, n: int) -> None:
    from aiotheory.expr._limits import MAX_OPERATORS
    from aiotheory.expr._render import count_operators

    await make_table(Blob)
    expression, values = _chain(shape, n)
    payload = {
        "TableName": db.table_name(Blob),
        "FilterExpression": expression,
        "ExpressionAttributeNames": {"#a": "data"},
    }
    if values:  # DynamoDB refuses an empty ExpressionAttributeValues
        payload["ExpressionAttributeValues"] = values
    ours = count_operators(expression) <= MAX_OPERATORS
    engine = await _engine_accepts(db, payload)
    assert ours == engine, f"{shape} x{n}: we count {count_operators(expression)}"


async def _engine_accepts(db: DB, payload: dict[str, object]) -> bool:
    """True when DynamoDB runs the scan, False when it refuses it for too many operators."""
    try:
        await db.raw("Scan", payload)
    except AwsValidationError as exc:
        if "too many operators" in exc.message:
            return False
        raise
    return True


# ------------------------------------------------------------------------- nesting, paths, names, key values


def _nest(containers: int, bottom: dict[str, object]) -> dict[str, object]:
    """`containers` nested M values around `bottom` (the attribute's own M is the first)."""
    av = bottom
    for _ in range(containers):
        av = {"M": {"k": av}}
    return av


#: (attribute value, whether DynamoDB accepts it): at most 31 nested M/L levels; a scalar or set may sit
#: at the 32nd level, an M or L (even empty) may not.
_NESTING = [
    ("31 maps + S", _nest(31, {"S": "x"}), True),
    ("32 maps + S", _nest(32, {"S": "x"}), False),
    ("31 maps + SS", _nest(31, {"SS": ["a"]}), True),
    ("30 maps + empty L", _nest(30, {"L": []}), True),
    ("31 maps + empty L", _nest(31, {"L": []}), False),
    ("31 maps + empty M", _nest(31, {"M": {}}), False),
]


@pytest.mark.parametrize(("av", "ok"), [pytest.param(av, ok, id=name) for name, av, ok in _NESTING])
def test_codec_nesting_limit_matches_dynamodb_rules(av: dict[str, object], ok: bool) -> None:
    from aiotheory.codec import decode_value

    assert nests_deeper(av) is not ok  # type: ignore[arg-type]  # an AttributeValue
    value = decode_value(av)  # type: ignore[arg-type]  # the same value as python data
    obj = Doc(id="k", data=value)  # type: ignore[arg-type]  # a nested dict
    if ok:
        schema_of(Doc).encode(obj)
    else:
        with pytest.raises(ValidationError, match="nests deeper"):
            schema_of(Doc).encode(obj)


@pytest.mark.ddblocal_only
@pytest.mark.parametrize(("av", "ok"), [pytest.param(av, ok, id=name) for name, av, ok in _NESTING])
async def test_engine_nesting_limit_matches_the_codec(
    db: DB, make_table, av: dict[str, object], ok: bool
) -> None:
    await make_table(Blob)
    item = {"id": {"S": "k"}, "deep": av}
    if ok:
        await _raw_put(db, item)
    else:
        with pytest.raises(AwsError) as info:
            await _raw_put(db, item)
        assert info.value.code == "ValidationException"


class Doc(Model, table="limits"):
    id: Annotated[str, PK]
    data: dict[str, Any] = {}
    items: list[int] = []


def _path(segments: int) -> Attr[object]:
    attr: Attr[object] = F(Doc.data)  # type: ignore[assignment]  # only the path matters
    for _ in range(segments - 1):
        attr = attr["k"]
    return attr


#: (document path depth or list index, whether DynamoDB accepts it).
_PATHS = [(32, True), (33, False)]
_INDEXES = [(0, True), (2**31 - 1, True), (2**31, False), (2**63, False)]


@pytest.mark.parametrize(("segments", "ok"), _PATHS)
def test_attr_path_depth_limit_matches_dynamodb_rules(segments: int, ok: bool) -> None:
    if ok:
        assert len(_path(segments).path) == segments
    else:
        with pytest.raises(ValidationError, match="at most 32 levels"):
            _path(segments)


@pytest.mark.ddblocal_only
@pytest.mark.parametrize(("segments", "ok"), _PATHS)
async def test_engine_path_depth_limit_matches_attr(db: DB, make_table, segments: int, ok: bool) -> None:
    await make_table(Blob)
    expression = "attribute_exists(" + ".".join(["#a"] * segments) + ")"
    assert await _scan_refusal(db, expression) == (None if ok else "too many nesting levels")


@pytest.mark.parametrize(("index", "ok"), _INDEXES)
def test_attr_list_index_limit_matches_dynamodb_rules(index: int, ok: bool) -> None:
    if ok:
        assert F(Doc.items)[index].path == ("items", index)
    else:
        with pytest.raises(ValidationError, match="list indexes"):
            F(Doc.items)[index]


@pytest.mark.ddblocal_only
@pytest.mark.parametrize(("index", "ok"), _INDEXES)
async def test_engine_list_index_limit_matches_attr(db: DB, make_table, index: int, ok: bool) -> None:
    await make_table(Blob)
    refusal = await _scan_refusal(db, f"attribute_exists(#a[{index}])")
    assert refusal == (None if ok else "List index is not within the allowable range")


async def _scan_refusal(db: DB, expression: str) -> str | None:
    """None when the engine runs a scan filtered by `expression`, else the phrase of its refusal we know."""
    payload = {
        "TableName": db.table_name(Blob),
        "FilterExpression": expression,
        "ExpressionAttributeNames": {"#a": "data"},
    }
    try:
        await db.raw("Scan", payload)
    except AwsValidationError as exc:
        message = exc.message
    else:
        return None
    known = ("too many nesting levels", "List index is not within the allowable range")
    return next((phrase for phrase in known if phrase in message), message)


@pytest.mark.ddblocal_only
async def test_engine_rejects_empty_names_as_codec_and_attr_do(db: DB, make_table) -> None:
    await make_table(Blob)
    with pytest.raises(ValidationError, match="map key is empty"):
        schema_of(Doc).encode(Doc(id="k", data={"": 1}))
    with pytest.raises(ValidationError, match="must not be empty"):
        F(Doc.data)[""]
    with pytest.raises(AwsError) as info:
        await _raw_put(db, {"id": {"S": "k"}, "m": {"M": {"": {"S": "x"}}}})
    assert info.value.code == "ValidationException"
    with pytest.raises(AwsError) as info:
        await db.raw(
            "Scan",
            {
                "TableName": db.table_name(Blob),
                "FilterExpression": "attribute_exists(#a.#e)",
                "ExpressionAttributeNames": {"#a": "data", "#e": ""},
            },
        )
    assert info.value.code == "ValidationException"


@pytest.mark.ddblocal_only
async def test_engine_rejects_empty_partition_key_in_query_as_query_does(db: DB, make_table) -> None:
    await make_table(Blob)
    with pytest.raises(ValidationError, match="empty partition key"):
        db.query(Blob).key(F(Blob.id) == "")
    with pytest.raises(AwsError) as info:
        await db.raw(
            "Query",
            {
                "TableName": db.table_name(Blob),
                "KeyConditionExpression": "#k = :v",
                "ExpressionAttributeNames": {"#k": "id"},
                "ExpressionAttributeValues": {":v": {"S": ""}},
            },
        )
    assert info.value.code == "ValidationException"
