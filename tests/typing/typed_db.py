"""mypy-only: pins the public types of DESIGN §1's typed spelling through the DB (`nox -s typecheck`).

Never run; each `assert_type` fails type checking if a public signature drifts.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, assert_type

from aiotheory import (
    DB,
    GSI,
    PK,
    SK,
    TTL,
    AccountConfig,
    Accounts,
    ConditionFailed,
    CreatedAt,
    F,
    Model,
    Page,
    UpdatedAt,
    Version,
    current_partner,
    deadline,
    lambda_handler,
    partner_scope,
)
from aiotheory.query import Query, Scan

__all__: list[str] = []


class Payment(Model, table="payments"):
    partner_id: Annotated[str, PK]
    id: Annotated[str, SK]
    amount: int
    currency: str = "USD"
    status: Annotated[str, GSI("by-status", "pk")] = "pending"
    created_at: Annotated[dt.datetime | None, CreatedAt, GSI("by-status", "sk")] = None
    updated_at: Annotated[dt.datetime | None, UpdatedAt] = None
    version: Annotated[int, Version] = 0
    expires_at: Annotated[dt.datetime | None, TTL] = None


async def crud(db: DB) -> None:
    async with deadline(seconds=2.0):
        p = Payment(partner_id="p1", id="pay_1", amount=10050)
        assert_type(await db.create(p), Payment)
        assert_type(await db.put(p), Payment)
        assert_type(await db.replace(p), Payment)
        assert_type(await db.save(p.model_copy(update={"amount": 1})), Payment)
        assert_type(await db.get(Payment, "p1", "pay_1"), Payment)
        assert_type(await db.find(Payment, "p1", "pay_1"), Payment | None)
        new = await db.update(
            p,
            F(Payment.status).set("paid"),
            F(Payment.amount).add(5),
            condition=F(Payment.status) == "pending",
        )
        assert_type(new, Payment)
        assert_type(await db.delete(new), None)
        assert_type(await db.delete(Payment, "p1", "pay_1"), None)
        try:
            await db.create(p)
        except ConditionFailed as exc:
            assert_type(exc.code, str)


async def queries(db: DB, cursor: str | None) -> None:
    q = db.query(Payment).key(F(Payment.partner_id) == "p1", F(Payment.id).begins_with("pay_"))
    assert_type(q, Query[Payment])
    assert_type(q.filter(F(Payment.amount) > 100).limit(50), Query[Payment])
    async for item in q:
        assert_type(item, Payment)
    page = (
        await db.query(Payment)
        .index("by-status")
        .key(F(Payment.status) == "pending")
        .page(size=25, cursor=cursor)
    )
    assert_type(page, Page[Payment])
    assert_type(page.items, list[Payment])
    assert_type(page.cursor, str | None)
    assert_type(await q.first(), Payment | None)
    assert_type(await q.count(), int)
    assert_type(db.scan(Payment), Scan[Payment])


async def batches(db: DB, items: list[Payment]) -> None:
    got = await db.batch_get(Payment, [("p1", "pay_1"), ("p1", "pay_2")])
    assert_type(got, list[Payment | None])
    assert_type(await db.batch_write(put=items), list[Payment])
    async with db.transaction() as tx:
        tx.put(items[0])
        tx.update(items[1], F(Payment.amount).add(-5))
        assert_type(tx.save(items[2]), None)
        tx.check(items[0], F(Payment.status) == "open")


async def partners(db: DB) -> None:
    accounts = Accounts(
        {"partner1": AccountConfig(role_arn="arn:aws:iam::111111111111:role/x", external_id="ext-1")}, base=db
    )
    assert_type(await accounts.db("partner1"), DB)
    assert_type(await accounts.db(None), DB)  # the base DB
    accounts.add("partner2", AccountConfig("arn:aws:iam::222222222222:role/x"))
    assert_type(await accounts.remove("partner2"), None)
    assert_type(accounts.session_name("partner1"), str)
    async with accounts.use("partner1") as partner_db:
        assert_type(partner_db, DB)
        assert_type(current_partner(), str | None)
    with partner_scope("partner1") as served:
        assert_type(served, str | None)


@lambda_handler
async def handler(event: dict[str, object], context: object) -> dict[str, object]:
    return {"ok": True}


@lambda_handler(buffer_ms=500)
async def handler2(event: dict[str, object], context: object) -> dict[str, object]:
    return {"ok": True}
