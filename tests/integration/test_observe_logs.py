"""DEBUG output of real calls on the engine: one record per call, and never a secret or an item value."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

from aiotheory import DB, PK, Model

if TYPE_CHECKING:
    import pytest

    from aiotheory.testing import Backend

# DynamoDB Local accepts only letters and digits in the key id; neither engine checks the signature.
_KEY_ID = "AKIAOBSERVE7LOGS"
_SECRET = "obs/Secret+Key9zQ"
_TOKEN = "ObsSessionTokenXYZ123"
_VALUE = "carrot-value-9731"


class Note(Model, table="obs_notes"):
    id: Annotated[str, PK]
    body: str


async def test_debug_records_hold_no_secret_or_value_when_calls_run(
    backend: Backend, transport_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = DB(
        region=backend.region,
        endpoint_url=backend.endpoint_url,
        credentials=(_KEY_ID, _SECRET, _TOKEN),
        table_prefix=f"obs_{transport_name}_",
        transport=transport_name,  # type: ignore[arg-type]
    )
    caplog.set_level(logging.DEBUG)
    try:
        await db.create_table(Note)
        await db.put(Note(id="n1", body=_VALUE))
        assert (await db.get(Note, "n1")).body == _VALUE
        await db.delete_table(Note)
    finally:
        await db.close()
    calls = [r for r in caplog.records if r.name == "aiotheory.calls"]
    operations = [r.aws_operation for r in calls]  # type: ignore[attr-defined]
    # create_table waits with DescribeTable: one record per call, whatever their number
    assert [op for op in operations if op != "DescribeTable"] == [
        "CreateTable",
        "PutItem",
        "GetItem",
        "DeleteTable",
    ]
    assert {r.aws_table for r in calls} == {f"obs_{transport_name}_obs_notes"}  # type: ignore[attr-defined]
    # Every call names AWS's request id, successful ones too (the engines send x-amzn-RequestId);
    # delete_table's last DescribeTable ends in ResourceNotFound, which carries it on the error.
    assert sum(r.aws_outcome == "ok" for r in calls) >= 4  # type: ignore[attr-defined]
    assert all(isinstance(r.aws_request_id, str) and r.aws_request_id for r in calls)  # type: ignore[attr-defined]
    for record in caplog.records:
        if not record.name.startswith("aiotheory"):
            continue
        text = record.getMessage() + " " + " ".join(repr(v) for v in vars(record).values())
        for secret in (_KEY_ID, _SECRET, _TOKEN, _VALUE):
            assert secret not in text, f"{secret!r} in a record of {record.name}"
