"""Lifecycle hooks (`before_write`, `after_read`, `after_write`, `before_delete`) in every path, on the
engine under test. Requests are counted at the Transport seam (`RecordingTransport`)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import pytest

from aiotheory import DB, PK, DeadlineExceeded, F, Model, ValidationError, Version, deadline
from aiotheory.testing import RecordingTransport

if TYPE_CHECKING:
    from aiotheory.testing import MakeTable

#: What the hooks saw, in order: (hook, id).
EVENTS: list[tuple[str, str]] = []


class HookFailed(Exception):
    pass


class Audited(Model, table="hooked_audited"):
    """async before_write and after_read, plain def after_write and before_delete."""

    id: Annotated[str, PK]
    name: str = ""
    touched: int = 0
    version: Annotated[int, Version] = 0

    async def before_write(self) -> Audited | None:
        EVENTS.append(("before_write", self.id))
        if self.name == "boom":
            raise HookFailed(self.id)
        if self.name == "slow":
            await asyncio.Event().wait()  # never set: only the deadline ends it
        if self.name == "keep":
            return None
        return self.model_copy(update={"touched": self.touched + 1})

    async def after_read(self) -> None:
        EVENTS.append(("after_read", self.id))
        if self.name == "unreadable":
            raise HookFailed(self.id)

    def after_write(self) -> None:
        EVENTS.append(("after_write", self.id))
        if self.name == "late":
            raise HookFailed(self.id)

    def before_delete(self) -> None:
        EVENTS.append(("before_delete", self.id))
        if self.id.startswith("keep"):
            raise HookFailed(self.id)


class Plain(Model, table="hooked_plain"):
    id: Annotated[str, PK]
    n: int = 0


@pytest.fixture
def recorded(db: DB) -> tuple[DB, RecordingTransport]:
    # Shares the test DB's transport (the test DB closes it): counts this test's requests.
    EVENTS.clear()
    recorder = RecordingTransport(db.transport)
    return DB(
        region=db.region, endpoint_url=db.endpoint_url, table_prefix=db.table_prefix, transport=recorder
    ), recorder


async def _seed(db: DB, *ids: str) -> None:
    await db.batch_write(put=[Audited(id=i) for i in ids])
    EVENTS.clear()


def _seen(hook: str) -> list[str]:
    return sorted(i for h, i in EVENTS if h == hook)


async def test_after_read_runs_when_any_read_path_returns_models(
    recorded: tuple[DB, RecordingTransport], make_table: MakeTable
) -> None:
    db, _ = recorded
    await make_table(Audited)
    await _seed(db, "a", "b")
    await db.get(Audited, "a")
    assert EVENTS == [("after_read", "a")]
    assert await db.find(Audited, "nobody") is None and len(EVENTS) == 1
    await db.find(Audited, "b")
    await db.batch_get(Audited, ["a", "b", "a", "zz"])
    await db.transact_get(Audited, ["a"])
    assert _seen("after_read") == ["a", "a", "a", "b", "b"]
    EVENTS.clear()
    page = await db.scan(Audited).page()
    assert _seen("after_read") == sorted(i.id for i in page.items) == ["a", "b"]
    EVENTS.clear()
    assert [i.id async for i in db.query(Audited).key(F(Audited.id) == "a")] == ["a"]
    assert await db.query(Audited).key(F(Audited.id) == "b").first() is not None
    async with db.scan(Audited).parallel(2) as items:
        assert sorted([i.id async for i in items]) == ["a", "b"]
    assert _seen("after_read") == ["a", "a", "b", "b"]


async def test_after_read_error_propagates_when_the_hook_raises(db: DB, make_table: MakeTable) -> None:
    await make_table(Audited)
    await db.put(Audited(id="u", name="unreadable"))
    with pytest.raises(HookFailed):
        await db.get(Audited, "u")
    with pytest.raises(HookFailed):
        [i async for i in db.scan(Audited)]


async def test_before_and_after_write_run_when_single_writes_are_made(
    recorded: tuple[DB, RecordingTransport], make_table: MakeTable
) -> None:
    db, _ = recorded
    await make_table(Audited)
    given = Audited(id="w")
    created = await db.create(given)
    assert created.touched == 1 and given.touched == 0  # the hook's model is written; arguments untouched
    put = await db.put(created)
    replaced = await db.replace(await db.get(Audited, "w"))
    updated = await db.update(replaced, F(Audited.name).set("n"))
    saved = await db.save(updated.model_copy(update={"name": "m"}))
    kept = await db.put(Audited(id="k", name="keep"))
    assert (put.touched, replaced.touched, updated.touched, saved.touched, kept.touched) == (2, 3, 4, 5, 0)
    assert (await db.get(Audited, "w", consistent=True)).touched == 5
    assert _seen("before_write") == ["k"] + ["w"] * 5
    assert _seen("after_write") == ["k"] + ["w"] * 5


async def test_write_raises_the_hook_error_and_sends_nothing_when_before_write_raises(
    recorded: tuple[DB, RecordingTransport], make_table: MakeTable
) -> None:
    db, recorder = recorded
    await make_table(Audited, Plain)
    loaded = await db.create(Audited(id="b"))
    recorder.calls.clear()
    boom = Audited(id="b", name="boom")
    for write in (db.put(boom), db.create(boom), db.replace(loaded.model_copy(update={"name": "boom"}))):
        with pytest.raises(HookFailed):
            await write
    with pytest.raises(HookFailed):
        await db.update(boom, F(Audited.touched).set(9))
    with pytest.raises(HookFailed):
        await db.save(loaded.model_copy(update={"name": "boom"}))
    with pytest.raises(HookFailed):
        await db.batch_write(put=[Plain(id="p"), Audited(id="ok"), boom])
    tx = db.transaction()
    tx.put(Plain(id="p"))
    tx.put(Audited(id="ok"))
    tx.save(loaded.model_copy(update={"name": "boom"}))
    with pytest.raises(HookFailed):
        await tx.commit()
    recorder.assert_nothing_sent()


async def test_before_delete_runs_and_can_stop_a_delete_when_items_are_deleted(
    recorded: tuple[DB, RecordingTransport], make_table: MakeTable
) -> None:
    db, recorder = recorded
    await make_table(Audited)
    await _seed(db, "d1", "d2", "d3", "d4", "keep1")
    await db.delete(await db.get(Audited, "d1"))
    await db.delete(Audited, "d2")  # by key: the hook gets a model holding the key
    await db.batch_write(delete=[(Audited, "d3")])
    async with db.transaction() as tx:
        tx.delete(Audited, "d4")
    assert _seen("before_delete") == ["d1", "d2", "d3", "d4"]
    recorder.calls.clear()
    with pytest.raises(HookFailed):
        await db.delete(Audited, "keep1")
    with pytest.raises(HookFailed):
        await db.batch_write(delete=[(Audited, "d1"), (Audited, "keep1")])
    tx = db.transaction()
    tx.delete(Audited, "d1")
    tx.delete(Audited, "keep1")
    with pytest.raises(HookFailed):
        await tx.commit()
    recorder.assert_nothing_sent()
    assert await db.find(Audited, "keep1") is not None


async def test_hooks_run_when_batches_and_transactions_write(
    recorded: tuple[DB, RecordingTransport], make_table: MakeTable
) -> None:
    db, _ = recorded
    await make_table(Audited, Plain)
    written = await db.batch_write(put=[Audited(id="b1"), Plain(id="p1")])
    assert written[0].touched == 1 and written[1] == Plain(id="p1")
    loaded = await db.get(Audited, "b1")
    EVENTS.clear()
    async with db.transaction() as tx:
        tx.create(Audited(id="t1"))
        tx.update(loaded, F(Audited.name).set("x"))
        tx.put(Plain(id="p2"))
    assert _seen("before_write") == _seen("after_write") == ["b1", "t1"]
    assert (await db.get(Audited, "t1", consistent=True)).touched == 1
    updated = await db.get(Audited, "b1", consistent=True)
    assert (updated.name, updated.touched, updated.version) == ("x", 2, 1)
    async with db.transaction() as tx:
        tx.save(updated.model_copy(update={"name": "y"}))
    saved = await db.get(Audited, "b1", consistent=True)
    assert (saved.name, saved.touched, saved.version) == ("y", 3, 2)


async def test_after_write_error_propagates_when_the_write_landed(db: DB, make_table: MakeTable) -> None:
    await make_table(Audited)
    with pytest.raises(HookFailed):
        await db.put(Audited(id="late", name="late"))
    assert (await db.get(Audited, "late")).touched == 1


async def test_deadline_ends_a_slow_async_hook_when_it_outlives_the_scope(
    recorded: tuple[DB, RecordingTransport], make_table: MakeTable
) -> None:
    db, recorder = recorded
    await make_table(Audited)
    recorder.calls.clear()
    with pytest.raises(DeadlineExceeded) as caught:
        async with deadline(seconds=0.05):
            await db.put(Audited(id="s", name="slow"))
    assert caught.value.operation == "Audited.before_write"
    recorder.assert_nothing_sent()


async def test_before_write_refused_when_it_returns_another_type(db: DB, make_table: MakeTable) -> None:
    class Odd(Model, table="hooked_odd"):
        id: Annotated[str, PK]

        def before_write(self) -> object:
            return Plain(id=self.id)

    with pytest.raises(ValidationError, match="before_write returned a Plain"):
        await db.put(Odd(id="o"))


def test_model_without_hooks_has_none_when_the_class_is_created() -> None:
    assert Plain.__aiotheory__.hooks is None
    hooks = Audited.__aiotheory__.hooks
    assert hooks is not None
    assert hooks.before_write is not None and hooks.before_write[1] is True
    assert hooks.after_write is not None and hooks.after_write[1] is False

    class Child(Audited, table="hooked_child"):
        pass

    assert Child.__aiotheory__.hooks is not None  # inherited

    with pytest.raises(ValidationError, match="plain method"):

        class Bad(Model, table="hooked_bad"):
            id: Annotated[str, PK]

            @staticmethod
            def after_read() -> None: ...
