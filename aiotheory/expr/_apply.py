"""What update actions do to an item, computed on the client from AttributeValue maps.

Used only when a write's reply was lost: to decide whether resending is safe (`idempotent`) and
whether the stored item shows our update (`apply_update`). Pure functions; imports no I/O.
"""

from __future__ import annotations

import copy
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Final

from ._attr import Attr
from ._nodes import Arith, IfNotExists, ListAppend, PathAction, SetAction, Update, Value, ValueAction

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .._types import AttributeValue, Item
    from ._nodes import Operand

__all__ = ["Unpredictable", "apply_update", "idempotent", "set_value"]

_SET_TAGS: Final = frozenset({"SS", "NS", "BS"})


class Unpredictable(Exception):
    """The actions cannot be evaluated on this item (a missing operand, a type DynamoDB would refuse)."""


def idempotent(actions: Sequence[Update]) -> bool:
    """Whether applying `actions` twice leaves the item as applying them once.

    SET to a constant, SET if_not_exists of the same path, REMOVE of a map attribute, ADD or DELETE of
    set elements are; ADD of a number, list_append, arithmetic, copies from other attributes and any
    action on a list index (an index past the end appends) are not.
    """
    for action in actions:
        if any(isinstance(segment, int) for segment in action.path):
            return False
        kind = type(action)
        if kind is SetAction:
            value = action.value  # type: ignore[attr-defined]  # SetAction has .value
            if type(value) is Value:
                continue
            if type(value) is IfNotExists and value.path == action.path and type(value.default) is Value:
                continue
            return False
        if kind is PathAction:
            continue
        if isinstance(action, ValueAction):
            if next(iter(action.value)) in _SET_TAGS:
                continue  # ADD / DELETE of set elements
            return False
        return False
    return True


def set_value(actions: Sequence[Update], path: tuple[str | int, ...]) -> AttributeValue | None:
    """The constant the actions SET at `path`, if they do (e.g. the UpdatedAt stamp of this call)."""
    for action in actions:
        if isinstance(action, SetAction) and action.path == path and type(action.value) is Value:
            return action.value.av
    return None


def apply_update(actions: Sequence[Update], item: Item) -> Item:
    """The item DynamoDB would store after `actions` (operands read the item as it was before).

    Raises:
        Unpredictable: an operand is missing or of a type the action cannot use.
    """
    out: Item = copy.deepcopy(item)
    for action in actions:
        path = action.path
        if isinstance(action, SetAction):
            _put(out, path, _operand(action.value, item))
        elif type(action) is PathAction:
            _remove(out, path)
        elif isinstance(action, ValueAction):
            current = _get(out, path)
            value = action.value
            ((tag, given),) = value.items()
            if type(action) is not ValueAction:  # DELETE: remove set elements
                if current is None:
                    continue
                left = [e for e in _elements(current, tag) if e not in given]
                if left:
                    _put(out, path, {tag: left})
                else:
                    _remove(out, path)
            elif current is None:
                _put(out, path, copy.deepcopy(value))
            elif tag == "N":
                _put(out, path, {"N": _number(_as_number(current) + _as_number(value))})
            else:
                merged = list(_elements(current, tag))
                merged.extend(e for e in given if e not in merged)
                _put(out, path, {tag: merged})
        else:
            raise Unpredictable(f"unknown update action {type(action).__name__}")
    return out


def _operand(operand: Operand, item: Item) -> AttributeValue:
    kind = type(operand)
    if kind is Value:
        return operand.av  # type: ignore[attr-defined, no-any-return]  # Value has .av
    if isinstance(operand, Attr):
        found = _get(item, operand.path)
        if found is None:
            raise Unpredictable("an operand names an attribute the item lacks")
        return found
    if isinstance(operand, IfNotExists):
        found = _get(item, operand.path)
        return found if found is not None else _operand(operand.default, item)
    if isinstance(operand, Arith):
        left = _as_number(_operand(operand.left, item))
        right = _as_number(_operand(operand.right, item))
        return {"N": _number(left + right if operand.op == "+" else left - right)}
    if isinstance(operand, ListAppend):
        first = _operand(operand.first, item).get("L")
        second = _operand(operand.second, item).get("L")
        if first is None or second is None:
            raise Unpredictable("list_append of something that is not a list")
        return {"L": [*first, *second]}
    raise Unpredictable(f"unknown update operand {kind.__name__}")


def _as_number(av: AttributeValue) -> Decimal:
    raw = av.get("N")
    if raw is None:
        raise Unpredictable("arithmetic on something that is not a number")
    try:
        return Decimal(raw)
    except InvalidOperation as exc:
        raise Unpredictable("not a number") from exc


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _elements(av: AttributeValue, tag: str) -> list[object]:
    got = av.get(tag)
    if got is None:
        raise Unpredictable(f"ADD/DELETE of {tag} on another type")
    return list(got)


def _get(item: Item, path: tuple[str | int, ...]) -> AttributeValue | None:
    first = path[0]
    if not isinstance(first, str):
        raise Unpredictable("a path starts with a name")
    node: AttributeValue | None = item.get(first)
    for segment in path[1:]:
        if node is None:
            return None
        if isinstance(segment, int):
            seq = node.get("L")
            node = seq[segment] if seq is not None and 0 <= segment < len(seq) else None
        else:
            mapping = node.get("M")
            node = mapping.get(segment) if mapping is not None else None
    return node


def _parent(item: Item, path: tuple[str | int, ...]) -> dict[str, AttributeValue] | list[AttributeValue]:
    if len(path) == 1:
        return item
    parent = _get(item, path[:-1])
    if parent is None:
        raise Unpredictable("the parent of a nested path is missing")
    if isinstance(path[-1], int):
        seq = parent.get("L")
        if seq is None:
            raise Unpredictable("a list index on something that is not a list")
        return seq  # type: ignore[no-any-return]  # AttributeValue payloads are JSON
    mapping = parent.get("M")
    if mapping is None:
        raise Unpredictable("a map key on something that is not a map")
    return mapping  # type: ignore[no-any-return]  # AttributeValue payloads are JSON


def _put(item: Item, path: tuple[str | int, ...], value: AttributeValue) -> None:
    container = _parent(item, path)
    last = path[-1]
    if isinstance(container, list):
        assert isinstance(last, int)
        if last < len(container):
            container[last] = value
        else:
            container.append(value)  # DynamoDB appends when the index is past the end
    else:
        container[str(last)] = value


def _remove(item: Item, path: tuple[str | int, ...]) -> None:
    try:
        container = _parent(item, path)
    except Unpredictable:
        return  # removing below a missing parent changes nothing
    last = path[-1]
    if isinstance(container, list):
        assert isinstance(last, int)
        if last < len(container):
            del container[last]
    else:
        container.pop(str(last), None)
