"""Warm per-operation cost: client CPU per sequential GetItem / PutItem and 64-way concurrent GetItem ops/s.

Run: `python bench/ops.py [--rounds 5] [--n 2000] [--engine ddblocal|moto|none] [--only a,b]`.

Two servers, same clients, one process, one run:
- the instant stub (bench/_stub.py, its own process): fixed small replies, so the figures are the
  client's own cost; `time.process_time()` counts this process only (all its threads, so a Rust
  core's worker threads too);
- DynamoDB Local (as cold_start.py starts it), where the engine's own latency dominates.
Rounds are interleaved across clients and each figure is the median over rounds. Every client is warm
(connections open, first-call imports done) before it is timed. aiotheory reads into its model (the
"GetItem-to-model" figure); the floor and raw clients return DynamoDB JSON or plain dicts.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from _floor import FloorClient
from cold_start import ITEM, KEY, REGION, seed, start_engine

from aiotheory import DB, PK, SK, Model

if TYPE_CHECKING:
    from aiotheory.db import TransportName

__all__ = ["main"]

BENCH = Path(__file__).resolve().parent
CONCURRENCY = 64
TABLE = "bench_payments"
RAW_KEY = {"partner_id": {"S": "p1"}, "id": {"S": "pay_1"}}


class Payment(Model, table=TABLE):
    partner_id: Annotated[str, PK]
    id: Annotated[str, SK]
    amount: int
    currency: str = "USD"
    status: str = "pending"
    note: str = ""


_PAYMENT = Payment(partner_id="p1", id="pay_1", amount=10050, note="a small bench item")


class Floor:
    label = "stdlib floor"

    def __init__(self, endpoint: str) -> None:
        self.client = FloorClient(endpoint, REGION, *KEY)

    async def get(self) -> object:
        return await self.client.get_item(TABLE, RAW_KEY)

    async def put(self) -> None:
        await self.client.put_item(TABLE, ITEM)

    async def close(self) -> None:
        await self.client.close()


class Aiotheory:
    label = "aiotheory (lean)"
    transport: TransportName = "lean"

    def __init__(self, endpoint: str) -> None:
        self.db = DB(region=REGION, endpoint_url=endpoint, credentials=KEY, transport=self.transport)
        self.db.register(Payment)

    async def get(self) -> object:
        return await self.db.get(Payment, "p1", "pay_1")

    async def put(self) -> None:
        await self.db.put(_PAYMENT)

    async def close(self) -> None:
        await self.db.close()


class AiotheoryBotocore(Aiotheory):
    label = "aiotheory (aiobotocore)"
    transport = "botocore"


class RawAiobotocore:
    label = "raw aiobotocore"

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.client: Any = None
        self.context: Any = None

    async def start(self) -> None:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        self.context = get_session().create_client(
            "dynamodb",
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id=KEY[0],
            aws_secret_access_key=KEY[1],
            config=AioConfig(max_pool_connections=CONCURRENCY, retries={"max_attempts": 1}),
        )
        self.client = await self.context.__aenter__()

    async def get(self) -> object:
        return await self.client.get_item(TableName=TABLE, Key=RAW_KEY)

    async def put(self) -> None:
        await self.client.put_item(TableName=TABLE, Item=ITEM)

    async def close(self) -> None:
        await self.context.__aexit__(None, None, None)


class Aiodynamo:
    label = "aiodynamo + aiohttp"

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.client: Any = None
        self.session: Any = None

    async def start(self) -> None:
        from aiodynamo.client import Client
        from aiodynamo.credentials import Key as DynamoKey
        from aiodynamo.credentials import StaticCredentials
        from aiodynamo.http.aiohttp import AIOHTTP
        from aiohttp import ClientSession
        from yarl import URL

        self.session = ClientSession()
        self.client = Client(
            AIOHTTP(self.session), StaticCredentials(DynamoKey(*KEY)), REGION, URL(self.endpoint)
        )

    async def get(self) -> object:
        return await self.client.get_item(TABLE, {"partner_id": "p1", "id": "pay_1"})

    async def put(self) -> None:
        await self.client.put_item(
            TABLE,
            {"partner_id": "p1", "id": "pay_1", "amount": 10050, "currency": "USD", "status": "pending",
             "note": "a small bench item"},
        )  # fmt: skip

    async def close(self) -> None:
        await self.session.close()


class Pydynox:
    label = "pydynox (Rust core, async)"

    def __init__(self, endpoint: str) -> None:
        from pydynox import DynamoDBClient

        logging.getLogger("pydynox").setLevel(logging.ERROR)  # its "slow operation" warnings (> 100 ms)

        self.client = DynamoDBClient(
            region=REGION, endpoint_url=endpoint, access_key=KEY[0], secret_key=KEY[1], max_retries=0
        )

    async def get(self) -> object:
        return await self.client.get_item(TABLE, {"partner_id": "p1", "id": "pay_1"})

    async def put(self) -> None:
        await self.client.put_item(
            TABLE,
            {"partner_id": "p1", "id": "pay_1", "amount": 10050, "currency": "USD", "status": "pending",
             "note": "a small bench item"},
        )  # fmt: skip

    async def close(self) -> None:
        pass


def _clients() -> list[type[Any]]:
    found: list[type[Any]] = [Floor, Aiotheory, AiotheoryBotocore, RawAiobotocore]
    if importlib.util.find_spec("aiodynamo") and importlib.util.find_spec("aiohttp"):
        found.append(Aiodynamo)
    if importlib.util.find_spec("pydynox"):
        found.append(Pydynox)
    return found


async def _sequential(op: Any, n: int) -> float:
    """Client CPU seconds per op over `n` awaited-one-after-another calls."""
    cpu = time.process_time()
    for _ in range(n):
        await op()
    return (time.process_time() - cpu) / n


async def _worker(op: Any, n: int) -> None:
    for _ in range(n):
        await op()


async def _concurrent(op: Any, per_task: int) -> tuple[float, float]:
    """(ops/s, client CPU s per op) with CONCURRENCY tasks each awaiting `per_task` calls in turn."""
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*[_worker(op, per_task) for _ in range(CONCURRENCY)])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    total = CONCURRENCY * per_task
    return total / wall, cpu / total


async def _measure(
    endpoint: str, kinds: list[type[Any]], rounds: int, n: int
) -> dict[str, dict[str, list[float]]]:
    clients = [kind(endpoint) for kind in kinds]
    figures: dict[str, dict[str, list[float]]] = {
        c.label: {"get": [], "put": [], "ops": [], "cpu64": []} for c in clients
    }
    try:
        for client in clients:
            if hasattr(client, "start"):
                await client.start()
            got = await client.get()  # first-call imports and connection, then warm both paths
            assert got is not None, client.label
            await _concurrent(client.get, max(2, n // (10 * CONCURRENCY)))
            await _sequential(client.put, max(10, n // 20))
        for round_ in range(rounds):
            shift = round_ % len(clients)
            for client in clients[shift:] + clients[:shift]:
                row = figures[client.label]
                row["get"].append(await _sequential(client.get, n))
                row["put"].append(await _sequential(client.put, n))
                ops, cpu = await _concurrent(client.get, max(4, n // CONCURRENCY * 2))
                row["ops"].append(ops)
                row["cpu64"].append(cpu)
    finally:
        for client in clients:
            await client.close()
    return figures


def _print(title: str, figures: dict[str, dict[str, list[float]]]) -> None:
    med = {label: {k: statistics.median(v) for k, v in row.items()} for label, row in figures.items()}
    floor = med["stdlib floor"]
    print(f"\n{title}\n")
    print(
        "| client | GetItem CPU/op | x floor | PutItem CPU/op | x floor "
        "| 64-way GetItem ops/s | x floor | CPU/op at 64 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, m in med.items():
        print(
            f"| {label} | {m['get'] * 1e6:.0f} us | {m['get'] / floor['get']:.2f}x "
            f"| {m['put'] * 1e6:.0f} us | {m['put'] / floor['put']:.2f}x "
            f"| {m['ops']:,.0f} | {m['ops'] / floor['ops']:.2f}x | {m['cpu64'] * 1e6:.0f} us |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=2000, help="sequential ops per round against the stub")
    parser.add_argument("--engine", choices=("ddblocal", "moto", "none"), default="ddblocal")
    parser.add_argument("--only", default="", help="comma-separated class names (the floor always runs)")
    args = parser.parse_args()
    kinds = _clients()
    if args.only:
        wanted = set(args.only.split(","))
        kinds = [k for k in kinds if k is Floor or k.__name__ in wanted]

    stub = subprocess.Popen(
        [sys.executable, str(BENCH / "_stub.py")], stdout=subprocess.PIPE, text=True, cwd=BENCH
    )
    try:
        assert stub.stdout is not None
        port = int(stub.stdout.readline().split()[1])
        on_stub = asyncio.run(_measure(f"http://127.0.0.1:{port}", kinds, args.rounds, args.n))
    finally:
        stub.terminate()
        stub.wait()
    _print(
        f"Warm ops against the instant stub server (own process), medians of {args.rounds} interleaved "
        f"rounds; {args.n} sequential ops per round",
        on_stub,
    )
    if args.engine == "none":
        return
    engine = start_engine(args.engine)
    try:
        asyncio.run(seed(engine.endpoint_url))
        n = max(100, args.n // 4)
        on_engine = asyncio.run(_measure(engine.endpoint_url, kinds, args.rounds, n))
    finally:
        engine.stop()
    _print(
        f"Warm ops against {engine.name}, medians of {args.rounds} interleaved rounds; {n} sequential "
        "ops per round",
        on_engine,
    )


if __name__ == "__main__":
    main()
