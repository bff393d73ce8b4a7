"""pydynox (Rust core, sync API): two models bound to one client made in the init phase; one get."""

from __future__ import annotations

import os

from pydynox import DynamoDBClient, Model, ModelConfig
from pydynox.attributes import NumberAttribute, StringAttribute

from _handlers import _report

client = DynamoDBClient(region=os.environ["AWS_REGION"], endpoint_url=os.environ["BENCH_ENDPOINT"])


class Payment(Model):
    model_config = ModelConfig(table="bench_payments", client=client)
    partner_id = StringAttribute(partition_key=True)
    id = StringAttribute(sort_key=True)
    amount = NumberAttribute()
    currency = StringAttribute(default="USD")
    status = StringAttribute(default="pending")
    note = StringAttribute(default="")


class Customer(Model):
    model_config = ModelConfig(table="bench_customers", client=client)
    id = StringAttribute(partition_key=True)
    name = StringAttribute()
    email = StringAttribute(default="")


_report.init_done()


def handler() -> None:
    payment = Payment.sync_get(partner_id="p1", id="pay_1")
    _report.answered()
    assert payment is not None
    assert payment.amount == 10050, payment


if __name__ == "__main__":
    handler()
    _report.report()
