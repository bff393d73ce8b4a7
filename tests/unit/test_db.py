"""The DB facade without a server: payload shapes, validation before the network, lifecycle fields."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import pytest

from aiotheory import (
    DB,
    GSI,
    PK,
    SK,
    ConditionFailed,
    ItemNotFound,
    Model,
    OutcomeUnknown,
    ResourceNotFound,
    UpdatedAt,
    ValidationError,
    Version,
)
from aiotheory._tables import POLL_INTERVAL
from aiotheory.errors import from_response
from aiotheory.retries import RetryPolicy
from aiotheory.testing import FakeTransport, FaultTransport, LostReply, RecordingTransport


class Payment(Model, table="payments"):
    partner_id: Annotated[str, PK]
    id: Annotated[str, SK]
    amount: int
    updated_at: Annotated[dt.datetime | None, UpdatedAt] = None
    version: Annotated[int, Version] = 0
    meta: dict[str, str] = {}


NOW = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)


def _db(*responses: object) -> tuple[DB, RecordingTransport]:
    recorder = RecordingTransport(FakeTransport(*responses))
    return DB(transport=recorder, region="us-east-1", table_prefix="dev_", clock=lambda: NOW), recorder


async def test_validation_errors_send_nothing() -> None:
    db, recorder = _db()
    with pytest.raises(ValidationError):
        await db.get(Payment, "p1")  # sort key missing
    with pytest.raises(ValidationError):
        await db.get(Payment, "", "x")  # empty key value
    with pytest.raises(ValidationError):
        await db.put(Payment(partner_id="p1", id="x", amount=10**38 + 1))  # 39 significant digits
    with pytest.raises(ValidationError):
        await db.put(Payment(partner_id="p1", id="x", amount=1, meta={"blob": "x" * 410_000}))  # > 400 KB
    with pytest.raises(ValidationError):
        await db.update(Payment(partner_id="p1", id="x", amount=1), Payment.version.set(5))  # managed field
    with pytest.raises(ValidationError):
        await db.delete(Payment)  # no key
    recorder.assert_nothing_sent()


async def test_writes_and_reads_send_nothing_when_text_map_keys_or_paths_break_dynamodb_rules() -> None:
    from aiotheory import F

    db, recorder = _db()
    with pytest.raises(ValidationError, match="lone surrogate"):
        await db.put(Payment(partner_id="p1", id="x", amount=1, meta={"k": "\ud800"}))
    with pytest.raises(ValidationError, match="lone surrogate"):
        await db.put(Payment(partner_id="p1", id="\udc00", amount=1))
    with pytest.raises(ValidationError, match="map key is empty"):
        await db.put(Payment(partner_id="p1", id="x", amount=1, meta={"": "v"}))
    with pytest.raises(ValidationError, match="lone surrogate"):
        await db.get(Payment, "p1", "\ud800")
    with pytest.raises(ValidationError, match="lone surrogate"):
        db.query(Payment).key(F(Payment.partner_id) == "\ud800")
    recorder.assert_nothing_sent()


async def test_get_payload_uses_prefixed_table_and_key() -> None:
    db, recorder = _db({"Item": {"partner_id": {"S": "p1"}, "id": {"S": "x"}, "amount": {"N": "5"}}})
    got = await db.get(Payment, "p1", "x", consistent=True)
    assert got.amount == 5 and got.version == 0
    assert recorder.calls == [
        (
            "GetItem",
            {
                "TableName": "dev_payments",
                "Key": {"partner_id": {"S": "p1"}, "id": {"S": "x"}},
                "ConsistentRead": True,
            },
        )
    ]


async def test_get_raises_item_not_found_on_empty_reply() -> None:
    db, _ = _db({})
    with pytest.raises(ItemNotFound):
        await db.get(Payment, "p1", "x")


async def test_create_payload_guards_on_the_partition_key() -> None:
    db, recorder = _db({})
    written = await db.create(Payment(partner_id="p1", id="x", amount=1, version=7))
    assert written.version == 0 and written.updated_at == NOW
    op, payload = recorder.calls[0]
    assert op == "PutItem"
    assert payload["ConditionExpression"] == "attribute_not_exists(#n0)"
    assert payload["ExpressionAttributeNames"] == {"#n0": "partner_id"}
    assert payload["Item"]["version"] == {"N": "0"}
    assert payload["Item"]["updated_at"] == {"S": "2026-01-02T03:04:05.678901Z"}


async def test_update_payload_checks_and_bumps_version() -> None:
    reply = {
        "Attributes": {
            "partner_id": {"S": "p1"},
            "id": {"S": "x"},
            "amount": {"N": "6"},
            "version": {"N": "4"},
        }
    }
    db, recorder = _db(reply)
    new = await db.update(Payment(partner_id="p1", id="x", amount=1, version=3), Payment.amount.add(5))
    assert new.amount == 6 and new.version == 4
    _, payload = recorder.calls[0]
    names = payload["ExpressionAttributeNames"]
    values = payload["ExpressionAttributeValues"]
    # every name and value is a placeholder, and none collide between update and condition
    assert set(names.values()) == {"partner_id", "amount", "updated_at", "version"}
    assert {"N": "3"} in values.values() and {"N": "4"} in values.values() and {"N": "5"} in values.values()
    assert "attribute_exists" in payload["ConditionExpression"]
    assert payload["ReturnValues"] == "ALL_NEW"


async def test_update_maps_missing_item_to_item_not_found() -> None:
    missing = ConditionFailed(
        "The conditional request failed",
        code="ConditionalCheckFailedException",
        operation="UpdateItem",
        body={},
    )
    db, _ = _db(missing)
    with pytest.raises(ItemNotFound):
        await db.update(Payment(partner_id="p1", id="x", amount=1), Payment.amount.add(5))


async def test_db_construction_does_no_io_and_rejects_unknown_transport() -> None:
    DB(region="us-east-1")  # nothing to await, nothing opened
    with pytest.raises(ValidationError):
        DB(transport="carrier-pigeon")  # type: ignore[arg-type]  # the point of the test


async def test_cursor_secret_signs_every_cursor_the_db_hands_out() -> None:
    page_reply = {
        "Items": [{"partner_id": {"S": "p1"}, "id": {"S": "a"}, "amount": {"N": "1"}}],
        "LastEvaluatedKey": {"partner_id": {"S": "p1"}, "id": {"S": "a"}},
    }
    recorder = RecordingTransport(FakeTransport(page_reply, {"Items": []}))
    secret = "s" * 32
    db = DB(transport=recorder, region="us-east-1", cursor_secret=secret)
    page = await db.query(Payment).key(Payment.partner_id == "p1").page(size=1)
    assert page.cursor is not None and "." in page.cursor  # payload "." signature
    # the same DB accepts its own cursor and sends the start key it encodes
    await db.query(Payment).key(Payment.partner_id == "p1").page(size=1, cursor=page.cursor)
    assert recorder.calls[1][1]["ExclusiveStartKey"] == page_reply["LastEvaluatedKey"]
    # a DB with another secret, or a forged cursor, is refused before any request
    other = DB(transport=RecordingTransport(FakeTransport()), region="us-east-1", cursor_secret="t" * 32)
    with pytest.raises(ValidationError):
        await other.query(Payment).key(Payment.partner_id == "p1").page(cursor=page.cursor)
    with pytest.raises(ValidationError):
        await db.query(Payment).key(Payment.partner_id == "p1").page(cursor=page.cursor[:-3] + "AAA")
    assert len(recorder.calls) == 2


def test_cursor_secret_must_be_long_enough() -> None:
    with pytest.raises(ValidationError):
        DB(region="us-east-1", cursor_secret="short")


def test_sizing_follows_lambda_memory_and_reaches_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    db = DB(region="us-east-1", credentials=("k", "s"))
    assert (db.sizing.pool_size, db.sizing.batch_concurrency, db.sizing.scan_concurrency) == (8, 2, 1)
    # the lean transport's connection pool is built with that size (no I/O: nothing is sent)
    assert db.transport._http._max == 8  # type: ignore[attr-defined]  # LeanTransport internals
    big = DB(region="us-east-1", pool_size=3, batch_concurrency=5, scan_concurrency=7)
    assert (big.sizing.pool_size, big.sizing.batch_concurrency, big.sizing.scan_concurrency) == (3, 5, 7)
    assert big.derive(table_prefix="x_").sizing == big.sizing
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    assert DB(region="us-east-1").sizing.pool_size == 64  # outside Lambda


async def test_batch_and_parallel_scan_default_to_the_sized_concurrency() -> None:
    in_flight = 0
    peak = 0

    async def reply(operation: str, payload: dict[str, object]) -> dict[str, object]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        import asyncio

        await asyncio.sleep(0)
        await asyncio.sleep(0)
        in_flight -= 1
        return {"Responses": {}, "UnprocessedKeys": {}} if operation == "BatchGetItem" else {"Items": []}

    db = DB(transport=FakeTransport(*([reply] * 20)), region="us-east-1", batch_concurrency=2)
    keys = [("p1", f"k{i}") for i in range(500)]  # 5 chunks of 100
    assert await db.batch_get(Payment, keys) == [None] * 500
    assert peak == 2
    peak = 0
    db = DB(transport=FakeTransport(*([reply] * 20)), region="us-east-1", scan_concurrency=3)
    async with db.scan(Payment).parallel(8) as items:
        assert [i async for i in items] == []
    assert peak == 3


def test_closing_a_db_closes_its_keep_alive_connections() -> None:
    """moto closes every connection itself, so only a keep-alive peer shows a DB that leaks its pool."""
    import asyncio
    import gc
    import warnings

    from aiotheory.testing import KeepAliveStub

    async def use_and_close(endpoint: str) -> None:
        db = DB(region="us-east-1", endpoint_url=endpoint, credentials=("k", "s"), pool_size=4)
        found = await asyncio.gather(*(db.find(Payment, "p1", f"x{i}") for i in range(4)))
        assert found == [None] * 4
        await db.close()
        gc.collect()  # the DB and its transport are garbage now, while the loop still runs
        await asyncio.sleep(0)

    with KeepAliveStub() as stub, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runner = asyncio.Runner()
        try:
            runner.run(use_and_close(stub.endpoint_url))
        finally:
            # close the loop without shutdown_asyncgens' help: only DB.close may have cleaned up
            runner.get_loop().close()
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_replace_needs_a_version_field_and_sends_nothing_without_one() -> None:
    class Plain(Model, table="plain"):
        id: Annotated[str, PK]

    recorder = RecordingTransport(FakeTransport())
    db = DB(transport=recorder, region="us-east-1")
    with pytest.raises(ValidationError):
        await db.replace(Plain(id="a"))
    recorder.assert_nothing_sent()


async def test_replace_payload_conditions_on_the_version_read() -> None:
    db, recorder = _db({})
    written = await db.replace(Payment(partner_id="p1", id="x", amount=1, version=4))
    assert written.version == 5 and written.updated_at == NOW
    op, payload = recorder.calls[0]
    assert op == "PutItem"
    assert payload["Item"]["version"] == {"N": "5"}
    assert payload["ConditionExpression"] == "#n0 = :v0"
    assert payload["ExpressionAttributeNames"] == {"#n0": "version"}
    assert payload["ExpressionAttributeValues"] == {":v0": {"N": "4"}}


# ------------------------------------------------------------------------------------------ raw


async def test_raw_sends_the_payload_as_given_when_the_db_has_a_table_prefix() -> None:
    reply = {"Item": {"partner_id": {"S": "p1"}, "id": {"S": "x"}}}
    db, recorder = _db(reply)
    payload = {"TableName": "payments", "Key": {"partner_id": {"S": "p1"}, "id": {"S": "x"}}}
    got = await db.raw("GetItem", payload)
    assert got == reply
    assert recorder.calls == [("GetItem", payload)]  # no "dev_" prefix, nothing added


async def test_raw_resends_when_a_read_lost_its_reply() -> None:
    fake = FakeTransport({"Count": 0}, {"Count": 3})
    db = DB(transport=FaultTransport(fake, LostReply("Scan")), region="us-east-1")
    assert await db.raw("Scan", {"TableName": "t", "Select": "COUNT"}) == {"Count": 3}
    assert fake.operations == ["Scan", "Scan"]


async def test_raw_raises_outcome_unknown_when_an_update_lost_its_reply() -> None:
    fake = FakeTransport({"Attributes": {}})
    db = DB(transport=FaultTransport(fake, LostReply("UpdateItem")), region="us-east-1")
    key = {"partner_id": {"S": "p1"}, "id": {"S": "x"}}
    payload = {"TableName": "t", "Key": key, "UpdateExpression": "ADD #n :v"}
    with pytest.raises(OutcomeUnknown) as info:
        await db.raw("UpdateItem", payload | {"ExpressionAttributeNames": {"#n": "n"}})
    assert info.value.key == key
    assert fake.operations == ["UpdateItem"]  # never resent


async def test_raw_raises_the_mapped_error_when_dynamodb_refuses() -> None:
    refusal = from_response(
        "PutItem", 400, {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"}
    )
    db, _ = _db(refusal)
    with pytest.raises(ConditionFailed):
        await db.raw(
            "PutItem", {"TableName": "t", "Item": {}, "ConditionExpression": "attribute_not_exists(pk)"}
        )


# ------------------------------------------------------------------------------------------ tables


async def test_wait_until_active_polls_with_the_retry_policy_sleep_when_the_table_is_creating() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    creating = {"Table": {"TableStatus": "CREATING"}}
    index_creating = {
        "Table": {"TableStatus": "ACTIVE", "GlobalSecondaryIndexes": [{"IndexStatus": "CREATING"}]}
    }
    active = {"Table": {"TableStatus": "ACTIVE", "GlobalSecondaryIndexes": [{"IndexStatus": "ACTIVE"}]}}
    recorder = RecordingTransport(FakeTransport(creating, index_creating, active))
    db = DB(transport=recorder, region="us-east-1", table_prefix="dev_", retry=RetryPolicy(sleep=sleep))
    await db.wait_until_active(Payment)
    assert slept == [POLL_INTERVAL, POLL_INTERVAL]
    assert recorder.calls == [("DescribeTable", {"TableName": "dev_payments"})] * 3


async def test_delete_table_polls_until_the_table_is_gone_when_waiting() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    gone = from_response(
        "DescribeTable", 400, {"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"}
    )
    fake = FakeTransport({}, {"Table": {"TableStatus": "DELETING"}}, gone)
    db = DB(transport=fake, region="us-east-1", retry=RetryPolicy(sleep=sleep))
    await db.delete_table(Payment)
    assert fake.operations == ["DeleteTable", "DescribeTable", "DescribeTable"]
    assert slept == [POLL_INTERVAL]


# ------------------------------------------------------------------------------------- diagnostics


async def test_get_raises_resource_not_found_naming_the_prefixed_table_when_the_table_is_missing() -> None:
    missing = from_response(
        "GetItem",
        400,
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
            "message": "Requested resource not found",
        },
    )
    db, _ = _db(missing)
    with pytest.raises(ResourceNotFound) as info:
        await db.get(Payment, "p1", "x")
    assert info.value.table == "dev_payments"
    assert "'dev_payments'" in str(info.value)


def test_repr_shows_region_endpoint_prefix_and_transport_but_no_secret() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    db = DB(
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:8000",
        credentials=("AKIDEXAMPLE", secret, "session-token-value"),
        table_prefix="dev_",
        cursor_secret="a-cursor-secret-of-enough-bytes",
    )
    text = repr(db)
    assert text == (
        "DB(region='eu-west-1', endpoint_url='http://127.0.0.1:8000', table_prefix='dev_', transport='lean')"
    )
    for hidden in (secret, "AKIDEXAMPLE", "session-token-value", "a-cursor-secret"):
        assert hidden not in text
    assert "transport='RecordingTransport'" in repr(_db()[0])


async def test_create_table_raises_before_sending_when_the_prefix_makes_the_name_too_long() -> None:
    recorder = RecordingTransport(FakeTransport())
    db = DB(transport=recorder, region="us-east-1", table_prefix="p" * 250)
    with pytest.raises(ValidationError, match=r"Payment: table name .* has 258 characters"):
        await db.create_table(Payment)
    recorder.assert_nothing_sent()


# ------------------------------------------------------------------------------------------ migrate


class Ticket(Model, table="tickets"):
    id: Annotated[str, PK]
    state: Annotated[str, GSI("by-state", "pk", projection="INCLUDE", include=("title",))] = ""
    queue: Annotated[int, GSI("by-queue", "pk")] = 0
    title: str = ""


async def test_migrate_sends_one_gsi_per_update_table_with_throughput_when_the_table_is_provisioned() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    def table(*indexes: tuple[str, str]) -> dict[str, object]:
        return {
            "Table": {
                "TableStatus": "ACTIVE",
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "ProvisionedThroughput": {"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": n,
                        "IndexStatus": s,
                        "KeySchema": [{"AttributeName": "old", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                    for n, s in indexes
                ],
            }
        }

    recorder = RecordingTransport(
        FakeTransport(
            table(("old-index", "ACTIVE")),  # the migrate's DescribeTable
            {},  # UpdateTable: delete old-index
            table(("old-index", "DELETING")),
            table(),
            {},  # UpdateTable: create by-state
            table(("by-state", "CREATING")),
            table(("by-state", "ACTIVE")),
            {},  # UpdateTable: create by-queue
            table(("by-state", "ACTIVE"), ("by-queue", "ACTIVE")),
        )
    )
    db = DB(transport=recorder, region="us-east-1", table_prefix="dev_", retry=RetryPolicy(sleep=sleep))
    plan = await db.migrate(Ticket)
    steps = ["remove GSI 'old-index'", "add GSI 'by-state'", "add GSI 'by-queue'"]
    assert [str(s) for s in plan.steps] == steps
    updates = [p for op, p in recorder.calls if op == "UpdateTable"]
    assert updates[0] == {
        "TableName": "dev_tickets",
        "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "old-index"}}],
    }
    assert updates[1] == {
        "TableName": "dev_tickets",
        "AttributeDefinitions": [{"AttributeName": "state", "AttributeType": "S"}],
        "GlobalSecondaryIndexUpdates": [
            {
                "Create": {
                    "IndexName": "by-state",
                    "KeySchema": [{"AttributeName": "state", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["title"]},
                    "ProvisionedThroughput": {"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
                }
            }
        ],
    }
    assert updates[2]["AttributeDefinitions"] == [{"AttributeName": "queue", "AttributeType": "N"}]
    assert slept == [POLL_INTERVAL, POLL_INTERVAL]  # one poll while DELETING, one while CREATING


async def test_migrate_sends_only_describe_calls_when_dry_run_finds_a_missing_table() -> None:
    missing = from_response(
        "DescribeTable", 400, {"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"}
    )
    db, recorder = _db(missing)
    plan = await db.migrate(Ticket, dry_run=True)
    assert str(plan) == "Ticket -> dev_tickets: 1 change(s) to apply\n  create table 'dev_tickets'"
    assert recorder.operations == ["DescribeTable"]
