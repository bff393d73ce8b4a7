"""The floor: the stdlib client of bench/_floor.py; the two "models" are table names and key shapes."""

from __future__ import annotations

import asyncio
import os

from _floor import FloorClient

from _handlers import _report

PAYMENTS = "bench_payments"  # key: partner_id (S), id (S)
CUSTOMERS = "bench_customers"  # key: id (S)

client = FloorClient(
    os.environ["BENCH_ENDPOINT"],
    os.environ["AWS_REGION"],
    os.environ["AWS_ACCESS_KEY_ID"],
    os.environ["AWS_SECRET_ACCESS_KEY"],
    os.environ.get("AWS_SESSION_TOKEN"),
)
_report.init_done()


async def handler() -> None:
    item = await client.get_item(PAYMENTS, {"partner_id": {"S": "p1"}, "id": {"S": "pay_1"}})
    _report.answered()
    assert item is not None
    assert item["amount"] == {"N": "10050"}, item


if __name__ == "__main__":
    asyncio.run(handler())
    _report.report()
