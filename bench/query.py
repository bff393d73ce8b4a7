"""A 10,000-item query streamed into models vs raw aiobotocore paging + boto3's TypeDeserializer.

Run: `python bench/query.py [--items N]`. One run per engine: a moto server in a child process (so the
client's CPU is measured alone) and DynamoDB Local when it is cached under `.cache/dynamodb-local`.

What is compared:
- aiotheory: `async for m in db.query(Item).key(Item.pk == "bench")` (lean and botocore transports): every
  page fetched through the one call function and decoded into model instances.
- floor: an aiobotocore client's Query paginator, each item turned into a dict of python values by
  `TypeDeserializer` (no model; pydantic validation would only add to it).
Figures: wall-clock items/s and the client process's CPU per item (time.process_time over the whole loop).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from aiotheory import DB, PK, SK, Model
from aiotheory.testing import DynamoDBLocal, find_dynamodb_local

if TYPE_CHECKING:
    from collections.abc import Iterator

REGION = "us-east-1"
CREDENTIALS = ("benchkey", "benchsecret")
#: Items per request on both sides: moto takes seconds to build a full 1 MB page, past the lean wire's
#: read timeout.
PAGE = 1000


class Item(Model, table="bench_query"):
    pk: Annotated[str, PK]
    sk: Annotated[int, SK]
    name: str
    amount: int
    status: str = "pending"
    created_at: datetime
    tags: set[str] = set()
    meta: dict[str, str] = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _moto() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def _ddblocal() -> Iterator[str | None]:
    root = Path(__file__).resolve().parent.parent
    if find_dynamodb_local(root / ".cache" / "dynamodb-local") is None:
        yield None
        return
    engine = DynamoDBLocal(cache_root=root).start()
    try:
        yield engine.endpoint_url
    finally:
        engine.stop()


async def _load(url: str, count: int) -> None:
    db = DB(region=REGION, endpoint_url=url, credentials=CREDENTIALS, transport="lean")
    try:
        await db.ensure_table(Item)
        now = datetime(2026, 1, 2, tzinfo=UTC)
        items = [
            Item(
                pk="bench",
                sk=i,
                name=f"item number {i}",
                amount=i * 7,
                created_at=now,
                tags={"a", "b"},
                meta={"k": "v", "n": str(i)},
            )
            for i in range(count)
        ]
        await db.batch_write(put=items)
    finally:
        await db.close()


async def _aiotheory(url: str, transport: str) -> tuple[int, float, float]:
    db = DB(region=REGION, endpoint_url=url, credentials=CREDENTIALS, transport=transport)  # type: ignore[arg-type]
    try:
        await db.query(Item).key(Item.pk == "bench").first()  # warm: connection, imports, codec
        cpu, wall = time.process_time(), time.perf_counter()
        got = [item async for item in db.query(Item).key(Item.pk == "bench").page_size(PAGE)]
        return len(got), time.perf_counter() - wall, time.process_time() - cpu
    finally:
        await db.close()


async def _raw(url: str) -> tuple[int, float, float]:
    import aiobotocore.session
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    session = aiobotocore.session.get_session()
    async with session.create_client(
        "dynamodb",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id=CREDENTIALS[0],
        aws_secret_access_key=CREDENTIALS[1],
    ) as client:
        table = "bench_query"
        await client.query(
            TableName=table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "bench"}},
            Limit=1,
        )
        cpu, wall = time.process_time(), time.perf_counter()
        out: list[dict[str, Any]] = []
        paginator = client.get_paginator("query")
        async for page in paginator.paginate(
            TableName=table,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "bench"}},
            Limit=PAGE,
        ):
            out.extend({k: deserializer.deserialize(v) for k, v in item.items()} for item in page["Items"])
        return len(out), time.perf_counter() - wall, time.process_time() - cpu


async def _engine(name: str, url: str, count: int) -> None:
    await _load(url, count)
    rows = [
        ("aiotheory lean -> models", await _aiotheory(url, "lean")),
        ("aiotheory botocore -> models", await _aiotheory(url, "botocore")),
        ("aiobotocore + TypeDeserializer -> dicts", await _raw(url)),
    ]
    floor_cpu = rows[-1][1][2]
    print(f"\n{name}: {count} items, one run each")
    print(f"{'client':42} {'items':>6} {'items/s':>9} {'CPU us/item':>12} {'CPU vs floor':>13}")
    for label, (n, wall, cpu) in rows:
        print(f"{label:42} {n:>6} {n / wall:>9,.0f} {cpu / n * 1e6:>12.1f} {cpu / floor_cpu:>12.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    with _moto() as url:
        asyncio.run(_engine("moto server (child process)", url, args.items))
    with _ddblocal() as url:
        if url is None:
            print("\nDynamoDB Local is not cached under .cache/dynamodb-local: skipped")
        else:
            asyncio.run(_engine("DynamoDB Local", url, args.items))


if __name__ == "__main__":
    main()
