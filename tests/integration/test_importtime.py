"""A Lambda-style handler on the lean wire imports no botocore, aiobotocore, aiohttp or boto3.

The handler runs in a fresh interpreter under `python -X importtime`: two models and a DB at module
scope (the init phase), then one GetItem against the run's engine, credentials from the environment
as Lambda provides them. Both the importtime log and the final `sys.modules` are checked.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from typing import TYPE_CHECKING

import anyio
import pytest

from aiotheory.credentials import Credentials, StaticProvider
from aiotheory.transport.lean import LeanTransport

if TYPE_CHECKING:
    from pathlib import Path

    from aiotheory.testing import Backend

_FORBIDDEN = ("botocore", "aiobotocore", "aiohttp", "boto3")

# `{transport}` is the DB's transport argument: explicit "lean", or nothing (the default must be lean).
_HANDLER = """\
import asyncio
import json
import os
import sys
from typing import Annotated

from aiotheory import DB, PK, SK, Model


class Payment(Model, table=os.environ["PAYMENTS_TABLE"]):
    partner_id: Annotated[str, PK]
    id: Annotated[str, SK]
    amount: int
    currency: str = "USD"


class Customer(Model, table="customers"):
    id: Annotated[str, PK]
    name: str


db = DB(region=os.environ["AWS_REGION"], endpoint_url=os.environ["ENDPOINT_URL"]{transport})
db.register(Payment, Customer)


async def handler() -> Payment:
    try:
        return await db.get(Payment, "p1", "pay_1")
    finally:
        await db.close()


if __name__ == "__main__":
    payment = asyncio.run(handler())
    print(json.dumps({{
        "amount": payment.amount,
        "loaded": sorted(m for m in sys.modules if m.split(".")[0] in {forbidden!r}),
    }}))
"""


async def _seed(backend: Backend, table: str) -> None:
    creds = Credentials(access_key_id=backend.access_key, secret_access_key=backend.secret_key)
    wire = LeanTransport(backend.region, endpoint_url=backend.endpoint_url, credentials=StaticProvider(creds))
    try:
        await wire.send(
            "CreateTable",
            {
                "TableName": table,
                "AttributeDefinitions": [
                    {"AttributeName": "partner_id", "AttributeType": "S"},
                    {"AttributeName": "id", "AttributeType": "S"},
                ],
                "KeySchema": [
                    {"AttributeName": "partner_id", "KeyType": "HASH"},
                    {"AttributeName": "id", "KeyType": "RANGE"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
            },
        )
        item = {"partner_id": {"S": "p1"}, "id": {"S": "pay_1"}, "amount": {"N": "7"}}
        await wire.send("PutItem", {"TableName": table, "Item": item})
    finally:
        await wire.close()


def _imported(importtime_log: str) -> set[str]:
    """Module names from `-X importtime` lines: `import time: <self> | <cumulative> | <name>`."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


@pytest.mark.parametrize(
    ("transport", "label"), [(', transport="lean"', "lean"), ("", "default")], ids=["lean", "default"]
)
async def test_lean_handler_imports_no_botocore_aiobotocore_aiohttp_or_boto3(
    backend: Backend, tmp_path: Path, transport: str, label: str
) -> None:
    table = f"imp_{label}_{uuid.uuid4().hex[:8]}"
    await _seed(backend, table)
    handler = tmp_path / "handler.py"
    handler.write_text(_HANDLER.format(transport=transport, forbidden=_FORBIDDEN))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    env.update(
        AWS_ACCESS_KEY_ID=backend.access_key,
        AWS_SECRET_ACCESS_KEY=backend.secret_key,
        AWS_REGION=backend.region,
        ENDPOINT_URL=backend.endpoint_url,
        PAYMENTS_TABLE=table,
    )

    with anyio.fail_after(120):
        done = await anyio.run_process(
            [sys.executable, "-X", "importtime", str(handler)], cwd=tmp_path, env=env, check=False
        )

    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, stderr[-3000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["amount"] == 7  # the GetItem really went over the wire and decoded
    imported = _imported(stderr)
    assert "aiotheory.transport.lean" in imported  # the log was parsed and the lean wire was used
    assert "aiotheory.transport.botocore" not in imported
    assert sorted(m for m in imported if m.split(".")[0] in _FORBIDDEN) == []
    assert result["loaded"] == []
