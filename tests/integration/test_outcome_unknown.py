"""Never twice: every write kind whose reply is lost after DynamoDB applied it, on the engine under test.

Each scenario arms one lost reply for its write, then asserts from the stored item that the write was
applied exactly once, and that the call returned the right result or raised OutcomeUnknown (never a
ConditionFailed for its own write). The loss is injected at the Transport seam (`LostReply`, under the
retry loop), and with real damaged bytes through the test kit's DamagingProxy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated, Final, Literal, Protocol

import pytest

from aiotheory import (
    DB,
    PK,
    ConditionFailed,
    F,
    Model,
    OutcomeUnknown,
    UpdatedAt,
    Version,
)
from aiotheory.testing import Backend, Damage, DamagingProxy, FaultTransport, LostReply, MakeTable


class Ctr(Model, table="counters"):
    """No Version, no UpdatedAt: nothing in the item can tell our write from another's."""

    id: Annotated[str, PK]
    n: int = 0
    status: str = "pending"
    items: list[str] = []


class Doc(Model, table="docs"):
    id: Annotated[str, PK]
    n: int = 0
    status: str = "pending"
    tags: set[str] = set()
    updated_at: Annotated[dt.datetime | None, UpdatedAt] = None
    version: Annotated[int, Version] = 0


class Stamped(Model, table="stamped"):
    """UpdatedAt but no Version: the stamp marks our write."""

    id: Annotated[str, PK]
    status: str = "pending"
    updated_at: Annotated[dt.datetime | None, UpdatedAt] = None


class Damaged(Protocol):
    """`damaged(op)` returns a DB whose next `op` request reaches the engine and then has its reply
    damaged; `lost` says whether that damage loses the reply (a stray extra reply does not)."""

    lost: bool

    def __call__(self, operation: str, /) -> DB: ...


Scenario = Callable[[DB, Damaged], Awaitable[None]]


async def _unknown(damaged: Damaged, write: Awaitable[object]) -> None:
    """A write that cannot be resent: OutcomeUnknown when its reply is lost, else it simply succeeds."""
    if damaged.lost:
        with pytest.raises(OutcomeUnknown):
            await write
    else:
        await write


async def _put(direct: DB, damaged: Damaged) -> None:
    doc = Doc(id="put", n=7, version=3)
    written = await damaged("PutItem").put(doc)
    stored = await direct.get(Doc, "put", consistent=True)
    assert stored == written and stored.n == 7 and stored.version == 3


async def _create(direct: DB, damaged: Damaged) -> None:
    created = await damaged("PutItem").create(Doc(id="create", n=1))
    assert await direct.get(Doc, "create", consistent=True) == created


async def _create_existing(direct: DB, damaged: Damaged) -> None:
    """Someone else's item: ConditionFailed (ours never landed), even with the reply lost."""
    theirs = await direct.create(Doc(id="taken", n=99))
    with pytest.raises(ConditionFailed) as caught:
        await damaged("PutItem").create(Doc(id="taken", n=1))
    assert caught.value.old == theirs
    assert await direct.get(Doc, "taken", consistent=True) == theirs


async def _replace(direct: DB, damaged: Damaged) -> None:
    loaded = await direct.create(Doc(id="replace", n=1))
    new = await damaged("PutItem").replace(loaded.model_copy(update={"n": 2}))
    stored = await direct.get(Doc, "replace", consistent=True)
    assert stored == new and stored.version == 1 and stored.n == 2


async def _update_add(direct: DB, damaged: Damaged) -> None:
    await direct.create(Ctr(id="add"))
    if damaged.lost:
        with pytest.raises(OutcomeUnknown) as caught:
            await damaged("UpdateItem").update(Ctr(id="add"), F(Ctr.n).add(5))
        assert caught.value.key == {"id": {"S": "add"}} and caught.value.operation == "UpdateItem"
    else:
        assert (await damaged("UpdateItem").update(Ctr(id="add"), F(Ctr.n).add(5))).n == 5
    assert (await direct.get(Ctr, "add", consistent=True)).n == 5


async def _update_append(direct: DB, damaged: Damaged) -> None:
    await direct.create(Ctr(id="append", items=["a"]))
    await _unknown(damaged, damaged("UpdateItem").update(Ctr(id="append"), F(Ctr.items).append(["b"])))
    assert (await direct.get(Ctr, "append", consistent=True)).items == ["a", "b"]


async def _update_arithmetic(direct: DB, damaged: Damaged) -> None:
    await direct.create(Ctr(id="arith", n=1))
    await _unknown(damaged, damaged("UpdateItem").update(Ctr(id="arith"), F(Ctr.n).set(F(Ctr.n) + 2)))
    assert (await direct.get(Ctr, "arith", consistent=True)).n == 3


async def _update_set(direct: DB, damaged: Damaged) -> None:
    """SET to a value is idempotent: resent, and the call returns the new item."""
    await direct.create(Ctr(id="set"))
    new = await damaged("UpdateItem").update(Ctr(id="set"), F(Ctr.status).set("paid"))
    assert new.status == "paid"
    assert await direct.get(Ctr, "set", consistent=True) == new


async def _update_set_guarded_unmarked(direct: DB, damaged: Damaged) -> None:
    """A guarded SET whose resend fails its guard, on an item with no mark of who wrote: unknown."""
    await direct.create(Ctr(id="guard"))
    write = damaged("UpdateItem").update(
        Ctr(id="guard"), F(Ctr.status).set("paid"), condition=F(Ctr.status) == "pending"
    )
    await _unknown(damaged, write)
    assert (await direct.get(Ctr, "guard", consistent=True)).status == "paid"


async def _update_set_guarded_stamped(direct: DB, damaged: Damaged) -> None:
    """The same guarded SET on a model whose UpdatedAt stamp marks our write: resolved as success."""
    await direct.create(Stamped(id="stamp"))
    new = await damaged("UpdateItem").update(
        Stamped(id="stamp"), F(Stamped.status).set("paid"), condition=F(Stamped.status) == "pending"
    )
    assert new.status == "paid"
    assert await direct.get(Stamped, "stamp", consistent=True) == new


async def _versioned_add(direct: DB, damaged: Damaged) -> None:
    loaded = await direct.create(Doc(id="vadd", n=10))
    new = await damaged("UpdateItem").update(loaded, F(Doc.n).add(5))
    stored = await direct.get(Doc, "vadd", consistent=True)
    assert stored == new and stored.n == 15 and stored.version == 1


async def _versioned_set_guarded(direct: DB, damaged: Damaged) -> None:
    loaded = await direct.create(Doc(id="vset"))
    new = await damaged("UpdateItem").update(
        loaded, F(Doc.status).set("paid"), F(Doc.tags).add({"x"}), condition=F(Doc.status) == "pending"
    )
    stored = await direct.get(Doc, "vset", consistent=True)
    assert stored == new and stored.status == "paid" and stored.tags == {"x"} and stored.version == 1


async def _versioned_stale(direct: DB, damaged: Damaged) -> None:
    """A versioned update from a stale copy: ConditionFailed, not ours, nothing applied."""
    loaded = await direct.create(Doc(id="stale", n=1))
    current = await direct.update(loaded, F(Doc.n).add(1))
    with pytest.raises(ConditionFailed) as caught:
        await damaged("UpdateItem").update(loaded, F(Doc.n).add(100))
    assert caught.value.old == current
    assert await direct.get(Doc, "stale", consistent=True) == current


async def _delete_versioned(direct: DB, damaged: Damaged) -> None:
    loaded = await direct.create(Doc(id="del"))
    await damaged("DeleteItem").delete(loaded)
    assert await direct.find(Doc, "del", consistent=True) is None


async def _delete_by_key(direct: DB, damaged: Damaged) -> None:
    await direct.create(Ctr(id="delkey"))
    await damaged("DeleteItem").delete(Ctr, "delkey")
    assert await direct.find(Ctr, "delkey", consistent=True) is None


async def _batch_write(direct: DB, damaged: Damaged) -> None:
    await direct.create(Ctr(id="gone"))
    items = [Ctr(id=f"b{i}", n=i) for i in range(30)]
    await damaged("BatchWriteItem").batch_write(put=items, delete=[(Ctr, "gone")])
    got = await direct.batch_get(Ctr, [c.id for c in items], consistent=True)
    assert got == items
    assert await direct.find(Ctr, "gone", consistent=True) is None


async def _transaction(direct: DB, damaged: Damaged) -> None:
    await direct.create(Ctr(id="tx", n=1))
    async with damaged("TransactWriteItems").transaction() as tx:
        tx.update(Ctr(id="tx"), F(Ctr.n).add(10))
        tx.put(Ctr(id="tx-new", n=2))
    assert (await direct.get(Ctr, "tx", consistent=True)).n == 11
    assert (await direct.get(Ctr, "tx-new", consistent=True)).n == 2


async def _update_idempotent(direct: DB, damaged: Damaged) -> None:
    """The opt-in exactly-once path: an ADD sent as a token-carrying transaction is resent safely."""
    await direct.create(Ctr(id="once"))
    new = await damaged("TransactWriteItems").update(Ctr(id="once"), F(Ctr.n).add(5), idempotent=True)
    assert new.n == 5
    assert (await direct.get(Ctr, "once", consistent=True)).n == 5


async def _save_versioned(direct: DB, damaged: Damaged) -> None:
    """A save is a versioned UpdateItem: the resend fails the version check and the stored item
    (version + 1, our values) shows it landed, so the call returns the new item."""
    loaded = await direct.create(Doc(id="save", n=1, tags={"a"}))
    new = await damaged("UpdateItem").save(loaded.model_copy(update={"n": 2, "tags": set()}))
    stored = await direct.get(Doc, "save", consistent=True)
    assert stored == new and stored.n == 2 and stored.tags == set() and stored.version == 1


async def _save_stale(direct: DB, damaged: Damaged) -> None:
    """A save from a stale copy: ConditionFailed (another writer saved first), nothing of ours applied."""
    loaded = await direct.create(Doc(id="save-stale", n=1))
    current = await direct.save(loaded.model_copy(update={"status": "paid"}))
    with pytest.raises(ConditionFailed) as caught:
        await damaged("UpdateItem").save(loaded.model_copy(update={"n": 100}))
    assert caught.value.old == current
    assert await direct.get(Doc, "save-stale", consistent=True) == current


async def _save_unmarked(direct: DB, damaged: Damaged) -> None:
    """No Version, no UpdatedAt: the save's SET/REMOVE actions are idempotent, so it is resent."""
    loaded = await direct.create(Ctr(id="save-ctr", n=1, items=["a"]))
    new = await damaged("UpdateItem").save(loaded.model_copy(update={"n": 2}))
    assert new.n == 2 and new.items == ["a"]
    assert await direct.get(Ctr, "save-ctr", consistent=True) == new


SCENARIOS: Final[dict[str, Scenario]] = {
    "put": _put,
    "create": _create,
    "create-existing": _create_existing,
    "replace": _replace,
    "update-add": _update_add,
    "update-append": _update_append,
    "update-arithmetic": _update_arithmetic,
    "update-set": _update_set,
    "update-set-guarded-unmarked": _update_set_guarded_unmarked,
    "update-set-guarded-stamped": _update_set_guarded_stamped,
    "versioned-add": _versioned_add,
    "versioned-set-guarded": _versioned_set_guarded,
    "versioned-stale": _versioned_stale,
    "delete-versioned": _delete_versioned,
    "delete-by-key": _delete_by_key,
    "batch-write": _batch_write,
    "transaction": _transaction,
    "update-idempotent": _update_idempotent,
    "save-versioned": _save_versioned,
    "save-stale": _save_stale,
    "save-unmarked": _save_unmarked,
}

#: Scenarios that need an engine which deduplicates ClientRequestToken (moto executes a resent
#: TransactWriteItems again: TESTING.md).
TOKEN_DEDUP: Final = frozenset({"transaction", "update-idempotent"})


class _SeamLoss:
    lost = True

    def __init__(self, db: DB) -> None:
        self.db = db
        self.faults: list[FaultTransport] = []

    def __call__(self, operation: str, /) -> DB:
        transport = FaultTransport(self.db.transport, LostReply(operation))
        self.faults.append(transport)
        return DB(
            region=self.db.region,
            endpoint_url=self.db.endpoint_url,
            table_prefix=self.db.table_prefix,
            transport=transport,
        )


class _ProxyDamage:
    def __init__(self, proxy: DamagingProxy, through: DB, damage: Damage) -> None:
        self.proxy = proxy
        self.through = through
        self.damage = damage
        self.lost = damage != "stray"

    def __call__(self, operation: str, /) -> DB:
        self.proxy.damage(operation, self.damage)
        return self.through


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_write_applies_once_when_its_reply_is_lost(
    name: str, db: DB, make_table: MakeTable, backend: Backend
) -> None:
    if name in TOKEN_DEDUP and backend.name == "moto":
        pytest.skip("moto does not deduplicate ClientRequestToken; runs on DynamoDB Local")
    await make_table(Ctr, Doc, Stamped)
    damaged = _SeamLoss(db)
    await SCENARIOS[name](db, damaged)
    assert damaged.faults and all(f.injected for f in damaged.faults), "no reply was lost"


DAMAGES: Final[tuple[Damage, ...]] = ("bad_crc", "garbage", "truncate", "drop", "stray")


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_write_applies_once_when_its_reply_is_damaged(
    name: str,
    damage: Damage,
    db: DB,
    make_table: MakeTable,
    backend: Backend,
    transport_name: Literal["lean", "botocore"],
) -> None:
    """The same scenarios with real bytes: the DamagingProxy lets the engine apply each write, then
    damages its reply (bad CRC32, garbage JSON, truncated, dropped connection, or a stray second reply
    left on the idle keep-alive connection, which the next request must never read)."""
    if name in TOKEN_DEDUP and backend.name == "moto":
        pytest.skip("moto does not deduplicate ClientRequestToken; runs on DynamoDB Local")
    if damage == "stray" and transport_name == "botocore":
        # aiohttp's pool (under aiobotocore) reads a stray reply as the next request's answer and
        # lets the real one go stale on the connection; only the lean wire drops dirty connections.
        pytest.skip("stray replies desynchronise aiohttp's keep-alive pool; the lean wire refuses them")
    await make_table(Ctr, Doc, Stamped)
    async with DamagingProxy(backend.endpoint_url) as proxy:
        through = DB(
            region=db.region,
            endpoint_url=proxy.url,
            credentials=backend.credentials,
            table_prefix=db.table_prefix,
            transport=transport_name,
        )
        try:
            # One read first, so the damaged write goes out on a reused keep-alive connection.
            await through.find(Ctr, "warm-up")

            await SCENARIOS[name](db, _ProxyDamage(proxy, through, damage))
            assert proxy.damaged, "the scenario's write never had its reply damaged"
            if damage == "stray":
                await proxy.wait_for_strays(1)
                # The stray reply names "someone-elses-item": the next reads must get their own.
                assert await through.find(Ctr, "nobody") is None
                await db.put(Ctr(id="probe", n=42))
                assert (await through.get(Ctr, "probe", consistent=True)).n == 42
        finally:
            await through.close()
