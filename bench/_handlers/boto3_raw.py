"""boto3's low-level client (sync), created in the init phase; one GetItem."""

from __future__ import annotations

import os

import boto3

from _handlers import _report

PAYMENTS = "bench_payments"  # key: partner_id (S), id (S)
CUSTOMERS = "bench_customers"  # key: id (S)

client = boto3.client(
    "dynamodb", region_name=os.environ["AWS_REGION"], endpoint_url=os.environ["BENCH_ENDPOINT"]
)
_report.init_done()


def handler() -> None:
    reply = client.get_item(TableName=PAYMENTS, Key={"partner_id": {"S": "p1"}, "id": {"S": "pay_1"}})
    _report.answered()
    assert reply["Item"]["amount"] == {"N": "10050"}, reply


if __name__ == "__main__":
    handler()
    _report.report()
