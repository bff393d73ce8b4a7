"""aiotheory/expr/_keys.py: key-condition analysis and the attributes a condition reads, table-driven."""

from __future__ import annotations

from typing import Annotated

import pytest

from aiotheory import PK, SK, Model, Stored, ValidationError
from aiotheory.expr import Condition, F, Raw
from aiotheory.expr._keys import KeyCondition, analyse_key_condition, attribute_heads


class Reading(Model, table="readings"):
    sensor: Annotated[str, PK]
    at: Annotated[str, SK]
    value: int = 0
    meta: Annotated[dict[str, str], Stored("m")] = {}
    tags: list[str] = []


S = F(Reading.sensor)
AT = F(Reading.at)
V = F(Reading.value)

ANALYSED: list[tuple[str, Condition, KeyCondition]] = [
    ("pk only", S == "s1", KeyCondition({"S": "s1"}, None)),
    ("pk and =", (S == "s1") & (AT == "a"), KeyCondition({"S": "s1"}, "=")),
    ("sort first", (AT < "a") & (S == "s2"), KeyCondition({"S": "s2"}, "<")),
    ("<=", (S == "s1") & (AT <= "a"), KeyCondition({"S": "s1"}, "<=")),
    (">", (S == "s1") & (AT > "a"), KeyCondition({"S": "s1"}, ">")),
    (">=", (S == "s1") & (AT >= "a"), KeyCondition({"S": "s1"}, ">=")),
    ("between", (S == "s1") & AT.between("a", "b"), KeyCondition({"S": "s1"}, "between")),
    ("begins_with", (S == "s1") & AT.begins_with("a"), KeyCondition({"S": "s1"}, "begins_with")),
    ("raw", Raw("#p = :p", names={"#p": "sensor"}, values={":p": {"S": "x"}}), KeyCondition(None, None)),
]


@pytest.mark.parametrize(
    ("cond", "expected"), [row[1:] for row in ANALYSED], ids=[row[0] for row in ANALYSED]
)
def test_analyse_key_condition_returns_partition_and_sort_test_when_the_condition_is_a_key_condition(
    cond: Condition, expected: KeyCondition
) -> None:
    assert analyse_key_condition(cond, pk="sensor", sk="at") == expected


REFUSED: list[tuple[str, Condition, str | None, str]] = [
    ("no partition", AT == "a", "at", "must test the partition key"),
    ("partition twice", (S == "a") & (S == "b"), "at", "partition key 'sensor' twice"),
    ("sort twice", (S == "a") & (AT > "a") & (AT < "z"), "at", "sort key 'at' twice"),
    ("partition with <", S < "a", "at", "not allowed"),
    ("<> on sort", (S == "a") & (AT != "a"), "at", "not allowed"),
    ("IN on sort", (S == "a") & AT.is_in(["a", "b"]), "at", "not allowed"),
    ("OR", (S == "a") | (AT == "x"), "at", "not allowed"),
    ("NOT", ~(S == "a"), "at", "not allowed"),
    ("non-key attribute", (S == "a") & (V > 1), "at", "not allowed"),
    ("sort test without a sort key", (S == "a") & (AT == "x"), None, "not allowed"),
    (
        "attribute compared with attribute",
        (S == "a") & (F(Reading.at) == F(Reading.value)),
        "at",
        "not allowed",
    ),
    ("contains is no key test", (S == "a") & AT.contains("x"), "at", "not allowed"),
]


@pytest.mark.parametrize(
    ("cond", "sk", "message"), [row[1:] for row in REFUSED], ids=[row[0] for row in REFUSED]
)
def test_analyse_key_condition_raises_when_dynamodb_would_refuse_it(
    cond: Condition, sk: str | None, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        analyse_key_condition(cond, pk="sensor", sk=sk)


def test_analyse_key_condition_raises_when_given_no_condition() -> None:
    with pytest.raises(ValidationError, match="expected a Condition"):
        analyse_key_condition("sensor = :s", pk="sensor")  # type: ignore[arg-type]  # refused at run time


HEADS: list[tuple[str, Condition, frozenset[str]]] = [
    ("compare", V > 1, frozenset({"value"})),
    ("nested path", F(Reading.meta)["city"] == "x", frozenset({"m"})),
    ("list index", F(Reading.tags)[0] == "x", frozenset({"tags"})),
    ("and/or/not", (V > 1) | ~(S == "x") & AT.exists(), frozenset({"value", "sensor", "at"})),
    ("between", V.between(1, 2), frozenset({"value"})),
    ("in", V.is_in([1, 2]), frozenset({"value"})),
    ("size", F(Reading.tags).size() > 2, frozenset({"tags"})),
    ("call with an attribute argument", AT.begins_with("x"), frozenset({"at"})),
    ("attribute against attribute", F(Reading.value) == F(Reading.sensor), frozenset({"value", "sensor"})),
    ("raw names are not seen", Raw("#v > :v", names={"#v": "value"}, values={":v": {"N": "1"}}), frozenset()),
]


@pytest.mark.parametrize(("cond", "heads"), [row[1:] for row in HEADS], ids=[row[0] for row in HEADS])
def test_attribute_heads_names_every_top_level_attribute_when_a_condition_reads_it(
    cond: Condition, heads: frozenset[str]
) -> None:
    assert attribute_heads(cond) == heads
