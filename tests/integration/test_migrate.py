"""Schema evolution end to end: db.migrate creates, adds and removes GSIs, enables TTL, and is idempotent."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import sys
import uuid
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import Annotated

import pytest

import aiotheory
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
from aiotheory.testing import Backend, RecordingTransport


class TaskV1(Model, table="tasks", entity="task"):  # versions of one entity (docs/single-table.md)
    owner: Annotated[str, PK]
    task_id: Annotated[str, SK]
    status: Annotated[str, GSI("by-status", "pk")] = "open"
    due: str = ""


class TaskV2(Model, table="tasks", entity="task"):
    """v1 plus a GSI on `due` and a TTL attribute."""

    owner: Annotated[str, PK]
    task_id: Annotated[str, SK]
    status: Annotated[str, GSI("by-status", "pk")] = "open"
    due: Annotated[str, GSI("by-due", "pk", projection="KEYS_ONLY")] = ""
    expires: Annotated[dt.datetime | None, TTL] = None


class TaskV3(Model, table="tasks", entity="task"):
    """v2 without the first GSI."""

    owner: Annotated[str, PK]
    task_id: Annotated[str, SK]
    status: str = "open"
    due: Annotated[str, GSI("by-due", "pk", projection="KEYS_ONLY")] = ""
    expires: Annotated[dt.datetime | None, TTL] = None


class TaskRekeyed(Model, table="tasks", entity="task"):
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


_MODELS_V1 = """
from typing import Annotated
from aiotheory import GSI, PK, Model

class Note(Model, table="notes"):
    id: Annotated[str, PK]
    tag: str = ""
"""

_MODELS_V2 = _MODELS_V1.replace('tag: str = ""', 'tag: Annotated[str, GSI("by-tag", "pk")] = ""')


async def _run_cli(backend: Backend, prefix: str, path: Path, *args: str) -> tuple[int, str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join([str(path), str(Path(aiotheory.__file__).parent.parent)]),
        AWS_ENDPOINT_URL_DYNAMODB=backend.endpoint_url,
        AWS_REGION=backend.region,
        AWS_ACCESS_KEY_ID=backend.access_key,
        AWS_SECRET_ACCESS_KEY=backend.secret_key,
        AIOTHEORY_TABLE_PREFIX=prefix,
    )
    env.pop("AWS_SESSION_TOKEN", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "aiotheory", "tables", *args, env=env, stdout=PIPE, stderr=PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_tables_command_diffs_then_applies_when_a_model_gains_a_gsi(
    backend: Backend, tmp_path: Path
) -> None:
    prefix = f"cli{uuid.uuid4().hex[:8]}_"
    module = tmp_path / "cli_models.py"
    module.write_text(_MODELS_V1)
    status, out, err = await _run_cli(backend, prefix, tmp_path, "diff", "cli_models")
    create = f"  create table '{prefix}notes'\n"
    assert (status, out) == (1, f"Note -> {prefix}notes: 1 change(s) to apply\n{create}")
    status, out, err = await _run_cli(backend, prefix, tmp_path, "apply", "cli_models:Note")
    assert (status, out) == (0, f"Note -> {prefix}notes: 1 change(s) applied\n{create}")
    assert f"creating table {prefix}notes" in err
    module.write_text(_MODELS_V2)
    status, out, err = await _run_cli(backend, prefix, tmp_path, "apply", "cli_models:Note")
    assert status == 0, err
    assert "add GSI 'by-tag'" in out
    assert "GSI 'by-tag' is ACTIVE" in err  # progress on stderr
    status, out, _ = await _run_cli(backend, prefix, tmp_path, "diff", "cli_models")
    assert (status, out) == (0, f"Note -> {prefix}notes: up to date\n")
    status, _, err = await _run_cli(backend, prefix, tmp_path, "apply", "cli_models:Missing")
    assert status == 2 and "cli_models:Missing: not a Model class with a table" in err
    async with DB(
        region=backend.region,
        endpoint_url=backend.endpoint_url,
        credentials=backend.credentials,
        table_prefix=prefix,
    ) as db:
        await db.raw("DeleteTable", {"TableName": f"{prefix}notes"})
