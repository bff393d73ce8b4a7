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
- **scan**: a parallel scan of `--scan-items` items with 1, 4 and 8 segments on DynamoDB Local, each in
  its own child process so its peak RSS (`ru_maxrss`) is its own.
Rounds interleave the clients with the order rotated; figures are medians, with the spread (min-max).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel

from aiotheory import PK, SK, Model
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="decode,batch,scan")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if "decode" in parts:
        bench_decode(args.rounds, 5)


if __name__ == "__main__":
    main()
