"""What `@store.idempotent` adds to a warm handler: one conditional PutItem and one UpdateItem per new key.

Two settings, figures printed and never asserted:
- an instant in-process transport (no socket, no server, no signing): the CPU the store itself adds;
- an embedded moto server over the lean wire: the latency added, server time included.
Each row is the median of `ROUNDS` calls; the handler body itself does nothing.

    python bench/idempotency.py
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any, Final

from aiotheory import DB, IdempotencyStore

__all__ = ["main"]

ROUNDS: Final = 400
REGION: Final = "us-east-1"


class _Instant:
    """Answers at once: PutItem with `{}`, UpdateItem with the record as DynamoDB would (ALL_NEW)."""

    async def send(self, operation: str, payload: dict[str, Any], /) -> dict[str, Any]:
        if operation == "UpdateItem":
            return {"Attributes": {**payload["Key"], "status": {"S": "COMPLETED"}, "expiration": {"N": "1"}}}
        return {}

    async def close(self) -> None:
        return None


async def _reply(event: dict[str, object], context: object) -> dict[str, object]:
    return {"statusCode": 200, "body": event["n"]}


async def _time(handler: Any, events: list[dict[str, object]]) -> tuple[float, float]:
    """(median wall µs, median CPU µs) per call."""
    walls: list[float] = []
    cpus: list[float] = []
    for event in events:
        wall, cpu = time.perf_counter(), time.process_time()
        await handler(event, None)
        cpus.append((time.process_time() - cpu) * 1e6)
        walls.append((time.perf_counter() - wall) * 1e6)
    return statistics.median(walls), statistics.median(cpus)


async def _measure(db: DB, label: str) -> list[str]:
    store = IdempotencyStore(db, table="bench_idempotency", cache_size=ROUNDS)
    idempotent = store.idempotent(key="key")(_reply)
    fresh = [{"key": f"k{i}", "n": i} for i in range(ROUNDS)]
    # Warm the loop, the connection and the codec first.
    for event in fresh[:20]:
        await _reply(event, None)
        await idempotent({**event, "key": f"warm{event['n']}"}, None)
    rows = [
        ("bare handler", await _time(_reply, fresh)),
        ("idempotent, new key (PutItem + UpdateItem)", await _time(idempotent, fresh)),
        ("idempotent, repeated key (warm cache)", await _time(idempotent, fresh)),
    ]
    bare = rows[0][1]
    lines = [f"{label}:"]
    for name, (wall, cpu) in rows:
        added = f"({wall - bare[0]:+7.0f})  {cpu:7.0f} µs CPU ({cpu - bare[1]:+6.0f})"
        lines.append(f"  {name:<44} {wall:8.0f} µs wall {added}")
    return lines


async def _instant() -> list[str]:
    async with DB(region=REGION, credentials=("bench", "bench"), transport=_Instant()) as db:
        return await _measure(db, "instant transport (client CPU only)")


async def _moto(endpoint_url: str) -> list[str]:
    async with DB(region=REGION, endpoint_url=endpoint_url, credentials=("testing", "testing")) as db:
        await IdempotencyStore(db, table="bench_idempotency").create_table()
        return await _measure(
            db,
            "embedded moto server, lean wire (server time included; CPU counts moto's threads, same process)",
        )


def main() -> None:
    from aiotheory.testing import MotoServer

    print(f"median of {ROUNDS} warm calls per row; the difference to the bare handler in brackets")
    for line in asyncio.run(_instant()):
        print(line)
    with MotoServer() as server:
        for line in asyncio.run(_moto(server.endpoint_url)):
            print(line)


if __name__ == "__main__":
    main()
