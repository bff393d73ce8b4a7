"""The floor client plus two plain pydantic models the reply is validated into (a reference row)."""

from __future__ import annotations

import asyncio
import os

from _floor import FloorClient
from pydantic import BaseModel

from _handlers import _report


class Payment(BaseModel):
    partner_id: str
    id: str
    amount: int
    currency: str = "USD"
    status: str = "pending"
    note: str = ""


class Customer(BaseModel):
    id: str
    name: str
    email: str = ""


client = FloorClient(
    os.environ["BENCH_ENDPOINT"],
    os.environ["AWS_REGION"],
    os.environ["AWS_ACCESS_KEY_ID"],
    os.environ["AWS_SECRET_ACCESS_KEY"],
    os.environ.get("AWS_SESSION_TOKEN"),
)
_report.init_done()


async def handler() -> None:
    item = await client.get_item("bench_payments", {"partner_id": {"S": "p1"}, "id": {"S": "pay_1"}})
    assert item is not None
    payment = Payment.model_validate({k: next(iter(v.values())) for k, v in item.items()})
    _report.answered()
    assert payment.amount == 10050, payment


if __name__ == "__main__":
    asyncio.run(handler())
    _report.report()
