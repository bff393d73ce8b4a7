"""Rendering expression nodes into DynamoDB expression strings, with DynamoDB's limits checked on the way.

The request path is one recursive walk (`node._render(params)`): no closures, no re-parsing. Imports only
`errors` and this package's modules.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from aiotheory.errors import ValidationError

from ._attr import Attr
from ._keys import analyse_key_condition
from ._limits import MAX_EXPRESSION_BYTES, MAX_OPERATORS, OPERATOR_FREE_BYTES
from ._nodes import CLAUSES, Condition, Raw, Update
from ._params import path_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._params import Params

__all__ = [
    "count_operators",
    "render_condition",
    "render_key_condition",
    "render_projection",
    "render_update",
]


def _checked(kind: str, expression: str, *, operators: bool = False) -> str:
    size = len(expression) if expression.isascii() else len(expression.encode())
    if size > MAX_EXPRESSION_BYTES:
        raise ValidationError(
            f"{kind} is {size} bytes; DynamoDB allows at most {MAX_EXPRESSION_BYTES} bytes per expression"
        )
    if operators and size > OPERATOR_FREE_BYTES:
        count = count_operators(expression)
        if count > MAX_OPERATORS:
            raise ValidationError(
                f"{kind} has {count} operators and functions; DynamoDB allows at most {MAX_OPERATORS}"
            )
    return expression


# Placeholders first (so "#and" is a name, not AND), then comparators, then words; a word followed by
# "(" is a function call.
_TOKENS: Final = re.compile(r"[#:][A-Za-z0-9_]+|<>|<=|>=|[=<>]|([A-Za-z_][A-Za-z0-9_]*)(\s*\()?")
_KEYWORDS: Final = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN"})


def count_operators(expression: str) -> int:
    """Operators and functions in a condition as DynamoDB counts them (BETWEEN's own AND is not one)."""
    count = 0
    between = 0
    for match in _TOKENS.finditer(expression):
        word, call = match.group(1), match.group(2)
        if word is None:
            count += match.group(0)[0] not in "#:"  # a comparator, not a placeholder
        elif call is not None:
            count += 1  # attribute_exists(...), size(...), begins_with(...), ...
        else:
            upper = word.upper()
            if upper in _KEYWORDS:
                if upper == "AND" and between:
                    between -= 1  # "x BETWEEN a AND b": one operator, not two
                    continue
                between += upper == "BETWEEN"
                count += 1
    return count


def render_condition(cond: Condition, params: Params) -> str:
    """Render a condition (also a key condition or filter) into `params`' placeholder space.

    Raises:
        ValidationError: `cond` is not a Condition, or the expression exceeds DynamoDB's 4 KB limit.
    """
    if not isinstance(cond, Condition):
        raise ValidationError(f"expected a Condition, got {type(cond).__name__}")
    return _checked("condition expression", cond._render(params), operators=True)


def render_key_condition(cond: Condition, params: Params, *, pk: str, sk: str | None = None) -> str:
    """Render a KeyConditionExpression after checking it is one: `pk = v`, optionally AND one sort-key test.

    The sort-key test is `=`, `<`, `<=`, `>`, `>=`, BETWEEN or begins_with against values. `pk`/`sk` are the
    stored key names of the table or index queried. A `Raw` condition is passed through unchecked.

    Raises:
        ValidationError: anything DynamoDB does not accept as a key condition, or over 4 KB.
    """
    analyse_key_condition(cond, pk=pk, sk=sk)
    if isinstance(cond, Raw):
        return render_condition(cond, params)
    return _checked("key condition expression", cond._render(params), operators=True)


def render_update(actions: Sequence[Update], params: Params) -> str:
    """Render update actions grouped as `SET a = :v, b = :w REMOVE c ADD d :x DELETE e :y`.

    Raises:
        ValidationError: no actions, a non-Update action, two actions on overlapping paths (DynamoDB:
            "Two document paths overlap"), or an expression over 4 KB.
    """
    if not actions:
        raise ValidationError("an update needs at least one action")
    clauses: list[list[str]] = [[], [], [], []]
    for action in actions:
        if not isinstance(action, Update):
            raise _not_an_update(action)
        clauses[action._clause].append(action._render(params))
    if len(actions) > 1:
        _check_disjoint("update", [action.path for action in actions])
    parts = [f"{CLAUSES[i]} {', '.join(items)}" for i, items in enumerate(clauses) if items]
    return _checked("update expression", " ".join(parts))


def render_projection(attrs: Sequence[Attr[Any]], params: Params) -> str:
    """Render a ProjectionExpression (`#n0, #n1.#n2`).

    Raises:
        ValidationError: no attributes, a non-attribute, overlapping paths, or an expression over 4 KB.
    """
    if not attrs:
        raise ValidationError("a projection needs at least one attribute")
    rendered: list[str] = []
    for attr in attrs:
        if not isinstance(attr, Attr):
            raise ValidationError(f"projection entries must be attributes, got {type(attr).__name__}")
        rendered.append(params.path(attr.path))
    if len(attrs) > 1:
        _check_disjoint("projection", [attr.path for attr in attrs])
    return _checked("projection expression", ", ".join(rendered))


def _not_an_update(action: object) -> ValidationError:
    hint = " (use .set(...) to assign a value)" if isinstance(action, Condition) else ""
    return ValidationError(f"update actions must be Update objects, got {type(action).__name__}{hint}")


def _check_disjoint(kind: str, paths: list[tuple[str | int, ...]]) -> None:
    """Refuse what DynamoDB refuses: one path equal to or inside another, or one path indexed two ways."""
    for path in paths:
        if len(path) > 1:
            break
    else:
        # Only top-level names (the common case): distinct names cannot overlap.
        if len(set(paths)) == len(paths):
            return
    seen: set[tuple[str | int, ...]] = set()
    inner: set[tuple[str | int, ...]] = set()  # proper prefixes of the paths seen
    step_kind: dict[tuple[str | int, ...], type] = {}  # prefix -> int (list index) or str (map key) below it
    for path in paths:
        if path in seen or path in inner:
            raise ValidationError(f"{kind}: two document paths overlap at {path_text(path)}")
        for depth in range(1, len(path)):
            prefix = path[:depth]
            if prefix in seen:
                raise ValidationError(f"{kind}: two document paths overlap at {path_text(path)}")
            inner.add(prefix)
            step = path[depth].__class__
            known = step_kind.setdefault(prefix, step)
            if known is not step:
                raise ValidationError(
                    f"{kind}: two document paths conflict at {path_text(prefix)} (used as a list and a map)"
                )
        seen.add(path)
