"""What change tracking (`db.save`) and lifecycle hooks cost on the hot paths; figures, not pass/fail.

Run: `python bench/save.py [--rounds 21] [--reps 5] [--ops 2000]`; to compare with another checkout, run
it twice with that checkout first on PYTHONPATH (the calls/op table is what to compare).

- **decode**: bulk.py's 1 MB Query page (about 1,000 ~1 KB items), JSON already parsed, decoded item by
  item. "tracked" is `TableSchema.decode` as shipped (the model keeps the stored item in its `__dict__`);
  "untracked" is the same decode without that one dict store (`decode_map` under the same try). CPU,
  medians of interleaved rounds (which move by several % between runs on a shared
  machine), the tracking store timed alone, and cProfile's function calls per item for both.
- **calls/op**: cProfile function calls per `get` and per `put` (a model with and without UpdatedAt),
  through a Transport that answers at once, for a model without hooks. Hooks cost a model that has none
  one attribute read per operation and no call; the put of a model without stamps makes one shallow
  copy more (the returned model remembers what was written, the argument is never changed).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import pstats
import statistics
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from bulk import Row, page_body

from aiotheory import DB, PK, Model, UpdatedAt
from aiotheory.model import schema_of
from aiotheory.schema import STORED

__all__ = ["main"]


class Plain(Model, table="bench_save_plain"):
    id: Annotated[str, PK]
    name: str
    amount: int


class Stamped(Model, table="bench_save_stamped"):
    id: Annotated[str, PK]
    name: str
    amount: int
    updated_at: Annotated[datetime | None, UpdatedAt] = None


class _Instant:
    """A Transport that answers every request at once (GetItem with one fixed item)."""

    def __init__(self, item: dict[str, Any]) -> None:
        self._get = {"Item": item}

    async def send(self, operation: str, payload: dict[str, Any], /) -> dict[str, Any]:
        return self._get if operation == "GetItem" else {}

    async def close(self) -> None:
        return None


def _untracked() -> Any:
    """`TableSchema.decode` without the tracking store: the codec's decode under the same try."""
    schema = schema_of(Row)
    decode_map = schema._codec.decode_map
    failure = __import__("aiotheory.codec._model", fromlist=["DecodeFailure"]).DecodeFailure

    def decode(item: dict[str, Any]) -> Any:
        try:
            return decode_map(item)
        except failure:
            raise

    return decode


def _store_cost(items: list[Any]) -> float:
    """Seconds per item of the tracking store alone (`obj.__dict__[STORED] = item`), best of 7."""
    objs = [schema_of(Row)._codec.decode_map(i) for i in items]
    pairs = list(zip(objs, items, strict=True))
    best = float("inf")
    for _ in range(7):
        start = time.perf_counter()
        for obj, item in pairs:
            obj.__dict__[STORED] = item
        best = min(best, time.perf_counter() - start)
    return best / len(items)


def _calls(fn: Any, *args: Any) -> int:
    profile = cProfile.Profile()
    profile.enable()
    fn(*args)
    profile.disable()
    return sum(row[1] for row in pstats.Stats(profile).stats.values())  # type: ignore[attr-defined]


def bench_decode(rounds: int, reps: int) -> None:
    body, count = page_body()
    items = json.loads(body)["Items"]
    runners = {"tracked": schema_of(Row).decode, "untracked": _untracked()}
    for decode in runners.values():
        [decode(i) for i in items]  # warm
    samples: dict[str, list[float]] = {k: [] for k in runners}
    order = list(runners)
    for r in range(rounds):
        for key in order[r % 2 :] + order[: r % 2]:
            decode = runners[key]
            gc.collect()
            cpu = time.process_time()
            for _ in range(reps):
                [decode(i) for i in items]
            samples[key].append((time.process_time() - cpu) / reps / count)
    base = statistics.median(samples["untracked"])
    print(f"\nDecode of a {len(body) / 1024:,.0f} KiB page ({count} items), CPU, medians of {rounds} rounds")
    print("| decode | us/item [min-max] | vs untracked | cProfile calls/item |\n|---|---:|---:|---:|")
    for key, values in samples.items():
        med = statistics.median(values)
        calls = _calls(lambda d=runners[key]: [d(i) for i in items]) / count
        print(
            f"| {key} | {med * 1e6:.2f} [{min(values) * 1e6:.2f}-{max(values) * 1e6:.2f}] | "
            f"{(med / base - 1) * 100:+.1f}% | {calls:.2f} |"
        )
    store = _store_cost(items)
    print(f"the store alone: {store * 1e9:.0f} ns/item, {store / base * 100:.2f}% of an untracked decode")


def bench_calls(ops: int) -> None:
    item = schema_of(Plain).encode(Plain(id="a", name="n", amount=1))
    db = DB(transport=_Instant(item), region="us-east-1")
    loop = asyncio.new_event_loop()
    plain = Plain(id="a", name="n", amount=1)
    stamped = Stamped(id="a", name="n", amount=1)

    async def gets() -> None:
        for _ in range(ops):
            await db.get(Plain, "a")

    async def puts(model: Model) -> None:
        for _ in range(ops):
            await db.put(model)

    loop.run_until_complete(gets())  # warm
    loop.run_until_complete(puts(plain))
    loop.run_until_complete(puts(stamped))
    rows = [
        ("get", lambda: loop.run_until_complete(gets())),
        ("put (no stamps)", lambda: loop.run_until_complete(puts(plain))),
        ("put (UpdatedAt)", lambda: loop.run_until_complete(puts(stamped))),
    ]
    print(f"\ncProfile function calls per operation, instant transport, {ops} ops, a model without hooks")
    print("| operation | calls/op |\n|---|---:|")
    for label, run in rows:
        print(f"| {label} | {_calls(run) / ops:.1f} |")
    loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--ops", type=int, default=2000)
    args = parser.parse_args()
    print(f"run at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    bench_calls(args.ops)
    bench_decode(args.rounds, args.reps)


if __name__ == "__main__":
    main()
