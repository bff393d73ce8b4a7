"""mypy-only: pins the public types of the expression API (`mypy --strict tests/typing`); never run.

A plain class with annotated attributes stands in for a Model: a checker reads `Payment.amount` as an `int`,
exactly as it does for a pydantic field, so the typed spelling is `F(Payment.amount)`.
"""

from __future__ import annotations

from typing import Annotated, assert_type

from aiotheory.expr import Attr, Condition, F, Operand, Params, Raw, Size, Update, render_condition, size
from aiotheory.model import PK, SK, Model

__all__: list[str] = []


class Payment:
    partner_id: str
    amount: int
    status: str
    tags: set[str]
    items: list[int]
    meta: dict[str, str]


# F is typed (T) -> Attr[T], and the identity on something already typed as an Attr.
assert_type(F(Payment.amount), Attr[int])
assert_type(F(Payment.status), Attr[str])
assert_type(F(F(Payment.amount)), Attr[int])

# Comparisons build conditions (== and != included), and conditions combine.
assert_type(F(Payment.amount) > 100, Condition)
assert_type(F(Payment.amount) >= 100, Condition)
assert_type(F(Payment.amount) < 100, Condition)
assert_type(F(Payment.amount) <= 100, Condition)
assert_type(F(Payment.status) == "paid", Condition)
assert_type(F(Payment.status) != "paid", Condition)
assert_type(F(Payment.amount) > F(Payment.amount), Condition)
assert_type(F(Payment.amount).between(1, 9), Condition)
assert_type(F(Payment.status).is_in(["a", "b"]), Condition)
assert_type(F(Payment.status).begins_with("pa"), Condition)
assert_type(F(Payment.tags).contains("vip"), Condition)
assert_type(F(Payment.tags).exists(), Condition)
assert_type(F(Payment.tags).not_exists(), Condition)
assert_type(F(Payment.tags).attribute_type("SS"), Condition)
assert_type(F(Payment.meta)["city"], Attr[object])
assert_type(F(Payment.items)[0] == 1, Condition)
cond = (F(Payment.amount) > 100) & (F(Payment.status) == "paid") | ~F(Payment.tags).exists()
assert_type(cond, Condition)
assert_type(Raw("attribute_exists(#a)", names={"#a": "a"}) & cond, Condition)

# size() is an operand comparable with numbers, as a method or a function.
assert_type(F(Payment.tags).size(), Size)
assert_type(F(Payment.tags).size() > 2, Condition)
assert_type(size(Payment.tags) > 2, Condition)
assert_type(size(Payment.tags) == 0, Condition)

# Updates.
assert_type(F(Payment.status).set("paid"), Update)
assert_type(F(Payment.amount).add(5), Update)
assert_type(F(Payment.tags).add({"x"}), Update)
assert_type(F(Payment.tags).delete({"x"}), Update)
assert_type(F(Payment.status).remove(), Update)
assert_type(F(Payment.items).append([1, 2]), Update)
assert_type(F(Payment.items).prepend([0]), Update)
assert_type(F(Payment.amount).set_if_not_exists(0), Update)
assert_type(F(Payment.amount) + 1, Operand)
assert_type(F(Payment.amount).set(F(Payment.amount) + 1), Update)
assert_type(F(Payment.amount).set(F(Payment.amount).if_not_exists(0) + 1), Update)

# Rendering.
params = Params()
assert_type(render_condition(cond, params), str)
assert_type(params.names, dict[str, str])

# What must not type-check (each ignore is checked: strict mode reports an unused one).
_ = F(Payment.amount) > "100"  # type: ignore[operator]
F(Payment.amount).set("x")  # type: ignore[arg-type]
F(Payment.amount).add("x")  # type: ignore[arg-type]
F(Payment.status).begins_with(1)  # type: ignore[arg-type]
F(Payment.tags).attribute_type("X")  # type: ignore[arg-type]
_ = cond & True  # type: ignore[operator]
_ = F(Payment.amount).sett(1)  # type: ignore[attr-defined]


# The same through a real Model: the metaclass serves `Order.amount` as an Attr, a checker reads an int.
class Order(Model, table="orders"):
    partner_id: Annotated[str, PK]
    id: Annotated[str, SK]
    amount: int
    tags: frozenset[str] = frozenset()


assert_type(F(Order.amount), Attr[int])
assert_type(F(Order.amount) > 100, Condition)
assert_type(F(Order.partner_id) == "p1", Condition)
assert_type(F(Order.amount).add(5), Update)
assert_type(F(Order.tags).add(frozenset({"x"})), Update)
assert_type(F(Order.amount).set(F(Order.amount) + 1), Update)
assert_type(size(Order.tags) > 2, Condition)
