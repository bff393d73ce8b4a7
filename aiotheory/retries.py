"""Retry policies for the one call function: which failures retry, how long to back off, and a quota.

Follows botocore's *standard* mode: up to 3 attempts, exponential backoff with full jitter, a retry
quota that drains under sustained failure. *Adaptive* mode adds botocore's client-side rate limiter
(a token bucket whose rate follows CUBIC under throttling). Time and randomness are injected so tests
assert schedules.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from .errors import AwsError, TransportError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._types import RandomFn, SleepFn

__all__ = ["RateLimiter", "RetryPolicy", "RetryQuota", "policy_from_env"]

# botocore standard mode: the quota starts at 500; a retry costs 5 (10 after a timeout or connection
# error) and a success pays back 1.
_QUOTA_START: Final = 500
_RETRY_COST: Final = 5
_TIMEOUT_COST: Final = 10
_SUCCESS_REFUND: Final = 1


class RetryQuota:
    """A token bucket shared by one client's calls, so a failing service is not hammered by retries."""

    __slots__ = ("_capacity", "available")

    def __init__(self, capacity: int = _QUOTA_START) -> None:
        self._capacity = capacity
        self.available = capacity

    def acquire(self, error: BaseException) -> bool:
        cost = _TIMEOUT_COST if isinstance(error, TransportError) else _RETRY_COST
        if cost > self.available:
            return False
        self.available -= cost
        return True

    def release(self, retried: bool) -> None:
        refund = _RETRY_COST if retried else _SUCCESS_REFUND
        self.available = min(self._capacity, self.available + refund)


# botocore adaptive mode constants (CUBIC): rate cut to 70% on throttling, scale 0.4, rates measured
# in 0.5 s buckets smoothed by 0.8, and never below half a request per second once limiting.
_BETA: Final = 0.7
_SCALE: Final = 0.4
_BUCKET: Final = 0.5
_SMOOTH: Final = 0.8
_MIN_RATE: Final = 0.5


class RateLimiter:
    """Client-side send-rate limiter of adaptive retry mode, shared by one DB's calls.

    Inactive (free) until the first throttling reply; from then on each attempt takes a token from a
    bucket refilled at a rate that drops to 70% of the measured send rate on every throttle and grows
    back along a cubic curve, as botocore's adaptive mode does.
    """

    __slots__ = (
        "_capacity",
        "_clock",
        "_count",
        "_enabled",
        "_fill_rate",
        "_k",
        "_last_max",
        "_last_refill",
        "_last_throttle",
        "_measured",
        "_rate_start",
        "_tokens",
    )

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        now = clock()
        self._enabled = False
        self._fill_rate = 0.0
        self._capacity = 0.0
        self._tokens = 0.0
        self._last_refill = now
        self._last_max = 0.0
        self._last_throttle = now
        self._k = 0.0
        self._measured = 0.0
        self._count = 0
        self._rate_start = math.floor(now / _BUCKET) * _BUCKET

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def fill_rate(self) -> float:
        """Tokens (requests) per second while enabled."""
        return self._fill_rate

    def delay(self) -> float:
        """Seconds the caller must wait before its next attempt; takes the token when it returns 0."""
        if not self._enabled:
            return 0.0
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._last_refill) * self._fill_rate)
        self._last_refill = now
        # the epsilon stops float rounding from leaving a caller waiting ever-smaller slivers for 1 token
        if self._tokens >= 1.0 - 1e-9:
            self._tokens = max(0.0, self._tokens - 1.0)
            return 0.0
        return (1.0 - self._tokens) / self._fill_rate

    def update(self, throttled: bool) -> None:
        """Feed one reply's outcome: measure the send rate and move the fill rate along CUBIC."""
        now = self._clock()
        self._count += 1
        bucket = math.floor(now / _BUCKET) * _BUCKET
        if bucket > self._rate_start:
            current = self._count / (bucket - self._rate_start)
            self._measured = current * _SMOOTH + self._measured * (1 - _SMOOTH)
            self._count = 0
            self._rate_start = bucket
        if throttled:
            rate = self._measured if not self._enabled else min(self._measured, self._fill_rate)
            self._last_max = rate
            self._k = (self._last_max * (1 - _BETA) / _SCALE) ** (1 / 3)
            self._last_throttle = now
            calculated = rate * _BETA
            self._enabled = True
        else:
            calculated = _SCALE * (now - self._last_throttle - self._k) ** 3 + self._last_max
        new_rate = min(calculated, 2 * self._measured) if self._measured > 0 else calculated
        self._fill_rate = max(new_rate, _MIN_RATE)
        self._capacity = max(self._fill_rate, 1.0)
        self._tokens = min(self._tokens, self._capacity)


async def _asyncio_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """When and how long to retry. `max_attempts` counts the first attempt (botocore's meaning).

    Args:
        base: first backoff ceiling in seconds; DynamoDB's SDKs use 50 ms (botocore legacy mode 0.05 s).
        cap: no backoff sleeps longer than this (botocore: 20 s).
        sleep, random: injectable so tests can check the schedule without sleeping.
    """

    max_attempts: int = 3
    base: float = 0.05
    cap: float = 20.0
    mode: Literal["standard", "adaptive"] = "standard"
    quota: RetryQuota | None = field(default_factory=RetryQuota, compare=False)
    #: set for mode="adaptive" (created automatically); shared by every call made with this policy.
    limiter: RateLimiter | None = field(default=None, compare=False)
    sleep: SleepFn = field(default=_asyncio_sleep, compare=False, repr=False)
    random: RandomFn = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode == "adaptive" and self.limiter is None:
            object.__setattr__(self, "limiter", RateLimiter())
        if self.mode not in ("standard", "adaptive"):
            raise ValidationError(f"RetryPolicy.mode must be 'standard' or 'adaptive', got {self.mode!r}")
        if self.max_attempts < 1:
            raise ValidationError("RetryPolicy.max_attempts must be at least 1")
        if self.base < 0 or self.cap < 0:
            raise ValidationError("RetryPolicy backoff times must not be negative")

    def retryable(self, error: BaseException) -> bool:
        """Whether `error` is transient: throttling, a transient AWS code, a 5xx, or a wire failure."""
        if isinstance(error, AwsError):
            return error.retryable
        if isinstance(error, TransportError):
            return error.retryable
        return False

    def backoff(self, attempt: int) -> float:
        """Full-jitter delay before attempt `attempt + 1` (attempt counts from 1)."""
        return self.random() * min(self.cap, self.base * 2.0 ** (attempt - 1))


def policy_from_env(environ: dict[str, str] | None = None) -> RetryPolicy:
    """A policy honouring `AWS_MAX_ATTEMPTS` and `AWS_RETRY_MODE` as botocore does."""
    env = os.environ if environ is None else environ
    kwargs: dict[str, object] = {}
    raw = env.get("AWS_MAX_ATTEMPTS")
    if raw:
        try:
            kwargs["max_attempts"] = int(raw)
        except ValueError:
            raise ValidationError(f"AWS_MAX_ATTEMPTS must be an integer, got {raw!r}") from None
    mode = env.get("AWS_RETRY_MODE")
    if mode in ("standard", "adaptive"):
        kwargs["mode"] = mode
    elif mode not in (None, "", "legacy"):
        raise ValidationError(f"AWS_RETRY_MODE must be standard, adaptive or legacy, got {mode!r}")
    return RetryPolicy(**kwargs)  # type: ignore[arg-type]  # keys and value types checked above
