"""Stream records read from the engine's real stream (DescribeStream / GetShardIterator / GetRecords),
shaped as Lambda delivers them, then decoded and processed by aiotheory.streams."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pytest

from aiotheory import PK, SK, F, Model, ResourceNotFound
from aiotheory.streams import StreamRecord, StreamRouter, process

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiotheory import DB
    from aiotheory.testing import Backend

ViewType = Literal["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"]


class Payment(Model, table="stream_payments"):
    partner_id: Annotated[str, PK]
    id: Annotated[str, SK]
    amount: int
    status: str = "pending"
    receipt: bytes = b""
    version: int = 0


class LoosePayment(Model, table="stream_payments"):
    """The same table read by an older writer that may leave `amount` out."""

    partner_id: Annotated[str, PK]
    id: Annotated[str, SK]
    amount: int | None = None


def _lambda_json(value: object) -> object:
    """A GetRecords value as Lambda's JSON event carries it: epoch seconds for times, base64 for bytes."""
    if isinstance(value, Mapping):
        return {k: _lambda_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lambda_json(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


async def _stream_event(backend: Backend, stream_arn: str) -> dict[str, Any]:
    """Every record of the stream so far, in sequence order, wrapped in Lambda's event shape."""
    from aiobotocore.session import get_session

    client_cm = get_session().create_client(
        "dynamodbstreams",
        region_name=backend.region,
        endpoint_url=backend.endpoint_url,
        aws_access_key_id=backend.access_key,
        aws_secret_access_key=backend.secret_key,
    )
    records: list[dict[str, Any]] = []
    async with client_cm as client:
        described = await client.describe_stream(StreamArn=stream_arn)
        for shard in described["StreamDescription"]["Shards"]:
            got = await client.get_shard_iterator(
                StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )
            iterator = got.get("ShardIterator")
            # An open shard always hands back a next iterator: stop at the first empty read.
            for _ in range(100):
                if not iterator:
                    break
                page = await client.get_records(ShardIterator=iterator, Limit=1000)
                if not page["Records"]:
                    break
                records.extend(page["Records"])
                iterator = page.get("NextShardIterator")
    records.sort(key=lambda r: int(r["dynamodb"]["SequenceNumber"]))
    shaped = [dict(_lambda_json(r), eventSourceARN=stream_arn) for r in records]  # type: ignore[call-overload]  # a mapping
    return {"Records": shaped}


@contextlib.asynccontextmanager
async def _streamed_table(db: DB, view: ViewType) -> AsyncIterator[str]:
    await db.create_table(Payment, stream=view)
    try:
        table = await db.describe_table(Payment)
        yield table["LatestStreamArn"]
    finally:
        with contextlib.suppress(ResourceNotFound):
            await db.delete_table(Payment)


async def _write_history(db: DB) -> None:
    """INSERT pay_1, MODIFY it, REMOVE it, then INSERT pay_2."""
    first = await db.create(Payment(partner_id="p1", id="pay_1", amount=10050, receipt=b"\x00\xffr"))
    paid = await db.update(first, F(Payment.status).set("paid"))
    await db.delete(paid)
    await db.create(Payment(partner_id="p1", id="pay_2", amount=7))


EXPECTED_IMAGES: dict[ViewType, list[tuple[bool, bool]]] = {
    # (has new, has old) for INSERT, MODIFY, REMOVE, INSERT
    "KEYS_ONLY": [(False, False)] * 4,
    "NEW_IMAGE": [(True, False), (True, False), (False, False), (True, False)],
    "OLD_IMAGE": [(False, False), (False, True), (False, True), (False, False)],
    "NEW_AND_OLD_IMAGES": [(True, False), (True, True), (False, True), (True, False)],
}


@pytest.mark.parametrize("view", list(EXPECTED_IMAGES))
async def test_stream_records_decode_to_models_for_each_view_type(
    db: DB, backend: Backend, view: ViewType
) -> None:
    async with _streamed_table(db, view) as stream_arn:
        await _write_history(db)
        event = await _stream_event(backend, stream_arn)
        records = StreamRouter(Payment, table_prefix=db.table_prefix).records(event)

    assert [r.event_name for r in records] == ["INSERT", "MODIFY", "REMOVE", "INSERT"]
    assert [r.key for r in records] == [("p1", "pay_1")] * 3 + [("p1", "pay_2")]
    assert [(r.new is not None, r.old is not None) for r in records] == EXPECTED_IMAGES[view]
    assert {r.view_type for r in records} == {view}
    assert {r.table for r in records} == {db.table_name(Payment)}
    assert all(r.model is Payment and r.stream_arn == stream_arn for r in records)
    assert all(r.approximate_creation_time is not None for r in records)
    assert [int(r.sequence_number) for r in records] == sorted(int(r.sequence_number) for r in records)

    inserted = Payment(partner_id="p1", id="pay_1", amount=10050, receipt=b"\x00\xffr")
    paid = inserted.model_copy(update={"status": "paid"})
    if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        assert records[0].new == inserted
        assert records[1].new == paid
        assert records[3].new == Payment(partner_id="p1", id="pay_2", amount=7)
    if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
        assert records[1].old == inserted
        assert records[2].old == paid


async def test_process_reports_the_record_that_does_not_decode(db: DB, backend: Backend) -> None:
    async with _streamed_table(db, "NEW_AND_OLD_IMAGES") as stream_arn:
        await db.create(Payment(partner_id="p1", id="pay_1", amount=1))
        await db.put(LoosePayment(partner_id="p1", id="pay_2"))  # no amount: Payment cannot read it
        await db.create(Payment(partner_id="p1", id="pay_3", amount=3))
        event = await _stream_event(backend, stream_arn)

    seen: list[str] = []

    async def handle(record: StreamRecord[Payment]) -> None:
        assert record.new is not None
        seen.append(record.new.id)

    router = StreamRouter(Payment, table_prefix=db.table_prefix)
    bad = event["Records"][1]["dynamodb"]["SequenceNumber"]

    assert await router.process(event, handle) == {"batchItemFailures": [{"itemIdentifier": bad}]}
    assert seen == ["pay_1"]

    seen.clear()
    assert await router.process(event, handle, ordered=False) == {
        "batchItemFailures": [{"itemIdentifier": bad}]
    }
    assert seen == ["pay_1", "pay_3"]


async def test_process_routes_records_of_two_tables(db: DB, backend: Backend) -> None:
    class Partner(Model, table="stream_partners"):
        id: Annotated[str, PK]
        name: str

    await db.create_table(Partner, stream="NEW_IMAGE")
    try:
        async with _streamed_table(db, "NEW_IMAGE") as payments_arn:
            await db.create(Payment(partner_id="p1", id="pay_1", amount=1))
            await db.create(Partner(id="p1", name="Acme"))
            partners_arn = (await db.describe_table(Partner))["LatestStreamArn"]
            event = await _stream_event(backend, payments_arn)
            event["Records"] += (await _stream_event(backend, partners_arn))["Records"]
    finally:
        with contextlib.suppress(ResourceNotFound):
            await db.delete_table(Partner)

    got: list[Model] = []

    async def handle(record: StreamRecord[Model]) -> None:
        assert record.new is not None
        got.append(record.new)

    reply = await process(event, handle, models=StreamRouter(Payment, Partner, table_prefix=db.table_prefix))
    assert reply == {"batchItemFailures": []}
    assert got == [Payment(partner_id="p1", id="pay_1", amount=1), Partner(id="p1", name="Acme")]
