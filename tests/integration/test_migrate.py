"""Schema evolution end to end: db.migrate creates, adds and removes GSIs, enables TTL, and is idempotent."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from typing import Annotated

import pytest

from aiotheory import (
    DB,
    GSI,
    LSI,
    PK,
    SK,
    TTL,
    F,
    MigrationStep,
    Model,
    ResourceNotFound,
    TableSchemaMismatch,
)
from aiotheory.testing import RecordingTransport


class TaskV1(Model, table="tasks"):
    owner: Annotated[str, PK]
    task_id: Annotated[str, SK]
    status: Annotated[str, GSI("by-status", "pk")] = "open"
    due: str = ""


class TaskV2(Model, table="tasks"):
    """v1 plus a GSI on `due` and a TTL attribute."""

    owner: Annotated[str, PK]
    task_id: Annotated[str, SK]
    status: Annotated[str, GSI("by-status", "pk")] = "open"
    due: Annotated[str, GSI("by-due", "pk", projection="KEYS_ONLY")] = ""
    expires: Annotated[dt.datetime | None, TTL] = None


class TaskV3(Model, table="tasks"):
    """v2 without the first GSI."""

    owner: Annotated[str, PK]
    task_id: Annotated[str, SK]
    status: str = "open"
    due: Annotated[str, GSI("by-due", "pk", projection="KEYS_ONLY")] = ""
    expires: Annotated[dt.datetime | None, TTL] = None


class TaskRekeyed(Model, table="tasks"):
    owner: Annotated[str, PK]
    task_id: Annotated[int, SK]
    placed: Annotated[str, LSI("by-placed")] = ""


def _recording(db: DB) -> tuple[DB, RecordingTransport]:
    recorder = RecordingTransport(db.transport)
    return db.derive(transport=recorder), recorder


async def test_migrate_evolves_a_table_from_v1_to_v3_when_the_model_changes(
    db: DB, caplog: pytest.LogCaptureFixture
) -> None:
    try:
        created = await db.migrate(TaskV1)
        assert created.applied and created.steps == (MigrationStep("create_table", db.table_name(TaskV1)),)
        assert [g["IndexName"] for g in (await db.describe_table(TaskV1))["GlobalSecondaryIndexes"]] == [
            "by-status"
        ]

        rec_db, recorder = _recording(db)
        planned = await rec_db.migrate(TaskV2, dry_run=True)
        assert not planned.applied
        want = (MigrationStep("create_gsi", "by-due"), MigrationStep("enable_ttl", "expires"))
        assert planned.steps == want
        assert set(recorder.operations) == {"DescribeTable", "DescribeTimeToLive"}
        assert "add GSI 'by-due'" in str(planned) and "enable TTL on 'expires'" in str(planned)

        with caplog.at_level(logging.INFO, logger="aiotheory.tables"):
            added = await db.migrate(TaskV2)
        assert added.applied and added.steps == planned.steps
        assert any("adding GSI 'by-due'" in r.getMessage() for r in caplog.records)
        assert any("GSI 'by-due' is ACTIVE" in r.getMessage() for r in caplog.records)
        await db.put(TaskV2(owner="ann", task_id="t1", due="2026-05-01"))
        page = await db.query(TaskV2).index("by-due").key(F(TaskV2.due) == "2026-05-01").page()
        assert [(t.owner, t.task_id) for t in page.items] == [("ann", "t1")]
        ttl = await db.describe_ttl(TaskV2)
        assert ttl["AttributeName"] == "expires" and ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING")

        removed = await db.migrate(TaskV3)
        assert removed.steps == (MigrationStep("delete_gsi", "by-status"),)
        indexes = (await db.describe_table(TaskV3))["GlobalSecondaryIndexes"]
        assert [g["IndexName"] for g in indexes] == ["by-due"]

        rec_db, recorder = _recording(db)
        again = await rec_db.migrate(TaskV3)
        assert not again and str(again).endswith("up to date")
        assert "UpdateTable" not in recorder.operations
        assert set(recorder.operations) == {"DescribeTable", "DescribeTimeToLive"}
    finally:
        with contextlib.suppress(ResourceNotFound):
            await db.delete_table(TaskV1)


async def test_migrate_raises_naming_key_and_lsi_changes_before_any_write_when_they_cannot_be_migrated(
    db: DB, make_table
) -> None:
    await make_table(TaskV1)
    rec_db, recorder = _recording(db)
    with pytest.raises(TableSchemaMismatch) as info:
        await rec_db.migrate(TaskRekeyed)
    text = str(info.value)
    assert "'task_id' has type S, the model declares N" in text
    assert "LSI 'by-placed' is missing" in text
    assert "DynamoDB cannot change them" in text
    assert set(recorder.operations) == {"DescribeTable"}
