"""Retry policies for the one call function: which failures retry, how long to back off, and a quota.

Follows botocore's *standard* mode: up to 3 attempts, exponential backoff with full jitter, a retry
quota that drains under sustained failure. Time and randomness are injected so tests assert schedules.
"""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from .errors import AwsError, TransportError, ValidationError

if TYPE_CHECKING:
    from ._types import RandomFn, SleepFn

__all__ = ["RetryPolicy", "RetryQuota", "policy_from_env"]

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
    sleep: SleepFn = field(default=_asyncio_sleep, compare=False, repr=False)
    random: RandomFn = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
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
