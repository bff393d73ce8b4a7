"""TableTheory's item format on the engine: the raw items we write, and TableTheory-written items read."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import pytest

from aiotheory import (
    DB,
    GSI,
    PK,
    SK,
    TTL,
    CreatedAt,
    JSONString,
    Model,
    OmitEmpty,
    RFC3339Nano,
    UpdatedAt,
    Version,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiotheory.testing import MakeTable


class User(Model, table="users_contract", naming="camelCase", item_format="tabletheory"):
    PK: Annotated[str, PK]
    SK: Annotated[str, SK]
    email_hash: Annotated[str | None, GSI("gsi-email")] = None
    nickname: Annotated[str, OmitEmpty] = ""
    tags: Annotated[set[str], OmitEmpty] = set()
    labels: set[str] = set()
    notes: list[str] = []
    score: Annotated[int, OmitEmpty] = 0
    active: Annotated[bool, OmitEmpty] = False
    profile: Annotated[dict[str, Any] | None, JSONString] = None
    created_at: Annotated[dt.datetime | None, CreatedAt, GSI("gsi-created", "pk")] = None
    updated_at: Annotated[dt.datetime | None, UpdatedAt, RFC3339Nano] = None
    version: Annotated[int, Version] = 0
    ttl: Annotated[int, TTL, OmitEmpty] = 0


_NOW = dt.datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=dt.UTC)


def _clock() -> dt.datetime:
    return _NOW


@pytest.fixture
async def clocked(db: DB) -> AsyncIterator[DB]:
    async with db.derive(clock=_clock) as derived:
        yield derived


async def _raw_get(db: DB, pk: str, sk: str) -> dict[str, Any]:
    reply = await db.raw(
        "GetItem",
        {"TableName": db.table_name(User), "Key": {"PK": {"S": pk}, "SK": {"S": sk}}, "ConsistentRead": True},
    )
    item: dict[str, Any] = reply["Item"]
    return item


async def test_create_writes_tabletheory_item_when_model_uses_its_format(
    clocked: DB, make_table: MakeTable
) -> None:
    db = clocked
    await make_table(User)
    await db.create(User(PK="USER#2", SK="PROFILE", profile={"z": 1, "a": 2}))
    assert await _raw_get(db, "USER#2", "PROFILE") == {
        "PK": {"S": "USER#2"},
        "SK": {"S": "PROFILE"},
        "labels": {"NULL": True},
        "notes": {"L": []},
        "profile": {"S": '{"a":2,"z":1}'},
        "createdAt": {"S": "2026-01-02T03:04:05.5Z"},
        "updatedAt": {"S": "2026-01-02T03:04:05.5Z"},
        "version": {"N": "0"},
    }  # nickname "", tags {}, score 0, active False and ttl 0 are omitted; emailHash None stays absent


async def test_get_reads_tabletheory_written_item_when_it_holds_nulls_and_nanoseconds(
    db: DB, make_table: MakeTable
) -> None:
    await make_table(User)
    item = {
        "PK": {"S": "USER#9"},
        "SK": {"S": "PROFILE"},
        "emailHash": {"S": "h9"},
        "labels": {"NULL": True},
        "tags": {"NULL": True},
        "notes": {"NULL": True},
        "profile": {"NULL": True},
        "createdAt": {"S": "2026-01-02T03:04:05.123456789Z"},
        "updatedAt": {"S": "2026-01-02T03:04:05Z"},
        "version": {"N": "3"},
    }
    await db.raw("PutItem", {"TableName": db.table_name(User), "Item": item})
    got = await db.get(User, "USER#9", "PROFILE")
    assert (got.labels, got.tags, got.notes, got.profile) == (set(), set(), [], None)
    assert (got.nickname, got.score, got.active, got.ttl) == ("", 0, False, 0)
    assert got.created_at == dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    assert got.updated_at == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert got.version == 3

    rows = [
        r async for r in db.query(User).key(User.PK == "USER#9").project(User.SK, User.labels, User.notes)
    ]
    assert [(r.SK, r.labels, r.notes) for r in rows] == [("PROFILE", set(), [])]

    by_email = [r async for r in db.query(User).index("gsi-email").key(User.email_hash == "h9")]
    assert [r.PK for r in by_email] == ["USER#9"]
