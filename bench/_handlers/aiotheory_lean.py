"""aiotheory on its lean wire: two models, a DB at module scope, codecs compiled in the init phase."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

from _handlers import _report
from aiotheory import DB, PK, SK, Model


class Payment(Model, table="bench_payments"):
    partner_id: Annotated[str, PK]
    id: Annotated[str, SK]
    amount: int
    currency: str = "USD"
    status: str = "pending"
    note: str = ""


class Customer(Model, table="bench_customers"):
    id: Annotated[str, PK]
    name: str
    email: str = ""


db = DB(region=os.environ["AWS_REGION"], endpoint_url=os.environ["BENCH_ENDPOINT"], transport="lean")
db.register(Payment, Customer)
_report.init_done()


async def handler() -> None:
    payment = await db.get(Payment, "p1", "pay_1")
    _report.answered()
    assert payment.amount == 10050, payment


if __name__ == "__main__":
    asyncio.run(handler())
    _report.report()
