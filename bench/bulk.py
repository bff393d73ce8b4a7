"""Bulk work against peers, side by side in one run: page decode, batch_write, parallel scan.

Run: `python bench/bulk.py [--only decode,batch,scan] [--rounds 7] [--engine ddblocal|moto|none]`.

- **decode**: one 1 MB Query reply (about 1,000 items of about 1 KB) from its bytes to the caller's
  objects, CPU only, no network: every client starts from the same body bytes. `json.loads` is the floor
  (DynamoDB JSON dicts, bench/_floor.py's `call`). aiotheory decodes into its models (the lean
  transport's JSON decode, then `TableSchema.decode` per item, as a query page does). boto3: botocore's
  JSON parser for the Query output shape, `TypeDeserializer` per attribute and a plain pydantic model's
  `model_validate`. aiodynamo: `json.loads` + its `dy2py` (dicts, floats). pydynox: `json.loads` + its
  Rust `item_from_dynamo` (dicts; in real use its Rust core converts from the SDK's structs, not JSON).
  PynamoDB: `json.loads` + `Model.from_raw_data` into its model (`created_at` kept as text there).
- **batch**: `batch_write` of 10,000 items through each client's own batch call (chunks of 25), against
  the instant stub (bench/_stub.py, client cost alone) and DynamoDB Local.
- **scan**: a parallel scan of `--scan-items` items (default 10,000: DynamoDB Local loads about 1,400
  and scans 1,000-5,000 ~1 KB items/s here, so 100,000 takes minutes per run) with 1, 4 and 8 segments
  on DynamoDB Local, each run in its own child process so its peak RSS (VmHWM) is its own.
Rounds interleave the clients with the order rotated; figures are medians, with the spread (min-max).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from _floor import FloorClient
from cold_start import KEY, REGION, start_engine
from pydantic import BaseModel

from aiotheory import DB, PK, SK, Model
from aiotheory.model import schema_of

__all__ = ["main"]

TABLE = "bench_bulk"
PAGE_BYTES = 1024 * 1024


class Row(Model, table=TABLE):
    pk: Annotated[str, PK]
    sk: Annotated[int, SK]
    name: str
    status: str
    amount: int
    price: Decimal
    paid: bool
    created_at: datetime
    note: str
    email: str
    lines: list[str]
    meta: dict[str, str]
    tags: set[str]
    version: int = 0


class PlainRow(BaseModel):
    """The same shape as a plain pydantic model, for the boto3 path."""

    pk: str
    sk: int
    name: str
    status: str
    amount: int
    price: Decimal
    paid: bool
    created_at: datetime
    note: str
    email: str
    lines: list[str]
    meta: dict[str, str]
    tags: set[str]
    version: int = 0


def make_row(i: int, pk: str = "bench") -> Row:
    """A ~1 KB item (stored as DynamoDB JSON)."""
    return Row(
        pk=pk,
        sk=i,
        name=f"item number {i}",
        status=("pending", "paid", "shipped")[i % 3],
        amount=1000 + i,
        price=Decimal(f"{i}.{i % 100:02d}"),
        paid=bool(i % 2),
        created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i, microseconds=i * 7),
        note="Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 6,
        email=f"customer{i}@example.com",
        lines=[f"line item number {j} with some descriptive text" for j in range(4)],
        meta={f"key{j}": f"value {j} for item {i}" for j in range(6)},
        tags={f"tag-{j}" for j in range(4)},
    )


def page_body() -> tuple[bytes, int]:
    """A Query reply body of about 1 MB and its item count."""
    schema = schema_of(Row)
    items: list[dict[str, Any]] = []
    size = 0
    while size < PAGE_BYTES:
        item = schema.encode(make_row(len(items)))
        size += len(json.dumps(item, separators=(",", ":"))) + 1
        items.append(item)
    last = {"pk": items[-1]["pk"], "sk": items[-1]["sk"]}
    doc = {"Items": items, "Count": len(items), "ScannedCount": len(items), "LastEvaluatedKey": last}
    return json.dumps(doc, separators=(",", ":")).encode(), len(items)


# ------------------------------------------------------------------------------------------ decoders
# Each takes the reply body and returns the page's items as that client hands them to the caller.


def _floor(body: bytes) -> list[Any]:
    items: list[Any] = json.JSONDecoder().decode(body.decode())["Items"]
    return items


def _aiotheory() -> Any:
    decode_json = json.JSONDecoder().decode
    decode = schema_of(Row).decode

    def run(body: bytes) -> list[Any]:
        return [decode(item) for item in decode_json(body.decode("utf-8"))["Items"]]

    return run


def _boto3() -> Any:
    import botocore.parsers
    import botocore.session
    from boto3.dynamodb.types import TypeDeserializer

    shape = botocore.session.get_session().get_service_model("dynamodb").operation_model("Query").output_shape
    parser = botocore.parsers.create_parser("json")
    deserialize = TypeDeserializer().deserialize
    validate = PlainRow.model_validate

    def run(body: bytes) -> list[Any]:
        reply = parser.parse({"body": body, "headers": {}, "status_code": 200}, shape)
        return [validate({k: deserialize(v) for k, v in item.items()}) for item in reply["Items"]]

    return run


def _boto3_json() -> Any:
    from boto3.dynamodb.types import TypeDeserializer

    deserialize = TypeDeserializer().deserialize
    validate = PlainRow.model_validate

    def run(body: bytes) -> list[Any]:
        items = json.loads(body)["Items"]
        return [validate({k: deserialize(v) for k, v in item.items()}) for item in items]

    return run


def _aiodynamo() -> Any:
    from aiodynamo.utils import dy2py

    def run(body: bytes) -> list[Any]:
        return [dy2py(item, float) for item in json.loads(body)["Items"]]

    return run


def _pydynox() -> Any:
    from pydynox.pydynox_core import item_from_dynamo

    def run(body: bytes) -> list[Any]:
        return [item_from_dynamo(item) for item in json.loads(body)["Items"]]

    return run


def _pynamodb() -> Any:
    from pynamodb.attributes import (
        BooleanAttribute,
        ListAttribute,
        MapAttribute,
        NumberAttribute,
        UnicodeAttribute,
        UnicodeSetAttribute,
    )
    from pynamodb.models import Model as PynamoModel

    class PynamoRow(PynamoModel):
        class Meta:
            table_name = TABLE
            region = "us-east-1"

        pk = UnicodeAttribute(hash_key=True)
        sk = NumberAttribute(range_key=True)
        name = UnicodeAttribute()
        status = UnicodeAttribute()
        amount = NumberAttribute()
        price = NumberAttribute()
        paid = BooleanAttribute()
        created_at = UnicodeAttribute()  # its UTCDateTimeAttribute reads only its own format
        note = UnicodeAttribute()
        email = UnicodeAttribute()
        lines = ListAttribute(of=UnicodeAttribute)
        meta = MapAttribute()
        tags = UnicodeSetAttribute()
        version = NumberAttribute(default=0)

    from_raw = PynamoRow.from_raw_data

    def run(body: bytes) -> list[Any]:
        return [from_raw(item) for item in json.loads(body)["Items"]]

    return run


DECODERS: tuple[tuple[str, str, str | None], ...] = (
    ("floor", "stdlib floor: json.loads -> DynamoDB JSON dicts", None),
    ("aiotheory", "aiotheory -> models", None),
    ("boto3", "boto3: botocore parser + TypeDeserializer + pydantic", "boto3"),
    ("boto3_json", "json.loads + TypeDeserializer + pydantic", "boto3"),
    ("aiodynamo", "aiodynamo: json.loads + dy2py -> dicts", "aiodynamo"),
    ("pydynox", "pydynox: json.loads + item_from_dynamo -> dicts", "pydynox"),
    ("pynamodb", "PynamoDB: json.loads + from_raw_data -> models", "pynamodb"),
)


def bench_decode(rounds: int, reps: int) -> None:
    body, count = page_body()
    runners: dict[str, Any] = {"floor": _floor}
    skipped: list[str] = []
    for key, label, package in DECODERS:
        if key == "floor":
            continue
        if package is not None and importlib.util.find_spec(package) is None:
            skipped.append(f"{label} ({package} not installed)")
            continue
        runners[key] = globals()[f"_{key}"]()
    for run in runners.values():
        run(body)  # warm: imports, compiled codecs, pydantic validators
    samples: dict[str, list[float]] = {k: [] for k in runners}
    order = list(runners)
    for r in range(rounds):
        for key in order[r % len(order) :] + order[: r % len(order)]:
            run = runners[key]
            gc.collect()
            cpu = time.process_time()
            for _ in range(reps):
                run(body)
            samples[key].append((time.process_time() - cpu) / reps / count)
    floor = statistics.median(samples["floor"])
    print(
        f"\nDecode one Query page ({len(body) / 1024:,.0f} KiB, {count} items of ~{len(body) // count} B), "
        f"CPU, medians of {rounds} interleaved rounds x {reps} decodes [min-max]"
    )
    print("| client | us/item | items/s | x floor |\n|---|---:|---:|---:|")
    labels = {k: label for k, label, _ in DECODERS}
    for key, values in samples.items():
        med = statistics.median(values)
        print(
            f"| {labels[key]} | {med * 1e6:.2f} [{min(values) * 1e6:.2f}-{max(values) * 1e6:.2f}] | "
            f"{1 / med:,.0f} | {med / floor:.2f}x |"
        )
    for line in skipped:
        print(f"skipped: {line}")


# ------------------------------------------------------------------------------------------ batch_write
# Each writer is built for an endpoint and writes the given rows: models for aiotheory and PynamoDB,
# DynamoDB JSON (encoded beforehand, as a raw client's caller holds it) for the floor, plain dicts for the
# others. Async ones run `BATCH_CONCURRENCY` requests of 25 at a time, as aiotheory does by default.

BATCH_CONCURRENCY = 8


def _plain(row: Row) -> dict[str, Any]:
    d = row.model_dump()
    d["created_at"] = row.created_at.isoformat()  # no peer stores a datetime by itself
    return d


def _chunks(seq: list[Any], size: int = 25) -> list[list[Any]]:
    return [seq[i : i + size] for i in range(0, len(seq), size)]


async def _gather_limited(calls: list[Any]) -> None:
    gate = asyncio.Semaphore(BATCH_CONCURRENCY)

    async def one(call: Any) -> None:
        async with gate:
            await call

    await asyncio.gather(*(one(c) for c in calls))


class _FloorWriter:
    label = "stdlib floor (DynamoDB JSON in)"

    def __init__(self, endpoint: str) -> None:
        self.client = FloorClient(endpoint, REGION, *KEY)

    async def write(self, rows: list[Row]) -> None:
        wire = [schema_of(Row).encode(r) for r in rows] if not hasattr(self, "wire") else self.wire
        await _gather_limited(
            [
                self.client.call(
                    "BatchWriteItem", {"RequestItems": {TABLE: [{"PutRequest": {"Item": i}} for i in chunk]}}
                )
                for chunk in _chunks(wire)
            ]
        )

    async def close(self) -> None:
        await self.client.close()


class _AiotheoryWriter:
    label = "aiotheory (lean, models in)"

    def __init__(self, endpoint: str) -> None:
        self.db = DB(region=REGION, endpoint_url=endpoint, credentials=KEY, transport="lean")

    async def write(self, rows: list[Row]) -> None:
        await self.db.batch_write(put=rows, concurrency=BATCH_CONCURRENCY)

    async def close(self) -> None:
        await self.db.close()


class _AiodynamoWriter:
    label = "aiodynamo + aiohttp (dicts in)"
    package = "aiodynamo"

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.session: Any = None

    async def write(self, rows: list[Any]) -> None:
        from aiodynamo.client import Client
        from aiodynamo.credentials import Key as DynamoKey
        from aiodynamo.credentials import StaticCredentials
        from aiodynamo.http.aiohttp import AIOHTTP
        from aiodynamo.models import BatchWriteRequest
        from aiohttp import ClientSession
        from yarl import URL

        if self.session is None:
            self.session = ClientSession()
            self.client = Client(
                AIOHTTP(self.session), StaticCredentials(DynamoKey(*KEY)), REGION, URL(self.endpoint)
            )
        await _gather_limited(
            [
                self.client.batch_write({TABLE: BatchWriteRequest(items_to_put=chunk)})
                for chunk in _chunks(rows)
            ]
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


class _PydynoxWriter:
    label = "pydynox (Rust core, dicts in)"
    package = "pydynox"

    def __init__(self, endpoint: str) -> None:
        from pydynox import DynamoDBClient

        logging.getLogger("pydynox").setLevel(logging.ERROR)
        self.client = DynamoDBClient(
            region=REGION, endpoint_url=endpoint, access_key=KEY[0], secret_key=KEY[1], max_retries=0
        )

    async def write(self, rows: list[Any]) -> None:
        await _gather_limited([self.client.batch_write(TABLE, put_items=chunk) for chunk in _chunks(rows)])

    async def close(self) -> None:
        pass


class _Boto3Writer:
    label = "boto3 Table.batch_writer (sync, dicts in)"
    package = "boto3"

    def __init__(self, endpoint: str) -> None:
        import boto3

        self.table = boto3.resource(
            "dynamodb",
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id=KEY[0],
            aws_secret_access_key=KEY[1],
        ).Table(TABLE)

    def write(self, rows: list[Any]) -> None:
        with self.table.batch_writer() as batch:
            for row in rows:
                batch.put_item(Item=row)

    async def close(self) -> None:
        pass


class _PynamoWriter:
    label = "PynamoDB batch_write (sync, models in)"
    package = "pynamodb"

    def __init__(self, endpoint: str) -> None:
        from pynamodb.attributes import (
            BooleanAttribute,
            ListAttribute,
            MapAttribute,
            NumberAttribute,
            UnicodeAttribute,
            UnicodeSetAttribute,
        )
        from pynamodb.models import Model as PynamoModel

        class PynamoRow(PynamoModel):
            class Meta:
                table_name = TABLE
                region = REGION
                host = endpoint
                aws_access_key_id = KEY[0]
                aws_secret_access_key = KEY[1]

            pk = UnicodeAttribute(hash_key=True)
            sk = NumberAttribute(range_key=True)
            name = UnicodeAttribute()
            status = UnicodeAttribute()
            amount = NumberAttribute()
            price = NumberAttribute()
            paid = BooleanAttribute()
            created_at = UnicodeAttribute()
            note = UnicodeAttribute()
            email = UnicodeAttribute()
            lines = ListAttribute(of=UnicodeAttribute)
            meta = MapAttribute()
            tags = UnicodeSetAttribute()
            version = NumberAttribute(default=0)

        self.model = PynamoRow

    def prepare(self, rows: list[dict[str, Any]]) -> list[Any]:
        return [self.model(**{**r, "price": float(r["price"])}) for r in rows]

    def write(self, rows: list[Any]) -> None:
        with self.model.batch_write() as batch:
            for row in rows:
                batch.save(row)

    async def close(self) -> None:
        pass


WRITERS: tuple[type[Any], ...] = (
    _FloorWriter,
    _AiotheoryWriter,
    _AiodynamoWriter,
    _PydynoxWriter,
    _Boto3Writer,
    _PynamoWriter,
)


def bench_batch(endpoint: str, where: str, count: int, rounds: int) -> None:
    models = [make_row(i, pk=f"b{i % 100}") for i in range(count)]
    plain = [_plain(r) for r in models]
    wire = [schema_of(Row).encode(r) for r in models]
    runner = asyncio.Runner()
    writers: list[tuple[Any, list[Any]]] = []
    skipped: list[str] = []
    for kind in WRITERS:
        package = getattr(kind, "package", None)
        if package is not None and importlib.util.find_spec(package) is None:
            skipped.append(f"{kind.label} ({package} not installed)")
            continue
        writer = kind(endpoint)
        rows: list[Any] = models if kind is _AiotheoryWriter else plain
        if kind is _FloorWriter:
            writer.wire = wire
        elif kind is _PynamoWriter:
            rows = writer.prepare(plain)
        try:  # warm: connections, imports, codecs
            result = writer.write(rows[:100])
            if asyncio.iscoroutine(result):
                runner.run(result)
        except Exception as exc:  # a peer that cannot talk to this server is listed, not fatal
            skipped.append(f"{kind.label} ({type(exc).__name__}: {str(exc)[:80]})")
            continue
        writers.append((writer, rows))
    samples: dict[str, list[tuple[float, float]]] = {w.label: [] for w, _ in writers}
    for r in range(rounds):
        order = writers[r % len(writers) :] + writers[: r % len(writers)]
        for writer, rows in order:
            gc.collect()
            cpu, wall = time.process_time(), time.perf_counter()
            result = writer.write(rows)
            if asyncio.iscoroutine(result):
                runner.run(result)
            samples[writer.label].append((time.perf_counter() - wall, time.process_time() - cpu))
    for writer, _ in writers:
        runner.run(writer.close())
    runner.close()
    print(
        f"\nbatch_write {count:,} items (~1 KB) on {where}, medians of {rounds} interleaved rounds "
        "[min-max]; CPU = this process, all threads"
    )
    print("| client | items/s | CPU us/item | CPU x floor |\n|---|---:|---:|---:|")
    floor_cpu = statistics.median(c for _, c in samples[_FloorWriter.label])
    for label, values in samples.items():
        walls = [count / w for w, _ in values]
        cpus = [c / count * 1e6 for _, c in values]
        cpu = statistics.median(cpus)
        print(
            f"| {label} | {statistics.median(walls):,.0f} [{min(walls):,.0f}-{max(walls):,.0f}] | "
            f"{cpu:.1f} [{min(cpus):.1f}-{max(cpus):.1f}] | {cpu / (floor_cpu / count * 1e6):.2f}x |"
        )
    for line in skipped:
        print(f"skipped: {line}")


def _ensure_table(endpoint: str) -> None:
    async def run() -> None:
        db = DB(region=REGION, endpoint_url=endpoint, credentials=KEY, transport="lean")
        try:
            await db.ensure_table(Row)
        finally:
            await db.close()

    asyncio.run(run())


# ------------------------------------------------------------------------------------------ parallel scan
SCAN_TABLE = "bench_bulk_scan"


class ScanRow(Row, table=SCAN_TABLE):
    pass


async def _load_scan(endpoint: str, count: int) -> float:
    db = DB(region=REGION, endpoint_url=endpoint, credentials=KEY, transport="lean")
    try:
        await db.ensure_table(ScanRow)
        start = time.perf_counter()
        for at in range(0, count, 5000):
            rows = [ScanRow(**make_row(i, pk=f"s{i}").__dict__) for i in range(at, min(count, at + 5000))]
            await db.batch_write(put=rows)
        return time.perf_counter() - start
    finally:
        await db.close()


async def _scan_floor(endpoint: str, segments: int) -> int:
    client = FloorClient(endpoint, REGION, *KEY)

    async def segment(n: int) -> int:
        seen = 0
        payload: dict[str, Any] = {"TableName": SCAN_TABLE, "Segment": n, "TotalSegments": segments}
        while True:
            reply = await client.call("Scan", payload)
            seen += len(reply["Items"])  # items dropped page by page, as a streaming consumer does
            last = reply.get("LastEvaluatedKey")
            if last is None:
                return seen
            payload["ExclusiveStartKey"] = last

    try:
        return sum(await asyncio.gather(*(segment(n) for n in range(segments))))
    finally:
        await client.close()


async def _scan_aiotheory(endpoint: str, segments: int) -> int:
    from aiotheory.credentials import Credentials, StaticProvider
    from aiotheory.transport import LeanTransport
    from aiotheory.transport._pool import HttpClient

    # DynamoDB Local took more than the lean wire's default 5 s read timeout for one 1 MB Scan page of
    # a 100,000-item table (the floor client waits without a limit).
    wire = LeanTransport(
        REGION,
        endpoint_url=endpoint,
        credentials=StaticProvider(Credentials(access_key_id=KEY[0], secret_access_key=KEY[1])),
        http=HttpClient(read_timeout=120.0),
    )
    db = DB(region=REGION, endpoint_url=endpoint, credentials=KEY, transport=wire)
    seen = 0
    try:
        async with db.scan(ScanRow).parallel(segments, concurrency=segments) as items:
            async for _ in items:
                seen += 1
                if seen % 10_000 == 0 and TRACE_RSS:
                    # The proof the buffer is bounded: the peak stops rising early in a long scan.
                    print(f"{seen} items: VmHWM {_status_kib('VmHWM') / 1024:.1f} MiB", file=sys.stderr)
    finally:
        await db.close()
    return seen


# `BENCH_TRACE_RSS=1 python bench/bulk.py --scan-child aiotheory URL 8`: the peak every 10,000 items.
TRACE_RSS = "BENCH_TRACE_RSS" in os.environ


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith(f"{field}:")))


def scan_child(client: str, endpoint: str, segments: int) -> None:
    """One scan in this process; prints items, wall, CPU and peak RSS (KiB) for the parent."""
    run = _scan_floor if client == "floor" else _scan_aiotheory
    cpu, wall = time.process_time(), time.perf_counter()
    seen = asyncio.run(run(endpoint, segments))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forking parent.
    print(seen, wall, cpu, _status_kib("VmHWM"))


def bench_scan(endpoint: str, where: str, count: int, rounds: int, *, load: bool = True) -> None:
    if load:
        took = asyncio.run(_load_scan(endpoint, count))
        print(f"\nloaded {count:,} items into {where} with aiotheory batch_write in {took:.1f} s")
    here = Path(__file__).resolve()
    samples: dict[tuple[str, int], list[tuple[int, float, float, int]]] = {}
    for r in range(rounds):
        configs = [(c, s) for s in (1, 4, 8) for c in ("floor", "aiotheory")]
        for client, segments in configs[r % 2 :] + configs[: r % 2]:
            child = subprocess.run(
                [sys.executable, str(here), "--scan-child", client, endpoint, str(segments)],
                capture_output=True,
                text=True,
                check=False,
            )
            if child.returncode != 0:  # say why: a bare CalledProcessError hid the engine's HTTP 500
                raise RuntimeError(f"{client} scan child, {segments} segments: {child.stderr[-600:]}")
            out = child.stdout.split()
            samples.setdefault((client, segments), []).append(
                (int(out[0]), float(out[1]), float(out[2]), int(out[3]))
            )
    print(
        f"parallel scan of {count:,} items (~1 KB) on {where}, one child process per run, medians of "
        f"{rounds} [min-max]; the floor drops each page's dicts, aiotheory streams models"
    )
    print("| client | segments | items | items/s | CPU us/item | peak RSS |\n|---|---:|---:|---:|---:|---:|")
    for (client, segments), values in sorted(samples.items(), key=lambda kv: (kv[0][1], kv[0][0] != "floor")):
        rates = [n / w for n, w, _, _ in values]
        cpus = [c / n * 1e6 for n, _, c, _ in values]
        rss = [m / 1024 for *_, m in values]
        label = "stdlib floor (dicts)" if client == "floor" else "aiotheory (lean, models)"
        print(
            f"| {label} | {segments} | {values[0][0]:,} | {statistics.median(rates):,.0f} "
            f"[{min(rates):,.0f}-{max(rates):,.0f}] | {statistics.median(cpus):.1f} | "
            f"{statistics.median(rss):.1f} MiB [{min(rss):.1f}-{max(rss):.1f}] |"
        )


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--scan-child":
        scan_child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="decode,batch,scan")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch-items", type=int, default=10_000)
    parser.add_argument("--scan-items", type=int, default=10_000)
    parser.add_argument("--engine", choices=("ddblocal", "moto", "none"), default="ddblocal")
    # Loading 100,000 items takes minutes: keep an engine with its table (DynamoDBLocal(db_path=...))
    # and point runs at it.
    parser.add_argument("--endpoint", help="a running engine to use instead of starting one")
    parser.add_argument("--no-load", action="store_true", help="scan the table the engine already holds")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if "decode" in parts:
        bench_decode(args.rounds, 5)
    if "batch" in parts:
        bench = Path(__file__).resolve().parent
        stub = subprocess.Popen([sys.executable, str(bench / "_stub.py")], stdout=subprocess.PIPE, text=True)
        try:
            assert stub.stdout is not None
            port = int(stub.stdout.readline().split()[1])
            bench_batch(f"http://127.0.0.1:{port}", "the instant stub", args.batch_items, args.rounds)
        finally:
            stub.terminate()
            stub.wait()
    if args.endpoint is not None and parts & {"batch", "scan"}:
        _ensure_table(args.endpoint)
        if "batch" in parts:
            bench_batch(args.endpoint, args.endpoint, args.batch_items, max(1, args.rounds // 2))
        if "scan" in parts:
            rounds = max(1, args.rounds // 2)
            bench_scan(args.endpoint, args.endpoint, args.scan_items, rounds, load=not args.no_load)
    elif args.engine != "none" and parts & {"batch", "scan"}:
        # DynamoDB Local's 256 MB heap failed a Scan of 100,000 items (OutOfMemoryError, HTTP 500).
        engine = start_engine(args.engine, heap="256m" if args.scan_items <= 10_000 else "1g")
        try:
            _ensure_table(engine.endpoint_url)
            if "batch" in parts:
                bench_batch(engine.endpoint_url, engine.name, args.batch_items, max(1, args.rounds // 2))
            if "scan" in parts:
                bench_scan(engine.endpoint_url, engine.name, args.scan_items, max(1, args.rounds // 2))
        finally:
            engine.stop()


if __name__ == "__main__":
    main()
