"""Lifecycle fields end to end: Version (single ops, transactions, batches, concurrency), CreatedAt /
UpdatedAt from an injected clock, TTL as epoch seconds, and omit-empty fields."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Annotated

import pytest

from aiotheory import (
    DB,
    PK,
    TTL,
    ConditionFailed,
    CreatedAt,
    F,
    Model,
    OmitEmpty,
    TransactionCanceled,
    UpdatedAt,
    Version,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiotheory._types import Item
    from aiotheory.testing import MakeTable

T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)


class Doc(Model, table="lc_docs"):
    id: Annotated[str, PK]
    body: str = ""
    created_at: Annotated[dt.datetime | None, CreatedAt] = None
    updated_at: Annotated[dt.datetime | None, UpdatedAt] = None
    version: Annotated[int, Version] = 0


class Session(Model, table="lc_sessions"):
    id: Annotated[str, PK]
    expires: Annotated[dt.datetime | None, TTL] = None
    note: Annotated[str, OmitEmpty] = ""
    tags: Annotated[list[str], OmitEmpty] = []
    meta: Annotated[dict[str, str], OmitEmpty] = {}
    plain: str = ""


class Ticket(Model, table="lc_tickets"):
    id: Annotated[str, PK]
    expires_at: Annotated[int, TTL] = 0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def tick(self, seconds: float = 60) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now


@pytest.fixture
async def timed(db: DB) -> AsyncIterator[tuple[DB, Clock]]:
    clock = Clock()
    async with db.derive(clock=clock) as derived:
        yield derived, clock


async def _raw(db: DB, model: type[Model], key: Item) -> Item:
    reply = await db.raw("GetItem", {"TableName": db.table_name(model), "Key": key, "ConsistentRead": True})
    item: Item = reply["Item"]
    return item


async def test_version_and_stamps_through_create_update_delete(
    timed: tuple[DB, Clock], make_table: MakeTable
) -> None:
    db, clock = timed
    await make_table(Doc)
    doc = await db.create(Doc(id="d", version=41))
    assert (doc.version, doc.created_at, doc.updated_at) == (0, T0, T0)
    later = clock.tick()
    v1 = await db.update(doc, F(Doc.body).set("hello"))
    assert (v1.version, v1.created_at, v1.updated_at, v1.body) == (1, T0, later, "hello")
    assert doc.version == 0  # the argument is not mutated
    with pytest.raises(ConditionFailed) as caught:
        await db.update(doc, F(Doc.body).set("stale"))
    assert isinstance(caught.value.old, Doc) and caught.value.old.version == 1
    with pytest.raises(ConditionFailed):
        await db.delete(doc)
    await db.delete(v1)
    assert await db.find(Doc, "d") is None


async def test_put_keeps_a_supplied_created_at_and_sets_a_missing_one(
    timed: tuple[DB, Clock], make_table: MakeTable
) -> None:
    db, _ = timed
    await make_table(Doc)
    earlier = T0 - dt.timedelta(days=3)
    kept = await db.put(Doc(id="a", created_at=earlier, version=5))
    assert (kept.created_at, kept.updated_at, kept.version) == (earlier, T0, 5)  # put writes Version as given
    fresh = await db.put(Doc(id="b"))
    assert fresh.created_at == fresh.updated_at == T0
    assert await db.get(Doc, "a") == kept


async def test_versions_and_stamps_inside_a_transaction(
    timed: tuple[DB, Clock], make_table: MakeTable
) -> None:
    db, _ = timed
    await make_table(Doc)
    current = await db.create(Doc(id="u"))
    async with db.transaction() as tx:
        created = tx.create(Doc(id="n", version=9))
        tx.update(current, F(Doc.body).set("x"))
    assert created.version == 0
    assert await db.get(Doc, "n") == created
    updated = await db.get(Doc, "u")
    assert (updated.version, updated.body, updated.created_at) == (1, "x", T0)
    with pytest.raises(TransactionCanceled) as caught:
        async with db.transaction() as tx:
            tx.delete(current)  # version 0 is stale now
    assert caught.value.reasons[0].code == "ConditionalCheckFailed"
    assert await db.get(Doc, "u") == updated


async def test_batch_write_stamps_but_writes_versions_as_given_unchecked(
    timed: tuple[DB, Clock], make_table: MakeTable
) -> None:
    db, clock = timed
    await make_table(Doc)
    await db.create(Doc(id="a"))
    await db.update(await db.get(Doc, "a"), F(Doc.body).set("v1"))
    later = clock.tick()
    # BatchWriteItem takes no conditions: a stale version is written over the stored one.
    await db.batch_write(put=[Doc(id="a", body="batch", version=0), Doc(id="b", version=3)])
    a, b = await db.batch_get(Doc, ["a", "b"])
    assert a is not None and (a.body, a.version, a.updated_at, a.created_at) == ("batch", 0, later, later)
    assert b is not None and b.version == 3


async def test_ttl_is_stored_as_epoch_seconds_and_enabled_on_the_table(db: DB, make_table: MakeTable) -> None:
    await make_table(Session, Ticket)
    expires = dt.datetime(2030, 1, 1, 0, 0, 30, 999_000, tzinfo=dt.UTC)
    await db.put(Session(id="s", expires=expires))
    await db.put(Ticket(id="t", expires_at=1_900_000_000))
    assert (await _raw(db, Session, {"id": {"S": "s"}}))["expires"] == {"N": str(int(expires.timestamp()))}
    assert (await _raw(db, Ticket, {"id": {"S": "t"}}))["expires_at"] == {"N": "1900000000"}
    assert (await db.get(Session, "s")).expires == expires.replace(microsecond=0)
    for model, attribute in ((Session, "expires"), (Ticket, "expires_at")):
        ttl = await db.describe_ttl(model)
        assert ttl["AttributeName"] == attribute
        assert ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING")


async def test_omit_empty_fields_are_not_written(db: DB, make_table: MakeTable) -> None:
    await make_table(Session)
    await db.put(Session(id="e"))
    await db.put(Session(id="f", note="n", tags=["t"], meta={"k": "v"}))
    empty = await _raw(db, Session, {"id": {"S": "e"}})
    assert set(empty) == {"id", "plain"}  # `plain` has no OmitEmpty: its "" is written
    full = await _raw(db, Session, {"id": {"S": "f"}})
    assert {"note", "tags", "meta"} <= set(full)
    got = await db.get(Session, "e")
    assert (got.note, got.tags, got.meta) == ("", [], {})
    (batched,) = await db.batch_write(put=[Session(id="g")])
    assert set(await _raw(db, Session, {"id": {"S": "g"}})) == {"id", "plain"}
    assert batched.note == ""


# moto's threaded server checks a condition and writes without a lock: under load two writers of one
# version both won (28 of 180 rounds on a loaded 2-core machine, every reply a real ALL_NEW, no lost
# reply involved). DynamoDB Local applies conditional writes atomically, as DynamoDB does.
@pytest.mark.ddblocal_only
async def test_concurrent_updates_from_one_version_exactly_one_wins_per_version(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(Doc)
    await db.create(Doc(id="hot"))
    contenders = 8
    for version in range(3):
        snapshot = await db.get(Doc, "hot", consistent=True)
        assert snapshot.version == version
        outcomes = await asyncio.gather(
            *(db.update(snapshot, F(Doc.body).set(f"writer-{i}")) for i in range(contenders)),
            return_exceptions=True,
        )
        winners = [o for o in outcomes if isinstance(o, Doc)]
        losers = [o for o in outcomes if isinstance(o, ConditionFailed)]
        assert len(winners) == 1 and len(losers) == contenders - 1, outcomes
        assert winners[0].version == version + 1
        stored = await db.get(Doc, "hot", consistent=True)
        assert stored == winners[0]
