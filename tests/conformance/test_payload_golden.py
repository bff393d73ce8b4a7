"""The exact JSON each DB operation sends, pinned by golden files (tests/conformance/data/payloads/).

A change in placeholders, key encoding, guards or lifecycle fields shows up here as a diff. To accept an
intended change, run with AIOTHEORY_UPDATE_GOLDENS=1 and review the golden diff in the commit.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Annotated

import pytest

from aiotheory import DB, GSI, LSI, PK, SK, TTL, CreatedAt, F, Model, UpdatedAt, Version
from aiotheory.testing import FakeTransport, RecordingTransport

GOLDEN = Path(__file__).parent / "data" / "payloads"
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)


class Payment(Model, table="payments"):
    partner_id: Annotated[str, PK]
    id: Annotated[str, SK]
    amount: int
    currency: str = "USD"
    status: Annotated[str, GSI("by-status", "pk")] = "pending"
    created_at: Annotated[dt.datetime | None, CreatedAt, GSI("by-status", "sk")] = None
    updated_at: Annotated[dt.datetime | None, UpdatedAt] = None
    placed: Annotated[str | None, LSI("by-placed", projection="KEYS_ONLY")] = None
    version: Annotated[int, Version] = 0
    expires_at: Annotated[dt.datetime | None, TTL] = None
    tags: set[str] = set()


_REPLY = {"partner_id": {"S": "p1"}, "id": {"S": "pay_1"}, "amount": {"N": "1"}}


def _db(*replies: object) -> tuple[DB, RecordingTransport]:
    recorder = RecordingTransport(FakeTransport(*replies))
    return DB(transport=recorder, region="us-east-1", table_prefix="prod_", clock=lambda: NOW), recorder


def _check(name: str, payload: object) -> None:
    path = GOLDEN / f"{name}.json"
    text = json.dumps(payload, indent=2, sort_keys=False) + "\n"
    if os.environ.get("AIOTHEORY_UPDATE_GOLDENS") == "1":
        path.write_text(text)
    assert path.exists(), f"no golden for {name}; run with AIOTHEORY_UPDATE_GOLDENS=1 and review it"
    assert text == path.read_text()


def _payment(**changes: object) -> Payment:
    base = Payment(
        partner_id="p1",
        id="pay_1",
        amount=10050,
        tags={"b", "a"},
        expires_at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    )
    return base.model_copy(update=changes)


async def test_get_item_payload() -> None:
    db, rec = _db({"Item": _REPLY})
    await db.get(Payment, "p1", "pay_1", consistent=True)
    _check("get_item", rec.calls[0][1])


async def test_create_payload() -> None:
    db, rec = _db({})
    await db.create(_payment())
    _check("create_put_item", rec.calls[0][1])


async def test_put_with_condition_payload() -> None:
    db, rec = _db({})
    await db.put(_payment(), condition=F(Payment.status).is_in(["pending", "failed"]))
    _check("put_item_condition", rec.calls[0][1])


async def test_update_payload() -> None:
    db, rec = _db({"Attributes": _REPLY})
    await db.update(
        _payment(version=3),
        F(Payment.status).set("paid"),
        F(Payment.amount).add(5),
        F(Payment.tags).delete({"a"}),
        condition=(F(Payment.status) == "pending") & F(Payment.currency).begins_with("U"),
    )
    _check("update_item", rec.calls[0][1])


async def test_delete_payload() -> None:
    db, rec = _db({})
    await db.delete(_payment(version=7), condition=F(Payment.amount) > 0)
    _check("delete_item", rec.calls[0][1])


async def test_create_table_payload() -> None:
    db, rec = _db({}, {"Table": {"TableStatus": "ACTIVE"}}, {})
    await db.create_table(Payment, stream="NEW_AND_OLD_IMAGES")
    assert rec.operations == ["CreateTable", "DescribeTable", "UpdateTimeToLive"]
    _check("create_table", rec.calls[0][1])
    _check("update_time_to_live", rec.calls[2][1])


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.json")))
def test_every_golden_file_is_exercised(name: str) -> None:
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    assert f'"{name}"' in source, f"golden {name}.json is not checked by any test"
