"""Structural passes over condition nodes: what a key condition says, and which attributes a condition reads.

`analyse_key_condition` checks that a condition is one DynamoDB accepts as a KeyConditionExpression
(`pk = value`, optionally AND one sort key test) and returns the partition value and the kind of sort
test, read from the nodes rather than from rendered text. `attribute_heads` names the top-level
attributes a condition reads. Imports only `errors` and this package's modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from aiotheory.errors import ValidationError

from ._attr import Attr
from ._nodes import (
    And,
    Arith,
    Between,
    Call,
    Compare,
    Condition,
    IfNotExists,
    In,
    ListAppend,
    Not,
    Operand,
    Or,
    Raw,
    Size,
    Value,
)

if TYPE_CHECKING:
    from aiotheory._types import AttributeValue

__all__ = ["KeyCondition", "SortTest", "analyse_key_condition", "attribute_heads"]

#: The sort key tests DynamoDB accepts in a key condition.
SortTest = Literal["=", "<", "<=", ">", ">=", "between", "begins_with"]

_SORT_KEY_OPS: Final = frozenset({"=", "<", "<=", ">", ">="})


@dataclass(frozen=True, slots=True)
class KeyCondition:
    """What a key condition reads: the partition key's value and the sort key test, if any.

    Both are None for a `Raw` key condition, which is passed through unchecked.
    """

    partition: AttributeValue | None
    sort: SortTest | None


_RAW: Final = KeyCondition(None, None)


def analyse_key_condition(cond: Condition, *, pk: str, sk: str | None = None) -> KeyCondition:
    """Check `cond` is a key condition of the keys `pk`/`sk` (stored names) and say what it tests.

    Raises:
        ValidationError: anything DynamoDB does not accept as a key condition (a non-key attribute,
            the partition key tested twice or not with `=`, a second sort key test, `<>`, OR, NOT, ...).
    """
    if isinstance(cond, Raw):
        return _RAW
    if not isinstance(cond, Condition):
        raise ValidationError(f"expected a Condition, got {type(cond).__name__}")
    parts = cond.items if isinstance(cond, And) else (cond,)
    partition: AttributeValue | None = None
    sort: SortTest | None = None
    for part in parts:
        value = _partition_value(part, pk)
        if value is not None:
            if partition is not None:
                raise ValidationError(f"key condition tests the partition key {pk!r} twice")
            partition = value
            continue
        test = None if sk is None else _sort_test(part, sk)
        if test is None:
            expected = f"{pk} = value" + ("" if sk is None else f" and optionally one test on {sk}")
            raise ValidationError(f"key condition part {part} is not allowed; expected {expected}")
        if sort is not None:
            raise ValidationError(f"key condition tests the sort key {sk!r} twice")
        sort = test
    if partition is None:
        raise ValidationError(f"key condition must test the partition key {pk!r} with =")
    return KeyCondition(partition, sort)


def _is_key(operand: Operand, name: str) -> bool:
    return isinstance(operand, Attr) and operand.path == (name,)


def _partition_value(part: Condition, pk: str) -> AttributeValue | None:
    if isinstance(part, Compare) and part.op == "=" and _is_key(part.left, pk):
        right = part.right
        if isinstance(right, Value):
            return right.av
    return None


def _sort_test(part: Condition, sk: str) -> SortTest | None:
    if isinstance(part, Compare):
        if part.op in _SORT_KEY_OPS and isinstance(part.right, Value) and _is_key(part.left, sk):
            return part.op  # type: ignore[return-value]  # one of _SORT_KEY_OPS
        return None
    if isinstance(part, Between):
        if _is_key(part.operand, sk) and isinstance(part.low, Value) and isinstance(part.high, Value):
            return "between"
        return None
    if isinstance(part, Call) and part.function == "begins_with" and part.path == (sk,):
        return "begins_with"
    return None


def attribute_heads(cond: Condition) -> frozenset[str]:
    """The first name of every attribute path `cond` reads (a `Raw` part's own names are not seen)."""
    heads: set[str] = set()
    _condition_heads(cond, heads)
    return frozenset(heads)


def _condition_heads(cond: Condition, heads: set[str]) -> None:
    if isinstance(cond, And | Or):
        for item in cond.items:
            _condition_heads(item, heads)
    elif isinstance(cond, Not):
        _condition_heads(cond.item, heads)
    elif isinstance(cond, Compare):
        _operand_heads(cond.left, heads)
        _operand_heads(cond.right, heads)
    elif isinstance(cond, Between):
        _operand_heads(cond.operand, heads)
        _operand_heads(cond.low, heads)
        _operand_heads(cond.high, heads)
    elif isinstance(cond, In):
        _operand_heads(cond.operand, heads)
        for option in cond.options:
            _operand_heads(option, heads)
    elif isinstance(cond, Call):
        _path_head(cond.path, heads)
        if cond.arg is not None:
            _operand_heads(cond.arg, heads)


def _operand_heads(operand: Operand, heads: set[str]) -> None:
    if isinstance(operand, Attr | Size):
        _path_head(operand.path, heads)
    elif isinstance(operand, Arith):
        _operand_heads(operand.left, heads)
        _operand_heads(operand.right, heads)
    elif isinstance(operand, IfNotExists):
        _path_head(operand.path, heads)
        _operand_heads(operand.default, heads)
    elif isinstance(operand, ListAppend):
        _operand_heads(operand.first, heads)
        _operand_heads(operand.second, heads)


def _path_head(path: tuple[str | int, ...], heads: set[str]) -> None:
    head = path[0]
    if isinstance(head, str):
        heads.add(head)
