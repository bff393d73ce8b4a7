"""aiotheory.expr: rows of (expression, rendered string, names, values), validation errors and limits."""

from __future__ import annotations

import functools
import operator
import subprocess
import sys
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any

import pytest

from aiotheory.errors import ValidationError
from aiotheory.expr import (
    Attr,
    Condition,
    F,
    Params,
    Raw,
    Update,
    render_condition,
    render_key_condition,
    render_projection,
    render_update,
    size,
)


def _enc(v: object) -> dict[str, Any]:
    """A small explicit field encoder, so these tests do not depend on the codec's choices."""
    if isinstance(v, str):
        return {"S": v}
    if isinstance(v, bool):
        return {"BOOL": v}
    if isinstance(v, int | float | Decimal):
        return {"N": str(v)}
    if isinstance(v, set | frozenset):
        if all(isinstance(x, str) for x in v):
            return {"SS": sorted(v)}
        return {"NS": sorted(str(x) for x in v)}
    if isinstance(v, list):
        return {"L": [_enc(x) for x in v]}
    if isinstance(v, dict):
        return {"M": {k: _enc(x) for k, x in v.items()}}
    if v is None:
        return {"NULL": True}
    raise TypeError(f"unsupported {type(v).__name__}")


def _as_string(v: object) -> dict[str, Any]:
    """Stores numbers as strings (a custom converter), to test the checks on encoded values."""
    return {"S": str(v)}


amount: Attr[int] = Attr(("amount",), _enc, field="amount")
status: Attr[str] = Attr(("status",), _enc, field="status")
other: Attr[int] = Attr(("other",), _enc)
tags: Attr[set[str]] = Attr(("tags",), _enc)
items: Attr[list[int]] = Attr(("items",), _enc)
meta: Attr[dict[str, str]] = Attr(("meta",), _enc)
dotted: Attr[str] = Attr(("a.b c",), _enc)
code: Attr[str] = Attr(("code",), _as_string)

N = {"#n0": "amount"}


class _Slot(IntEnum):
    second = 2


class _Key(str, Enum):  # noqa: UP042  # str() of this mix is "_Key.city", unlike a StrEnum
    city = "city"


# --------------------------------------------------------------------------------------------- conditions

CONDITIONS: list[tuple[str, Condition, str, dict[str, str], dict[str, Any]]] = [
    ("eq", amount == 5, "#n0 = :v0", N, {":v0": {"N": "5"}}),
    ("ne", amount != 5, "#n0 <> :v0", N, {":v0": {"N": "5"}}),
    ("lt", amount < 5, "#n0 < :v0", N, {":v0": {"N": "5"}}),
    ("le", amount <= 5, "#n0 <= :v0", N, {":v0": {"N": "5"}}),
    ("gt", amount > 5, "#n0 > :v0", N, {":v0": {"N": "5"}}),
    ("ge", amount >= 5, "#n0 >= :v0", N, {":v0": {"N": "5"}}),
    ("reflected", 5 < amount, "#n0 > :v0", N, {":v0": {"N": "5"}}),  # noqa: SIM300  # the reflected operator
    ("eq_none", status == None, "#n0 = :v0", {"#n0": "status"}, {":v0": {"NULL": True}}),  # noqa: E711
    ("attr_vs_attr", amount > other, "#n0 > #n1", {"#n0": "amount", "#n1": "other"}, {}),
    ("between", amount.between(1, 9), "#n0 BETWEEN :v0 AND :v1", N, {":v0": {"N": "1"}, ":v1": {"N": "9"}}),
    (
        "is_in",
        status.is_in(["a", "b", "c"]),
        "#n0 IN (:v0, :v1, :v2)",
        {"#n0": "status"},
        {":v0": {"S": "a"}, ":v1": {"S": "b"}, ":v2": {"S": "c"}},
    ),
    ("is_in_one", amount.is_in((7,)), "#n0 IN (:v0)", N, {":v0": {"N": "7"}}),
    (
        "begins_with",
        status.begins_with("pa"),
        "begins_with(#n0, :v0)",
        {"#n0": "status"},
        {":v0": {"S": "pa"}},
    ),
    (
        "begins_with_on_number_stored_as_string",
        code.begins_with("1"),
        "begins_with(#n0, :v0)",
        {"#n0": "code"},
        {":v0": {"S": "1"}},
    ),
    ("contains_attr", tags.contains(status), "contains(#n0, #n1)", {"#n0": "tags", "#n1": "status"}, {}),
    ("exists", amount.exists(), "attribute_exists(#n0)", N, {}),
    ("int_enum_index", items[_Slot.second].exists(), "attribute_exists(#n0[2])", {"#n0": "items"}, {}),
    (
        "str_enum_key",
        meta[_Key.city].exists(),
        "attribute_exists(#n0.#n1)",
        {"#n0": "meta", "#n1": _Key.city},
        {},
    ),
    ("largest_index", items[2**31 - 1].exists(), "attribute_exists(#n0[2147483647])", {"#n0": "items"}, {}),
    ("not_exists", amount.not_exists(), "attribute_not_exists(#n0)", N, {}),
    ("attribute_type", amount.attribute_type("N"), "attribute_type(#n0, :v0)", N, {":v0": {"S": "N"}}),
    ("size_gt", tags.size() > 2, "size(#n0) > :v0", {"#n0": "tags"}, {":v0": {"N": "2"}}),
    ("size_eq", tags.size() == 0, "size(#n0) = :v0", {"#n0": "tags"}, {":v0": {"N": "0"}}),
    ("size_ne", tags.size() != 0, "size(#n0) <> :v0", {"#n0": "tags"}, {":v0": {"N": "0"}}),
    ("size_lt", size(tags) < 3, "size(#n0) < :v0", {"#n0": "tags"}, {":v0": {"N": "3"}}),
    ("size_le", size(tags) <= 3, "size(#n0) <= :v0", {"#n0": "tags"}, {":v0": {"N": "3"}}),
    ("size_ge", size(tags) >= 3, "size(#n0) >= :v0", {"#n0": "tags"}, {":v0": {"N": "3"}}),
    ("size_vs_attr", tags.size() > amount, "size(#n0) > #n1", {"#n0": "tags", "#n1": "amount"}, {}),
    (
        "size_between",
        tags.size().between(1, 4),
        "size(#n0) BETWEEN :v0 AND :v1",
        {"#n0": "tags"},
        {":v0": {"N": "1"}, ":v1": {"N": "4"}},
    ),
    (
        "nested_map",
        meta["city"].exists(),
        "attribute_exists(#n0.#n1)",
        {"#n0": "meta", "#n1": "city"},
        {},
    ),
    ("list_index", items[0].exists(), "attribute_exists(#n0[0])", {"#n0": "items"}, {}),
    (
        "deep_path",
        meta["a"]["b"][2]["a"].not_exists(),
        "attribute_not_exists(#n0.#n1.#n2[2].#n1)",
        {"#n0": "meta", "#n1": "a", "#n2": "b"},
        {},
    ),
    ("odd_name_is_a_placeholder", dotted == "x", "#n0 = :v0", {"#n0": "a.b c"}, {":v0": {"S": "x"}}),
    (
        "same_name_shares_placeholder",
        (amount > 1) & (amount < 5),
        "#n0 > :v0 AND #n0 < :v1",
        N,
        {":v0": {"N": "1"}, ":v1": {"N": "5"}},
    ),
    (
        "and_flattens",
        (amount > 1) & (status == "x") & amount.exists(),
        "#n0 > :v0 AND #n1 = :v1 AND attribute_exists(#n0)",
        {"#n0": "amount", "#n1": "status"},
        {":v0": {"N": "1"}, ":v1": {"S": "x"}},
    ),
    (
        "or_flattens",
        amount.exists() | status.exists() | tags.exists(),
        "attribute_exists(#n0) OR attribute_exists(#n1) OR attribute_exists(#n2)",
        {"#n0": "amount", "#n1": "status", "#n2": "tags"},
        {},
    ),
    (
        "or_inside_and_parenthesised",
        (amount.exists() | status.exists()) & tags.exists(),
        "(attribute_exists(#n0) OR attribute_exists(#n1)) AND attribute_exists(#n2)",
        {"#n0": "amount", "#n1": "status", "#n2": "tags"},
        {},
    ),
    (
        "and_inside_or_bare",
        amount.exists() | (status.exists() & tags.exists()),
        "attribute_exists(#n0) OR attribute_exists(#n1) AND attribute_exists(#n2)",
        {"#n0": "amount", "#n1": "status", "#n2": "tags"},
        {},
    ),
    ("not", ~amount.exists(), "NOT attribute_exists(#n0)", N, {}),
    ("not_not", ~~amount.exists(), "attribute_exists(#n0)", N, {}),
    (
        "not_of_and",
        ~(amount.exists() & status.exists()),
        "NOT (attribute_exists(#n0) AND attribute_exists(#n1))",
        {"#n0": "amount", "#n1": "status"},
        {},
    ),
    (
        "not_of_or",
        ~(amount.exists() | status.exists()),
        "NOT (attribute_exists(#n0) OR attribute_exists(#n1))",
        {"#n0": "amount", "#n1": "status"},
        {},
    ),
    (
        "raw_combined",
        Raw("#st = :st", names={"#st": "status"}, values={":st": {"S": "open"}}) & (amount > 1),
        "(#st = :st) AND #n0 > :v0",
        {"#st": "status", "#n0": "amount"},
        {":st": {"S": "open"}, ":v0": {"N": "1"}},
    ),
    ("raw_alone", Raw("attribute_exists(id)"), "attribute_exists(id)", {}, {}),
]


@pytest.mark.parametrize(
    ("cond", "expected", "names", "values"),
    [pytest.param(*row[1:], id=row[0]) for row in CONDITIONS],
)
def test_render_condition_matches_row(
    cond: Condition, expected: str, names: dict[str, str], values: dict[str, Any]
) -> None:
    params = Params()
    assert render_condition(cond, params) == expected
    assert params.names == names
    assert params.values == values


def test_render_condition_uses_codec_when_no_encoder() -> None:
    params = Params()
    cond = (meta["city"] == "Oslo") & tags.contains("vip") & Attr[object](("n",)).is_in([1, Decimal("2.5")])
    text = render_condition(cond, params)
    assert text == "#n0.#n1 = :v0 AND contains(#n2, :v1) AND #n3 IN (:v2, :v3)"
    assert params.names == {"#n0": "meta", "#n1": "city", "#n2": "tags", "#n3": "n"}
    assert params.values == {
        ":v0": {"S": "Oslo"},
        ":v1": {"S": "vip"},
        ":v2": {"N": "1"},
        ":v3": {"N": "2.5"},
    }


def test_begins_with_bytes_uses_codec_binary() -> None:
    params = Params()
    assert render_condition(Attr(("blob",)).begins_with(b"\x01\x02"), params) == "begins_with(#n0, :v0)"
    assert params.values == {":v0": {"B": "AQI="}}


# ------------------------------------------------------------------------------------------------ updates

UPDATES: list[tuple[str, list[Update], str, dict[str, str], dict[str, Any]]] = [
    ("set_value", [status.set("paid")], "SET #n0 = :v0", {"#n0": "status"}, {":v0": {"S": "paid"}}),
    ("set_attr", [amount.set(other)], "SET #n0 = #n1", {"#n0": "amount", "#n1": "other"}, {}),
    ("set_plus", [amount.set(amount + 1)], "SET #n0 = #n0 + :v0", N, {":v0": {"N": "1"}}),
    ("set_minus", [amount.set(amount - 2)], "SET #n0 = #n0 - :v0", N, {":v0": {"N": "2"}}),
    ("set_rplus", [amount.set(3 + amount)], "SET #n0 = :v0 + #n0", N, {":v0": {"N": "3"}}),
    ("set_rminus", [amount.set(3 - amount)], "SET #n0 = :v0 - #n0", N, {":v0": {"N": "3"}}),
    (
        "set_attr_plus_attr",
        [amount.set(amount + other)],
        "SET #n0 = #n0 + #n1",
        {"#n0": "amount", "#n1": "other"},
        {},
    ),
    (
        "set_if_not_exists",
        [amount.set_if_not_exists(0)],
        "SET #n0 = if_not_exists(#n0, :v0)",
        N,
        {":v0": {"N": "0"}},
    ),
    (
        "set_if_not_exists_operand",
        [amount.set(other.if_not_exists(7))],
        "SET #n0 = if_not_exists(#n1, :v0)",
        {"#n0": "amount", "#n1": "other"},
        {":v0": {"N": "7"}},
    ),
    (
        "counter_from_nothing",
        [amount.set(amount.if_not_exists(0) + 1)],
        "SET #n0 = if_not_exists(#n0, :v0) + :v1",
        N,
        {":v0": {"N": "0"}, ":v1": {"N": "1"}},
    ),
    ("remove", [status.remove()], "REMOVE #n0", {"#n0": "status"}, {}),
    ("remove_list_element", [items[3].remove()], "REMOVE #n0[3]", {"#n0": "items"}, {}),
    ("add_number", [amount.add(5)], "ADD #n0 :v0", N, {":v0": {"N": "5"}}),
    ("add_negative", [amount.add(-5)], "ADD #n0 :v0", N, {":v0": {"N": "-5"}}),
    ("add_set", [tags.add({"b", "a"})], "ADD #n0 :v0", {"#n0": "tags"}, {":v0": {"SS": ["a", "b"]}}),
    ("delete_set", [tags.delete({"a"})], "DELETE #n0 :v0", {"#n0": "tags"}, {":v0": {"SS": ["a"]}}),
    (
        "append",
        [items.append([1, 2])],
        "SET #n0 = list_append(#n0, :v0)",
        {"#n0": "items"},
        {":v0": {"L": [{"N": "1"}, {"N": "2"}]}},
    ),
    (
        "prepend",
        [items.prepend([0])],
        "SET #n0 = list_append(:v0, #n0)",
        {"#n0": "items"},
        {":v0": {"L": [{"N": "0"}]}},
    ),
    (
        "nested_set",
        [meta["city"].set("Oslo"), items[0].set(1)],
        "SET #n0.#n1 = :v0, #n2[0] = :v1",
        {"#n0": "meta", "#n1": "city", "#n2": "items"},
        {":v0": {"S": "Oslo"}, ":v1": {"N": "1"}},
    ),
    (
        "sibling_paths_allowed",
        [meta["a"].remove(), meta["b"].remove(), items[0].remove(), items[1].remove()],
        "REMOVE #n0.#n1, #n0.#n2, #n3[0], #n3[1]",
        {"#n0": "meta", "#n1": "a", "#n2": "b", "#n3": "items"},
        {},
    ),
    (
        "grouped_in_clause_order",
        [tags.delete({"x"}), status.remove(), amount.add(1), other.set(2), items.append([3])],
        "SET #n3 = :v2, #n4 = list_append(#n4, :v3) REMOVE #n1 ADD #n2 :v1 DELETE #n0 :v0",
        {"#n0": "tags", "#n1": "status", "#n2": "amount", "#n3": "other", "#n4": "items"},
        {":v0": {"SS": ["x"]}, ":v1": {"N": "1"}, ":v2": {"N": "2"}, ":v3": {"L": [{"N": "3"}]}},
    ),
]


@pytest.mark.parametrize(
    ("actions", "expected", "names", "values"),
    [pytest.param(*row[1:], id=row[0]) for row in UPDATES],
)
def test_render_update_matches_row(
    actions: list[Update], expected: str, names: dict[str, str], values: dict[str, Any]
) -> None:
    params = Params()
    assert render_update(actions, params) == expected
    assert params.names == names
    assert params.values == values


def test_update_exposes_its_path() -> None:
    assert amount.set(1).path == ("amount",)
    assert meta["a"][0].remove().path == ("meta", "a", 0)
    assert tags.delete({"x"}).path == ("tags",)


# ---------------------------------------------------------------------------------------- key conditions

pk: Attr[str] = Attr(("pk",), _enc)
sk: Attr[str] = Attr(("sk",), _enc)

KEY_CONDITIONS: list[tuple[str, Condition, str | None, str]] = [
    ("pk_only", pk == "p1", None, "#n0 = :v0"),
    ("pk_only_with_sk_table", pk == "p1", "sk", "#n0 = :v0"),
    ("pk_and_sk_eq", (pk == "p1") & (sk == "a"), "sk", "#n0 = :v0 AND #n1 = :v1"),
    ("sk_first", (sk > "a") & (pk == "p1"), "sk", "#n0 > :v0 AND #n1 = :v1"),
    ("sk_lt", (pk == "p1") & (sk < "a"), "sk", "#n0 = :v0 AND #n1 < :v1"),
    ("sk_le", (pk == "p1") & (sk <= "a"), "sk", "#n0 = :v0 AND #n1 <= :v1"),
    ("sk_ge", (pk == "p1") & (sk >= "a"), "sk", "#n0 = :v0 AND #n1 >= :v1"),
    ("sk_between", (pk == "p1") & sk.between("a", "b"), "sk", "#n0 = :v0 AND #n1 BETWEEN :v1 AND :v2"),
    ("sk_begins_with", (pk == "p1") & sk.begins_with("pay_"), "sk", "#n0 = :v0 AND begins_with(#n1, :v1)"),
    ("raw_passes_through", Raw("#p = :p", names={"#p": "pk"}, values={":p": {"S": "x"}}), "sk", "#p = :p"),
]


@pytest.mark.parametrize(
    ("cond", "sort_key", "expected"), [pytest.param(*row[1:], id=row[0]) for row in KEY_CONDITIONS]
)
def test_render_key_condition_matches_row(cond: Condition, sort_key: str | None, expected: str) -> None:
    assert render_key_condition(cond, Params(), pk="pk", sk=sort_key) == expected


KEY_ERRORS: list[tuple[str, Any, str]] = [
    ("no_pk", sk == "a", "must test the partition key 'pk' with ="),
    ("pk_not_eq", pk > "a", "is not allowed"),
    ("pk_begins_with", pk.begins_with("a"), "is not allowed"),
    ("pk_twice", (pk == "a") & (pk == "b"), "partition key 'pk' twice"),
    ("sk_twice", (pk == "a") & (sk > "a") & (sk < "b"), "sort key 'sk' twice"),
    ("sk_missing_pk", (sk == "a") & sk.exists(), "is not allowed"),
    ("or", (pk == "a") | (pk == "b"), "is not allowed"),
    ("not", ~(pk == "a"), "is not allowed"),
    ("ne", (pk == "a") & (sk != "b"), "is not allowed"),
    ("in", (pk == "a") & sk.is_in(["b"]), "is not allowed"),
    ("other_attr", (pk == "a") & (amount > 1), "is not allowed"),
    ("attr_operand", pk == status, "is not allowed"),
    ("not_a_condition", amount, "expected a Condition"),
]


@pytest.mark.parametrize(("cond", "match"), [pytest.param(*row[1:], id=row[0]) for row in KEY_ERRORS])
def test_render_key_condition_raises_when_not_a_key_condition(cond: Any, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        render_key_condition(cond, Params(), pk="pk", sk="sk")


def test_render_key_condition_refuses_sort_key_test_without_sort_key() -> None:
    with pytest.raises(ValidationError, match=r"expected pk = value$"):
        render_key_condition((pk == "a") & (sk == "b"), Params(), pk="pk")


def test_key_condition_error_names_the_part_not_its_values() -> None:
    with pytest.raises(ValidationError) as info:
        render_key_condition((pk == "secret-pk") & (amount > 41), Params(), pk="pk", sk="sk")
    assert "amount > ?" in str(info.value)
    assert "secret" not in str(info.value)
    assert "41" not in str(info.value)


# --------------------------------------------------------------------------------------------- projection

PROJECTIONS: list[tuple[str, list[Attr[Any]], str, dict[str, str]]] = [
    ("one", [amount], "#n0", N),
    ("several", [amount, status], "#n0, #n1", {"#n0": "amount", "#n1": "status"}),
    (
        "nested",
        [meta["city"], items[2], meta["zip"]],
        "#n0.#n1, #n2[2], #n0.#n3",
        {"#n0": "meta", "#n1": "city", "#n2": "items", "#n3": "zip"},
    ),
]


@pytest.mark.parametrize(
    ("attrs", "expected", "names"),
    [pytest.param(*row[1:], id=row[0]) for row in PROJECTIONS],
)
def test_render_projection_matches_row(attrs: list[Attr[Any]], expected: str, names: dict[str, str]) -> None:
    params = Params()
    assert render_projection(attrs, params) == expected
    assert params.names == names
    assert params.values == {}


# ------------------------------------------------------------------------------------------------- params


def test_params_never_collide_across_one_request() -> None:
    params = Params()
    key = render_condition((Attr(("pk",), _enc) == "p1") & status.begins_with("pa"), params)
    update = render_update([status.set("paid"), amount.add(5)], params)
    condition = render_condition((status == "pending") & (amount > 0), params)
    projection = render_projection([status, amount, meta["city"]], params)
    assert key == "#n0 = :v0 AND begins_with(#n1, :v1)"
    assert update == "SET #n1 = :v2 ADD #n2 :v3"
    assert condition == "#n1 = :v4 AND #n2 > :v5"
    assert projection == "#n1, #n2, #n3.#n4"
    assert params.names == {"#n0": "pk", "#n1": "status", "#n2": "amount", "#n3": "meta", "#n4": "city"}
    assert list(params.values) == [f":v{i}" for i in range(6)]
    assert params.values[":v2"] == {"S": "paid"}
    assert params.values[":v4"] == {"S": "pending"}


def test_params_apply_sets_only_non_empty_maps() -> None:
    payload: dict[str, Any] = {}
    Params().apply(payload)
    assert payload == {}
    params = Params()
    render_condition(amount.exists(), params)
    params.apply(payload)
    assert payload == {"ExpressionAttributeNames": {"#n0": "amount"}}
    render_condition(amount == 1, params)
    params.apply(payload)
    assert payload["ExpressionAttributeValues"] == {":v0": {"N": "1"}}


def test_params_name_and_value_number_in_order() -> None:
    params = Params()
    assert [params.name("a"), params.name("b"), params.name("a")] == ["#n0", "#n1", "#n0"]
    assert [params.value({"S": "x"}), params.value({"S": "x"})] == [":v0", ":v1"]


def test_raw_placeholders_reused_with_same_meaning_are_accepted() -> None:
    raw = Raw("#s = :s", names={"#s": "status"}, values={":s": {"S": "a"}})
    params = Params()
    assert render_condition(raw & raw, params) == "(#s = :s) AND (#s = :s)"
    assert params.names == {"#s": "status"}


@pytest.mark.parametrize(
    ("second", "match"),
    [
        pytest.param(Raw("#s = :x", names={"#s": "other"}, values={":x": {"S": "a"}}), "#s", id="name"),
        pytest.param(Raw("#t = :s", names={"#t": "status"}, values={":s": {"S": "b"}}), ":s", id="value"),
    ],
)
def test_render_condition_raises_when_raw_placeholders_collide(second: Raw, match: str) -> None:
    first = Raw("#s = :s", names={"#s": "status"}, values={":s": {"S": "a"}})
    with pytest.raises(ValidationError, match=f"{match} is already used"):
        render_condition(first & second, Params())


# ------------------------------------------------------------------------------------------- validation


def _deep_meta(depth: int) -> Attr[object]:
    """`meta["k"]["k"]...`: a path of `depth` + 1 segments."""
    attr: Attr[object] = meta  # type: ignore[assignment]  # only the path matters here
    for _ in range(depth):
        attr = attr["k"]
    return attr


def _big_in() -> object:
    return amount.is_in(range(101))


VALIDATION: list[tuple[str, Any, str]] = [
    ("empty_path", lambda: Attr(()), "at least one segment"),
    ("path_starts_with_index", lambda: Attr((0, "a")), "starts with an attribute name"),
    ("empty_name", lambda: Attr(("a", "")), "must not be empty"),
    ("negative_index", lambda: Attr(("a", -1)), "from 0 to 2147483647"),
    ("index_over_int32", lambda: items[2**31], "from 0 to 2147483647"),
    ("path_over_32_levels", lambda: Attr(("a", *["b"] * 32)), "at most 32 levels"),
    ("getitem_over_32_levels", lambda: _deep_meta(31)["x"], "at most 32 levels"),
    ("getitem_empty_map_key", lambda: meta[""], "must not be empty"),
    ("lone_surrogate_name", lambda: meta["\ud800"], "valid Unicode"),
    ("bool_index", lambda: Attr(("a", True)), "not bool"),
    ("float_segment", lambda: Attr(("a", 1.5)), "not float"),  # type: ignore[arg-type]
    ("getitem_float", lambda: meta[1.5], "map key"),  # type: ignore[index]
    ("getitem_bool", lambda: items[True], "map key"),
    ("is_in_empty", lambda: amount.is_in([]), "at least one value"),
    ("is_in_over_100", _big_in, "at most 100"),
    ("is_in_string", lambda: status.is_in("abc"), "list, tuple or set"),
    ("is_in_scalar", lambda: amount.is_in(5), "list, tuple or set"),  # type: ignore[arg-type]
    ("begins_with_number", lambda: status.begins_with(5), "str or bytes"),  # type: ignore[arg-type]
    ("attribute_type_unknown", lambda: amount.attribute_type("X"), "one of"),  # type: ignore[arg-type]
    ("and_with_bool", lambda: amount.exists() & True, "& combines two conditions"),  # type: ignore[operator]
    ("rand_with_bool", lambda: True & amount.exists(), "& combines two conditions"),
    ("or_with_none", lambda: amount.exists() | None, r"\| combines two conditions"),  # type: ignore[operator]
    ("ror_with_int", lambda: 1 | amount.exists(), r"\| combines two conditions"),
    ("add_string", lambda: status.add("x"), "number or a non-empty set"),
    ("add_bool", lambda: amount.add(True), "number or a non-empty set"),
    ("add_empty_set", lambda: tags.add(set()), "empty set"),
    ("add_to_string_stored_number", lambda: code.add(5), "number or set attribute"),  # type: ignore[arg-type]
    ("delete_number", lambda: amount.delete(5), "non-empty set"),
    ("delete_empty_set", lambda: tags.delete(set()), "empty set"),
    (
        "delete_from_non_set",
        lambda: Attr[set[str]](("x",), _as_string).delete({"a"}),
        "needs a set attribute",
    ),
    ("append_string", lambda: items.append("ab"), "takes a list"),  # type: ignore[arg-type]
    ("append_to_non_list", lambda: code.append(["a"]), "needs a list attribute"),  # type: ignore[arg-type]
    ("prepend_dict", lambda: items.prepend({}), "takes a list"),  # type: ignore[arg-type]
    ("plus_string", lambda: amount + "x", "takes a number"),  # type: ignore[operator]
    ("plus_bool", lambda: amount + True, "takes a number"),
    ("plus_on_string_stored_number", lambda: code + 1, "needs a number attribute"),  # type: ignore[operator]
    ("nested_arithmetic", lambda: amount + (other + 1), "one \\+ per SET value"),
    ("if_not_exists_plus_string", lambda: amount.if_not_exists(0) + "x", "takes a number"),
    ("size_in_update", lambda: amount.set(tags.size()), "Size cannot be used in an update"),
    ("arith_in_condition", lambda: amount == other + 1, "Arith cannot be used in a condition"),
    ("if_not_exists_in_condition", lambda: amount > other.if_not_exists(1), "IfNotExists cannot be used"),
    ("size_vs_string", lambda: tags.size() > "2", "int or another operand"),  # type: ignore[operator]
    ("size_vs_bool", lambda: tags.size() == True, "int or another operand"),  # noqa: E712
    ("encoder_failure", lambda: amount == object(), "cannot encode a object"),
    ("codec_failure", lambda: meta["x"] == object(), "cannot encode|object"),
    ("f_of_value", lambda: F(5), "F\\(\\) takes a model class attribute"),
    ("size_of_value", lambda: size("tags"), "size\\(\\) takes a model attribute"),
    ("raw_empty", lambda: Raw("  "), "non-empty expression"),
    ("raw_undeclared", lambda: Raw("#a = :b", names={"#a": "a"}), "undeclared placeholders: :b"),
    ("raw_unused", lambda: Raw("#a = :b", names={"#a": "a", "#c": "c"}, values={":b": {"S": "x"}}), "unused"),
    ("raw_reserved_name", lambda: Raw("attribute_exists(#n0)", names={"#n0": "a"}), "shape aiotheory"),
    ("raw_reserved_value", lambda: Raw("#a = :v1", names={"#a": "a"}, values={":v1": {"S": "x"}}), "shape"),
    ("raw_bad_name", lambda: Raw("#a-b = :x", names={"#a-b": "a"}, values={":x": {"S": "1"}}), "#name"),
    ("raw_bad_value_key", lambda: Raw("#a = :x", names={"#a": "a"}, values={"x": {"S": "1"}}), ":value"),
    ("raw_value_not_av", lambda: Raw("#a = :x", names={"#a": "a"}, values={":x": "1"}), "AttributeValue"),  # type: ignore[dict-item]
    (
        "raw_value_bad_tag",
        lambda: Raw("#a = :x", names={"#a": "a"}, values={":x": {"Q": 1}}),
        "AttributeValue",
    ),
    ("raw_empty_target", lambda: Raw("#a = :x", names={"#a": ""}, values={":x": {"S": "1"}}), "non-empty"),
    ("raw_too_long", lambda: Raw("attribute_exists(x)" + " " * 4096), "longer than 4096"),
    (
        "raw_long_placeholder",
        lambda: Raw("attribute_exists(#" + "a" * 255 + ")", names={"#" + "a" * 255: "a"}),
        "255 bytes",
    ),
]


@pytest.mark.parametrize(("build", "match"), [pytest.param(*row[1:], id=row[0]) for row in VALIDATION])
def test_build_raises_validation_error_when_input_is_bad(build: Any, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        build()


RENDER_ERRORS: list[tuple[str, Any, str]] = [
    ("condition_not_a_condition", lambda p: render_condition(amount, p), "expected a Condition"),  # type: ignore[arg-type]
    ("update_empty", lambda p: render_update([], p), "at least one action"),
    ("update_with_condition", lambda p: render_update([status == "x"], p), "use .set"),  # type: ignore[list-item]
    ("update_same_path", lambda p: render_update([amount.set(1), amount.add(1)], p), "overlap at amount"),
    (
        "update_prefix_path",
        lambda p: render_update([meta.set({}), meta["city"].remove()], p),
        "overlap at meta.city",
    ),
    (
        "update_path_inside_earlier",
        lambda p: render_update([meta["a"]["b"].remove(), meta["a"].set("x")], p),
        "overlap at meta.a",
    ),
    (
        "update_list_and_map",
        lambda p: render_update([items[0].remove(), items["x"].remove()], p),
        "conflict at items",
    ),
    ("projection_empty", lambda p: render_projection([], p), "at least one attribute"),
    ("projection_not_attr", lambda p: render_projection(["amount"], p), "must be attributes"),  # type: ignore[list-item]
    ("projection_overlap", lambda p: render_projection([meta, meta["city"]], p), "overlap"),
    ("projection_duplicate", lambda p: render_projection([amount, amount], p), "overlap"),
]


@pytest.mark.parametrize(("run", "match"), [pytest.param(*row[1:], id=row[0]) for row in RENDER_ERRORS])
def test_render_raises_validation_error_when_expression_is_invalid(run: Any, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        run(Params())


def test_bool_of_condition_raises_type_error() -> None:
    cond = amount == 1
    with pytest.raises(TypeError, match="no truth value"):
        bool(cond)
    with pytest.raises(TypeError, match="no truth value"):
        _ = cond and (amount == 2)
    with pytest.raises(TypeError, match="no truth value"):
        assert amount != 1


def test_bool_of_update_and_size_raises_type_error() -> None:
    with pytest.raises(TypeError, match="no truth value"):
        bool(amount.set(1))
    with pytest.raises(TypeError, match="no truth value"):
        bool(tags.size())


def test_attr_is_not_iterable_and_has_no_membership() -> None:
    with pytest.raises(TypeError, match="not iterable"):
        list(tags)
    with pytest.raises(TypeError, match=r"use \.contains"):
        _ = "x" in tags


def test_validation_messages_never_contain_values() -> None:
    secret = "s3cr3t-card-4111"

    def leaky_encoder(v: object) -> dict[str, Any]:
        raise TypeError(f"cannot encode {v!r}")

    with pytest.raises(ValidationError) as info:
        _ = Attr(("card",), leaky_encoder) == secret
    assert secret not in str(info.value)
    assert isinstance(info.value.__cause__, TypeError)
    cond = (status == secret) & amount.is_in([4111])
    for text in (str(cond), repr(cond)):
        assert secret not in text
        assert "4111" not in text
    assert secret not in repr(status.set(secret))


# ------------------------------------------------------------------------------------------------- limits


def _raw_of_length(n: int) -> Raw:
    core = "attribute_exists(x)"
    return Raw(core + " " * (n - len(core)))


def test_condition_at_4096_bytes_is_accepted() -> None:
    assert len(render_condition(_raw_of_length(4096), Params())) == 4096


def test_condition_over_4096_bytes_raises() -> None:
    many = functools.reduce(operator.and_, [Attr((f"a{i}",), _enc) == i for i in range(300)])
    with pytest.raises(ValidationError, match="at most 4096 bytes"):
        render_condition(many, Params())


def test_condition_length_counts_utf8_bytes_not_characters() -> None:
    # "(e1) AND (attribute_exists(y))": 28 bytes around e1; e1 holds 100 two-byte characters.
    e1 = "attribute_exists(x)" + "\u00e9" * 100 + " " * 3850
    cond = Raw(e1) & Raw("attribute_exists(y)")
    assert len(str(cond)) < 4096 < len(str(cond).encode())
    with pytest.raises(ValidationError, match="4097 bytes"):
        render_condition(cond, Params())


def test_update_over_4096_bytes_raises() -> None:
    actions = [Attr[int]((f"a{i}",), _enc).set(i) for i in range(400)]
    with pytest.raises(ValidationError, match=r"update expression is .* at most 4096 bytes"):
        render_update(actions, Params())


def test_projection_over_4096_bytes_raises() -> None:
    attrs = [Attr[object]((f"a{i}",)) for i in range(800)]
    with pytest.raises(ValidationError, match=r"projection expression is .* at most 4096 bytes"):
        render_projection(attrs, Params())


def test_is_in_accepts_exactly_100_values() -> None:
    params = Params()
    render_condition(amount.is_in(range(100)), params)
    assert len(params.values) == 100


# --------------------------------------------------------------------------------------------- Attr & F


def test_attr_hashes_by_identity_and_eq_builds_a_condition() -> None:
    twin: Attr[int] = Attr(("amount",), _enc)
    table = {amount: "a", twin: "b"}
    assert table[amount] == "a"
    assert table[twin] == "b"
    assert isinstance(amount == twin, Condition)


def test_attr_is_immutable() -> None:
    with pytest.raises(AttributeError, match="immutable"):
        amount.path = ("x",)
    with pytest.raises(AttributeError, match="immutable"):
        del amount.encode


def test_f_is_the_identity_on_attributes() -> None:
    assert F(amount) is amount


def test_getitem_stores_plain_segments_when_given_enum_members() -> None:
    attr = meta[_Key.city]["x"]
    indexed = items[_Slot.second]
    assert [type(s) for s in (*attr.path, *indexed.path)] == [str, str, str, str, int]
    assert indexed.path == ("items", 2)


def test_getitem_accepts_a_path_of_32_levels() -> None:
    attr = _deep_meta(31)
    assert len(attr.path) == 32
    params = Params()
    assert render_condition(attr.exists(), params) == "attribute_exists(#n0" + ".#n1" * 31 + ")"


def test_getitem_extends_the_path_with_dynamic_encoding() -> None:
    sub = meta["city"][0]
    assert sub.path == ("meta", "city", 0)
    assert sub.encode is None


def test_nested_model_fields_resolve_through_nested() -> None:
    class Address:
        city: Attr[str] = Attr(("city_s",), _as_string, field="city")

    class Payment:
        pass

    address: Attr[Any] = Attr(("addr",), _enc, field="address", model=Payment, nested=Address)
    city: Attr[str] = getattr(address, "city")  # noqa: B009  # __getattr__ is hidden from checkers
    assert city.path == ("addr", "city_s")
    assert repr(city) == "Attr(Payment.address.city)"
    params = Params()
    assert render_condition(city == 5, params) == "#n0.#n1 = :v0"
    assert params.values == {":v0": {"S": "5"}}  # the nested field's own encoder
    with pytest.raises(AttributeError, match="no nested field 'zip'"):
        getattr(address, "zip")  # noqa: B009
    with pytest.raises(AttributeError):
        getattr(amount, "city")  # noqa: B009
    with pytest.raises(AttributeError):
        getattr(address, "_private")  # noqa: B009


def test_repr_and_debug_are_readable() -> None:
    assert repr(amount) == "Attr(amount)"
    assert repr(Attr(("a", 0, "b c"))) == 'Attr(a[0]."b c")'
    cond = (amount > 5) & ~meta["city"].exists() | status.is_in(["a", "b"])
    assert str(cond) == "amount > ? AND NOT attribute_exists(meta.city) OR status IN (?, ?)"
    assert repr(cond) == f"<Condition {cond}>"
    assert (
        cond.debug(show_values=True)
        == 'amount > 5 AND NOT attribute_exists(meta.city) OR status IN ("a", "b")'
    )
    assert str(amount.set(amount + 1)) == "SET amount = amount + ?"
    assert tags.add({"x"}).debug(show_values=True) == 'ADD tags {"SS":["x"]}'
    assert repr(tags.delete({"x"})) == "<Update DELETE tags ?>"
    assert repr(tags.size()) == "<Size size(tags)>"


def test_import_loads_no_async_transport_or_pydantic() -> None:
    code = (
        "import sys, aiotheory.expr as e\n"
        "e.Attr(('a',)).exists()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'asyncio', 'anyio', 'pydantic', 'botocore', 'aiobotocore', 'aiohttp'} "
        "or m in {'aiotheory.codec', 'aiotheory.transport', 'aiotheory.model'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ------------------------------------------------------------------------------ operator limit


@pytest.mark.parametrize(
    ("expression", "operators"),
    [
        ("#a = :v0", 1),
        ("#a = :v0 OR #a = :v1", 3),
        ("NOT (#a = :v0)", 2),
        ("#a BETWEEN :l AND :h", 1),  # BETWEEN's own AND is part of it
        ("#a BETWEEN :l AND :h AND #b = :c", 3),
        ("attribute_exists(#and) AND #or IN (:a, :b)", 3),  # placeholders named like keywords
        ("size(#a) > :v", 2),
        ("begins_with(#a, :v) and contains(#b, :c)", 3),  # keywords are case-insensitive
        ("#a <> :v AND #b >= :w", 3),
    ],
)
def test_count_operators_counts_as_dynamodb_does(expression: str, operators: int) -> None:
    from aiotheory.expr._render import count_operators

    assert count_operators(expression) == operators


def test_render_condition_refuses_more_than_300_operators() -> None:
    from functools import reduce

    amount = Attr(("amount",))
    ok = reduce(lambda a, b: a | b, [amount == i for i in range(150)])  # 150 "=" + 149 OR = 299
    assert render_condition(ok, Params()).count(" OR ") == 149
    too_many = ok | (amount == 150)  # 151 "=" + 150 OR = 301
    with pytest.raises(ValidationError, match="301 operators"):
        render_condition(too_many, Params())
