"""Collection page decode vs single-model page decode, per item: CPU time and cProfile calls.

Run: `python bench/collections.py [--items N] [--rounds R]`. No server: pages come from an in-process
transport that answers every Query with the same reply, so what is timed is the client's own work
(request build, page decode into models). Three pages of N items each:

- single: `db.query(Order)`: Order items, the model alone read as today (the baseline);
- collection: `db.query(Order | OrderLine)`: the same Order items, each routed by its discriminator;
- mixed: `db.query(Order | OrderLine)` over a page of half orders, half lines.

Orders and lines share one table, with Template keys: both single and collection decode the same items,
so the difference is the collection's dispatch alone. Figures: median CPU per item over the rounds
(time.process_time, interleaved), the collection's ratio to single, and cProfile function calls per
item (deterministic: the same on every machine and run).
"""

from __future__ import annotations

import os
import sys

# This file's name shadows the stdlib's `collections` for anything imported while bench/ is first on
# sys.path (as it is for `python bench/collections.py`): take it off before importing anything else
# (os and sys are loaded at interpreter start, before the shadow can matter).
if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    del sys.path[0]

import argparse  # after the sys.path fix above
import asyncio
import cProfile
import datetime as dt
import pstats
import statistics
import time
from typing import TYPE_CHECKING, Annotated, Any

from aiotheory import DB, PK, SK, F, Model, Template
from aiotheory.model import schema_of

if TYPE_CHECKING:
    from aiotheory.query import Query

__all__ = ["main"]


class Order(Model, table="bench_shop", entity="order"):
    pk: Annotated[str, PK, Template("CUSTOMER#{customer_id}")] = ""
    sk: Annotated[str, SK, Template("ORDER#{order_id}")] = ""
    customer_id: str
    order_id: str
    placed_at: dt.datetime
    total: int
    status: str = "open"
    note: str = ""


class OrderLine(Model, table="bench_shop", entity="line"):
    pk: Annotated[str, PK, Template("CUSTOMER#{customer_id}")] = ""
    sk: Annotated[str, SK, Template("LINE#{order_id}#{line_no:03d}")] = ""
    customer_id: str
    order_id: str
    line_no: int
    sku: str
    quantity: int
    price: int


_T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


class _Replay:
    """A Transport answering every request with one fixed reply (no copy: the decoder never mutates)."""

    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply

    async def send(self, operation: str, payload: dict[str, Any], /) -> dict[str, Any]:
        return self.reply

    async def close(self) -> None:
        return None


def _orders(n: int) -> list[dict[str, Any]]:
    schema = schema_of(Order)
    return [
        schema.encode(
            Order(customer_id="c1", order_id=f"o{i:06d}", placed_at=_T0, total=i, note="a small bench item")
        )
        for i in range(n)
    ]


def _mixed(n: int) -> list[dict[str, Any]]:
    lines = schema_of(OrderLine)
    out = _orders(n // 2)
    out += [
        lines.encode(
            OrderLine(customer_id="c1", order_id="o1", line_no=i % 1000, sku="sku", quantity=1, price=5)
        )
        for i in range(n - len(out))
    ]
    return out


def _query(items: list[dict[str, Any]], *, collection: bool) -> Query[Any]:
    reply = {"Items": items, "Count": len(items), "ScannedCount": len(items)}
    db = DB(transport=_Replay(reply), region="us-east-1")
    key = F(Order.pk) == "CUSTOMER#c1"
    return db.query(Order | OrderLine).key(key) if collection else db.query(Order).key(key)


async def _cpu_per_item(query: Query[Any], n: int) -> float:
    start = time.process_time()
    page = await query.page()
    spent = time.process_time() - start
    assert len(page.items) == n, (len(page.items), n)
    return spent / n


def _calls_per_item(query: Query[Any], n: int) -> float:
    profile = cProfile.Profile()
    loop = asyncio.new_event_loop()
    try:
        profile.enable()
        loop.run_until_complete(query.page())
        profile.disable()
    finally:
        loop.close()
    return pstats.Stats(profile).total_calls / n  # type: ignore[attr-defined, no-any-return]  # set by Stats


async def _timed(cases: dict[str, tuple[Query[Any], int]], rounds: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order each round
            query, n = cases[name]
            samples[name].append(await _cpu_per_item(query, n))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--items", type=int, default=2000, help="items per page")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    n = args.items
    orders = _orders(n)
    cases = {
        "single": (_query(orders, collection=False), n),
        "collection": (_query(orders, collection=True), n),
        "mixed": (_query(_mixed(n), collection=True), n),
    }
    asyncio.run(_timed(cases, 2))  # warm: codecs built, first-call imports done
    cpu = asyncio.run(_timed(cases, args.rounds))
    calls = {name: _calls_per_item(query, n) for name, (query, n) in cases.items()}
    print(f"Page decode, {n} items per page, median of {args.rounds} interleaved rounds (CPU per item)")
    print("| page | CPU/item | x single | cProfile calls/item |")
    print("|---|---:|---:|---:|")
    for name in cases:
        ratio = cpu[name] / cpu["single"]
        print(f"| {name} | {cpu[name] * 1e6:.2f} us | {ratio:.2f}x | {calls[name]:.2f} |")


if __name__ == "__main__":
    main()
