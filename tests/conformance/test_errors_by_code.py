"""Each AWS error the DB meets arrives as its typed exception, with the AWS code visible, on every engine."""

from __future__ import annotations

from typing import Annotated

import pytest

from aiotheory import (
    DB,
    PK,
    AwsError,
    ConditionFailed,
    Model,
    ResourceInUse,
    ResourceNotFound,
    TransactionCanceled,
)


class Thing(Model, table="things"):
    id: Annotated[str, PK]
    n: int = 0


async def test_condition_failed_code(db: DB, make_table) -> None:
    await make_table(Thing)
    await db.create(Thing(id="a"))
    with pytest.raises(ConditionFailed) as info:
        await db.create(Thing(id="a"))
    assert (info.value.code, info.value.operation, info.value.status) == (
        "ConditionalCheckFailedException",
        "PutItem",
        400,
    )


async def test_resource_not_found_code(db: DB) -> None:
    with pytest.raises(ResourceNotFound) as info:
        await db.get(Thing, "a")
    assert info.value.code == "ResourceNotFoundException" and info.value.operation == "GetItem"


async def test_resource_in_use_code(db: DB, make_table) -> None:
    await make_table(Thing)
    with pytest.raises(ResourceInUse) as info:
        await db.create_table(Thing)
    assert info.value.code == "ResourceInUseException"


async def test_validation_exception_code(db: DB, make_table) -> None:
    await make_table(Thing)
    # a key that does not match the schema is caught by the engine, not by us (raw payload)
    with pytest.raises(AwsError) as info:
        await db.raw("GetItem", {"TableName": db.table_name(Thing), "Key": {"nope": {"S": "1"}}})
    assert info.value.code == "ValidationException" and info.value.status == 400


async def test_transaction_canceled_reasons_per_action(db: DB, make_table) -> None:
    await make_table(Thing)
    await db.create(Thing(id="a"))
    tx = db.transaction()
    tx.put(Thing(id="b"))
    tx.create(Thing(id="a"))
    with pytest.raises(TransactionCanceled) as info:
        await tx.commit()
    assert info.value.code == "TransactionCanceledException"
    assert [r.code for r in info.value.reasons] == [None, "ConditionalCheckFailed"]
    assert await db.find(Thing, "b") is None
