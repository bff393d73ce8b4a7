"""CRUD end to end on the engine under test (moto by default, DynamoDB Local in tests-ddblocal)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import pytest

from aiotheory import (
    DB,
    GSI,
    PK,
    SK,
    TTL,
    ConditionFailed,
    CreatedAt,
    ItemNotFound,
    Model,
    UpdatedAt,
    Version,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class Status(Enum):
    PENDING = "pending"
    PAID = "paid"


class Address(Model):
    city: str
    zip: str | None = None


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
    tags: set[str] = set()
    meta: dict[str, str] = {}


class Profile(Model, table="profiles"):
    user_id: Annotated[uuid.UUID, PK]
    name: str
    balance: Decimal = Decimal("0")
    status: Status = Status.PENDING
    address: Address | None = None
    avatar: bytes | None = None
    scores: list[int] = []


class _Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
async def clocked(db: DB) -> AsyncIterator[tuple[DB, _Clock]]:
    """The test's DB with an injected clock (same endpoint, transport kind and table prefix)."""
    clock = _Clock()
    async with db.derive(clock=clock) as derived:
        yield derived, clock


async def test_create_then_get_round_trips_every_field(db: DB, make_table) -> None:
    await make_table(Payment)
    p = Payment(partner_id="p1", id="pay_1", amount=10050, tags={"a", "b"}, meta={"city": "Oslo"})
    written = await db.create(p)
    assert written is not p
    assert written.version == 0
    assert written.created_at is not None and written.created_at == written.updated_at
    assert p.created_at is None  # arguments are never mutated
    got = await db.get(Payment, "p1", "pay_1")
    assert got == written


async def test_get_raises_item_not_found_when_absent(db: DB, make_table) -> None:
    await make_table(Payment)
    with pytest.raises(ItemNotFound):
        await db.get(Payment, "p1", "nope")
    assert await db.find(Payment, "p1", "nope") is None


async def test_find_returns_item_with_consistent_read(db: DB, make_table) -> None:
    await make_table(Payment)
    await db.put(Payment(partner_id="p1", id="x", amount=1))
    got = await db.find(Payment, "p1", "x", consistent=True)
    assert got is not None and got.amount == 1


async def test_create_raises_condition_failed_when_key_exists(db: DB, make_table) -> None:
    await make_table(Payment)
    await db.create(Payment(partner_id="p1", id="dup", amount=1))
    with pytest.raises(ConditionFailed) as info:
        await db.create(Payment(partner_id="p1", id="dup", amount=2))
    assert info.value.code == "ConditionalCheckFailedException"
    assert info.value.operation == "PutItem"
    # the old item comes back so the caller can see what won
    assert isinstance(info.value.old, Payment)
    assert info.value.old.amount == 1
    assert (await db.get(Payment, "p1", "dup")).amount == 1


async def test_put_replaces_and_keeps_supplied_created_at(clocked: tuple[DB, _Clock], make_table) -> None:
    db, clock = clocked
    await make_table(Payment)
    created = dt.datetime(2020, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    await db.put(Payment(partner_id="p1", id="x", amount=1, created_at=created))
    got = await db.get(Payment, "p1", "x")
    assert got.created_at == created
    assert got.updated_at == clock.now


async def test_put_with_condition_raises_when_condition_fails(db: DB, make_table) -> None:
    await make_table(Payment)
    await db.put(Payment(partner_id="p1", id="x", amount=5))
    with pytest.raises(ConditionFailed):
        await db.put(Payment(partner_id="p1", id="x", amount=6), condition=Payment.amount > 10)
    await db.put(Payment(partner_id="p1", id="x", amount=7), condition=Payment.amount < 10)
    assert (await db.get(Payment, "p1", "x")).amount == 7


async def test_update_returns_new_model_and_bumps_version(clocked: tuple[DB, _Clock], make_table) -> None:
    db, clock = clocked
    await make_table(Payment)
    p = await db.create(Payment(partner_id="p1", id="u", amount=100, tags={"x"}))
    clock.advance(60)
    new = await db.update(
        p,
        Payment.status.set("paid"),
        Payment.amount.add(5),
        Payment.tags.add({"y"}),
        Payment.meta["note"].set("hello"),
        condition=Payment.status == "pending",
    )
    assert new.status == "paid" and new.amount == 105 and new.tags == {"x", "y"}
    assert new.meta == {"note": "hello"}
    assert new.version == 1
    assert new.updated_at == clock.now and new.created_at == p.created_at
    assert p.status == "pending" and p.version == 0  # not mutated
    assert await db.get(Payment, "p1", "u") == new


async def test_update_raises_condition_failed_when_version_is_stale(db: DB, make_table) -> None:
    await make_table(Payment)
    p = await db.create(Payment(partner_id="p1", id="v", amount=1))
    await db.update(p, Payment.amount.add(1))
    with pytest.raises(ConditionFailed) as info:
        await db.update(p, Payment.amount.add(1))  # p still says version 0
    assert isinstance(info.value.old, Payment) and info.value.old.version == 1
    assert (await db.get(Payment, "p1", "v")).amount == 2


async def test_update_raises_item_not_found_when_absent(db: DB, make_table) -> None:
    await make_table(Payment)
    ghost = Payment(partner_id="p1", id="ghost", amount=1)
    with pytest.raises(ItemNotFound):
        await db.update(ghost, Payment.amount.add(1))
    assert await db.find(Payment, "p1", "ghost") is None  # no partial item was created


async def test_update_upserts_when_asked(db: DB, make_table) -> None:
    await make_table(Payment)
    ghost = Payment(partner_id="p1", id="ghost", amount=1)
    new = await db.update(ghost, Payment.amount.set(3), upsert=True)
    assert new.amount == 3
    assert (await db.get(Payment, "p1", "ghost")).amount == 3


async def test_update_remove_and_list_append(db: DB, make_table) -> None:
    await make_table(Profile)
    uid = uuid.uuid4()
    prof = await db.create(
        Profile(user_id=uid, name="n", scores=[1], address=Address(city="Oslo", zip="0150"))
    )
    new = await db.update(prof, Profile.scores.append([2, 3]), Profile.address["zip"].remove())
    assert new.scores == [1, 2, 3]
    assert new.address == Address(city="Oslo")


async def test_delete_by_instance_checks_version(db: DB, make_table) -> None:
    await make_table(Payment)
    p = await db.create(Payment(partner_id="p1", id="d", amount=1))
    newer = await db.update(p, Payment.amount.add(1))
    with pytest.raises(ConditionFailed):
        await db.delete(p)
    await db.delete(newer)
    assert await db.find(Payment, "p1", "d") is None


async def test_delete_by_key_and_condition(db: DB, make_table) -> None:
    await make_table(Payment)
    await db.put(Payment(partner_id="p1", id="k", amount=1))
    with pytest.raises(ConditionFailed):
        await db.delete(Payment, "p1", "k", condition=Payment.amount == 2)
    await db.delete(Payment, "p1", "k", condition=Payment.amount == 1)
    assert await db.find(Payment, "p1", "k") is None
    await db.delete(Payment, "p1", "k")  # deleting a missing key is a no-op


async def test_types_round_trip_through_the_engine(db: DB, make_table) -> None:
    await make_table(Profile)
    uid = uuid.uuid4()
    prof = Profile(
        user_id=uid,
        name="Åse",
        balance=Decimal("12345678901234567890.123456789"),
        status=Status.PAID,
        address=Address(city="Bergen"),
        avatar=b"\x00\x01\xff",
        scores=[3, 1, 2],
    )
    await db.put(prof)
    assert await db.get(Profile, uid) == prof


async def test_replace_bumps_version_and_keeps_created_at(clocked: tuple[DB, _Clock], make_table) -> None:
    db, clock = clocked
    await make_table(Payment)
    p = await db.create(Payment(partner_id="p1", id="r", amount=1))
    clock.advance(30)
    new = await db.replace(p.model_copy(update={"amount": 2, "status": "paid"}))
    assert (new.version, new.amount, new.status) == (1, 2, "paid")
    assert new.created_at == p.created_at and new.updated_at == clock.now
    assert await db.get(Payment, "p1", "r") == new


async def test_replace_raises_condition_failed_when_stale(db: DB, make_table) -> None:
    await make_table(Payment)
    p = await db.create(Payment(partner_id="p1", id="r", amount=1))
    newer = await db.replace(p.model_copy(update={"amount": 2}))
    with pytest.raises(ConditionFailed) as info:
        await db.replace(p.model_copy(update={"amount": 3}))  # read at version 0, stored is 1
    assert isinstance(info.value.old, Payment) and info.value.old.amount == 2
    assert await db.get(Payment, "p1", "r") == newer


async def test_replace_raises_item_not_found_and_writes_nothing(db: DB, make_table) -> None:
    await make_table(Payment)
    with pytest.raises(ItemNotFound):
        await db.replace(Payment(partner_id="p1", id="ghost", amount=1))
    assert await db.find(Payment, "p1", "ghost") is None


async def test_concurrent_replaces_from_one_version_exactly_one_wins(db: DB, make_table) -> None:
    await make_table(Payment)
    p = await db.create(Payment(partner_id="p1", id="race", amount=0))
    results = await asyncio.gather(
        *(db.replace(p.model_copy(update={"amount": i})) for i in range(1, 7)), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, Payment)]
    assert len(winners) == 1
    assert all(isinstance(r, ConditionFailed) for r in results if not isinstance(r, Payment))
    assert await db.get(Payment, "p1", "race") == winners[0]
