"""The refreshing AssumeRole cache on a fake STS transport and an injected clock: no server, no sleeping."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING

import pytest

from aiotheory.credentials import AssumeRoleProvider, Credentials, StaticProvider
from aiotheory.credentials._assume_role import invalidate_all, sts_retry_policy
from aiotheory.deadlines import current_deadline, deadline
from aiotheory.errors import (
    AccessDenied,
    CredentialsError,
    DeadlineExceeded,
    ServiceError,
    Throttled,
    ValidationError,
)
from aiotheory.retries import RetryPolicy

if TYPE_CHECKING:
    from aiotheory._types import Payload

ROLE = "arn:aws:iam::111111111111:role/partner"
T0 = 1_700_000_000.0
#: Set by a caller; the fake STS records what it sees, to show which context the refresh runs in.
CALLER: ContextVar[str | None] = ContextVar("test_assume_role_caller", default=None)
SHORT = 0.02  # seconds: a deadline or sts_timeout that ends while STS is held on a gate


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeSts:
    """An STS Transport: counts AssumeRole calls, can hold them on a gate, or fail them.

    Records the deadline and the CALLER each call ran under, signals `entered` on each call and
    counts calls cancelled while held.
    """

    def __init__(self, clock: Clock, lifetime: float = 3600) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls: list[Payload] = []
        self.deadlines: list[float | None] = []
        self.callers: list[str | None] = []
        self.entered = asyncio.Event()
        self.cancelled = 0
        self.gate: asyncio.Event | None = None
        self.fail: Exception | None = None
        self.stall = False

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        assert operation == "AssumeRole"
        self.calls.append(dict(payload))
        self.deadlines.append(current_deadline())
        self.callers.append(CALLER.get())
        self.entered.set()
        try:
            if self.stall:
                await asyncio.get_running_loop().create_future()
            if self.gate is not None:
                await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.fail is not None:
            raise self.fail
        n = len(self.calls)
        return {
            "Credentials": {
                "AccessKeyId": f"ASIA{n}",
                "SecretAccessKey": f"secret-{n}",
                "SessionToken": f"token-{n}",
                "Expiration": self.clock() + self.lifetime,
            }
        }

    async def close(self) -> None:
        pass


BASE = StaticProvider(Credentials(access_key_id="AKIDBASE", secret_access_key="base-secret"))
ONE_SHOT = RetryPolicy(max_attempts=1, quota=None)


def _provider(sts: FakeSts, clock: Clock, **kwargs: object) -> AssumeRoleProvider:
    options: dict[str, object] = {
        "advisory_margin": 300.0,
        "mandatory_margin": 60.0,
        "jitter": 0.0,
        "retry": ONE_SHOT,
    }
    options.update(kwargs)
    return AssumeRoleProvider(ROLE, base=BASE, clock=clock, sts=sts, **options)  # type: ignore[arg-type]  # test options


async def test_get_assumes_role_once_when_cached() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    provider = _provider(sts, clock)
    first = await provider.get()
    clock.now += 3000  # still before the advisory point (3600 - 300)
    second = await provider.get()
    assert first is second and first.access_key_id == "ASIA1"
    assert first.expiration == T0 + 3600
    assert sts.calls == [{"RoleArn": ROLE, "RoleSessionName": "aiotheory", "DurationSeconds": 3600}]


async def test_payload_carries_external_id_only_when_set() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    provider = _provider(
        sts, clock, external_id="ext-1", session_name="svc", duration=900, advisory_margin=120.0
    )
    await provider.get()
    assert sts.calls == [
        {"RoleArn": ROLE, "RoleSessionName": "svc", "DurationSeconds": 900, "ExternalId": "ext-1"}
    ]


async def test_concurrent_gets_share_one_refresh_when_past_mandatory_margin() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    provider = _provider(sts, clock)
    await provider.get()
    clock.now += 3600 + 10  # across expiry
    sts.gate = asyncio.Event()
    waiters = [asyncio.ensure_future(provider.get()) for _ in range(200)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(sts.calls) == 2  # the one refresh is in flight, the 200 wait for it
    sts.gate.set()
    got = await asyncio.gather(*waiters)
    assert {c.access_key_id for c in got} == {"ASIA2"}
    assert len(sts.calls) == 2 and provider.refreshes == 2


async def test_advisory_window_refreshes_in_background_while_callers_keep_valid_credentials() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    provider = _provider(sts, clock)
    old = await provider.get()
    clock.now += 3600 - 200  # inside the advisory window, before the mandatory one
    sts.gate = asyncio.Event()
    got = await asyncio.gather(*(provider.get() for _ in range(200)))
    assert all(c is old for c in got)  # nobody waited
    assert len(sts.calls) == 2  # exactly one background refresh
    sts.gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert (await provider.get()).access_key_id == "ASIA2"
    assert len(sts.calls) == 2


async def test_sts_failure_in_advisory_window_fails_no_call(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    sts = FakeSts(clock)
    provider = _provider(sts, clock)
    old = await provider.get()
    clock.now += 3600 - 200
    sts.fail = ServiceError("down", code="ServiceUnavailable", operation="AssumeRole", status=503)
    with caplog.at_level(logging.WARNING, logger="aiotheory.credentials"):
        got = await asyncio.gather(*(provider.get() for _ in range(200)))
        for _ in range(5):
            await asyncio.sleep(0)
    assert all(c is old for c in got)
    assert len(sts.calls) == 2
    assert "background AssumeRole refresh failed" in caplog.text
    assert "secret-1" not in caplog.text and "token-1" not in caplog.text
    # Failing STS is not hit by every later call: the next try waits a few seconds.
    await provider.get()
    assert len(sts.calls) == 2
    clock.now += 6
    await provider.get()
    await asyncio.sleep(0)  # let the background refresh start
    assert len(sts.calls) == 3


async def test_sts_failure_in_mandatory_window_raises_credentials_error() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    provider = _provider(sts, clock)
    await provider.get()
    clock.now += 3600 - 30  # inside the mandatory margin, the old credentials not yet expired
    sts.fail = AccessDenied("not allowed", code="AccessDenied", operation="AssumeRole", status=403)
    results = await asyncio.gather(*(provider.get() for _ in range(20)), return_exceptions=True)
    assert all(isinstance(r, CredentialsError) for r in results)
    message = str(results[0])
    assert ROLE in message and "AccessDenied" in message
    assert "secret-1" not in message and "token-1" not in message


async def test_invalidate_forces_one_refresh_after_grace() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    provider = _provider(sts, clock)
    await provider.get()
    provider.invalidate()  # an ExpiredToken for a request signed before this refresh: ignored
    assert (await provider.get()).access_key_id == "ASIA1"
    clock.now += 5
    provider.invalidate()
    provider.invalidate()
    got = await asyncio.gather(*(provider.get() for _ in range(50)))
    assert {c.access_key_id for c in got} == {"ASIA2"}
    assert len(sts.calls) == 2


async def test_jitter_moves_refresh_point_into_advisory_window() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    provider = _provider(sts, clock, jitter=0.5, random=lambda: 1.0)
    await provider.get()
    clock.now += 3600 - 300 + 100  # advisory point + 100 s: jitter moved it by 0.5 * 240 = 120 s
    await provider.get()
    await asyncio.sleep(0)
    assert len(sts.calls) == 1
    clock.now += 30
    await provider.get()
    await asyncio.sleep(0)  # let the background refresh start
    assert len(sts.calls) == 2


async def test_short_lifetime_refreshes_half_way_not_on_every_call() -> None:
    clock = Clock()
    sts = FakeSts(clock, lifetime=200)  # STS granted less than the advisory margin
    provider = _provider(sts, clock)
    await provider.get()
    clock.now += 60  # refresh point is (200 - 60) / 2 = 70 s in
    await provider.get()
    assert len(sts.calls) == 1
    clock.now += 20
    await provider.get()
    await asyncio.sleep(0)
    assert len(sts.calls) == 2


async def test_sts_call_runs_under_the_deadline() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    sts.stall = True
    provider = _provider(sts, clock)
    with pytest.raises(DeadlineExceeded) as info:
        async with deadline(seconds=0.05):
            await provider.get()
    assert info.value.operation == "AssumeRole"
    await provider.close()  # the refresh outlives the caller: its owner cancels it
    assert sts.cancelled == 1


async def _get_within(provider: AssumeRoleProvider, seconds: float) -> Credentials:
    async with deadline(seconds=seconds):
        return await provider.get()


async def test_get_fails_only_the_short_caller_when_a_shared_refresh_outlasts_its_deadline() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    sts.gate = asyncio.Event()
    provider = _provider(sts, clock)
    short = asyncio.ensure_future(_get_within(provider, SHORT))  # starts the refresh
    patient = asyncio.ensure_future(provider.get())
    with pytest.raises(DeadlineExceeded) as info:
        await short
    assert info.value.operation == "AssumeRole"
    assert not patient.done()
    sts.gate.set()
    assert (await patient).access_key_id == "ASIA1"
    assert len(sts.calls) == 1 and sts.cancelled == 0 and provider.refreshes == 1


async def test_refresh_runs_under_its_own_bound_when_its_starter_has_a_deadline() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    provider = _provider(sts, clock, sts_timeout=30.0)
    token = CALLER.set("starter")
    try:
        before = time.monotonic()
        async with deadline(seconds=5) as scope:
            await provider.get()
            caller_at = scope.when
        after = time.monotonic()
    finally:
        CALLER.reset(token)
    [seen] = sts.deadlines
    assert seen is not None and seen != caller_at
    assert before + 30 <= seen <= after + 30  # the refresh's sts_timeout, not the starter's 5 s
    assert sts.callers == ["starter"]  # the rest of the starter's context (invocation, tracing) is kept


async def test_get_fails_every_waiter_when_sts_hangs_past_sts_timeout() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    sts.stall = True
    provider = _provider(sts, clock, sts_timeout=SHORT)
    started = time.monotonic()
    results = await asyncio.gather(*(provider.get() for _ in range(3)), return_exceptions=True)
    assert time.monotonic() - started >= SHORT
    assert all(isinstance(r, CredentialsError) for r in results)
    first = results[0]
    assert isinstance(first, CredentialsError)
    assert ROLE in str(first) and "sts_timeout" in str(first)
    cause = first.__cause__
    assert isinstance(cause, DeadlineExceeded) and cause.operation == "AssumeRole"
    assert len(sts.calls) == 1 and sts.cancelled == 1
    sts.stall = False
    assert (await provider.get()).access_key_id == "ASIA2"  # the next call starts a new refresh
    assert len(sts.calls) == 2


async def test_cancelling_the_first_caller_leaves_the_shared_refresh_running() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    sts.gate = asyncio.Event()
    provider = _provider(sts, clock)
    first = asyncio.ensure_future(provider.get())
    await sts.entered.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    second = asyncio.ensure_future(provider.get())  # joins the refresh nobody waits for now
    sts.gate.set()
    assert (await second).access_key_id == "ASIA1"
    assert len(sts.calls) == 1 and sts.cancelled == 0


async def test_reset_cancels_the_refresh_when_callers_wait_for_it() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    sts.gate = asyncio.Event()
    provider = _provider(sts, clock)
    waiter = asyncio.ensure_future(_get_within(provider, 5))  # bounded: a refresh left running hangs
    await sts.entered.wait()
    provider.reset()
    with pytest.raises(CredentialsError, match="reset or closed"):
        await waiter
    assert sts.cancelled == 1
    sts.gate.set()
    assert (await provider.get()).access_key_id == "ASIA2"


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"advisory_margin": 60.0, "mandatory_margin": 60.0}, "margins"),
        ({"advisory_margin": 3600.0, "mandatory_margin": 60.0}, "margins"),
        ({"advisory_margin": 300.0, "mandatory_margin": -1.0}, "margins"),
        ({"duration": 899}, "duration"),
        ({"duration": 43201}, "duration"),
        ({"jitter": 2.0}, "jitter"),
        ({"sts_timeout": 0.0}, "sts_timeout"),
        ({"sts_timeout": -1.0}, "sts_timeout"),
        ({"sts_timeout": math.nan}, "sts_timeout"),
        ({"sts_timeout": math.inf}, "sts_timeout"),
    ],
)
def test_bad_margins_raise_validation_error(options: dict[str, object], fragment: str) -> None:
    clock = Clock()
    with pytest.raises(ValidationError, match=fragment):
        _provider(FakeSts(clock), clock, **options)


async def test_repr_and_errors_hold_no_secret() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    provider = _provider(sts, clock, external_id="very-secret-ext")
    creds = await provider.get()
    assert "secret-1" not in repr(creds) and "token-1" not in repr(creds)
    assert "very-secret-ext" not in repr(provider) and ROLE in repr(provider)


async def test_invalidate_all_drops_cached_credentials() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    provider = _provider(sts, clock)
    await provider.get()
    invalidate_all()
    assert (await provider.get()).access_key_id == "ASIA2"


def test_provider_survives_a_new_loop_after_the_old_one_closed() -> None:
    clock = Clock()
    sts = FakeSts(clock)
    provider = _provider(sts, clock)

    async def use() -> str:
        return (await provider.get()).access_key_id

    assert asyncio.run(use()) == "ASIA1"
    clock.now += 3600 - 200  # advisory: a background task would be made in the new loop
    assert asyncio.run(use()) == "ASIA1"
    clock.now += 200
    assert asyncio.run(use()) in {"ASIA2", "ASIA3"}


# ------------------------------------------------------------- the AssumeRole retry policy (issue 15)


class _Throttling:
    """An STS Transport answering Throttling `times` times, then credentials."""

    def __init__(self, clock: Clock, times: int) -> None:
        self.clock = clock
        self.times = times
        self.sent = 0

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        self.sent += 1
        if self.sent <= self.times:
            raise Throttled("Rate exceeded", code="Throttling", operation=operation, status=400)
        return {
            "Credentials": {
                "AccessKeyId": "ASIAOK",
                "SecretAccessKey": "s",
                "SessionToken": "t",
                "Expiration": self.clock() + 3600,
            }
        }

    async def close(self) -> None:
        pass


class _VirtualSleep:
    """The policy's sleep and the limiter's clock: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_sts_retry_policy_rides_out_four_throttles_when_assuming_role_cold() -> None:
    clock = Clock()
    virtual = _VirtualSleep()
    sts = _Throttling(clock, times=4)
    policy = sts_retry_policy(clock=virtual, random=lambda: 0.5, sleep=virtual.sleep)
    provider = _provider(sts, clock, retry=policy)  # type: ignore[arg-type]  # FakeSts shape
    assert (await provider.get()).access_key_id == "ASIAOK"
    assert sts.sent == 5
    assert policy.mode == "adaptive" and policy.limiter is not None and policy.limiter.enabled
    # The limiter, on after the first throttle, spaced the attempts beyond the backoff alone.
    assert sum(virtual.slept) > sum(policy.backoff(n) for n in range(1, 5))


async def test_get_fails_with_credentials_error_when_sts_throttles_past_five_attempts() -> None:
    clock = Clock()
    virtual = _VirtualSleep()
    sts = _Throttling(clock, times=5)
    policy = sts_retry_policy(clock=virtual, random=lambda: 0.5, sleep=virtual.sleep)
    provider = _provider(sts, clock, retry=policy)  # type: ignore[arg-type]  # FakeSts shape
    with pytest.raises(CredentialsError, match="Throttled"):
        await provider.get()
    assert sts.sent == 5


def test_provider_defaults_to_an_adaptive_sts_policy_when_no_retry_is_given() -> None:
    provider = AssumeRoleProvider(ROLE, base=BASE)
    policy = provider._policy
    assert (policy.mode, policy.max_attempts) == ("adaptive", 5)
    assert AssumeRoleProvider(ROLE, base=BASE)._policy.limiter is not policy.limiter  # its own
