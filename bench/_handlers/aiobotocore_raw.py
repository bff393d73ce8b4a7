"""Raw aiobotocore: one client (created in the init phase, as Lambda code keeps it), one GetItem."""

from __future__ import annotations

import asyncio
import os

from aiobotocore.session import get_session

from _handlers import _report

PAYMENTS = "bench_payments"  # key: partner_id (S), id (S)
CUSTOMERS = "bench_customers"  # key: id (S)

session = get_session()
_report.init_done()


async def handler() -> None:
    async with session.create_client(
        "dynamodb", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["BENCH_ENDPOINT"]
    ) as client:
        reply = await client.get_item(
            TableName=PAYMENTS, Key={"partner_id": {"S": "p1"}, "id": {"S": "pay_1"}}
        )
        _report.answered()
    assert reply["Item"]["amount"] == {"N": "10050"}, reply


if __name__ == "__main__":
    asyncio.run(handler())
    _report.report()
