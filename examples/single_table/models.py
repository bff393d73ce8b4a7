"""An e-commerce single table: customers, their orders and order lines, and a unique-email guard.

    item          pk                 sk                 gsi1 (pk=sk, sk=pk)
    Customer      CUSTOMER#<id>      CUSTOMER#<id>      the customer's partition of gsi1
    Order         ORDER#<id>         CUSTOMER#<id>      ... holds the customer and all its orders
    OrderLine     ORDER#<id>         LINE#<nnn>         (the order's partition holds order + lines)
    EmailGuard    EMAIL#<email>      EMAIL#<email>      one per address: a transaction creates it

The table's partition holds an order with its lines (`Order | OrderLine`), and the inverted index `gsi1`
holds a customer with its orders (`Customer | Order`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from aiotheory import DB, GSI, PK, SK, Collection, F, Model, Template

__all__ = [
    "CustomerPage",
    "Customer",
    "EmailGuard",
    "Order",
    "OrderLine",
    "create_customer",
    "customer_with_orders",
    "order_with_lines",
]

_CUSTOMER = Template("CUSTOMER#{customer_id}")
_ORDER = Template("ORDER#{order_id}")


class Customer(Model, table="shop", entity="customer"):
    pk: Annotated[str, PK, GSI("gsi1", "sk"), _CUSTOMER] = ""
    sk: Annotated[str, SK, GSI("gsi1", "pk"), _CUSTOMER] = ""
    customer_id: str
    name: str
    email: str


class Order(Model, table="shop", entity="order"):
    pk: Annotated[str, PK, GSI("gsi1", "sk"), _ORDER] = ""
    sk: Annotated[str, SK, GSI("gsi1", "pk"), _CUSTOMER] = ""
    order_id: str
    customer_id: str
    placed_at: dt.datetime
    total: int  # minor units
    status: str = "open"


class OrderLine(Model, table="shop", entity="line"):
    pk: Annotated[str, PK, GSI("gsi1", "sk"), _ORDER] = ""
    sk: Annotated[str, SK, GSI("gsi1", "pk"), Template("LINE#{line_no:03d}")] = ""
    order_id: str
    line_no: int
    sku: str
    quantity: int
    price: int


class EmailGuard(Model, table="shop", entity="email"):
    """Holds an address taken: created with the customer in one transaction, so emails stay unique."""

    pk: Annotated[str, PK, GSI("gsi1", "sk"), Template("EMAIL#{email}")] = ""
    sk: Annotated[str, SK, GSI("gsi1", "pk"), Template("EMAIL#{email}")] = ""
    email: str
    customer_id: str


#: What a customer page holds: the customer and its orders, typed.
CustomerPage = Collection(Customer, Order)


async def create_customer(db: DB, customer: Customer) -> Customer:
    """Create `customer` and the guard of its email in one transaction.

    Raises:
        TransactionCanceled: the customer exists or the email is taken (`.reasons` says which).
    """
    async with db.transaction() as tx:
        created = tx.create(customer)
        tx.create(EmailGuard(email=customer.email, customer_id=customer.customer_id))
    return created


async def customer_with_orders(db: DB, customer_id: str) -> list[Customer | Order]:
    """The customer and its orders, oldest order id first: one query of the inverted index."""
    key = _CUSTOMER.render(customer_id=customer_id)
    query = db.query(CustomerPage).index("gsi1").key(F(Order.sk) == key)
    return [item async for item in query]


async def order_with_lines(db: DB, order_id: str) -> list[Order | OrderLine]:
    """The order and its lines, in sort-key order: one query of the order's partition."""
    query = db.query(Collection(Order, OrderLine)).key(F(Order.pk) == _ORDER.render(order_id=order_id))
    return [item async for item in query]
