"""Update actions evaluated on the client (aiotheory/expr/_apply.py): rows of (actions, before, after)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import pytest

from aiotheory import PK, F, Model
from aiotheory.expr._apply import Unpredictable, apply_update, idempotent, set_value

if TYPE_CHECKING:
    from aiotheory.expr import Update


class Thing(Model, table="apply_things"):
    id: Annotated[str, PK]
    n: int = 0
    s: str = ""
    tags: set[str] = set()
    nums: set[int] = set()
    items: list[str] = []
    meta: dict[str, Any] = {}


_N, _S, _TAGS, _NUMS, _ITEMS, _META = (
    F(Thing.n),
    F(Thing.s),
    F(Thing.tags),
    F(Thing.nums),
    F(Thing.items),
    F(Thing.meta),
)

ROWS: list[tuple[str, list[Update], dict[str, Any], dict[str, Any], bool]] = [
    ("set value", [_S.set("x")], {}, {"s": {"S": "x"}}, True),
    ("set if_not_exists absent", [_S.set_if_not_exists("x")], {}, {"s": {"S": "x"}}, True),
    ("set if_not_exists present", [_S.set_if_not_exists("x")], {"s": {"S": "y"}}, {"s": {"S": "y"}}, True),
    ("remove", [_S.remove()], {"s": {"S": "y"}}, {}, True),
    ("remove absent", [_S.remove()], {}, {}, True),
    ("add number", [_N.add(5)], {"n": {"N": "10"}}, {"n": {"N": "15"}}, False),
    ("add number absent", [_N.add(5)], {}, {"n": {"N": "5"}}, False),
    ("add set", [_TAGS.add({"b"})], {"tags": {"SS": ["a"]}}, {"tags": {"SS": ["a", "b"]}}, True),
    ("delete set", [_TAGS.delete({"a"})], {"tags": {"SS": ["a", "b"]}}, {"tags": {"SS": ["b"]}}, True),
    ("delete last", [_NUMS.delete({1})], {"nums": {"NS": ["1"]}}, {}, True),
    ("arithmetic", [_N.set(_N + 2)], {"n": {"N": "1"}}, {"n": {"N": "3"}}, False),
    ("arithmetic minus", [_N.set(_N - 2)], {"n": {"N": "1.5"}}, {"n": {"N": "-0.5"}}, False),
    (
        "append",
        [_ITEMS.append(["b"])],
        {"items": {"L": [{"S": "a"}]}},
        {"items": {"L": [{"S": "a"}, {"S": "b"}]}},
        False,
    ),
    (
        "prepend",
        [_ITEMS.prepend(["b"])],
        {"items": {"L": [{"S": "a"}]}},
        {"items": {"L": [{"S": "b"}, {"S": "a"}]}},
        False,
    ),
    ("nested set", [_META["k"].set("v")], {"meta": {"M": {}}}, {"meta": {"M": {"k": {"S": "v"}}}}, True),
    (
        "list index set",
        [_ITEMS[0].set("z")],
        {"items": {"L": [{"S": "a"}]}},
        {"items": {"L": [{"S": "z"}]}},
        False,
    ),
    (
        "list index past the end appends",
        [_ITEMS[5].set("z")],
        {"items": {"L": [{"S": "a"}]}},
        {"items": {"L": [{"S": "a"}, {"S": "z"}]}},
        False,
    ),
    (
        "list index remove",
        [_ITEMS[0].remove()],
        {"items": {"L": [{"S": "a"}, {"S": "b"}]}},
        {"items": {"L": [{"S": "b"}]}},
        False,
    ),
    (
        "copy another attribute",
        [_S.set(F(Thing.id))],
        {"id": {"S": "i"}},
        {"id": {"S": "i"}, "s": {"S": "i"}},
        False,
    ),
    (
        "operands read the item before",
        [_S.set(F(Thing.id)), F(Thing.id).set("new")],
        {"id": {"S": "old"}},
        {"id": {"S": "new"}, "s": {"S": "old"}},
        False,
    ),
]


@pytest.mark.parametrize(("name", "actions", "before", "after", "_"), ROWS, ids=[r[0] for r in ROWS])
def test_apply_update_gives_what_dynamodb_stores(
    name: str, actions: list[Update], before: dict[str, Any], after: dict[str, Any], _: bool
) -> None:
    assert apply_update(actions, before) == after


@pytest.mark.parametrize(("name", "actions", "_b", "_a", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_idempotent_says_whether_twice_is_once(
    name: str, actions: list[Update], _b: dict[str, Any], _a: dict[str, Any], expected: bool
) -> None:
    assert idempotent(actions) is expected


def test_apply_update_leaves_its_input_alone() -> None:
    before = {"tags": {"SS": ["a"]}}
    apply_update([_TAGS.add({"b"})], before)
    assert before == {"tags": {"SS": ["a"]}}


@pytest.mark.parametrize(
    ("actions", "before"),
    [
        ([_N.set(_N + 1)], {}),  # the operand is missing: DynamoDB refuses it too
        ([_ITEMS.append(["b"])], {"items": {"S": "not a list"}}),
        ([_META["a"]["b"].set("v")], {"meta": {"M": {}}}),  # the parent map is missing
        # TableTheory writes an empty set as NULL; DynamoDB Local refuses ADD on it ("incorrect data type").
        ([_TAGS.add({"b"})], {"tags": {"NULL": True}}),
        ([_ITEMS.append(["b"])], {"items": {"NULL": True}}),
    ],
)
def test_apply_update_raises_unpredictable_when_dynamodb_would_refuse(
    actions: list[Update], before: dict[str, Any]
) -> None:
    with pytest.raises(Unpredictable):
        apply_update(actions, before)


def test_set_value_finds_the_constant_set_at_a_path() -> None:
    actions = [_N.add(1), _S.set("stamp")]
    assert set_value(actions, ("s",)) == {"S": "stamp"}
    assert set_value(actions, ("n",)) is None
