"""Batch write and batch get throughput (items/s): aiotheory vs raw aiobotocore loops, one run each.

Run: `python bench/batch.py [--items 10000] [--concurrency 8] [--no-ddblocal]`. Starts a moto server in
this process and, when its jar is found (`.cache/dynamodb-local` or `$AIOTHEORY_DDBLOCAL_DIR`), DynamoDB
Local as a child process.

What is compared, honestly:
- aiotheory: `db.batch_write(put=models)` / `db.batch_get(Model, keys)` with models encoded / decoded,
  duplicates checked, chunks of 25 / 100 run `--concurrency` at a time, each through the call function.
- raw aiobotocore, sequential: a plain loop of `batch_write_item` / `batch_get_item` over pre-serialised
  DynamoDB JSON (no model work), re-sending UnprocessedItems/Keys at once: the floor most code writes.
- raw aiobotocore, concurrent: the same requests under an asyncio.Semaphore(`--concurrency`).
Each engine gets a fresh table per contender; one run each, so treat differences below ~15% as noise.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Annotated, Any

from aiotheory import DB, PK, SK, Model
from aiotheory.testing import DynamoDBLocal, MotoServer, find_dynamodb_local
from aiotheory.testing._engines import ACCESS_KEY, REGION, SECRET_KEY


class Event(Model, table="bench_events"):
    stream: Annotated[str, PK]
    seq: Annotated[int, SK]
    kind: str
    payload: str
    amount: int


def _events(n: int) -> list[Event]:
    return [Event(stream=f"s{i % 50}", seq=i, kind="click", payload="x" * 64, amount=i) for i in range(n)]


def _wire(e: Event) -> dict[str, Any]:
    return {
        "stream": {"S": e.stream},
        "seq": {"N": str(e.seq)},
        "kind": {"S": e.kind},
        "payload": {"S": e.payload},
        "amount": {"N": str(e.amount)},
    }


async def _aiotheory(
    endpoint: str, transport: str, items: list[Event], concurrency: int
) -> tuple[float, float]:
    db = DB(
        region=REGION,
        endpoint_url=endpoint,
        credentials=(ACCESS_KEY, SECRET_KEY),
        table_prefix=f"b{uuid.uuid4().hex[:6]}_",
        transport=transport,  # type: ignore[arg-type]  # "lean" or "botocore"
    )
    async with db:
        await db.create_table(Event)
        keys = [(e.stream, e.seq) for e in items]
        started = time.perf_counter()
        await db.batch_write(put=items, concurrency=concurrency)
        wrote = time.perf_counter() - started
        started = time.perf_counter()
        got = await db.batch_get(Event, keys, concurrency=concurrency)
        read = time.perf_counter() - started
        assert sum(1 for g in got if g is not None) == len(items)
        await db.delete_table(Event)
    return len(items) / wrote, len(items) / read


async def _raw(endpoint: str, items: list[Event], concurrency: int | None) -> tuple[float, float]:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    table = f"raw{uuid.uuid4().hex[:6]}"
    wire = [_wire(e) for e in items]
    keys = [{"stream": w["stream"], "seq": w["seq"]} for w in wire]
    config = AioConfig(
        retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=max(10, concurrency or 1)
    )
    session = get_session()
    async with session.create_client(
        "dynamodb",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=config,
    ) as client:
        await client.create_table(
            TableName=table,
            KeySchema=[
                {"AttributeName": "stream", "KeyType": "HASH"},
                {"AttributeName": "seq", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "stream", "AttributeType": "S"},
                {"AttributeName": "seq", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        gate = asyncio.Semaphore(concurrency or 1)

        async def write(chunk: list[dict[str, Any]]) -> None:
            request: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
            while request:
                async with gate:
                    reply = await client.batch_write_item(RequestItems=request)
                request = reply.get("UnprocessedItems") or {}

        async def read(chunk: list[dict[str, Any]], out: list[Any]) -> None:
            request: dict[str, Any] = {table: {"Keys": chunk}}
            while request:
                async with gate:
                    reply = await client.batch_get_item(RequestItems=request)
                out.extend(reply["Responses"].get(table, []))
                request = reply.get("UnprocessedKeys") or {}

        writes = [wire[i : i + 25] for i in range(0, len(wire), 25)]
        reads = [keys[i : i + 100] for i in range(0, len(keys), 100)]
        found: list[Any] = []
        started = time.perf_counter()
        if concurrency is None:
            for chunk in writes:
                await write(chunk)
        else:
            await asyncio.gather(*(write(chunk) for chunk in writes))
        wrote = time.perf_counter() - started
        started = time.perf_counter()
        if concurrency is None:
            for chunk in reads:
                await read(chunk, found)
        else:
            await asyncio.gather(*(read(chunk, found) for chunk in reads))
        got = time.perf_counter() - started
        assert len(found) == len(items)
        await client.delete_table(TableName=table)
    return len(items) / wrote, len(items) / got


async def _engine(name: str, endpoint: str, n: int, concurrency: int) -> list[tuple[str, str, float, float]]:
    items = _events(n)
    rows: list[tuple[str, str, float, float]] = []
    for label, run in (
        ("raw aiobotocore, sequential loop", _raw(endpoint, items, None)),
        (f"raw aiobotocore, {concurrency} concurrent", _raw(endpoint, items, concurrency)),
        ("aiotheory (lean wire)", _aiotheory(endpoint, "lean", items, concurrency)),
        ("aiotheory (botocore transport)", _aiotheory(endpoint, "botocore", items, concurrency)),
    ):
        w, r = await run
        rows.append((name, label, w, r))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-ddblocal", action="store_true")
    args = parser.parse_args()

    rows: list[tuple[str, str, float, float]] = []
    moto = MotoServer().start()
    try:
        rows += asyncio.run(_engine("moto", moto.endpoint_url, args.items, args.concurrency))
    finally:
        moto.stop()
    if not args.no_ddblocal:
        local = DynamoDBLocal()
        if find_dynamodb_local(local.directory) is None:
            print(f"DynamoDB Local not found under {local.directory}; skipped")
        else:
            local.start()
            try:
                rows += asyncio.run(_engine("ddblocal", local.endpoint_url, args.items, args.concurrency))
            finally:
                local.stop()

    print(f"\n{args.items:,} items, ~170 B each, chunks of 25 (write) / 100 (get), one run per row\n")
    print(f"{'engine':<9} {'client':<36} {'write items/s':>14} {'ratio':>6} {'get items/s':>12} {'ratio':>6}")
    floor: dict[str, tuple[float, float]] = {}
    for engine, label, w, r in rows:
        base = floor.setdefault(engine, (w, r))
        print(f"{engine:<9} {label:<36} {w:>14,.0f} {w / base[0]:>6.2f} {r:>12,.0f} {r / base[1]:>6.2f}")
    print("\nratio: against the sequential raw aiobotocore loop on the same engine")


if __name__ == "__main__":
    main()
