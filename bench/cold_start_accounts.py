"""Cold start of a multi-account handler, whole process: init + the first call for a partner.

Run: `python bench/cold_start_accounts.py [--runs 9]`. Uses the moto server (DynamoDB Local has no
STS). Each run is a fresh `python -m _handlers.aiotheory_accounts` (see cold_start.py for the clock,
bytecode and interleaving rules, shared here): init = imports, DB, Accounts.from_env; first call =
AssumeRole for partner1 + GetItem in partner1's account. "warm init" moves both into the init phase
(`aws_lambda.warm_up`), which Lambda does not bill on on-demand functions. The single-account lean
handler runs alongside as the reference. `rows(runs)` is importable by the lean-wire bench.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
from typing import Annotated

from cold_start import Run, child_env, run_once, seed

from aiotheory import DB, PK, Model
from aiotheory.accounts import AccountConfig, Accounts
from aiotheory.errors import ResourceInUse

__all__ = ["VARIANTS", "main", "measure", "rows", "seed_partners"]

ROLES = {
    "partner1": "arn:aws:iam::111111111111:role/bench-partner1",
    "partner2": "arn:aws:iam::222222222222:role/bench-partner2",
}
#: (handler module, label, extra environment)
VARIANTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("aiotheory_lean", "aiotheory (lean), one account", {}),
    ("aiotheory_accounts", "aiotheory multi-account: init + first partner call", {}),
    (
        "aiotheory_accounts",
        "aiotheory multi-account, warm init (AssumeRole + connect in init)",
        {"BENCH_WARM": "1"},
    ),
)


class Doc(Model, table="bench_docs"):
    id: Annotated[str, PK]
    body: str = ""


async def seed_partners(endpoint_url: str) -> None:
    """A `bench_docs` table with item d1 in each partner's account (moto maps keys to accounts)."""
    async with DB(
        region="us-east-1", endpoint_url=endpoint_url, credentials=("bench", "bench"), transport="lean"
    ) as base:
        accounts = Accounts(
            {p: AccountConfig(r) for p, r in ROLES.items()}, base=base, sts_endpoint_url=endpoint_url
        )
        try:
            for partner in ROLES:
                pdb = await accounts.db(partner)
                with contextlib.suppress(ResourceInUse):
                    await pdb.create_table(Doc)
                await pdb.put(Doc(id="d1", body=partner))
        finally:
            await accounts.close()


def measure(endpoint_url: str, runs: int) -> dict[int, list[Run]]:
    env = child_env(endpoint_url)
    for partner, role in ROLES.items():
        env[f"{partner.upper()}_ROLE_ARN"] = role
    envs = [{**env, **extra} for _, _, extra in VARIANTS]
    for (module, _, _), variant_env in zip(VARIANTS, envs, strict=True):
        run_once(module, variant_env)  # warm-up: bytecode and page cache; discarded
    results: dict[int, list[Run]] = {i: [] for i in range(len(VARIANTS))}
    order = list(range(len(VARIANTS)))
    for round_ in range(runs):
        shift = round_ % len(order)
        for i in order[shift:] + order[:shift]:
            results[i].append(run_once(VARIANTS[i][0], envs[i]))
    return results


def rows(results: dict[int, list[Run]]) -> list[str]:
    """Markdown rows: | variant | cold start | init phase | first call | RSS after init |."""
    out = []
    for i, (_, label, _) in enumerate(VARIANTS):
        rs = results[i]
        cold = statistics.median(r.cold_ms for r in rs)
        init = statistics.median(r.init_ms for r in rs)
        first = statistics.median(r.cold_ms - r.init_ms for r in rs)
        rss = statistics.median(r.rss_init_mib for r in rs)
        out.append(f"| {label} | {cold:.0f} ms | {init:.0f} ms | {first:.0f} ms | {rss:.1f} MiB |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    from aiotheory.testing import MotoServer

    moto = MotoServer().start()
    try:
        asyncio.run(seed(moto.endpoint_url))
        asyncio.run(seed_partners(moto.endpoint_url))
        results = measure(moto.endpoint_url, args.runs)
    finally:
        moto.stop()
    print(
        f"\nMulti-account cold start, whole process, moto server, python "
        f"{sys.version_info[0]}.{sys.version_info[1]}, {args.runs} interleaved runs, medians\n"
    )
    print("| variant | cold start | init phase | first call | RSS after init |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows(results)))


if __name__ == "__main__":
    main()
