"""The single-table example as a user runs it: `python -m examples.single_table` in a subprocess, on the
test engine (moto, or DynamoDB Local with --backend=ddblocal), checked by what it prints and its status."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from aiotheory.testing import Backend

ROOT: Final = Path(__file__).resolve().parents[2]
#: Starting the interpreter and importing pydantic takes a few seconds on a busy machine.
_TIMEOUT: Final = 120.0


async def test_example_runs_and_reads_typed_collections_when_started_in_one_command(backend: Backend) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AIOTHEORY_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env |= {
        "AWS_ENDPOINT_URL_DYNAMODB": backend.endpoint_url,
        "AWS_REGION": backend.region,
        "AWS_ACCESS_KEY_ID": backend.access_key,
        "AWS_SECRET_ACCESS_KEY": backend.secret_key,
        "AIOTHEORY_TABLE_PREFIX": f"t{uuid.uuid4().hex[:8]}_",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "examples.single_table",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(_TIMEOUT):
        out, err = await proc.communicate()

    assert proc.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[0].startswith("refused c3: email taken")
    assert [line.split()[0] for line in lines if line.startswith("  ")] == [
        "Customer",
        "Order",
        "Order",
        "Order",
        "OrderLine",
        "OrderLine",
        "OrderLine",
    ]
    assert lines[-1] == "ok"
