"""aiotheory (lean) as a Lambda would run it: `@lambda_handler` on the process loop, and `warm_up(db)`
in the init phase, which opens the DynamoDB connection there (init time is not billed on demand)."""

from __future__ import annotations

import os
from typing import Annotated, Any

from _handlers import _report
from aiotheory import DB, PK, SK, Model
from aiotheory.aws_lambda import lambda_handler, warm_up


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
warm_up(db)
_report.init_done()


class _Context:
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@lambda_handler
async def handler(event: dict[str, str], context: Any) -> int:
    payment = await db.get(Payment, "p1", "pay_1")
    return payment.amount


if __name__ == "__main__":
    amount = handler({}, _Context())
    _report.answered()
    assert amount == 10050, amount
    _report.report()
