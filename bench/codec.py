"""Encode/decode cost per item: aiotheory's compiled codec vs boto3's TypeSerializer + pydantic.

Run: `python bench/codec.py [--items N]`. Items are ~1 KB with 16 attributes (str, int, Decimal, bool,
datetime, list, map, set, nested model, ...).

What is compared, honestly:
- aiotheory encode: model instance -> wire JSON dict ({"S": ...}, {"N": "12"}, {"B": base64 text}), with
  DynamoDB's limits (38 digits, empty keys, 400 KB item size) checked.
- boto3 encode: `model.model_dump()` (python values; datetimes -> RFC 3339 text via a field serializer so the
  stored form matches) -> `TypeSerializer().serialize` per attribute. boto3's output holds Python values
  (bytes, not base64; Decimal checked by its 38-digit context) that botocore's JSON layer later turns into
  text, so the boto3 side does slightly *less* work than ours (no base64, no size check).
- aiotheory decode: wire JSON dict -> model instance, types converted, no pydantic validation.
- boto3 decode: `TypeDeserializer().deserialize` per attribute -> `Model.model_validate(...)`.
"""

from __future__ import annotations

import argparse
import gc
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, field_serializer

from aiotheory.model import GSI, PK, SK, Model, Stored, Version, schema_of


class Address(Model):
    street: str
    city: str
    zip: str
    country: str = "US"


class Order(Model, table="orders"):
    tenant: Annotated[str, PK]
    id: Annotated[str, SK]
    status: Annotated[str, GSI("by-status", "pk")]
    amount: int
    price: Decimal
    paid: bool
    created_at: Annotated[datetime, GSI("by-status", "sk")]
    note: Annotated[str, Stored("n")]
    lines: list[str]
    counts: list[int]
    meta: dict[str, str]
    tags: set[str]
    scores: set[int]
    address: Address
    email: str
    version: Annotated[int, Version] = 0


class _Address(BaseModel):
    street: str
    city: str
    zip: str
    country: str = "US"


class PlainOrder(BaseModel):
    """The same shape as a plain pydantic model for the boto3 path."""

    tenant: str
    id: str
    status: str
    amount: int
    price: Decimal
    paid: bool
    created_at: datetime
    n: str
    lines: list[str]
    counts: list[int]
    meta: dict[str, str]
    tags: set[str]
    scores: set[int]
    address: _Address
    email: str
    version: int = 0

    @field_serializer("created_at")
    def _dt(self, v: datetime) -> str:
        return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _make(i: int) -> dict[str, Any]:
    return {
        "tenant": f"tenant-{i % 17:04d}",
        "id": f"order-{i:08d}-{'x' * 20}",
        "status": ("pending", "paid", "shipped")[i % 3],
        "amount": 1000 + i,
        "price": Decimal(f"{i}.{i % 100:02d}"),
        "paid": bool(i % 2),
        "created_at": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i, microseconds=i * 7),
        "note": "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 3,
        "lines": [f"line item number {j} with some descriptive text" for j in range(5)],
        "counts": [i, i + 1, i + 2, i * 3, 42],
        "meta": {f"key{j}": f"value {j} for item {i}" for j in range(6)},
        "tags": {f"tag-{j}" for j in range(5)},
        "scores": {i, i + 10, i + 20},
        "address": {"street": f"{i} Main Street", "city": "Springfield", "zip": "12345"},
        "email": f"customer{i}@example.com",
    }


def _pair(
    ours: Any, theirs: Any, ours_in: list[Any], theirs_in: list[Any], repeat: int
) -> tuple[float, float]:
    """Best-of-`repeat` CPU µs per item for both sides, runs interleaved.

    CPU time (`process_time`) and interleaving keep a noisy, shared machine from favouring either side.
    """
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for side, (fn, items) in enumerate(((ours, ours_in), (theirs, theirs_in))):
            gc.collect()
            start = time.process_time()
            for x in items:
                fn(x)
            best[side] = min(best[side], (time.process_time() - start) / len(items) * 1e6)
    return best[0], best[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    from aiotheory.codec import item_size

    schema = schema_of(Order)
    raw = [_make(i) for i in range(args.items)]
    models = [Order(**r) for r in raw]
    plain = [PlainOrder(**{("n" if k == "note" else k): v for k, v in r.items()}) for r in raw]
    wire = [schema.encode(m) for m in models]
    ser, deser = TypeSerializer(), TypeDeserializer()

    def boto_encode(m: PlainOrder) -> dict[str, Any]:
        return {k: ser.serialize(v) for k, v in m.model_dump().items()}

    boto_items = [boto_encode(m) for m in plain]

    def boto_decode(item: dict[str, Any]) -> PlainOrder:
        return PlainOrder.model_validate({k: deser.deserialize(v) for k, v in item.items()})

    assert schema.decode(wire[0]) == models[0]
    assert boto_decode(boto_items[0]) == plain[0]
    sizes = [item_size(w) for w in wire[:100]]
    print(f"{args.items} items, {len(wire[0])} attributes, ~{sum(sizes) // len(sizes)} bytes each")

    rows = [
        ("encode", *_pair(schema.encode, boto_encode, models, plain, args.repeat)),
        ("decode", *_pair(schema.decode, boto_decode, wire, boto_items, args.repeat)),
    ]
    print(f"{'op':<8}{'aiotheory µs/item':>20}{'boto3+pydantic µs/item':>26}{'ratio':>8}")
    for op, ours, boto in rows:
        print(f"{op:<8}{ours:>20.2f}{boto:>26.2f}{boto / ours:>7.1f}x")


if __name__ == "__main__":
    main()
