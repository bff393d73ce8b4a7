"""aiodynamo over httpx: raw items (aiodynamo has no models); client made on first use."""

from __future__ import annotations

import asyncio
import os

from aiodynamo.client import Client
from aiodynamo.credentials import Credentials
from aiodynamo.http.httpx import HTTPX
from httpx import AsyncClient
from yarl import URL

from _handlers import _report

PAYMENTS = "bench_payments"  # key: partner_id (S), id (S)
CUSTOMERS = "bench_customers"  # key: id (S)

credentials = Credentials.auto()
_report.init_done()


async def handler() -> None:
    async with AsyncClient() as http:
        client = Client(HTTPX(http), credentials, os.environ["AWS_REGION"], URL(os.environ["BENCH_ENDPOINT"]))
        item = await client.get_item(PAYMENTS, {"partner_id": "p1", "id": "pay_1"})
        _report.answered()
    assert item["amount"] == 10050, item


if __name__ == "__main__":
    asyncio.run(handler())
    _report.report()
