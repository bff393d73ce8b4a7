"""Fleet simulation: many containers, many partner roles, one hot partition, on a virtual clock.

`python bench/fleet.py [--containers 1000] [--partners 10] [--hours 2] [--seconds 120] [--plot DIR]`

Nothing sleeps for real. The script runs aiotheory's own code on an asyncio event loop whose clock is
virtual: `time()` returns simulated seconds and the selector, instead of blocking for the time to the
next timer, moves the clock to it. Every `asyncio.sleep` in the library (backoff, the adaptive rate
limiter's wait) and every `asyncio.timeout` therefore runs in simulated time, in order, at full speed.

Two experiments, each printing its table (figures, never pass/fail):

1. **STS.** `containers` containers cold-start within 1 s; each holds one `AssumeRoleProvider` per
   partner (1 h roles) and asks it for credentials every `--tick` seconds for `--hours`. A container's
   providers share one `sts_retry_policy()` (adaptive: one rate limiter per process), as `Accounts`
   gives its partners; `--sts-policy per-role` runs the library's behaviour before that change (a
   standard 3-attempt `RetryPolicy()` per provider) for comparison. STS is a fake
   Transport with a request quota per calling account (a token bucket, `--sts-rps`, AWS's documented
   default for AssumeRole is 600 per second; the whole fleet runs in one account) and answers
   `Throttling` beyond it. Reported: AssumeRole calls (goal: containers x partners at cold start, one
   per provider per refresh afterwards), throttled calls, failed `get()`s, and how the refreshes
   spread: the largest 1-second bucket against the mean. Run once per refresh jitter setting.
2. **Hot partition.** Every container writes 1 KB items (1 WCU) to one partition (1,000 WCU/s, a token
   bucket holding one second of capacity; `ProvisionedThroughputExceededException` beyond it) with
   Poisson arrivals totalling `--load` x capacity. Each write goes through `aiotheory._call.call`,
   the one call function every request takes, with one `RetryPolicy` per container (one DB per
   container: its own retry quota and, in adaptive mode, its own rate limiter). The caller gives up
   after `--timeout` s (an `asyncio.timeout`, in simulated time). Reported per mode: goodput, attempts
   sent, retries per success, and attempts / goodput (goal: <= 1.5x) over the steady state (the last
   half of the run), with no quota, standard and adaptive.

The library's deadline scope (`aiotheory.deadlines`) reads `time.monotonic()`, which asyncio's own
loop clock also is; while a simulation runs, `time.monotonic` is pointed at the virtual clock, so the
provider's `sts_timeout` (10 s per refresh, attempts and limiter waits included) runs in simulated time
like every other wait. (Left on the real clock, it fired or not depending on how fast the machine ran
the simulation: a refresh spanning 10 real seconds of simulation failed.) The hot-partition callers
bound each request with `asyncio.timeout`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import selectors
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiotheory._call import call
from aiotheory.credentials import StaticProvider
from aiotheory.credentials._assume_role import AssumeRoleProvider, sts_retry_policy
from aiotheory.credentials._providers import Credentials
from aiotheory.errors import AwsError, CredentialsError, Throttled
from aiotheory.retries import RateLimiter, RetryPolicy, RetryQuota

if TYPE_CHECKING:
    from collections.abc import Coroutine

__all__ = ["main"]

_EPOCH = 1_800_000_000.0  # the providers' wall clock: STS expiry is epoch seconds


# --------------------------------------------------------------------------- the virtual clock


class _VirtualSelector(selectors.SelectSelector):
    """A selector that never waits: asked to block for `timeout` seconds, it moves the clock instead."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise RuntimeError("the simulation is waiting for something no timer will ever bring")
        if timeout > 0:
            self.now += timeout
        return []


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._virtual = _VirtualSelector()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.now


def _run(main: Coroutine[Any, Any, Any]) -> Any:
    loop = _VirtualLoop()
    real_monotonic = time.monotonic
    time.monotonic = loop.time  # the deadline scope's clock, as the docstring explains
    try:
        return loop.run_until_complete(main)
    finally:
        time.monotonic = real_monotonic
        loop.close()


class _TokenBucket:
    """`rate` units per second, holding at most `burst` units."""

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        self._last = 0.0

    def take(self, now: float, units: float = 1.0) -> bool:
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= units:
            self._tokens -= units
            return True
        return False


# ----------------------------------------------------------------------------------------- STS


class _FakeSts:
    """STS for one calling account: AssumeRole answers after `latency`, Throttling beyond the quota."""

    def __init__(self, rps: float, latency: float, duration: int) -> None:
        self._bucket = _TokenBucket(rps, rps)
        self._latency = latency
        self._duration = duration
        self.calls: Counter[int] = Counter()
        self.throttled: Counter[int] = Counter()

    async def send(self, operation: str, payload: dict[str, Any], /) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.calls[int(now)] += 1
        await asyncio.sleep(self._latency)
        if not self._bucket.take(now):
            self.throttled[int(now)] += 1
            raise Throttled("Rate exceeded", code="Throttling", operation=operation)
        return {
            "Credentials": {
                "AccessKeyId": "ASIAFLEET",
                "SecretAccessKey": "secret",
                "SessionToken": "token",
                "Expiration": _EPOCH + loop.time() + self._duration,
            }
        }

    async def close(self) -> None:
        return None


class _StsResult:
    def __init__(
        self, label: str, sts: _FakeSts, failed: int, seconds: int, cold: int, ready: list[float]
    ) -> None:
        self.label = label
        ready.sort()
        # when each container first held credentials for every partner (simulated seconds)
        self.ready_p50 = ready[len(ready) // 2] if ready else float("nan")
        self.ready_max = ready[-1] if ready else float("nan")
        self.calls = sum(sts.calls.values())
        self.throttled = sum(sts.throttled.values())
        self.cold_calls = sum(n for t, n in sts.calls.items() if t < cold)
        self.failed = failed
        refreshes = {t: n for t, n in sts.calls.items() if t >= cold}
        self.refresh_calls = sum(refreshes.values())
        self.peak = max(refreshes.values(), default=0)
        self.mean_run = self.refresh_calls / max(seconds - cold, 1)
        # the mean over the seconds in which any refresh happens
        self.mean_window = self.refresh_calls / max(len(refreshes), 1)
        self.per_second = sts.calls


async def _sts_fleet(
    containers: int,
    partners: int,
    seconds: int,
    tick: float,
    jitter: float,
    advisory: float,
    sts: _FakeSts,
    rng: random.Random,
    per_role: bool,
    ready: list[float],
) -> int:
    loop = asyncio.get_running_loop()
    base = StaticProvider(Credentials(access_key_id="AKIAFLEET", secret_access_key="secret"))
    failed = 0

    def clock() -> float:
        return _EPOCH + loop.time()

    async def container(start: float) -> None:
        nonlocal failed
        # One process: Accounts passes its one STS policy to every partner's provider; the limiter
        # runs on the loop's (virtual) clock.
        shared = sts_retry_policy(clock=loop.time, random=rng.random)
        providers = [
            AssumeRoleProvider(
                f"arn:aws:iam::{100000000000 + p}:role/partner",
                base=base,
                duration=3600,
                advisory_margin=advisory,
                jitter=jitter,
                clock=clock,
                random=rng.random,
                sts=sts,
                retry=RetryPolicy(random=rng.random) if per_role else shared,
            )
            for p in range(partners)
        ]
        await asyncio.sleep(start)
        # Cold start: every partner at once, as a container serving its first requests does.
        outcomes = await asyncio.gather(*(p.get() for p in providers), return_exceptions=True)
        failed += sum(isinstance(o, CredentialsError) for o in outcomes)
        is_ready = not any(isinstance(o, BaseException) for o in outcomes)
        if is_ready:
            ready.append(loop.time())
        await asyncio.sleep(tick * rng.random())
        while loop.time() < seconds:
            ok = 0
            for provider in providers:
                try:
                    await provider.get()
                    ok += 1
                except CredentialsError:
                    failed += 1
            if not is_ready and ok == len(providers):
                is_ready = True
                ready.append(loop.time())
            await asyncio.sleep(tick)

    await asyncio.gather(*(container(rng.random()) for _ in range(containers)))
    return failed


def _sts_runs(args: argparse.Namespace) -> list[_StsResult]:
    seconds = int(args.hours * 3600)
    pairs = [tuple(float(x) for x in item.split(":")) for item in args.refresh.split(",")]
    per_role = args.sts_policy == "per-role"
    policy = "standard x3 per role" if per_role else "adaptive x5 per process"
    settings = [(f"{policy}; jitter {j:g}, advisory {a:g} s", j, a) for j, a in pairs]
    results = []
    for label, jitter, advisory in settings:
        rng = random.Random(args.seed)
        sts = _FakeSts(args.sts_rps, args.sts_latency, 3600)
        ready: list[float] = []
        started = time.perf_counter()
        failed = _run(
            _sts_fleet(
                args.containers,
                args.partners,
                seconds,
                args.tick,
                jitter,
                advisory,
                sts,
                rng,
                per_role,
                ready,
            )
        )
        result = _StsResult(label, sts, failed, seconds, cold=60, ready=ready)
        print(f"  ({label}: {time.perf_counter() - started:.1f} s real)", file=sys.stderr)
        results.append(result)
    return results


def _print_sts(args: argparse.Namespace, results: list[_StsResult]) -> None:
    goal = args.containers * args.partners
    print(
        f"\nSTS: {args.containers} containers x {args.partners} partners cold-starting within 1 s, "
        f"1 h roles, {args.hours:g} h simulated, STS quota {args.sts_rps:g}/s per account, "
        f"get() every {args.tick:g} s"
    )
    print(
        "| refresh policy | AssumeRole calls, first 60 s (goal) | throttled | failed get() "
        "| all partners ready, p50 / max s "
        "| refresh calls | peak 1-s bucket | x mean over run | x mean of seconds with a refresh |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.label} | {r.cold_calls:,} ({goal:,}) | {r.throttled:,} | {r.failed:,} "
            f"| {r.ready_p50:.1f} / {r.ready_max:.1f} "
            f"| {r.refresh_calls:,} | {r.peak} | {r.peak / max(r.mean_run, 1e-9):.1f}x "
            f"| {r.peak / max(r.mean_window, 1e-9):.1f}x |"
        )


# ------------------------------------------------------------------------------- hot partition


class _Partition:
    """One DynamoDB partition as a Transport: `capacity` WCU/s, throttling beyond it."""

    def __init__(self, capacity: float, latency: float) -> None:
        self._bucket = _TokenBucket(capacity, capacity)
        self._latency = latency
        self.attempts: Counter[int] = Counter()
        self.ok: Counter[int] = Counter()
        self.first_attempts = 0

    async def send(self, operation: str, payload: dict[str, Any], /) -> dict[str, Any]:
        now = asyncio.get_running_loop().time()
        self.attempts[int(now)] += 1
        if "_sent" not in payload:
            # each request has its own payload: the mark tells its first attempt from its retries
            payload["_sent"] = True
            self.first_attempts += 1
        await asyncio.sleep(self._latency)
        if not self._bucket.take(now):
            raise Throttled(
                "The level of configured provisioned throughput for the table was exceeded",
                code="ProvisionedThroughputExceededException",
                operation=operation,
            )
        self.ok[int(now)] += 1
        return {}

    async def close(self) -> None:
        return None


class _HotResult:
    def __init__(self, label: str, part: _Partition, outcomes: Counter[str], seconds: int) -> None:
        steady = range(seconds // 2, seconds)
        self.label = label
        self.goodput = sum(part.ok[t] for t in steady) / len(steady)
        self.attempt_rate = sum(part.attempts[t] for t in steady) / len(steady)
        self.outcomes = outcomes
        self.part = part
        attempts = sum(part.attempts.values())
        successes = sum(part.ok.values())
        self.retries_per_success = (attempts - part.first_attempts) / max(successes, 1)


_PAYLOAD: dict[str, Any] = {"TableName": "hot", "Item": {"pk": {"S": "hot"}, "sk": {"S": "x" * 1000}}}


async def _hot_fleet(
    containers: int,
    seconds: int,
    rate: float,
    give_up: float,
    part: _Partition,
    policies: list[RetryPolicy],
    rng: random.Random,
    outcomes: Counter[str],
) -> None:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def request(policy: RetryPolicy) -> None:
        try:
            async with asyncio.timeout(give_up):
                await call(part, "PutItem", dict(_PAYLOAD), policy)
        except TimeoutError:
            outcomes["caller timed out"] += 1
        except AwsError:
            outcomes["throttled, gave up"] += 1
        else:
            outcomes["ok"] += 1

    async def container(policy: RetryPolicy) -> None:
        await asyncio.sleep(rng.random())
        while loop.time() < seconds:
            task = loop.create_task(request(policy))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(rng.expovariate(rate))

    await asyncio.gather(*(container(p) for p in policies))
    if tasks:
        await asyncio.gather(*tasks)


async def _hot_run(
    args: argparse.Namespace,
    mode: str,
    quota: int | None,
    rate: float,
    part: _Partition,
    rng: random.Random,
    outcomes: Counter[str],
) -> None:
    # One policy per container, as one DB per container has: its own quota and limiter, on loop time.
    loop = asyncio.get_running_loop()
    policies = [
        RetryPolicy(
            mode="adaptive" if mode == "adaptive" else "standard",
            quota=None if quota is None else RetryQuota(quota),
            limiter=RateLimiter(loop.time) if mode == "adaptive" else None,
            random=rng.random,
        )
        for _ in range(args.containers)
    ]
    await _hot_fleet(args.containers, args.seconds, rate, args.timeout, part, policies, rng, outcomes)


def _hot_runs(args: argparse.Namespace) -> list[_HotResult]:
    rate = args.load * args.wcu / args.containers
    modes: list[tuple[str, str, int | None]] = [
        ("standard, no retry quota", "standard", None),
        ("standard (quota 500 per container)", "standard", 500),
        ("adaptive (quota 500, limiter per container)", "adaptive", 500),
    ]
    results = []
    for label, mode, quota in modes:
        rng = random.Random(args.seed)
        part = _Partition(args.wcu, args.latency)
        outcomes: Counter[str] = Counter()
        started = time.perf_counter()

        _run(_hot_run(args, mode, quota, rate, part, rng, outcomes))
        print(f"  ({label}: {time.perf_counter() - started:.1f} s real)", file=sys.stderr)
        results.append(_HotResult(label, part, outcomes, args.seconds))
    return results


def _print_hot(args: argparse.Namespace, results: list[_HotResult]) -> None:
    print(
        f"\nHot partition: {args.containers} containers, offered {args.load:g}x of {args.wcu:,.0f} WCU/s "
        f"(Poisson), {args.seconds} s simulated, caller timeout {args.timeout:g} s; rates over the "
        "last half"
    )
    print(
        "| mode | goodput/s | x capacity | attempts/s | attempts / goodput | retries per success "
        "| ok | gave up (throttled) | caller timed out |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        o = r.outcomes
        print(
            f"| {r.label} | {r.goodput:,.0f} | {r.goodput / args.wcu:.2f}x | {r.attempt_rate:,.0f} "
            f"| {r.attempt_rate / max(r.goodput, 1e-9):.2f}x | {r.retries_per_success:.2f} "
            f"| {o['ok']:,} | {o['throttled, gave up']:,} | {o['caller timed out']:,} |"
        )


# ------------------------------------------------------------------------------------- plots


def _plot(directory: Path, sts: list[_StsResult], hot: list[_HotResult], args: argparse.Namespace) -> None:
    import matplotlib  # type: ignore[import-not-found]  # only with --plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found]

    directory.mkdir(parents=True, exist_ok=True)
    if hot:
        _plot_hot(plt, directory, hot, args)
    if sts:
        _plot_sts(plt, directory, sts, args)
    print(f"\nplots written to {directory}/")


def _plot_hot(plt: Any, directory: Path, hot: list[_HotResult], args: argparse.Namespace) -> None:
    fig, axes = plt.subplots(len(hot), 1, figsize=(9, 2.6 * len(hot)), sharex=True, squeeze=False)
    axes = axes[:, 0]
    for ax, r in zip(axes, hot, strict=True):
        xs = list(range(args.seconds))
        ax.plot(xs, [r.part.attempts[t] for t in xs], label="attempts sent /s", lw=1)
        ax.plot(xs, [r.part.ok[t] for t in xs], label="goodput /s", lw=1)
        ax.axhline(args.wcu, color="grey", ls="--", lw=0.8, label="partition capacity")
        ax.set_title(r.label, fontsize=9)
        ax.set_ylabel("requests/s")
        ax.legend(fontsize=7, loc="upper right")
    axes[-1].set_xlabel("simulated seconds")
    fig.tight_layout()
    fig.savefig(directory / "fleet-hot-partition.png", dpi=110)
    plt.close(fig)


def _plot_sts(plt: Any, directory: Path, sts: list[_StsResult], args: argparse.Namespace) -> None:
    fig, axes = plt.subplots(len(sts), 1, figsize=(9, 2.4 * len(sts)), sharex=True, squeeze=False)
    axes = axes[:, 0]
    for ax, s in zip(axes, sts, strict=True):
        xs = list(range(60, int(args.hours * 3600)))
        ax.plot([x / 60 for x in xs], [s.per_second[t] for t in xs], lw=0.8)
        ax.set_title(f"AssumeRole calls per second after cold start: {s.label}", fontsize=9)
        ax.set_ylabel("calls/s")
    axes[-1].set_xlabel("simulated minutes")
    fig.tight_layout()
    fig.savefig(directory / "fleet-sts-refresh.png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--containers", type=int, default=1000)
    parser.add_argument("--partners", type=int, default=10)
    parser.add_argument("--hours", type=float, default=2.0, help="simulated time of the STS run")
    parser.add_argument("--tick", type=float, default=2.0, help="seconds between a container's get()s")
    parser.add_argument(
        "--refresh", default="0.1:300,1:300,1:3000", help="jitter:advisory_margin settings, comma-separated"
    )
    parser.add_argument(
        "--sts-policy",
        choices=("per-process", "per-role"),
        default="per-process",
        help="per-process: one sts_retry_policy() per container (the library); per-role: the old default",
    )
    parser.add_argument("--sts-rps", type=float, default=600.0, help="STS AssumeRole quota per account")
    parser.add_argument("--sts-latency", type=float, default=0.05)
    parser.add_argument("--seconds", type=int, default=120, help="simulated time of the hot-partition run")
    parser.add_argument("--wcu", type=float, default=1000.0, help="partition write capacity per second")
    parser.add_argument("--load", type=float, default=2.0, help="offered load, x capacity")
    parser.add_argument("--latency", type=float, default=0.008, help="DynamoDB reply time, seconds")
    parser.add_argument("--timeout", type=float, default=3.0, help="caller gives up after, seconds")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--only", choices=("sts", "hot"), default=None)
    parser.add_argument("--plot", type=Path, default=None, help="write PNG plots here (needs matplotlib)")
    args = parser.parse_args(argv)
    sts = [] if args.only == "hot" else _sts_runs(args)
    hot = [] if args.only == "sts" else _hot_runs(args)
    if sts:
        _print_sts(args, sts)
    if hot:
        _print_hot(args, hot)
    if args.plot is not None:
        _plot(args.plot, sts, hot, args)


if __name__ == "__main__":
    main()
