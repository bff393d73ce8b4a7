"""aiotheory multi-account: base DB + Accounts.from_env at module scope; the first call of the handler
assumes partner1's role (STS) and reads one item from partner1's account. BENCH_WARM=1 does both
(AssumeRole and the DynamoDB connection) during the init phase instead, with `aws_lambda.warm_up`."""

from __future__ import annotations

import os
from typing import Annotated, Any

from _handlers import _report
from aiotheory import DB, PK, Model
from aiotheory.accounts import Accounts
from aiotheory.aws_lambda import lambda_handler, runner, warm_up


class Doc(Model, table="bench_docs"):
    id: Annotated[str, PK]
    body: str = ""


db = DB(region=os.environ["AWS_REGION"], endpoint_url=os.environ["BENCH_ENDPOINT"], transport="lean")
db.register(Doc)
accounts = Accounts.from_env(base=db, sts_endpoint_url=os.environ["BENCH_ENDPOINT"])
if os.environ.get("BENCH_WARM") == "1":
    warm_up(runner().run(accounts.db("partner1")), Doc)
_report.init_done()


class _Context:
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@lambda_handler
async def handler(event: dict[str, str], context: Any) -> str:
    partner = await accounts.db(event["partner"])
    doc = await partner.get(Doc, "d1")
    return doc.body


if __name__ == "__main__":
    body = handler({"partner": "partner1"}, _Context())
    _report.answered()
    assert body == "partner1", body
    _report.report()
