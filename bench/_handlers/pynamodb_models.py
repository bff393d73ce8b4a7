"""PynamoDB (sync, botocore underneath): two models; one get."""

from __future__ import annotations

import os

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from _handlers import _report

_REGION = os.environ["AWS_REGION"]
_HOST = os.environ["BENCH_ENDPOINT"]


class Payment(Model):
    class Meta:
        table_name = "bench_payments"
        region = _REGION
        host = _HOST

    partner_id = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)
    amount = NumberAttribute()
    currency = UnicodeAttribute(default="USD")
    status = UnicodeAttribute(default="pending")
    note = UnicodeAttribute(default="")


class Customer(Model):
    class Meta:
        table_name = "bench_customers"
        region = _REGION
        host = _HOST

    id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    email = UnicodeAttribute(default="")


_report.init_done()


def handler() -> None:
    payment = Payment.get("p1", "pay_1")
    _report.answered()
    assert payment.amount == 10050, payment


if __name__ == "__main__":
    handler()
    _report.report()
