"""batch_get / batch_write end to end, and the proof that a faulty batch never loses a write.

Faults (unprocessed items, throttling) are injected at the Transport seam over the real engine, so
what the engine holds afterwards is the ground truth; it is counted by a plain paginated Scan.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING, Annotated

import pytest

from aiotheory import DB, PK, SK, F, Model, RetryPolicy, UnprocessedItems, UpdatedAt
from aiotheory.deadlines import deadline
from aiotheory.errors import DeadlineExceeded
from aiotheory.testing import FaultTransport, Throttle, Unprocessed

if TYPE_CHECKING:
    from aiotheory._types import Payload
    from aiotheory.testing import Backend, Fault, MakeTable


class Reading(Model, table="readings"):
    sensor: Annotated[str, PK]
    seq: Annotated[int, SK]
    value: int = 0
    unit: str = "C"
    updated_at: Annotated[dt.datetime | None, UpdatedAt] = None


class Sensor(Model, table="sensors"):
    id: Annotated[str, PK]
    name: str = ""


def _faulty(db: DB, *faults: Fault, retry: RetryPolicy | None = None) -> DB:
    """A DB on the test's engine, table prefix and connection, with faults injected under the retry loop.

    Not closed by the test: it shares the `db` fixture's transport, which the fixture closes.
    """
    return DB(
        region=db.region,
        endpoint_url=db.endpoint_url,
        table_prefix=db.table_prefix,
        transport=FaultTransport(db.transport, *faults),
        retry=retry,
    )


async def _scan(db: DB, model: type[Model], **extra: object) -> list[Payload]:
    """Every page of a plain Scan of the model's table (the query engineer's scan is not used here)."""
    payload: Payload = {"TableName": db.table_name(model), "ConsistentRead": True, **extra}
    pages: list[Payload] = []
    while True:
        reply = await db.raw("Scan", payload)
        pages.append(reply)
        last = reply.get("LastEvaluatedKey")
        if not last:
            return pages
        payload = {**payload, "ExclusiveStartKey": last}


async def _count(db: DB, model: type[Model]) -> int:
    return sum(page["Count"] for page in await _scan(db, model, Select="COUNT"))


async def _stored_seqs(db: DB) -> list[int]:
    pages = await _scan(db, Reading, ProjectionExpression="seq")
    return [int(item["seq"]["N"]) for page in pages for item in page["Items"]]


async def test_batch_write_then_batch_get_round_trip_in_order(db: DB, make_table: MakeTable) -> None:
    await make_table(Reading, Sensor)
    readings = [Reading(sensor="s1", seq=i, value=i * 10) for i in range(130)]
    written = await db.batch_write(put=[*readings, Sensor(id="a", name="A")])
    assert len(written) == 131 and all(r.updated_at is not None for r in written if isinstance(r, Reading))
    keys = [("s1", i) for i in range(125, 135)] + [("s1", 0), ("s1", 0)]
    got = await db.batch_get(Reading, keys)
    assert [r.value if r else None for r in got] == [
        1250,
        1260,
        1270,
        1280,
        1290,
        None,
        None,
        None,
        None,
        None,
        0,
        0,
    ]
    await db.batch_write(delete=[*readings[:100], (Sensor, "a")])
    assert await _count(db, Reading) == 30
    assert await db.batch_get(Sensor, ["a"]) == [None]


async def test_batch_get_with_projection_and_consistent_read(db: DB, make_table: MakeTable) -> None:
    await make_table(Reading)
    await db.batch_write(put=[Reading(sensor="s", seq=1, value=7, unit="K")])
    (got,) = await db.batch_get(Reading, [("s", 1)], consistent=True, projection=[F(Reading.value)])
    assert got is not None and got.value == 7 and got.unit == "C"  # unit not fetched: its default


async def test_batch_get_reads_everything_when_keys_come_back_unprocessed(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(Reading)
    await db.batch_write(put=[Reading(sensor="s", seq=i, value=i) for i in range(300)])
    faulty = _faulty(db, Throttle(op="BatchGetItem", times=2), Unprocessed(op="BatchGetItem", keep=0.6))
    got = await faulty.batch_get(Reading, [("s", i) for i in range(300)])
    assert [r.value if r else None for r in got] == list(range(300))
    fired = faulty.transport.injected  # type: ignore[attr-defined]  # a FaultTransport
    assert sum(1 for _, f in fired if isinstance(f, Unprocessed)) > 3


def _proof_size(backend: Backend) -> int:
    # moto takes about 1 ms per write on this machine; DynamoDB Local is several times faster.
    return 10_000 if backend.name == "ddblocal" else int(os.environ.get("AIOTHEORY_PROOF_ITEMS", "2000"))


async def test_faulty_batch_write_ends_with_every_item_present(
    db: DB, make_table: MakeTable, backend: Backend
) -> None:
    """30% of every request comes back unprocessed and some requests are throttled; nothing is lost."""
    await make_table(Reading)
    n = _proof_size(backend)
    throttle = Throttle(op="BatchWriteItem", times=20)
    hard = Throttle(op="BatchWriteItem", times=10, code="ProvisionedThroughputExceededException")
    faulty = _faulty(db, throttle, hard, Unprocessed(keep=0.7))
    readings = [Reading(sensor=f"s{i % 7}", seq=i, value=i) for i in range(n)]
    await faulty.batch_write(put=readings, concurrency=16)
    assert await _count(db, Reading) == n
    transport = faulty.transport
    assert isinstance(transport, FaultTransport)
    assert transport.left(throttle) == 0 and transport.left(hard) == 0
    assert sum(1 for _, f in transport.injected if isinstance(f, Unprocessed)) > n // 25


async def test_batch_write_under_a_tight_deadline_reports_exactly_what_is_not_stored(
    db: DB, make_table: MakeTable
) -> None:
    """The deadline strikes during the backoff: stored items + UnprocessedItems.items == input, disjoint."""
    await make_table(Reading)
    # One long backoff sleep: the first round completes, then the deadline ends the wait.
    policy = RetryPolicy(base=30.0, random=lambda: 1.0)
    faulty = _faulty(db, Unprocessed(keep=0.7), retry=policy)
    readings = [Reading(sensor="s", seq=i) for i in range(250)]
    with pytest.raises(UnprocessedItems) as caught:
        async with deadline(seconds=1.5):
            await faulty.batch_write(put=readings)
    missing = caught.value.items
    cause = caught.value.__cause__
    assert isinstance(cause, DeadlineExceeded) and not cause.outcome_unknown
    stored = await _stored_seqs(db)
    assert len(stored) + len(missing) == 250
    assert sorted([*stored, *(r.seq for r in missing)]) == list(range(250))
    assert len(missing) == 10 * 7  # 25 per request, ceil(17.5) = 18 kept, 7 back


async def test_batch_write_deletes_items_when_given_model_and_pk_tuples_of_a_pk_only_table(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(Sensor)
    await db.batch_write(put=[Sensor(id="s1"), Sensor(id="s2"), Sensor(id="s3")])
    await db.batch_write(delete=[(Sensor, "s1"), (Sensor, "s3")])
    assert await db.batch_get(Sensor, ["s1", "s2", "s3"]) == [None, Sensor(id="s2"), None]
