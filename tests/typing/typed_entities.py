"""mypy-only: pins the public types of single-table design (`nox -s typecheck`); never run."""

from __future__ import annotations

from typing import Annotated, assert_type

from aiotheory import DB, PK, SK, Collection, F, Model, Page, Template, template_of
from aiotheory.query import Query


class Customer(Model, table="typed_shop", entity="customer"):
    pk: Annotated[str, PK, Template("CUSTOMER#{customer_id}")] = ""
    sk: Annotated[str, SK] = "PROFILE"
    customer_id: str


class Order(Model, table="typed_shop", entity="order"):
    pk: Annotated[str, PK, Template("CUSTOMER#{customer_id}")] = ""
    sk: Annotated[str, SK, Template("ORDER#{order_id}")] = ""
    customer_id: str
    order_id: str
    total: int


async def typed(db: DB) -> None:
    both = Collection(Customer, Order)
    assert_type(both, Collection[Customer | Order])
    query = db.query(both).key(F(Customer.pk) == "CUSTOMER#c1")
    assert_type(query, Query[Customer | Order])
    page = await query.page(size=10)
    assert_type(page, Page[Customer | Order])
    assert_type(page.skipped, int)
    async for item in query:
        if isinstance(item, Order):
            assert_type(item.total, int)
    assert_type(db.query(Collection(Order)), Query[Order])
    # A bare union type-checks (a checker sees a types.UnionType, so its items are not narrowed):
    # typed code spells the collection.
    db.query(Customer | Order)
    assert_type(template_of(Order, "sk").prefix(), str)
