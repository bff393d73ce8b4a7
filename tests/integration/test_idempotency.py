"""The idempotency store end to end on the engine under test: once per key, replays, leases, layout."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import TYPE_CHECKING

import pytest

from aiotheory import (
    DB,
    DeadlineExceeded,
    IdempotencyInProgress,
    IdempotencyKeyMismatch,
    IdempotencyReplyNotStored,
    IdempotencyStore,
    deadline,
)
from aiotheory.testing import FaultTransport, RecordingTransport, Stall

if TYPE_CHECKING:
    from aiotheory.testing import MakeTable

EVENT = {"idempotencyKey": "k-1", "amount": 100}


class _Clock:
    """Epoch seconds that move only when the test says so (starts at the real time: DynamoDB Local's
    TTL sweeper must not see the records as long expired)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


class _Body:
    """The decorated function's body: counts its runs and answers from the event."""

    def __init__(self) -> None:
        self.runs = 0

    async def __call__(self, event: dict[str, object], context: object = None) -> dict[str, object]:
        self.runs += 1
        return {"ok": True, "amount": event["amount"], "run": self.runs}


async def _store(db: DB, make_table: MakeTable, **options: object) -> IdempotencyStore:
    store = IdempotencyStore(db, table="idempotency", **options)  # type: ignore[arg-type]  # test options
    await make_table(store.model)
    return store


async def _item(db: DB, store: IdempotencyStore, record_id: str) -> dict[str, dict[str, str]] | None:
    reply = await db.raw(
        "GetItem",
        {"TableName": db.table_name(store.model), "Key": {"id": {"S": record_id}}, "ConsistentRead": True},
    )
    item: dict[str, dict[str, str]] | None = reply.get("Item")
    return item


def _powertools_id(function: str, key: object) -> str:
    # Powertools' documented record id: "{function name}.{module}.{qualname}#" + md5 of the JSON key.
    digest = hashlib.md5(json.dumps(key, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
    return f"test-func.{function}#{digest}"


async def test_idempotent_runs_once_when_200_duplicates_arrive_together(
    db: DB, make_table: MakeTable
) -> None:
    store = await _store(db, make_table)
    body = _Body()
    handler = store.idempotent(key="idempotencyKey")(body)

    async def invoke() -> dict[str, object] | IdempotencyInProgress:
        try:
            return await handler(dict(EVENT), None)
        except IdempotencyInProgress as exc:
            return exc

    outcomes = await asyncio.gather(*(invoke() for _ in range(200)))
    assert body.runs == 1
    replies = [o for o in outcomes if not isinstance(o, IdempotencyInProgress)]
    assert replies, "the caller that ran the body gets its reply"
    assert all(reply == {"ok": True, "amount": 100, "run": 1} for reply in replies)
    assert len(replies) + sum(isinstance(o, IdempotencyInProgress) for o in outcomes) == 200
    # Once completed, every later duplicate gets the stored reply.
    assert await handler(dict(EVENT), None) == {"ok": True, "amount": 100, "run": 1}
    assert body.runs == 1


async def test_idempotent_replays_stored_reply_when_key_repeats_without_cache(
    db: DB, make_table: MakeTable
) -> None:
    store = await _store(db, make_table, cache_size=0)
    body = _Body()
    handler = store.idempotent(key=lambda event: event["idempotencyKey"])(body)
    first = await handler(dict(EVENT), None)
    second = await handler({**EVENT, "amount": 999}, None)  # same key, no payload check: replayed
    assert first == second == {"ok": True, "amount": 100, "run": 1}
    assert body.runs == 1


async def test_idempotent_runs_again_when_the_first_call_failed(db: DB, make_table: MakeTable) -> None:
    store = await _store(db, make_table)
    runs: list[int] = []

    @store.idempotent(key="idempotencyKey")
    async def flaky(event: dict[str, object]) -> dict[str, object]:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("first attempt fails")
        return {"attempt": len(runs)}

    with pytest.raises(RuntimeError):
        await flaky(dict(EVENT))
    record_id = _powertools_id(f"{__name__}.{flaky.__qualname__}", "k-1")
    assert await _item(db, store, record_id) is None  # the failure deleted the record
    assert await flaky(dict(EVENT)) == {"attempt": 2}
    assert await flaky(dict(EVENT)) == {"attempt": 2}
    assert len(runs) == 2


async def test_idempotent_runs_retry_when_timed_out_lease_ended(db: DB, make_table: MakeTable) -> None:
    clock = _Clock()
    stalled = db.derive(transport=FaultTransport(db.transport, Stall(op="GetItem")))
    store = IdempotencyStore(stalled, table="idempotency", clock=clock, in_progress_ttl=600)
    await make_table(store.model)
    runs: list[str] = []

    @store.idempotent(key="idempotencyKey")
    async def handler(event: dict[str, object], context: object) -> dict[str, object]:
        runs.append("run")
        if len(runs) == 1:
            await stalled.find(store.model, "anything")  # hangs until the deadline ends it
        return {"run": len(runs)}

    with pytest.raises(DeadlineExceeded):
        async with deadline(seconds=0.3):
            await handler(dict(EVENT), None)
    # The record could not be deleted (no time left): it stays INPROGRESS, leased to the deadline.
    with pytest.raises(IdempotencyInProgress) as held:
        await handler(dict(EVENT), None)
    lease_end = held.value.lease_ends_ms
    assert lease_end is not None
    assert clock.now * 1000 < lease_end <= clock.now * 1000 + 300  # not in_progress_ttl's 600 s
    clock.now = lease_end / 1000 + 0.001  # just past the lease, far inside the record's expiry
    assert await handler(dict(EVENT), None) == {"run": 2}
    assert runs == ["run", "run"]


async def test_idempotent_raises_key_mismatch_when_payload_differs(db: DB, make_table: MakeTable) -> None:
    store = await _store(db, make_table)
    body = _Body()
    handler = store.idempotent(key="idempotencyKey", payload="amount")(body)
    await handler(dict(EVENT), None)
    with pytest.raises(IdempotencyKeyMismatch):
        await handler({**EVENT, "amount": 5}, None)
    assert body.runs == 1
    # The same payload is still replayed (the cache checks the hash too).
    assert await handler({**EVENT, "other": "ignored"}, None) == {"ok": True, "amount": 100, "run": 1}


async def test_idempotent_writes_powertools_layout_when_completed(db: DB, make_table: MakeTable) -> None:
    clock = _Clock()
    store = await _store(db, make_table, clock=clock)
    body = _Body()
    handler = store.idempotent(key="idempotencyKey", payload=True)(body)
    reply = await handler(dict(EVENT), None)
    record_id = _powertools_id(f"{__name__}.{body.__class__.__qualname__}", "k-1")
    item = await _item(db, store, record_id)
    assert item is not None, "the record id follows Powertools' recipe"
    assert item["status"] == {"S": "COMPLETED"}
    assert item["data"] == {"S": json.dumps(reply, sort_keys=True)}
    assert item["expiration"] == {"N": str(int(clock.now) + 3600)}
    assert int(item["in_progress_expiration"]["N"]) == int((clock.now + 60) * 1000)
    payload_hash = hashlib.md5(json.dumps(EVENT, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
    assert item["validation"] == {"S": payload_hash}
    assert set(item) == {"id", "expiration", "in_progress_expiration", "status", "data", "validation"}


async def test_idempotent_replays_powertools_record_when_written_by_powertools(
    db: DB, make_table: MakeTable
) -> None:
    clock = _Clock()
    store = await _store(db, make_table, clock=clock)
    body = _Body()
    handler = store.idempotent(key="idempotencyKey", payload=True)(body)
    stored_reply = {"statusCode": 200, "body": "from powertools"}
    payload_hash = hashlib.md5(json.dumps(EVENT, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
    # A COMPLETED record exactly as Powertools' DynamoDBPersistenceLayer writes it.
    await db.raw(
        "PutItem",
        {
            "TableName": db.table_name(store.model),
            "Item": {
                "id": {"S": _powertools_id(f"{__name__}.{_Body.__qualname__}", "k-1")},
                "expiration": {"N": str(int(clock.now) + 100)},
                "in_progress_expiration": {"N": str(int(clock.now * 1000) + 5000)},
                "status": {"S": "COMPLETED"},
                "data": {"S": json.dumps(stored_reply, sort_keys=True)},
                "validation": {"S": payload_hash},
            },
        },
    )
    assert await handler(dict(EVENT), None) == stored_reply
    assert body.runs == 0
    # Past Powertools' `expiration` the record no longer counts: the body runs.
    clock.now += 101
    assert (await handler(dict(EVENT), None))["run"] == 1


async def test_idempotent_raises_in_progress_when_powertools_record_is_leased(
    db: DB, make_table: MakeTable
) -> None:
    clock = _Clock()
    store = await _store(db, make_table, clock=clock)
    body = _Body()
    handler = store.idempotent(key="idempotencyKey")(body)
    lease_end = int(clock.now * 1000) + 5000
    await db.raw(
        "PutItem",
        {
            "TableName": db.table_name(store.model),
            "Item": {
                "id": {"S": _powertools_id(f"{__name__}.{_Body.__qualname__}", "k-1")},
                "expiration": {"N": str(int(clock.now) + 3600)},
                "in_progress_expiration": {"N": str(lease_end)},
                "status": {"S": "INPROGRESS"},
            },
        },
    )
    with pytest.raises(IdempotencyInProgress) as held:
        await handler(dict(EVENT), None)
    assert held.value.lease_ends_ms == lease_end
    assert body.runs == 0


async def test_idempotent_sends_nothing_when_cache_holds_the_reply(db: DB, make_table: MakeTable) -> None:
    clock = _Clock()
    recording = RecordingTransport(db.transport)
    store = IdempotencyStore(db.derive(transport=recording), table="idempotency", clock=clock, cache_size=2)
    await make_table(store.model)
    body = _Body()
    handler = store.idempotent(key="idempotencyKey")(body)
    await handler(dict(EVENT), None)
    assert recording.operations == ["PutItem", "UpdateItem"]  # one conditional put, one update
    assert await handler(dict(EVENT), None) == {"ok": True, "amount": 100, "run": 1}
    assert recording.operations == ["PutItem", "UpdateItem"]  # the warm cache answered
    # Bounded: two newer keys push the first out, so it is asked for again (and replayed).
    await handler({**EVENT, "idempotencyKey": "k-2"}, None)
    await handler({**EVENT, "idempotencyKey": "k-3"}, None)
    del recording.calls[:]
    assert (await handler(dict(EVENT), None))["run"] == 1
    assert recording.operations == ["PutItem"]
    # Past the expiry the cached reply is dropped and the expired record is claimed anew.
    clock.now += 3601
    del recording.calls[:]
    assert (await handler(dict(EVENT), None))["run"] == 4
    assert recording.operations == ["PutItem", "UpdateItem"]


async def test_idempotent_runs_without_record_when_key_is_missing(db: DB, make_table: MakeTable) -> None:
    recording = RecordingTransport(db.transport)
    store = IdempotencyStore(db.derive(transport=recording), table="idempotency")
    body = _Body()
    handler = store.idempotent(key="body.idempotencyKey")(body)
    assert (await handler({"amount": 1}, None))["run"] == 1
    assert (await handler({"amount": 1, "body": {"idempotencyKey": None}}, None))["run"] == 2
    recording.assert_nothing_sent()


async def test_idempotent_returns_reply_and_refuses_repeat_when_reply_too_large(
    db: DB, make_table: MakeTable
) -> None:
    store = await _store(db, make_table, cache_size=0)
    runs: list[int] = []

    @store.idempotent(key="idempotencyKey")
    async def export(event: dict[str, object]) -> dict[str, str]:
        runs.append(1)
        return {"blob": "x" * 500_000}

    first = await export(dict(EVENT))
    assert len(first["blob"]) == 500_000  # the caller that ran it never loses its reply
    with pytest.raises(IdempotencyReplyNotStored):
        await export(dict(EVENT))
    assert runs == [1]  # and the function is not run a second time


async def test_idempotent_keys_plain_coroutine_on_first_argument(db: DB, make_table: MakeTable) -> None:
    store = await _store(db, make_table)
    seen: list[dict[str, object]] = []

    @store.idempotent(key=lambda body: (body["customer"], body["orderId"]))
    async def create_order(body: dict[str, object], *, source: str = "api") -> dict[str, object]:
        seen.append(body)
        return {"order": body["orderId"], "source": source}

    assert await create_order({"customer": "c1", "orderId": 7}, source="web") == {"order": 7, "source": "web"}
    assert await create_order({"customer": "c1", "orderId": 7}) == {"order": 7, "source": "web"}
    assert await create_order({"customer": "c2", "orderId": 7}) == {"order": 7, "source": "api"}
    assert len(seen) == 2
