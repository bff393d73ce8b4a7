"""batch_get / batch_write without a server: chunking, order, retries of unprocessed work, the backoff
schedule, the deadline, and UnprocessedItems holding exactly what was not done.

An in-memory table answers at the Transport seam; faults wrap it with the shipped FaultTransport.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import pytest

from aiotheory import DB, PK, SK, F, Model, RetryPolicy, UnprocessedItems, UpdatedAt, ValidationError, Version
from aiotheory.deadlines import deadline
from aiotheory.errors import AwsValidationError, DeadlineExceeded, Throttled, from_response
from aiotheory.testing import FakeTransport, FaultTransport, RecordingTransport, Stall, Throttle, Unprocessed

if TYPE_CHECKING:
    from aiotheory._types import Payload

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


class Order(Model, table="orders"):
    shop: Annotated[str, PK]
    id: Annotated[int, SK]
    total: int = 0
    note: str = ""
    updated_at: Annotated[dt.datetime | None, UpdatedAt] = None
    version: Annotated[int, Version] = 0


class User(Model, table="users"):
    id: Annotated[str, PK]
    name: str = ""


class MemoryTables:
    """A Transport holding tables in memory; answers BatchGetItem and BatchWriteItem like DynamoDB."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[tuple[object, ...], dict[str, Any]]] = {}
        self.requests: list[int] = []  # size of every batch request that arrived

    @staticmethod
    def _key(item: dict[str, Any]) -> tuple[object, ...]:
        return tuple(sorted((k, str(v)) for k, v in item.items() if k in ("shop", "id")))

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        if operation == "BatchWriteItem":
            count = 0
            for table, requests in payload["RequestItems"].items():
                rows = self.tables.setdefault(table, {})
                for request in requests:
                    count += 1
                    if "PutRequest" in request:
                        item = request["PutRequest"]["Item"]
                        rows[self._key(item)] = item
                    else:
                        rows.pop(self._key(request["DeleteRequest"]["Key"]), None)
            assert count <= 25, "BatchWriteItem: at most 25 requests"
            self.requests.append(count)
            return {"UnprocessedItems": {}}
        if operation == "BatchGetItem":
            responses: dict[str, list[dict[str, Any]]] = {}
            count = 0
            for table, spec in payload["RequestItems"].items():
                rows = self.tables.get(table, {})
                found = responses.setdefault(table, [])
                for key in spec["Keys"]:
                    count += 1
                    item = rows.get(self._key(key))
                    if item is not None:
                        found.append(item)
            assert count <= 100, "BatchGetItem: at most 100 keys"
            self.requests.append(count)
            return {"Responses": responses, "UnprocessedKeys": {}}
        raise AssertionError(f"unexpected {operation}")

    async def close(self) -> None:
        return None


def _orders(n: int, shop: str = "s1") -> list[Order]:
    return [Order(shop=shop, id=i, total=i) for i in range(n)]


class Sleeps:
    """A RetryPolicy sleep that records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def _db(transport: object, *, sleeps: Sleeps | None = None, max_attempts: int = 3) -> DB:
    policy = RetryPolicy(max_attempts=max_attempts, sleep=sleeps or Sleeps(), random=lambda: 1.0)
    return DB(transport=transport, region="us-east-1", table_prefix="dev_", retry=policy, clock=lambda: NOW)  # type: ignore[arg-type]  # a structural Transport


async def _forever(seconds: float) -> None:
    await asyncio.get_running_loop().create_future()


# ------------------------------------------------------------------------------------------ batch_write


async def test_batch_write_sends_chunks_of_25_with_prefixed_tables() -> None:
    memory = MemoryTables()
    db = _db(memory)
    written = await db.batch_write(put=_orders(60), delete=[(User, "u1"), (User, "u2")])
    assert sorted(memory.requests) == [12, 25, 25]
    assert len(memory.tables["dev_orders"]) == 60
    assert [o.id for o in written] == list(range(60))


async def test_batch_write_stamps_updated_at_and_keeps_version_as_given() -> None:
    memory = MemoryTables()
    db = _db(memory)
    (written,) = await db.batch_write(put=[Order(shop="s", id=1, version=7)])
    assert written.updated_at == NOW and written.version == 7
    stored = next(iter(memory.tables["dev_orders"].values()))
    assert stored["version"] == {"N": "7"}
    assert stored["updated_at"] == {"S": "2026-01-02T03:04:05.000000Z"}


async def test_batch_write_rejects_two_writes_to_one_key_before_sending() -> None:
    recorder = RecordingTransport(FakeTransport())
    db = _db(recorder)
    with pytest.raises(ValidationError, match="two writes to one key"):
        await db.batch_write(put=[Order(shop="s", id=1)], delete=[(Order, "s", 1)])
    with pytest.raises(ValidationError, match="two writes to one key"):
        await db.batch_write(put=[*_orders(30), Order(shop="s1", id=3)])
    with pytest.raises(ValidationError):
        await db.batch_write(delete=[(Order, "s")])  # sort key missing
    with pytest.raises(ValidationError):
        await db.batch_write(delete=["not a key"])
    with pytest.raises(ValidationError):
        await db.batch_write(put=[User(id="")])  # empty key value
    recorder.assert_nothing_sent()


async def test_batch_write_sends_nothing_when_empty() -> None:
    recorder = RecordingTransport(FakeTransport())
    assert await _db(recorder).batch_write() == []
    recorder.assert_nothing_sent()


async def test_batch_write_retries_unprocessed_with_full_jitter_backoff_when_some_come_back() -> None:
    memory = MemoryTables()
    sleeps = Sleeps()
    faults = FaultTransport(memory, Unprocessed(keep=0.5))
    db = _db(faults, sleeps=sleeps)
    await db.batch_write(put=_orders(4))
    # 4 sent as 2 + 2 back, then 1 + 1 back, then the last one: two backoffs, base 0.05 doubling.
    assert memory.requests == [2, 1, 1]
    assert sleeps.delays == [0.05, 0.1]
    assert len(memory.tables["dev_orders"]) == 4


async def test_batch_write_raises_exactly_the_unwritten_items_when_rounds_run_out() -> None:
    memory = MemoryTables()
    faults = FaultTransport(memory, Unprocessed(keep=0.5, seed=3))
    db = _db(faults)
    orders = _orders(50)
    with pytest.raises(UnprocessedItems) as caught:
        await db.batch_write(put=orders, delete=[(User, "gone")], rounds=2)
    error = caught.value
    assert error.operation == "BatchWriteItem"
    stored = {int(item["id"]["N"]) for item in memory.tables["dev_orders"].values()}
    missing_orders = [o for o in error.items if isinstance(o, Order)]
    assert all(any(o is x for x in orders) for o in missing_orders)  # the caller's own objects
    assert stored.isdisjoint(o.id for o in missing_orders)
    assert stored | {o.id for o in missing_orders} == set(range(50))
    assert len(error.items) == 51 - len(stored) - (0 if (User, "gone") in error.items else 1)
    assert "still unprocessed after 2 rounds" in str(error)


async def test_batch_write_retries_a_throttled_request_as_a_round_when_the_call_gives_up() -> None:
    memory = MemoryTables()
    sleeps = Sleeps()
    faults = FaultTransport(memory, Throttle(op="BatchWriteItem", times=3))
    db = _db(faults, sleeps=sleeps, max_attempts=2)
    await db.batch_write(put=_orders(3))
    assert len(memory.tables["dev_orders"]) == 3
    # call: 0.05 between its 2 attempts; batch round backoff 0.05; call again 0.05, then success.
    assert sleeps.delays == [0.05, 0.05, 0.05]


async def test_batch_write_reports_a_non_retryable_error_as_cause_with_all_items() -> None:
    bad = from_response("BatchWriteItem", 400, {"__type": "x#ValidationException", "message": "nope"})
    db = _db(FakeTransport(bad))
    orders = _orders(3)
    with pytest.raises(UnprocessedItems) as caught:
        await db.batch_write(put=orders)
    assert caught.value.items == orders
    assert isinstance(caught.value.__cause__, AwsValidationError)
    assert "ValidationException" in str(caught.value)


async def test_batch_write_stops_at_the_deadline_with_exactly_the_unwritten_items() -> None:
    memory = MemoryTables()
    faults = FaultTransport(memory, Unprocessed(keep=0.7))
    policy = RetryPolicy(sleep=_forever, random=lambda: 1.0)
    db = DB(transport=faults, region="us-east-1", retry=policy)
    orders = _orders(100)
    with pytest.raises(UnprocessedItems) as caught:
        async with deadline(seconds=0.2):
            await db.batch_write(put=orders)
    items = caught.value.items
    stored = {int(item["id"]["N"]) for item in memory.tables["orders"].values()}
    assert len(items) == 4 * 7  # 25 -> 18 written per chunk, 7 left each
    assert stored.isdisjoint(o.id for o in items) and stored | {o.id for o in items} == set(range(100))
    assert isinstance(caught.value.__cause__, DeadlineExceeded)
    assert "may have been applied" not in str(caught.value)


async def test_batch_write_reports_in_flight_writes_as_unknown_when_the_deadline_strikes() -> None:
    memory = MemoryTables()
    faults = FaultTransport(memory, Stall(op="BatchWriteItem", after_send=True))
    db = _db(faults)
    orders = _orders(30)
    with pytest.raises(UnprocessedItems) as caught:
        async with deadline(seconds=0.1):
            await db.batch_write(put=orders, concurrency=1)
    # Nothing was confirmed. The first request (25) reached the table and lost its reply: those are
    # unknown, never claimed "not written". The second waited for the one slot and was never sent.
    assert caught.value.unknown == orders[:25]
    assert caught.value.items == orders[25:]
    assert len(memory.tables["dev_orders"]) == 25
    assert "5 of 30 writes were not done" in str(caught.value)
    assert "25 more were sent without a usable reply and may have been applied" in str(caught.value)
    cause = caught.value.__cause__
    assert isinstance(cause, DeadlineExceeded) and cause.outcome_unknown


async def test_batch_write_sends_nothing_when_the_deadline_has_passed() -> None:
    recorder = RecordingTransport(MemoryTables())
    orders = _orders(3)
    with pytest.raises(UnprocessedItems) as caught:
        async with deadline(seconds=-1):
            await _db(recorder).batch_write(put=orders)
    assert caught.value.items == orders
    recorder.assert_nothing_sent()


async def test_batch_write_bounds_requests_in_flight() -> None:
    in_flight = 0
    peak = 0

    async def slow(operation: str, payload: Payload) -> Payload:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        in_flight -= 1
        return {}

    db = _db(FakeTransport(*[slow] * 20))
    await db.batch_write(put=_orders(500), concurrency=3)
    assert peak == 3


# ------------------------------------------------------------------------------------------ batch_get


async def test_batch_get_returns_input_order_with_none_for_missing_and_collapses_duplicates() -> None:
    memory = MemoryTables()
    db = _db(memory)
    await db.batch_write(put=_orders(250))
    memory.requests.clear()
    keys = [("s1", i) for i in range(260)] + [("s1", 5), ("s1", 5)]
    got = await db.batch_get(Order, keys)
    assert sorted(memory.requests) == [60, 100, 100]  # 260 unique keys
    assert [o.id if o else None for o in got] == [*range(250), *[None] * 10, 5, 5]


async def test_batch_get_retries_unprocessed_keys_until_all_are_read() -> None:
    memory = MemoryTables()
    db = _db(memory)
    await db.batch_write(put=_orders(150))
    memory.requests.clear()
    sleeps = Sleeps()
    faulty = _db(FaultTransport(memory, Unprocessed(op="BatchGetItem", keep=0.5)), sleeps=sleeps)
    faulty.table_prefix = "dev_"
    got = await faulty.batch_get(Order, [("s1", i) for i in range(150)])
    assert [o.id for o in got if o] == list(range(150))
    assert sleeps.delays and all(d in (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2) for d in sleeps.delays)


async def test_batch_get_raises_the_unread_keys_as_given_when_rounds_run_out() -> None:
    memory = MemoryTables()
    db = _db(memory)
    await db.batch_write(put=_orders(10))
    faulty = _db(FaultTransport(memory, Unprocessed(op="BatchGetItem", keep=0.5)))
    keys = [("s1", i) for i in range(10)]
    with pytest.raises(UnprocessedItems) as caught:
        await faulty.batch_get(Order, keys, rounds=1)
    assert caught.value.operation == "BatchGetItem"
    assert len(caught.value.items) == 5 and all(k in keys for k in caught.value.items)


async def test_batch_get_payload_has_projection_with_keys_and_consistent_read() -> None:
    recorder = RecordingTransport(FakeTransport({"Responses": {"dev_orders": []}}))
    got = await _db(recorder).batch_get(Order, [("s", 1)], consistent=True, projection=[F(Order.total)])
    assert got == [None]
    ((operation, payload),) = recorder.calls
    spec = payload["RequestItems"]["dev_orders"]
    assert operation == "BatchGetItem"
    assert spec["ConsistentRead"] is True
    assert spec["ProjectionExpression"] == "#n0, #n1, #n2"
    assert spec["ExpressionAttributeNames"] == {"#n0": "total", "#n1": "shop", "#n2": "id"}
    assert spec["Keys"] == [{"shop": {"S": "s"}, "id": {"N": "1"}}]


async def test_batch_get_rejects_bad_keys_before_sending() -> None:
    recorder = RecordingTransport(FakeTransport())
    db = _db(recorder)
    with pytest.raises(ValidationError, match=r"\(pk, sk\) tuples"):
        await db.batch_get(Order, ["s1"])
    with pytest.raises(ValidationError, match="no sort key"):
        await db.batch_get(User, [("u", "x")])
    with pytest.raises(ValidationError):
        await db.batch_get(Order, [("s1", "not a number")])
    with pytest.raises(ValidationError, match="list of keys"):
        await db.batch_get(User, "u1")
    assert await db.batch_get(User, []) == []
    recorder.assert_nothing_sent()


async def test_batch_get_accepts_pk_values_and_one_tuples_for_a_table_without_sort_key() -> None:
    user = {"id": {"S": "u1"}, "name": {"S": "Ann"}}
    db = _db(FakeTransport({"Responses": {"dev_users": [user]}}))
    got = await db.batch_get(User, ["u1", ("u2",)])
    assert [u.name if u else None for u in got] == ["Ann", None]


async def test_batch_get_matches_numbers_in_dynamodb_normal_form() -> None:
    # DynamoDB answers N values normalised; the reply must still land on the key that asked for it.
    reply = {"Responses": {"dev_orders": [{"shop": {"S": "s"}, "id": {"N": "10"}, "total": {"N": "1"}}]}}
    got = await _db(FakeTransport(reply)).batch_get(Order, [("s", 10)])
    assert got[0] is not None and got[0].id == 10


async def test_batch_get_raises_throttled_cause_when_throttling_outlasts_the_rounds() -> None:
    faults = FaultTransport(MemoryTables(), Throttle(op="BatchGetItem", times=10))
    with pytest.raises(UnprocessedItems) as caught:
        await _db(faults, max_attempts=2).batch_get(User, ["a", "b"], rounds=2)
    assert caught.value.items == ["a", "b"]
    assert isinstance(caught.value.__cause__, Throttled)
