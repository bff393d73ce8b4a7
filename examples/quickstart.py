"""Quickstart: models, a table, and every CRUD path, against a local engine.

Run it with `python examples/quickstart.py` in an env with `aiotheory[testing]`: it starts an in-process
moto server, so it needs no AWS account and no network. To use an engine you started yourself, e.g.
`python -m aiotheory.testing serve dynamodb-local`, export the lines that command prints first: with
`AWS_ENDPOINT_URL_DYNAMODB` set, the script uses that endpoint, region and credentials instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from typing import Annotated

from aiotheory import (
    DB,
    GSI,
    PK,
    SK,
    ConditionFailed,
    CreatedAt,
    F,
    ItemNotFound,
    Model,
    UpdatedAt,
    Version,
    deadline,
)
from aiotheory.testing import MotoServer


class Payment(Model, table="payments"):
    partner_id: Annotated[str, PK]
    id: Annotated[str, SK]
    amount: int  # minor units: 100.50 USD is 10050
    currency: str = "USD"
    status: Annotated[str, GSI("by-status", "pk")] = "pending"
    created_at: Annotated[dt.datetime | None, CreatedAt, GSI("by-status", "sk")] = None
    updated_at: Annotated[dt.datetime | None, UpdatedAt] = None
    version: Annotated[int, Version] = 0
    tags: set[str] = set()


def show(step: str, detail: object, started: float) -> None:
    print(f"{step:<34} {(time.perf_counter() - started) * 1000:7.1f} ms  {detail}")


async def main(db: DB) -> None:
    db.register(Payment)  # compile schema and codec now (what a Lambda does at init); no I/O
    async with db, deadline(seconds=10):
        t = time.perf_counter()
        await db.create_table(Payment)
        show("create_table", db.table_name(Payment), t)

        t = time.perf_counter()
        p = await db.create(Payment(partner_id="p1", id="pay_1", amount=10050, tags={"web"}))
        show("create", f"{p.id} amount={p.amount} version={p.version} created_at={p.created_at}", t)

        t = time.perf_counter()
        try:
            await db.create(Payment(partner_id="p1", id="pay_1", amount=1))
        except ConditionFailed as exc:
            show("create again", f"ConditionFailed ({exc.code}); the stored item kept amount={p.amount}", t)

        t = time.perf_counter()
        paid = await db.update(
            p,
            F(Payment.status).set("paid"),
            F(Payment.amount).add(500),
            F(Payment.tags).add({"settled"}),
            condition=F(Payment.status) == "pending",
        )
        show(
            "update",
            f"status={paid.status} amount={paid.amount} version={paid.version} tags={sorted(paid.tags)}",
            t,
        )

        t = time.perf_counter()
        try:
            await db.update(p, F(Payment.amount).add(1))  # p is the stale version-0 copy
        except ConditionFailed:
            show("update with stale version", "ConditionFailed: optimistic lock held", t)

        t = time.perf_counter()
        got = await db.get(Payment, "p1", "pay_1")
        show("get", f"{got.id} status={got.status} amount={got.amount}", t)

        t = time.perf_counter()
        await db.put(got.model_copy(update={"currency": "EUR"}))
        show("put (replace)", f"currency={(await db.get(Payment, 'p1', 'pay_1')).currency}", t)

        t = time.perf_counter()
        await db.delete(await db.get(Payment, "p1", "pay_1"))
        show("delete", f"find -> {await db.find(Payment, 'p1', 'pay_1')}", t)

        t = time.perf_counter()
        try:
            await db.get(Payment, "p1", "pay_1")
        except ItemNotFound:
            show("get after delete", "ItemNotFound", t)

        await db.delete_table(Payment)


if __name__ == "__main__":
    served = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
    if served:
        print(f"engine at {served} (from AWS_ENDPOINT_URL_DYNAMODB)")
        # Endpoint, region and credentials all come from the environment `serve` printed.
        asyncio.run(main(DB(table_prefix="demo_")))
    else:
        server = MotoServer()
        server.start()
        try:
            print(f"embedded moto server at {server.endpoint_url}")
            db = DB(
                region="us-east-1",
                endpoint_url=server.endpoint_url,
                credentials=("testing", "testing"),  # the test kit's fixed key (aiotheory.testing)
                table_prefix="demo_",
            )
            asyncio.run(main(db))
        finally:
            server.stop()
