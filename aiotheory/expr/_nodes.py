"""Expression nodes: operands, conditions and update actions, each a frozen slotted value.

Every node renders itself through a `Params` (`_render`), so rendering is one recursive walk, and the same
walk with `DebugParams` gives the readable form. Imports only `errors`, `_types` and sibling modules.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar, Final, NoReturn

from aiotheory.errors import ValidationError

from ._limits import MAX_EXPRESSION_BYTES, MAX_PLACEHOLDER_BYTES
from ._params import DebugParams

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from aiotheory._types import AttributeValue

    from ._params import Params

__all__ = [
    "CLAUSES",
    "And",
    "Arith",
    "Between",
    "Call",
    "Compare",
    "Condition",
    "IfNotExists",
    "In",
    "ListAppend",
    "Not",
    "Operand",
    "Or",
    "PathAction",
    "Raw",
    "SetAction",
    "Size",
    "Update",
    "Value",
    "ValueAction",
    "check_operand",
    "delete_action",
    "number_operand",
]

#: Update clause keywords, indexed by `Update._clause`.
CLAUSES: Final = ("SET", "REMOVE", "ADD", "DELETE")


# --- operands -----------------------------------------------------------------------------------------


_set: Final = object.__setattr__


class _Frozen:
    """Immutable slotted values (what `@dataclass(frozen=True, slots=True)` gives, without its import cost:
    measured here, 19 dataclasses took about 8 ms to create at import, plain classes 0.1 ms)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is immutable; cannot delete {name!r}")


class Operand(_Frozen):
    """Something an expression reads: an attribute path, `size(path)`, a value, or an update operand."""

    __slots__ = ()

    #: Where DynamoDB's grammar admits this operand.
    _in_condition: ClassVar[bool] = True
    _in_update: ClassVar[bool] = True

    def _render(self, params: Params) -> str:
        raise NotImplementedError


def check_operand(operand: Operand, *, update: bool) -> Operand:
    """Refuse operands DynamoDB would reject in this kind of expression, naming what is wrong."""
    if update and not operand._in_update:
        raise ValidationError(f"{type(operand).__name__} cannot be used in an update expression")
    if not update and not operand._in_condition:
        raise ValidationError(f"{type(operand).__name__} cannot be used in a condition expression")
    return operand


class Value(Operand):
    """An already-encoded AttributeValue; always rendered as a `:v` placeholder."""

    av: AttributeValue

    __slots__ = ("av",)

    def __init__(self, av: AttributeValue) -> None:
        _set(self, "av", av)

    def _render(self, params: Params) -> str:
        return params.value(self.av)


class Arith(Operand):
    """`a + b` / `a - b` in a SET action; DynamoDB allows exactly one such operator per value."""

    _in_condition: ClassVar[bool] = False

    left: Operand
    op: str
    right: Operand

    __slots__ = ("left", "op", "right")

    def __init__(self, left: Operand, op: str, right: Operand) -> None:
        _set(self, "left", left)
        _set(self, "op", op)
        _set(self, "right", right)

    def _render(self, params: Params) -> str:
        return f"{self.left._render(params)} {self.op} {self.right._render(params)}"


class IfNotExists(Operand):
    """`if_not_exists(path, default)`: the attribute's value, or `default` when it is absent."""

    _in_condition: ClassVar[bool] = False

    path: tuple[str | int, ...]
    default: Operand

    __slots__ = ("default", "path")

    def __init__(self, path: tuple[str | int, ...], default: Operand) -> None:
        _set(self, "path", path)
        _set(self, "default", default)

    def _render(self, params: Params) -> str:
        return f"if_not_exists({params.path(self.path)}, {self.default._render(params)})"

    def __add__(self, other: object) -> Arith:
        return Arith(self, "+", number_operand(other, "+"))

    def __sub__(self, other: object) -> Arith:
        return Arith(self, "-", number_operand(other, "-"))


class ListAppend(Operand):
    """`list_append(first, second)`: append and prepend are the same function with swapped arguments."""

    _in_condition: ClassVar[bool] = False

    first: Operand
    second: Operand

    __slots__ = ("first", "second")

    def __init__(self, first: Operand, second: Operand) -> None:
        _set(self, "first", first)
        _set(self, "second", second)

    def _render(self, params: Params) -> str:
        return f"list_append({self.first._render(params)}, {self.second._render(params)})"


def number_operand(
    value: object, op: str, encode: Callable[[object, str], AttributeValue] | None = None
) -> Operand:
    """The right side of `+`/`-` in a SET value: a number, or a path / if_not_exists() operand.

    `encode` is the attribute's own encoder (for messages naming it); None encodes dynamically.
    """
    if isinstance(value, Operand):
        if isinstance(value, Arith):
            raise ValidationError(f"DynamoDB allows one {op} per SET value; split the arithmetic")
        return check_operand(value, update=True)
    if not isinstance(value, int | float | Decimal) or isinstance(value, bool):
        raise ValidationError(f"{op} takes a number, not a {type(value).__name__}")
    av = encode(value, op) if encode is not None else _encode_number(value, op)
    if len(av) != 1 or next(iter(av)) != "N":
        raise ValidationError(f"{op} needs a number attribute")
    return Value(av)


def _encode_number(value: object, what: str) -> AttributeValue:
    from aiotheory.codec import encode_value  # lazy: may pull in pydantic; expr stays import-light

    try:
        return encode_value(value)
    except ValidationError:
        raise
    except Exception as exc:  # the message names the type, never the value
        raise ValidationError(f"{what}: cannot encode a {type(value).__name__}") from exc


# --- conditions ---------------------------------------------------------------------------------------


class Condition(_Frozen):
    """A boolean expression over an item; combine with `&`, `|` and `~`.

    Python's `and`, `or`, `not` and `if` cannot be overloaded, so `bool()` of a condition raises TypeError
    rather than silently being True.
    """

    #: Binding strength, to parenthesise only where DynamoDB's precedence needs it.
    _prec: ClassVar[int] = 4

    __slots__ = ()

    def _render(self, params: Params) -> str:
        raise NotImplementedError

    def __and__(self, other: Condition) -> Condition:
        if not isinstance(other, Condition):
            raise ValidationError(f"& combines two conditions, not a Condition and a {type(other).__name__}")
        left = self.items if isinstance(self, And) else (self,)
        right = other.items if isinstance(other, And) else (other,)
        return And(left + right)

    def __or__(self, other: Condition) -> Condition:
        if not isinstance(other, Condition):
            raise ValidationError(f"| combines two conditions, not a Condition and a {type(other).__name__}")
        left = self.items if isinstance(self, Or) else (self,)
        right = other.items if isinstance(other, Or) else (other,)
        return Or(left + right)

    def __rand__(self, other: object) -> Condition:
        raise ValidationError(f"& combines two conditions, not a {type(other).__name__} and a Condition")

    def __ror__(self, other: object) -> Condition:
        raise ValidationError(f"| combines two conditions, not a {type(other).__name__} and a Condition")

    def __invert__(self) -> Condition:
        return self.item if isinstance(self, Not) else Not(self)

    def __bool__(self) -> bool:
        raise TypeError(
            "a Condition has no truth value: combine conditions with &, | and ~ (not and/or/not), "
            "and pass them to the DB rather than testing them with if"
        )

    def debug(self, *, show_values: bool = False) -> str:
        """Readable text without placeholders; values show as `?` unless `show_values` (never in errors)."""
        return self._render(DebugParams(show_values=show_values))

    def __str__(self) -> str:
        return self._render(DebugParams())

    def __repr__(self) -> str:
        return f"<Condition {self._render(DebugParams())}>"


def _wrapped(cond: Condition, params: Params, prec: int) -> str:
    text = cond._render(params)
    return f"({text})" if cond._prec < prec else text


class Compare(Condition):
    left: Operand
    op: str
    right: Operand

    __slots__ = ("left", "op", "right")

    def __init__(self, left: Operand, op: str, right: Operand) -> None:
        _set(self, "left", left)
        _set(self, "op", op)
        _set(self, "right", right)

    def _render(self, params: Params) -> str:
        return f"{self.left._render(params)} {self.op} {self.right._render(params)}"


class Between(Condition):
    operand: Operand
    low: Operand
    high: Operand

    __slots__ = ("high", "low", "operand")

    def __init__(self, operand: Operand, low: Operand, high: Operand) -> None:
        _set(self, "operand", operand)
        _set(self, "low", low)
        _set(self, "high", high)

    def _render(self, params: Params) -> str:
        low = self.low._render(params)
        return f"{self.operand._render(params)} BETWEEN {low} AND {self.high._render(params)}"


class In(Condition):
    operand: Operand
    options: tuple[Operand, ...]

    __slots__ = ("operand", "options")

    def __init__(self, operand: Operand, options: tuple[Operand, ...]) -> None:
        _set(self, "operand", operand)
        _set(self, "options", options)

    def _render(self, params: Params) -> str:
        return f"{self.operand._render(params)} IN ({', '.join([o._render(params) for o in self.options])})"


class Call(Condition):
    """A condition function: attribute_exists, attribute_not_exists, attribute_type, begins_with, contains."""

    function: str
    path: tuple[str | int, ...]
    arg: Operand | None

    __slots__ = ("arg", "function", "path")

    def __init__(self, function: str, path: tuple[str | int, ...], arg: Operand | None = None) -> None:
        _set(self, "function", function)
        _set(self, "path", path)
        _set(self, "arg", arg)

    def _render(self, params: Params) -> str:
        if self.arg is None:
            return f"{self.function}({params.path(self.path)})"
        return f"{self.function}({params.path(self.path)}, {self.arg._render(params)})"


class And(Condition):
    _prec: ClassVar[int] = 2

    items: tuple[Condition, ...]

    __slots__ = ("items",)

    def __init__(self, items: tuple[Condition, ...]) -> None:
        _set(self, "items", items)

    def _render(self, params: Params) -> str:
        return " AND ".join([_wrapped(c, params, 2) for c in self.items])


class Or(Condition):
    _prec: ClassVar[int] = 1

    items: tuple[Condition, ...]

    __slots__ = ("items",)

    def __init__(self, items: tuple[Condition, ...]) -> None:
        _set(self, "items", items)

    def _render(self, params: Params) -> str:
        return " OR ".join([_wrapped(c, params, 1) for c in self.items])


class Not(Condition):
    _prec: ClassVar[int] = 3

    item: Condition

    __slots__ = ("item",)

    def __init__(self, item: Condition) -> None:
        _set(self, "item", item)

    def _render(self, params: Params) -> str:
        return f"NOT {_wrapped(self.item, params, 4)}"


# Raw placeholders: "#" or ":" then one or more alphanumerics (DynamoDB; we also admit "_").
_RAW_NAME: Final = re.compile(r"#[A-Za-z0-9_]+")
_RAW_VALUE: Final = re.compile(r":[A-Za-z0-9_]+")
_RAW_TOKEN: Final = re.compile(r"[#:][A-Za-z0-9_]+")
# The shapes Params allocates; a Raw that used them could collide with a later allocation.
_RESERVED: Final = re.compile(r"[#]n[0-9]+|:v[0-9]+")
_AV_TAGS: Final = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"})


class Raw(Condition):
    """The escape hatch: a hand-written condition with its own placeholders.

    Every `#name` / `:value` token in `expression` must be declared and every declaration used; placeholders
    shaped like the ones aiotheory allocates (`#n0`, `:v0`) are refused so they can never collide. `values`
    are AttributeValues (`{"S": "x"}`), passed through unchanged.
    """

    _prec: ClassVar[int] = 0

    expression: str
    names: Mapping[str, str]
    values: Mapping[str, AttributeValue]

    __slots__ = ("expression", "names", "values")

    def __init__(
        self,
        expression: str,
        *,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        names = dict(names or {})
        values = dict(values or {})
        _check_raw(expression, names, values)
        _set(self, "expression", expression)
        _set(self, "names", names)
        _set(self, "values", values)

    def _render(self, params: Params) -> str:
        params.raw(self.names, self.values)
        return self.expression


def _check_raw(expression: object, names: dict[str, str], values: dict[str, AttributeValue]) -> None:
    if not isinstance(expression, str) or not expression.strip():
        raise ValidationError("Raw needs a non-empty expression string")
    if len(expression.encode()) > MAX_EXPRESSION_BYTES:
        raise ValidationError(f"Raw expression is longer than {MAX_EXPRESSION_BYTES} bytes")
    for placeholder, segment in names.items():
        if not isinstance(placeholder, str) or not _RAW_NAME.fullmatch(placeholder):
            raise ValidationError(f"Raw name placeholder {placeholder!r} must look like #name")
        if not isinstance(segment, str) or not segment:
            raise ValidationError(
                f"Raw name placeholder {placeholder} must map to a non-empty attribute name"
            )
    for placeholder, av in values.items():
        if not isinstance(placeholder, str) or not _RAW_VALUE.fullmatch(placeholder):
            raise ValidationError(f"Raw value placeholder {placeholder!r} must look like :value")
        if not isinstance(av, dict) or len(av) != 1 or next(iter(av)) not in _AV_TAGS:
            raise ValidationError(
                f"Raw value {placeholder} must be an AttributeValue such as {{'S': ...}} or {{'N': ...}}"
            )
    used = set(_RAW_TOKEN.findall(expression))
    declared = names.keys() | values.keys()
    for placeholder in sorted(used | declared):
        if _RESERVED.fullmatch(placeholder):
            raise ValidationError(
                f"Raw placeholder {placeholder} has the shape aiotheory allocates (#n0, :v0); rename it"
            )
        if len(placeholder.encode()) > MAX_PLACEHOLDER_BYTES:
            raise ValidationError(f"Raw placeholder {placeholder[:20]}... is longer than 255 bytes")
    if used - declared:
        raise ValidationError(f"Raw uses undeclared placeholders: {', '.join(sorted(used - declared))}")
    if declared - used:
        raise ValidationError(f"Raw declares unused placeholders: {', '.join(sorted(declared - used))}")


# --- update actions -----------------------------------------------------------------------------------


class Update(_Frozen):
    """One action of an UpdateExpression; `path` is the stored path it writes (names and list indexes)."""

    #: Index into CLAUSES: SET, REMOVE, ADD, DELETE.
    _clause: ClassVar[int] = 0

    path: tuple[str | int, ...]

    __slots__ = ("path",)

    def __init__(self, path: tuple[str | int, ...]) -> None:
        _set(self, "path", path)

    def _render(self, params: Params) -> str:
        raise NotImplementedError

    def debug(self, *, show_values: bool = False) -> str:
        """Readable text without placeholders; values show as `?` unless `show_values` (never in errors)."""
        return f"{CLAUSES[self._clause]} {self._render(DebugParams(show_values=show_values))}"

    def __str__(self) -> str:
        return self.debug()

    def __repr__(self) -> str:
        return f"<Update {self.debug()}>"

    def __bool__(self) -> bool:
        # Guards `Payment.a.set(1) and Payment.b.set(2)`, which would silently keep only one action.
        raise TypeError("an Update has no truth value: pass actions as separate arguments")


class SetAction(Update):
    value: Operand

    __slots__ = ("value",)

    def __init__(self, path: tuple[str | int, ...], value: Operand) -> None:
        _set(self, "path", path)
        _set(self, "value", value)

    def _render(self, params: Params) -> str:
        return f"{params.path(self.path)} = {self.value._render(params)}"


class PathAction(Update):
    """REMOVE path."""

    _clause: ClassVar[int] = 1

    __slots__ = ()

    def _render(self, params: Params) -> str:
        return params.path(self.path)


class ValueAction(Update):
    """ADD path value / DELETE path value (`delete` picks the clause)."""

    _clause: ClassVar[int] = 2

    value: AttributeValue

    __slots__ = ("value",)

    def __init__(self, path: tuple[str | int, ...], value: AttributeValue) -> None:
        _set(self, "path", path)
        _set(self, "value", value)

    def _render(self, params: Params) -> str:
        return f"{params.path(self.path)} {params.value(self.value)}"


class _DeleteAction(ValueAction):
    _clause: ClassVar[int] = 3

    __slots__ = ()


# --- size -----------------------------------------------------------------------------------------------


class Size(Operand):
    """`size(path)`: a number to compare (`Payment.tags.size() > 2`); conditions only."""

    _in_update: ClassVar[bool] = False

    path: tuple[str | int, ...]

    __slots__ = ("path",)

    def __init__(self, path: tuple[str | int, ...]) -> None:
        _set(self, "path", path)

    def _render(self, params: Params) -> str:
        return f"size({params.path(self.path)})"

    def __eq__(self, other: object) -> Condition:  # type: ignore[override]  # builds a condition, not a bool
        return Compare(self, "=", _size_operand(other))

    def __ne__(self, other: object) -> Condition:  # type: ignore[override]  # builds a condition, not a bool
        return Compare(self, "<>", _size_operand(other))

    def __lt__(self, other: int | Operand) -> Condition:
        return Compare(self, "<", _size_operand(other))

    def __le__(self, other: int | Operand) -> Condition:
        return Compare(self, "<=", _size_operand(other))

    def __gt__(self, other: int | Operand) -> Condition:
        return Compare(self, ">", _size_operand(other))

    def __ge__(self, other: int | Operand) -> Condition:
        return Compare(self, ">=", _size_operand(other))

    def __hash__(self) -> int:
        return object.__hash__(self)

    def __bool__(self) -> bool:
        raise TypeError("size() has no truth value: compare it, e.g. Payment.tags.size() > 0")

    def between(self, low: int | Operand, high: int | Operand) -> Condition:
        return Between(self, _size_operand(low), _size_operand(high))

    def __repr__(self) -> str:
        return f"<Size {self._render(DebugParams())}>"


def _size_operand(other: object) -> Operand:
    if isinstance(other, Operand):
        return check_operand(other, update=False)
    if other.__class__ is int:
        return Value({"N": str(other)})
    raise ValidationError(f"size() compares with an int or another operand, not a {type(other).__name__}")


def delete_action(path: tuple[str | int, ...], value: AttributeValue) -> Update:
    """DELETE path value (removes elements from a set)."""
    return _DeleteAction(path, value)
