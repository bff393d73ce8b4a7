"""`python -m examples.single_table`: the e-commerce single table on a local engine, in one command.

Starts moto's server in this process (unless `AWS_ENDPOINT_URL_DYNAMODB` names an engine, such as
DynamoDB Local), sets local credentials, creates the `shop` table, then: two customers with unique emails
(a third reusing an email is refused by the transaction), orders and their lines in one batch, and the
two collection reads, printed as typed models. Exits 0 when every step did what it says.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import sys
from typing import TYPE_CHECKING, Final

from aiotheory import DB, TransactionCanceled

from .models import Customer, Order, OrderLine, create_customer, customer_with_orders, order_with_lines

if TYPE_CHECKING:
    from collections.abc import Sequence

_LOCAL_ENV: Final[dict[str, str]] = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
_PLACED: Final = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def _show(item: object) -> str:
    return f"  {type(item).__name__:<9} {item!r}"


async def demo(db: DB) -> None:
    """Create, refuse, write and read the shop: what the module docstring lists."""
    await db.ensure_table(Customer)  # any model of the table: it gets every model's indexes
    await create_customer(db, Customer(customer_id="c1", name="Ada", email="ada@example.com"))
    await create_customer(db, Customer(customer_id="c2", name="Bob", email="bob@example.com"))
    try:
        await create_customer(db, Customer(customer_id="c3", name="Eve", email="ada@example.com"))
    except TransactionCanceled as exc:
        print(f"refused c3: email taken (reasons: {[r.code if r else None for r in exc.reasons]})")
    else:
        raise SystemExit("c3 was created with a taken email")

    orders = [
        Order(order_id="o1", customer_id="c1", placed_at=_PLACED, total=700),
        Order(order_id="o2", customer_id="c1", placed_at=_PLACED, total=50),
    ]
    lines = [OrderLine(order_id="o1", line_no=n, sku=f"sku-{n}", quantity=n, price=100) for n in (1, 2, 3)]
    await db.batch_write(put=[*orders, *lines])

    print("customer c1 with its orders (gsi1, Customer | Order):")
    found = await customer_with_orders(db, "c1")
    for item in found:
        print(_show(item))
    print("order o1 with its lines (table, Order | OrderLine):")
    lines_found = await order_with_lines(db, "o1")
    for item in lines_found:
        print(_show(item))
    if [type(x) for x in found] != [Customer, Order, Order] or len(lines_found) != 4:
        raise SystemExit("the collections did not read what was written")


async def _run() -> int:
    async with DB() as db:
        await demo(db)
    print("ok")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.single_table", description=__doc__)
    parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        if not os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"):
            from aiotheory.testing import MotoServer

            moto = stack.enter_context(MotoServer())
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = moto.endpoint_url
            print(f"moto server on {moto.endpoint_url}", flush=True)
        for name, value in _LOCAL_ENV.items():
            os.environ.setdefault(name, value)
        return asyncio.run(_run())


if __name__ == "__main__":
    sys.exit(main())
