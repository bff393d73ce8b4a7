"""Single-table design on the engine: an e-commerce table of customers, orders, order lines and email
guards; collections across types with filters and pages, the inverted index, the unique-email
transaction, and the table's stream routed by type."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aiotheory import (
    Collection,
    F,
    KeyTemplateMismatch,
    Model,
    ResourceNotFound,
    TransactionCanceled,
    UnknownEntity,
    ValidationError,
    template_of,
)
from aiotheory.streams import StreamRouter

# The examples are not part of the installed package (CI tests an installed copy): import them from the
# checkout, appended so nothing installed is shadowed.
sys.path.append(str(Path(__file__).resolve().parents[2]))
from examples.single_table.models import (
    Customer,
    EmailGuard,
    Order,
    OrderLine,
    create_customer,
    customer_with_orders,
    order_with_lines,
)

if TYPE_CHECKING:
    from aiotheory import DB
    from aiotheory.testing import Backend
    from aiotheory.testing._plugin import MakeTable

_T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


async def _shop(db: DB, make_table: MakeTable) -> None:
    """Two customers; c1 has orders o1 (3 lines) and o2 (1 line), c2 has o3 (no lines)."""
    await make_table(Customer)  # any model of the table: the table gets every model's indexes
    await create_customer(db, Customer(customer_id="c1", name="Ada", email="ada@example.com"))
    await create_customer(db, Customer(customer_id="c2", name="Bob", email="bob@example.com"))
    orders = [
        Order(order_id="o1", customer_id="c1", placed_at=_T0, total=700),
        Order(order_id="o2", customer_id="c1", placed_at=_T0, total=50),
        Order(order_id="o3", customer_id="c2", placed_at=_T0, total=10),
    ]
    lines = [OrderLine(order_id="o1", line_no=n, sku=f"sku{n}", quantity=n, price=100) for n in (1, 2, 3)] + [
        OrderLine(order_id="o2", line_no=1, sku="sku9", quantity=1, price=50)
    ]
    await db.batch_write(put=[*orders, *lines])  # one batch, two entity types


async def test_query_returns_typed_items_in_sort_key_order_when_collection_reads_a_partition(
    db: DB, make_table: MakeTable
) -> None:
    await _shop(db, make_table)

    got = await order_with_lines(db, "o1")

    assert [type(x).__name__ for x in got] == ["Order", "OrderLine", "OrderLine", "OrderLine"]
    order = got[0]
    assert isinstance(order, Order)
    assert (order.pk, order.sk, order.total) == ("ORDER#o1", "CUSTOMER#c1", 700)
    assert [x.sk for x in got[1:]] == ["LINE#001", "LINE#002", "LINE#003"]
    line = got[1]
    assert isinstance(line, OrderLine) and (line.order_id, line.line_no, line.sku) == ("o1", 1, "sku1")


async def test_query_reads_customer_and_orders_when_inverted_index_is_queried(
    db: DB, make_table: MakeTable
) -> None:
    await _shop(db, make_table)

    got = await customer_with_orders(db, "c1")

    assert [(type(x).__name__, x.pk) for x in got] == [
        ("Customer", "CUSTOMER#c1"),
        ("Order", "ORDER#o1"),
        ("Order", "ORDER#o2"),
    ]


async def test_page_continues_across_types_when_pages_are_small_and_cursors_signed(
    db: DB, make_table: MakeTable
) -> None:
    await _shop(db, make_table)
    query = (
        db.query(Customer | Order)
        .index("gsi1")
        .key(F(Order.sk) == "CUSTOMER#c1")
        .signed(b"0123456789abcdef0123456789abcdef")
    )

    seen: list[Model] = []
    cursor: str | None = None
    for _ in range(10):
        page = await query.page(size=1, cursor=cursor)
        seen.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            break

    assert [type(x).__name__ for x in seen] == ["Customer", "Order", "Order"]
    with pytest.raises(ValidationError):
        await query.page(size=1, cursor="AAAA" + (cursor or "x"))


async def test_filter_applies_across_types_when_an_attribute_only_one_type_has_is_tested(
    db: DB, make_table: MakeTable
) -> None:
    await _shop(db, make_table)
    query = db.query(Collection(Order, OrderLine)).key(F(Order.pk) == "ORDER#o1")

    lines = [x async for x in query.filter(F(OrderLine.quantity) >= 2)]
    limited = [x async for x in query.limit(2)]

    assert [(type(x).__name__, x.sk) for x in lines] == [("OrderLine", "LINE#002"), ("OrderLine", "LINE#003")]
    assert [type(x).__name__ for x in limited] == ["Order", "OrderLine"]


async def test_page_skips_and_counts_items_of_other_types_when_collection_lacks_them(
    db: DB, make_table: MakeTable
) -> None:
    await _shop(db, make_table)

    page = await db.query(Collection(Order)).key(F(Order.pk) == "ORDER#o1").page()
    strict = db.query(Collection(Order, unknown="raise")).key(F(Order.pk) == "ORDER#o1")

    assert [x.order_id for x in page.items] == ["o1"]
    assert page.skipped == 3
    with pytest.raises(UnknownEntity) as caught:
        await strict.page()
    assert caught.value.entity == "line"


async def test_transaction_refuses_second_customer_when_email_is_taken(db: DB, make_table: MakeTable) -> None:
    await _shop(db, make_table)

    with pytest.raises(TransactionCanceled) as caught:
        await create_customer(db, Customer(customer_id="c3", name="Eve", email="ada@example.com"))

    reasons = caught.value.reasons
    assert reasons[0] is None or reasons[0].code is None  # the customer itself was new
    assert reasons[1] is not None and reasons[1].code == "ConditionalCheckFailed"
    assert await db.find(Customer, "CUSTOMER#c3", "CUSTOMER#c3") is None
    guard = await db.get(EmailGuard, "EMAIL#ada@example.com", "EMAIL#ada@example.com")
    assert guard.customer_id == "c1"


async def test_get_and_update_use_template_keys_when_model_has_them(db: DB, make_table: MakeTable) -> None:
    await _shop(db, make_table)
    key = template_of(Order, "pk").render(order_id="o2")

    order = await db.get(Order, key, "CUSTOMER#c1")
    paid = await db.update(order, F(Order.status).set("paid"))
    raw = await db.find(Order, key, "CUSTOMER#c1")

    assert (order.order_id, order.customer_id, order.total) == ("o2", "c1", 50)
    assert paid.status == "paid" and raw is not None and raw.status == "paid"
    with pytest.raises(ValidationError, match="managed by the library"):
        await db.update(order, F(Order.customer_id).set("c2"))  # a component of a key


async def test_put_returns_model_with_rendered_keys_when_key_fields_were_left_empty(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(Customer)

    written = await db.put(Order(order_id="o9", customer_id="c9", placed_at=_T0, total=1))
    found = await db.get(Order, "ORDER#o9", "CUSTOMER#c9")

    assert (written.pk, written.sk) == ("ORDER#o9", "CUSTOMER#c9")
    assert found == written


async def test_read_raises_key_template_mismatch_when_a_key_lacks_its_template_shape(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(Customer)
    # Written by another tool: no component attributes, and a key that is not ORDER#<id>.
    await db._requester.send(  # raw item, as a foreign writer leaves it
        "PutItem",
        {
            "TableName": db.table_name(Order),
            "Item": {
                "pk": {"S": "BASKET#o1"},
                "sk": {"S": "CUSTOMER#c1"},
                "_type": {"S": "order"},
                "placed_at": {"S": "2026-03-01T12:00:00.000000Z"},
                "total": {"N": "5"},
            },
        },
    )

    with pytest.raises(KeyTemplateMismatch) as caught:
        await db.get(Order, "BASKET#o1", "CUSTOMER#c1")
    assert caught.value.template == "ORDER#{order_id}"


async def _stream_event(backend: Backend, stream_arn: str) -> dict[str, Any]:
    """Every record of the stream so far in Lambda's event shape (what test_streams.py reads, for one shard
    set), with the JSON forms Lambda gives times and bytes."""
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
            for _ in range(100):  # an open shard always hands back a next iterator: stop when empty
                if not iterator:
                    break
                page = await client.get_records(ShardIterator=iterator, Limit=1000)
                if not page["Records"]:
                    break
                records.extend(page["Records"])
                iterator = page.get("NextShardIterator")
    records.sort(key=_sequence)
    shaped = []
    for r in records:
        body = dict(r["dynamodb"])
        body.pop("ApproximateCreationDateTime", None)
        shaped.append({**r, "dynamodb": body, "eventSourceARN": stream_arn})
    return {"Records": shaped}


def _sequence(record: dict[str, Any]) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


async def test_stream_records_route_to_models_by_type_when_table_is_shared(db: DB, backend: Backend) -> None:
    await db.create_table(Customer, stream="NEW_AND_OLD_IMAGES")
    try:
        arn = (await db.describe_table(Customer))["LatestStreamArn"]
        await create_customer(db, Customer(customer_id="c1", name="Ada", email="ada@example.com"))
        order = await db.create(Order(order_id="o1", customer_id="c1", placed_at=_T0, total=5))
        await db.put(OrderLine(order_id="o1", line_no=1, sku="s", quantity=1, price=5))
        await db.delete(order)
        event = await _stream_event(backend, arn)
    finally:
        with contextlib.suppress(ResourceNotFound):
            await db.delete_table(Customer)

    router = StreamRouter(Customer, Order, OrderLine, EmailGuard, table_prefix=db.table_prefix)
    records = router.records(event)
    partial = StreamRouter(Customer, Order, table_prefix=db.table_prefix)

    got = sorted((r.event_name, r.model.__name__) for r in records)
    assert got == sorted(
        [
            ("INSERT", "Customer"),
            ("INSERT", "EmailGuard"),
            ("INSERT", "Order"),
            ("INSERT", "OrderLine"),
            ("REMOVE", "Order"),
        ]
    )
    removed = next(r for r in records if r.event_name == "REMOVE")
    assert isinstance(removed.old, Order) and removed.old.order_id == "o1"
    with pytest.raises(UnknownEntity):
        partial.records(event)  # the guard and the line belong to no model of this router


async def test_migrate_creates_table_with_every_models_index_when_given_any_model(db: DB) -> None:
    try:
        plan = await db.migrate(EmailGuard)  # EmailGuard declares gsi1 too, but the table needs all
        table = await db.describe_table(OrderLine)
        again = await db.migrate(Order, dry_run=True)
    finally:
        with contextlib.suppress(ResourceNotFound):
            await db.delete_table(Customer)

    assert plan
    assert [ix["IndexName"] for ix in table.get("GlobalSecondaryIndexes", [])] == ["gsi1"]
    assert not again  # every model of the table sees it as up to date
