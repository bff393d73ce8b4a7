"""Table management end to end: create (keys, indexes, TTL, streams), ensure (drift), describe, delete."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import pytest

from aiotheory import DB, GSI, LSI, PK, SK, TTL, Model, ResourceInUse, ResourceNotFound, TableSchemaMismatch


class Order(Model, table="orders"):
    customer: Annotated[str, PK]
    order_id: Annotated[str, SK]
    placed: Annotated[str, LSI("by-placed", projection="KEYS_ONLY")] = ""
    state: Annotated[str, GSI("by-state", "pk", projection="INCLUDE", include=("total",))] = "new"
    total: Annotated[int, GSI("by-state", "sk", projection="INCLUDE", include=("total",))] = 0
    expires: Annotated[dt.datetime | None, TTL] = None


class OrderDrifted(Model, table="orders", entity="Order"):  # a version of Order
    """Same table name, but the GSI is keyed differently: ensure_table must refuse it."""

    customer: Annotated[str, PK]
    order_id: Annotated[str, SK]
    state: Annotated[str, GSI("by-state", "pk")] = "new"


class Simple(Model, table="simple"):
    id: Annotated[int, PK]
    name: str = ""


async def test_create_table_declares_keys_indexes_and_ttl(db: DB, make_table) -> None:
    await make_table(Order)
    table = await db.describe_table(Order)
    assert table["TableName"] == db.table_name(Order)
    assert table["TableStatus"] == "ACTIVE"
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {
        "customer": "HASH",
        "order_id": "RANGE",
    }
    types = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
    assert types == {"customer": "S", "order_id": "S", "placed": "S", "state": "S", "total": "N"}
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "by-state"
    assert gsi["Projection"]["ProjectionType"] == "INCLUDE"
    assert gsi["Projection"]["NonKeyAttributes"] == ["total"]
    (lsi,) = table["LocalSecondaryIndexes"]
    assert lsi["IndexName"] == "by-placed" and lsi["Projection"]["ProjectionType"] == "KEYS_ONLY"
    assert table.get("BillingModeSummary", {}).get("BillingMode", "PAY_PER_REQUEST") == "PAY_PER_REQUEST"
    ttl = await db.describe_ttl(Order)
    assert ttl["AttributeName"] == "expires"
    assert ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING")


async def test_create_table_raises_resource_in_use_when_it_exists(db: DB, make_table) -> None:
    await make_table(Simple)
    with pytest.raises(ResourceInUse):
        await db.create_table(Simple)


async def test_create_table_with_stream(db: DB, make_table) -> None:
    await db.create_table(Simple, stream="NEW_AND_OLD_IMAGES")
    try:
        table = await db.describe_table(Simple)
        assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    finally:
        await db.delete_table(Simple)


async def test_ensure_table_creates_then_is_idempotent(db: DB) -> None:
    try:
        assert await db.ensure_table(Simple) is True
        assert await db.ensure_table(Simple) is False
        await db.put(Simple(id=1, name="x"))
        assert (await db.get(Simple, 1)).name == "x"
    finally:
        await db.delete_table(Simple)


async def test_ensure_table_reports_schema_drift(db: DB, make_table) -> None:
    await make_table(Order)
    assert await db.ensure_table(Order) is False
    with pytest.raises(TableSchemaMismatch) as info:
        await db.ensure_table(OrderDrifted)
    text = "; ".join(info.value.differences)
    assert "by-state" in text and "by-placed" in text


async def test_delete_table_then_describe_raises_not_found(db: DB) -> None:
    await db.create_table(Simple)
    await db.delete_table(Simple)
    with pytest.raises(ResourceNotFound) as info:
        await db.describe_table(Simple)
    assert info.value.code == "ResourceNotFoundException"
    with pytest.raises(ResourceNotFound):
        await db.delete_table(Simple)


async def test_table_prefix_separates_environments(db: DB, make_table) -> None:
    await make_table(Simple)
    async with db.derive(table_prefix=db.table_prefix + "other_") as other:
        with pytest.raises(ResourceNotFound):
            await other.get(Simple, 1)
