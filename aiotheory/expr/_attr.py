"""`Attr[T]`: a stored attribute path that builds conditions and update actions, and the typed `F()` wrapper.

Values are encoded when a node is built, with the attribute's own encoder (or the codec's dynamic
`encode_value`, imported lazily), so bad input raises `ValidationError` at the call site. Imports only
`errors`, `_types` and sibling modules; never `aiotheory.codec` at import time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, NoReturn, TypeVar, overload

from aiotheory.errors import ValidationError

from ._limits import ATTRIBUTE_TYPES, MAX_IN_OPERANDS, MAX_LIST_INDEX, MAX_PATH_DEPTH
from ._nodes import (
    Arith,
    Between,
    Call,
    Compare,
    Condition,
    IfNotExists,
    In,
    ListAppend,
    Operand,
    PathAction,
    SetAction,
    Size,
    Update,
    Value,
    ValueAction,
    check_operand,
    delete_action,
)
from ._nodes import number_operand as _number_operand
from ._params import path_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from aiotheory._types import AttributeValue

    from ._params import Params

__all__ = ["AttributeType", "Attr", "F", "number_operand", "size"]

_T = TypeVar("_T")

#: The type descriptors of attribute_type().
AttributeType = Literal["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"]

_set: Final = object.__setattr__
_NUMBER_TAGS = frozenset({"N"})
_SET_TAGS = frozenset({"SS", "NS", "BS"})
_ADD_TAGS = _NUMBER_TAGS | _SET_TAGS


class Attr(Operand, Generic[_T]):
    """A stored attribute path (`Payment.amount`, `Payment.meta["city"]`, `Payment.items[0]`).

    Model classes carry one per field; `Attr` builds `Condition`s with comparison operators and methods, and
    `Update`s with `set`, `remove`, `add`, `delete`, `append`, `prepend`. It is immutable and hashable by
    identity (its `==` builds a condition).

    Args:
        path: stored attribute names (str) and list indexes (int); the first segment is a name.
        encode: turns a python value into this attribute's AttributeValue; None uses the codec's dynamic
            `encode_value`.
        field: the python field name, for messages.
        model: the model class that owns the attribute, for messages.
        nested: the model class of this attribute's value when it is a nested model, so that
            `Payment.address.city` resolves to the path `address.city`.
    """

    __slots__ = ("encode", "field", "model", "nested", "path")

    path: tuple[str | int, ...]
    encode: Callable[[object], AttributeValue] | None
    field: str | None
    model: type | None
    nested: type | None

    def __init__(
        self,
        path: tuple[str | int, ...],
        encode: Callable[[object], AttributeValue] | None = None,
        *,
        field: str | None = None,
        model: type | None = None,
        nested: type | None = None,
    ) -> None:
        path = _check_path(tuple(path))
        _set(self, "path", path)
        _set(self, "encode", encode)
        _set(self, "field", field)
        _set(self, "model", model)
        _set(self, "nested", nested)

    def __hash__(self) -> int:
        return object.__hash__(self)

    def __repr__(self) -> str:
        return f"Attr({self._describe()})"

    def _describe(self) -> str:
        if self.model is not None and self.field is not None:
            return f"{self.model.__name__}.{self.field}"
        return path_text(self.path)

    def _render(self, params: Params) -> str:
        return params.path(self.path)

    # --- paths ---------------------------------------------------------------------------------------

    def __getitem__(self, key: str | int) -> Attr[object]:
        """A nested map key (`meta["city"]`) or list index (`items[0]`); values encode dynamically."""
        if isinstance(key, bool) or not isinstance(key, str | int):
            raise ValidationError(f"{self._describe()}[...] takes a map key (str) or list index (int)")
        attr: Attr[object] = Attr((*self.path, key), model=self.model)
        if self.field is not None:
            _set(attr, "field", f"{self.field}[{attr.path[-1]!r}]")
        return attr

    if not TYPE_CHECKING:
        # Run time only: for a checker, `Payment.address.city` is already typed through the model, and an
        # `Attr.__getattr__` would make every misspelt method type-check.
        def __getattr__(self, name: str) -> Attr[object]:
            nested = object.__getattribute__(self, "nested")
            if nested is None or name.startswith("_"):
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            sub = getattr(nested, name, None)
            if not isinstance(sub, Attr):
                raise AttributeError(f"{self._describe()} has no nested field {name!r}")
            field = None if self.field is None else f"{self.field}.{sub.field or name}"
            return Attr((*self.path, *sub.path), sub.encode, field=field, model=self.model, nested=sub.nested)

    def __iter__(self) -> NoReturn:
        # Without this, iteration would probe __getitem__(0), (1), ... forever.
        raise TypeError(f"{self._describe()} is an attribute expression, not iterable")

    def __contains__(self, item: object) -> NoReturn:
        raise TypeError(f"`x in {self._describe()}` cannot build a condition; use .contains(x)")

    # --- conditions ----------------------------------------------------------------------------------

    def __eq__(self, other: object) -> Condition:  # type: ignore[override]  # builds a condition, not a bool
        return Compare(self, "=", self._operand(other))

    def __ne__(self, other: object) -> Condition:  # type: ignore[override]  # builds a condition, not a bool
        return Compare(self, "<>", self._operand(other))

    def __lt__(self, other: _T | Operand) -> Condition:
        return Compare(self, "<", self._operand(other))

    def __le__(self, other: _T | Operand) -> Condition:
        return Compare(self, "<=", self._operand(other))

    def __gt__(self, other: _T | Operand) -> Condition:
        return Compare(self, ">", self._operand(other))

    def __ge__(self, other: _T | Operand) -> Condition:
        return Compare(self, ">=", self._operand(other))

    def between(self, low: _T | Operand, high: _T | Operand) -> Condition:
        """`low <= attr <= high` (inclusive, DynamoDB's BETWEEN)."""
        return Between(self, self._operand(low), self._operand(high))

    def is_in(self, values: Iterable[_T]) -> Condition:
        """`attr IN (...)`, 1 to 100 values."""
        if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
            raise ValidationError(f"{self._describe()}.is_in() takes a list, tuple or set of values")
        options = tuple([self._operand(v) for v in values])
        if not options:
            raise ValidationError(f"{self._describe()}.is_in() needs at least one value")
        if len(options) > MAX_IN_OPERANDS:
            raise ValidationError(
                f"{self._describe()}.is_in() got {len(options)} values; "
                f"DynamoDB's IN takes at most {MAX_IN_OPERANDS}"
            )
        return In(self, options)

    def begins_with(self, prefix: str | bytes) -> Condition:
        """The string (or binary) attribute starts with `prefix`."""
        if isinstance(prefix, str):
            return Call("begins_with", self.path, Value({"S": prefix}))
        if isinstance(prefix, bytes):
            return Call("begins_with", self.path, Value(_encode_dynamic(prefix, self, "begins_with()")))
        raise ValidationError(
            f"{self._describe()}.begins_with() takes a str or bytes prefix, not a {type(prefix).__name__}"
        )

    def contains(self, value: object) -> Condition:
        """A string attribute contains a substring, or a set or list attribute contains an element."""
        if isinstance(value, Operand):
            return Call("contains", self.path, check_operand(value, update=False))
        # The attribute's encoder encodes the whole set/list; an element dispatches on its own type.
        return Call("contains", self.path, Value(_encode_dynamic(value, self, "contains()")))

    def exists(self) -> Condition:
        """The item has this attribute (`attribute_exists`)."""
        return Call("attribute_exists", self.path)

    def not_exists(self) -> Condition:
        """The item lacks this attribute (`attribute_not_exists`)."""
        return Call("attribute_not_exists", self.path)

    def attribute_type(self, type_: AttributeType) -> Condition:
        """The attribute is stored with DynamoDB type `type_` ("S", "N", "M", ...)."""
        if type_ not in ATTRIBUTE_TYPES:
            raise ValidationError(
                f"{self._describe()}.attribute_type() takes one of {', '.join(sorted(ATTRIBUTE_TYPES))}"
            )
        return Call("attribute_type", self.path, Value({"S": type_}))

    def size(self) -> Size:
        """`size(attr)`: length of a string, binary, set, list or map; compare it with a number."""
        return Size(self.path)

    # --- update operands -----------------------------------------------------------------------------

    def __add__(self, other: _T | Operand) -> Operand:
        """`attr + x` as a SET value: `Payment.amount.set(Payment.amount + 5)`."""
        return Arith(self, "+", number_operand(other, "+", self))

    def __sub__(self, other: _T | Operand) -> Operand:
        return Arith(self, "-", number_operand(other, "-", self))

    def __radd__(self, other: _T | Operand) -> Operand:
        return Arith(number_operand(other, "+", self), "+", self)

    def __rsub__(self, other: _T | Operand) -> Operand:
        return Arith(number_operand(other, "-", self), "-", self)

    def if_not_exists(self, default: _T | Operand) -> IfNotExists:
        """The attribute's value, or `default` when the item lacks it (a SET operand)."""
        return IfNotExists(self.path, self._update_operand(default))

    # --- update actions ------------------------------------------------------------------------------

    def set(self, value: _T | Operand) -> Update:
        """SET the attribute to a value, another attribute, `attr + n`, or `attr.if_not_exists(default)`."""
        return SetAction(self.path, self._update_operand(value))

    def set_if_not_exists(self, value: _T) -> Update:
        """SET the attribute only when the item lacks it (`SET a = if_not_exists(a, :v)`)."""
        return SetAction(self.path, IfNotExists(self.path, self._update_operand(value)))

    def remove(self) -> Update:
        """REMOVE the attribute (or list element)."""
        return PathAction(self.path)

    def add(self, value: _T) -> Update:
        """ADD a number to a number attribute, or elements to a set attribute (creating it if absent)."""
        if not _is_number(value) and not (isinstance(value, set | frozenset) and value):
            raise ValidationError(
                f"{self._describe()}.add() takes a number or a non-empty set, not a {_kind(value)}"
            )
        av = self._encode(value, "add()")
        if len(av) != 1 or next(iter(av)) not in _ADD_TAGS:
            raise ValidationError(f"{self._describe()}.add() needs a number or set attribute")
        return ValueAction(self.path, av)

    def delete(self, value: _T) -> Update:
        """DELETE elements from a set attribute."""
        if not (isinstance(value, set | frozenset) and value):
            raise ValidationError(f"{self._describe()}.delete() takes a non-empty set, not a {_kind(value)}")
        av = self._encode(value, "delete()")
        if len(av) != 1 or next(iter(av)) not in _SET_TAGS:
            raise ValidationError(f"{self._describe()}.delete() needs a set attribute")
        return delete_action(self.path, av)

    def append(self, values: _T) -> Update:
        """Append elements to a list attribute (`SET a = list_append(a, :v)`)."""
        return SetAction(self.path, ListAppend(self, self._list_value(values, "append()")))

    def prepend(self, values: _T) -> Update:
        """Prepend elements to a list attribute (`SET a = list_append(:v, a)`)."""
        return SetAction(self.path, ListAppend(self._list_value(values, "prepend()"), self))

    # --- helpers -------------------------------------------------------------------------------------

    def _encode(self, value: object, what: str) -> AttributeValue:
        encode = self.encode
        if encode is None:
            return _encode_dynamic(value, self, what)
        try:
            return encode(value)
        except ValidationError:
            raise
        except Exception as exc:  # a field encoder's own failure, translated once; never the value itself
            raise ValidationError(
                f"{self._describe()} {what}: cannot encode a {type(value).__name__}"
            ) from exc

    def _operand(self, other: object) -> Operand:
        if isinstance(other, Operand):
            return check_operand(other, update=False)
        return Value(self._encode(other, "condition"))

    def _update_operand(self, value: object) -> Operand:
        if isinstance(value, Operand):
            return check_operand(value, update=True)
        return Value(self._encode(value, "set()"))

    def _list_value(self, values: object, what: str) -> Value:
        if not isinstance(values, list | tuple):
            raise ValidationError(f"{self._describe()}.{what} takes a list, not a {_kind(values)}")
        av = self._encode(list(values), what)
        if len(av) != 1 or next(iter(av)) != "L":
            raise ValidationError(f"{self._describe()}.{what} needs a list attribute")
        return Value(av)


@overload
def F(attr: Attr[_T]) -> Attr[_T]: ...
@overload
def F(attr: _T) -> Attr[_T]: ...
def F(attr: object) -> Attr[Any]:
    """Type a model attribute as an expression: the identity at run time, `Attr[T]` for a type checker.

    `Payment.amount` is read as an `int` by a checker; `F(Payment.amount) > 100` type-checks.
    """
    if isinstance(attr, Attr):
        return attr
    raise ValidationError(
        f"F() takes a model class attribute such as Payment.amount, not a {type(attr).__name__}"
    )


def size(attr: object) -> Size:
    """`size(Payment.tags) > 2`: the function spelling of `Attr.size()`."""
    if isinstance(attr, Attr):
        return attr.size()
    raise ValidationError(f"size() takes a model attribute, not a {type(attr).__name__}")


def number_operand(value: object, op: str, attr: Attr[Any] | None = None) -> Operand:
    """The right side of `+`/`-` in a SET value, encoded by `attr` when given (see `_nodes`)."""
    return _number_operand(value, op, None if attr is None else attr._encode)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _kind(value: object) -> str:
    kind = type(value).__name__
    return "empty set" if isinstance(value, set | frozenset) and not value else kind


def _encode_dynamic(value: object, attr: Attr[Any] | None, what: str) -> AttributeValue:
    from aiotheory.codec import encode_value  # lazy: may pull in pydantic; expr stays import-light

    try:
        return encode_value(value)
    except ValidationError:
        raise
    except Exception as exc:  # translated once; the message names the type, never the value
        where = f"{attr._describe()} " if attr is not None else ""
        raise ValidationError(f"{where}{what}: cannot encode a {type(value).__name__}") from exc


def _check_path(path: tuple[object, ...]) -> tuple[str | int, ...]:
    """`path` as plain str and int segments, refused where DynamoDB would refuse it.

    Subclasses become their base type (an IntEnum index renders as `[1]`, not as a map key named `1`).
    """
    if not path:
        raise ValidationError("an attribute path needs at least one segment")
    if not isinstance(path[0], str):
        raise ValidationError("an attribute path starts with an attribute name")
    if len(path) > MAX_PATH_DEPTH:
        raise ValidationError(
            f"an attribute path has {len(path)} segments; DynamoDB nests at most {MAX_PATH_DEPTH} levels"
        )
    out: list[str | int] = []
    for segment in path:
        tp = type(segment)
        if isinstance(segment, str):
            if not segment:
                raise ValidationError("attribute names in a path must not be empty")
            if not segment.isascii():
                _check_name_text(segment)
            out.append(segment if tp is str else str.__str__(segment))
        elif isinstance(segment, bool) or not isinstance(segment, int):
            raise ValidationError(f"path segments are names (str) or list indexes (int), not {tp.__name__}")
        elif not 0 <= segment <= MAX_LIST_INDEX:
            raise ValidationError(f"list indexes in a path must be from 0 to {MAX_LIST_INDEX}")
        else:
            out.append(segment if tp is int else int(segment))
    return tuple(out)


def _check_name_text(segment: str) -> None:
    try:
        segment.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("attribute names in a path must be valid Unicode (a lone surrogate)") from None
