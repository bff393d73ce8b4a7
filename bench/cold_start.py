"""Cold start, whole process: from process start to the first GetItem answered, per client, vs the floor.

Run: `python bench/cold_start.py [--runs 9] [--engine ddblocal|moto] [--only a,b] [--importtime NAME]`.

Each run is a fresh `python -m _handlers.<client>` (bench/_handlers/): the module does its init phase
(imports, two models, a client) and one GetItem against a local engine (DynamoDB Local, else moto).
- Clock: the parent reads `time.perf_counter()` (CLOCK_MONOTONIC, system-wide on Linux) right before
  it starts the child; the child stamps the same clock when the GetItem is answered. The difference
  includes fork/exec and interpreter start-up, like a Lambda cold start; loop teardown is excluded.
- Bytecode: this machine sets PYTHONDONTWRITEBYTECODE=1 and uv installs no .pyc files, so the children
  run with PYTHONPYCACHEPREFIX=.cache/bench-pycache (and writing allowed); one discarded warm-up run per
  client fills it, as a deployed Lambda ships (or caches) bytecode. Every timed run then loads bytecode.
- Runs are interleaved (round-robin, the order rotated each round) so machine noise hits every client
  alike; figures are medians. RSS after init is the resident set when init is done (/proc/self/statm);
  peak RSS is `ru_maxrss` at exit.
Clients whose packages are missing (boto3, PynamoDB, aiodynamo, pydynox: the bench env installs them)
are listed as skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from _floor import FloorClient

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "CLIENTS",
    "ITEM",
    "KEY",
    "REGION",
    "Engine",
    "Run",
    "child_env",
    "main",
    "run_once",
    "seed",
    "start_engine",
]

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYCACHE = ROOT / ".cache" / "bench-pycache"
REGION = "us-east-1"
KEY = ("bench", "bench")  # DynamoDB Local keeps one database per access key + region

#: (handler module, label, packages it needs); the first is the floor every ratio is taken against.
CLIENTS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("floor", "stdlib floor (bench/_floor.py)", ()),
    ("floor_pydantic", "floor + 2 pydantic models", ("pydantic",)),
    ("aiotheory_lean", "aiotheory (lean)", ("aiotheory",)),
    ("aiotheory_lean_warm", "aiotheory (lean), @lambda_handler + warm_up in init", ("aiotheory",)),
    ("aiotheory_botocore", "aiotheory (aiobotocore)", ("aiotheory", "aiobotocore")),
    ("aiobotocore_raw", "raw aiobotocore", ("aiobotocore",)),
    ("boto3_raw", "boto3 client (sync)", ("boto3",)),
    ("pynamodb_models", "PynamoDB (sync)", ("pynamodb",)),
    ("aiodynamo_aiohttp", "aiodynamo + aiohttp", ("aiodynamo", "aiohttp")),
    ("aiodynamo_httpx", "aiodynamo + httpx", ("aiodynamo", "httpx")),
    ("pydynox_models", "pydynox (Rust core, sync)", ("pydynox",)),
)

ITEM = {
    "partner_id": {"S": "p1"},
    "id": {"S": "pay_1"},
    "amount": {"N": "10050"},
    "currency": {"S": "USD"},
    "status": {"S": "pending"},
    "note": {"S": "a small bench item"},
}


@dataclass
class Engine:
    name: str
    endpoint_url: str
    stop: Callable[[], None]


def start_engine(prefer: str = "ddblocal", *, heap: str = "256m") -> Engine:
    """DynamoDB Local (fetched on first use by aiotheory.testing) with `heap` as its JVM's -Xmx, else
    the moto server."""
    from aiotheory.testing import DynamoDBLocal, MotoServer

    if prefer == "ddblocal":
        try:
            local = DynamoDBLocal(cache_root=ROOT, heap=heap).start()
        except (RuntimeError, OSError) as exc:
            print(f"DynamoDB Local failed ({exc}); falling back to moto", file=sys.stderr)
        else:
            return Engine("DynamoDB Local", local.endpoint_url, local.stop)
    moto = MotoServer().start()
    return Engine("moto server", moto.endpoint_url, moto.stop)


async def seed(endpoint_url: str) -> None:
    """The two tables the handlers read (created if missing) and the one Payment they get."""
    client = FloorClient(endpoint_url, REGION, *KEY)
    tables = (
        ("bench_payments", [("partner_id", "HASH"), ("id", "RANGE")]),
        ("bench_customers", [("id", "HASH")]),
    )
    existing = (await client.call("ListTables", {})).get("TableNames", [])
    for name, keys in tables:
        if name in existing:
            continue
        await client.call(
            "CreateTable",
            {
                "TableName": name,
                "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a, _ in keys],
                "KeySchema": [{"AttributeName": a, "KeyType": t} for a, t in keys],
                "BillingMode": "PAY_PER_REQUEST",
            },
        )
    await client.put_item("bench_payments", ITEM)
    await client.put_item("bench_customers", {"id": {"S": "c1"}, "name": {"S": "Ada"}})
    await client.close()


def child_env(endpoint_url: str) -> dict[str, str]:
    """A Lambda-like environment: credentials and region in variables, no AWS config files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON", "BENCH_"))}
    env.update(
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_ACCESS_KEY_ID=KEY[0],
        AWS_SECRET_ACCESS_KEY=KEY[1],
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        BENCH_ENDPOINT=endpoint_url,
        PYTHONPYCACHEPREFIX=str(PYCACHE),
    )
    return env


@dataclass
class Run:
    cold_ms: float
    init_ms: float
    rss_init_mib: float
    peak_mib: float


def run_once(module: str, env: dict[str, str]) -> Run:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", f"_handlers.{module}"],
        cwd=BENCH,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"{module} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )
    _, init, answered, rss_init, peak = lines[-1].split()
    return Run(
        cold_ms=(float(answered) - started) * 1000,
        init_ms=(float(init) - started) * 1000,
        rss_init_mib=int(rss_init) / 1024,
        peak_mib=int(peak) / 1024,
    )


def available(needs: tuple[str, ...]) -> bool:
    return all(importlib.util.find_spec(name) is not None for name in needs)


def importtime(module: str, env: dict[str, str], top: int = 25) -> None:
    """Print where `module`'s imports spend their time: self time per top-level package, largest first."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", f"_handlers.{module}"],
        cwd=BENCH,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    by_package: dict[str, int] = {}
    total = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        package = name.strip().split(".")[0]
        by_package[package] = by_package.get(package, 0) + int(self_us)
        total += int(self_us)
    print(f"\n-X importtime of _handlers.{module}: {total / 1000:.1f} ms of imports (self time by package)")
    for package, us in sorted(by_package.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {package:<28} {us / 1000:7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs per client (>= 7)")
    parser.add_argument("--engine", choices=("ddblocal", "moto"), default="ddblocal")
    parser.add_argument("--only", default="", help="comma-separated handler names (the floor always runs)")
    parser.add_argument("--importtime", default="", help="also print -X importtime of these handlers")
    args = parser.parse_args()

    wanted = {name for name in args.only.split(",") if name}
    clients = [
        (m, label)
        for m, label, needs in CLIENTS
        if available(needs) and (not wanted or m in wanted or m == "floor")
    ]
    skipped = [label for m, label, needs in CLIENTS if not available(needs)]

    engine = start_engine(args.engine)
    try:
        asyncio.run(seed(engine.endpoint_url))
        env = child_env(engine.endpoint_url)
        for module, _ in clients:  # warm-up: fills the bytecode cache and the page cache; discarded
            run_once(module, env)
        runs: dict[str, list[Run]] = {module: [] for module, _ in clients}
        for round_ in range(args.runs):
            shift = round_ % len(clients)
            for module, _ in clients[shift:] + clients[:shift]:
                runs[module].append(run_once(module, env))
        for module in filter(None, args.importtime.split(",")):
            importtime(module, env)
    finally:
        engine.stop()

    floor = statistics.median(r.cold_ms for r in runs["floor"])
    print(
        f"\nCold start to first GetItem answered, whole process, {engine.name}, python "
        f"{sys.version_info[0]}.{sys.version_info[1]}, {args.runs} interleaved runs per client, medians\n"
    )
    print("| client | cold start | x floor | init phase | first call | RSS after init | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for module, label in clients:
        rs = runs[module]
        cold = statistics.median(r.cold_ms for r in rs)
        init = statistics.median(r.init_ms for r in rs)
        first = statistics.median(r.cold_ms - r.init_ms for r in rs)
        rss = statistics.median(r.rss_init_mib for r in rs)
        peak = statistics.median(r.peak_mib for r in rs)
        print(
            f"| {label} | {cold:.0f} ms | {cold / floor:.2f}x | {init:.0f} ms | {first:.0f} ms "
            f"| {rss:.1f} MiB | {peak:.1f} MiB |"
        )
    if skipped:
        print(f"\nskipped (not installed here; `nox -s bench` installs them): {', '.join(skipped)}")
    if "aiotheory_lean" in runs:
        rss = statistics.median(r.rss_init_mib for r in runs["aiotheory_lean"])
        print(f"\naiotheory (lean): RSS after init {rss:.1f} MiB (target <= 40 MiB)")


if __name__ == "__main__":
    main()
