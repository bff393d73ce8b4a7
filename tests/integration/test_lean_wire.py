"""Smoke test of the lean wire on the run's engine (moto by default): raw payloads, no DB facade."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from aiotheory.credentials import Credentials, StaticProvider
from aiotheory.errors import ResourceInUse, ResourceNotFound
from aiotheory.transport.lean import LeanTransport

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiotheory.testing import Backend


@pytest.fixture
async def lean(backend: Backend) -> AsyncIterator[LeanTransport]:
    creds = Credentials(access_key_id=backend.access_key, secret_access_key=backend.secret_key)
    transport = LeanTransport(
        backend.region, endpoint_url=backend.endpoint_url, credentials=StaticProvider(creds)
    )
    try:
        yield transport
    finally:
        await transport.close()


async def test_lean_creates_table_puts_and_gets_item(lean: LeanTransport) -> None:
    table = f"lean_{uuid.uuid4().hex[:8]}"
    created = await lean.send(
        "CreateTable",
        {
            "TableName": table,
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    assert created["TableDescription"]["TableName"] == table
    item = {"pk": {"S": "p1"}, "n": {"N": "10.50"}, "b": {"B": "AAEC"}, "s": {"S": "caf\u00e9 \U0001f600"}}
    assert await lean.send("PutItem", {"TableName": table, "Item": item}) == {}
    got = await lean.send("GetItem", {"TableName": table, "Key": {"pk": {"S": "p1"}}, "ConsistentRead": True})
    assert got["Item"]["pk"] == {"S": "p1"}
    assert got["Item"]["b"] == {"B": "AAEC"}
    assert got["Item"]["s"] == {"S": "caf\u00e9 \U0001f600"}
    assert float(got["Item"]["n"]["N"]) == 10.5
    missing = await lean.send("GetItem", {"TableName": table, "Key": {"pk": {"S": "nope"}}})
    assert "Item" not in missing
    with pytest.raises(ResourceInUse):
        await lean.send(
            "CreateTable",
            {
                "TableName": table,
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
        )


async def test_lean_raises_resource_not_found_when_table_is_missing(lean: LeanTransport) -> None:
    with pytest.raises(ResourceNotFound) as info:
        await lean.send("GetItem", {"TableName": "no_such_table_lean", "Key": {"pk": {"S": "p1"}}})
    assert info.value.code == "ResourceNotFoundException"
    assert info.value.operation == "GetItem"
