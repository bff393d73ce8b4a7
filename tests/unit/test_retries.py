"""RetryPolicy, RetryQuota and policy_from_env (aiotheory/retries.py)."""

from __future__ import annotations

import pytest

from aiotheory.errors import (
    AccessDenied,
    AwsError,
    AwsValidationError,
    ConditionFailed,
    ServiceError,
    Throttled,
    TransportError,
    ValidationError,
    from_response,
)
from aiotheory.retries import RetryPolicy, RetryQuota, policy_from_env


def _aws(code: str, status: int = 400) -> AwsError:
    return from_response("PutItem", status, {"__type": code, "message": "m"})


def test_policy_defaults_follow_botocore_standard_mode() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.base, policy.cap, policy.mode) == (3, 0.05, 20.0, "standard")
    assert policy.quota is not None
    assert policy.quota.available == 500


@pytest.mark.parametrize(
    "error",
    [
        _aws("ThrottlingException"),
        _aws("ProvisionedThroughputExceededException"),
        _aws("RequestLimitExceeded"),
        _aws("TransactionInProgressException"),
        _aws("InternalServerError", 500),
        _aws("SomethingNew", 503),
        _aws("RequestTimeout"),
        TransportError("reset by peer"),
    ],
    ids=lambda e: type(e).__name__ + ":" + getattr(e, "code", ""),
)
def test_retryable_when_transient(error: Exception) -> None:
    assert RetryPolicy().retryable(error)


@pytest.mark.parametrize(
    "error",
    [
        _aws("ConditionalCheckFailedException"),
        _aws("ValidationException"),
        _aws("AccessDeniedException"),
        _aws("ResourceNotFoundException"),
        _aws("TransactionCanceledException"),
        _aws("SomethingNew"),
        TransportError("bad certificate", retryable=False),
        ValueError("not ours"),
    ],
    ids=lambda e: type(e).__name__ + ":" + getattr(e, "code", ""),
)
def test_not_retryable_when_permanent(error: Exception) -> None:
    assert not RetryPolicy().retryable(error)


def test_mapped_classes_agree_with_retryable() -> None:
    assert isinstance(_aws("ThrottlingException"), Throttled)
    assert isinstance(_aws("InternalServerError", 500), ServiceError)
    assert isinstance(_aws("ConditionalCheckFailedException"), ConditionFailed)
    assert isinstance(_aws("ValidationException"), AwsValidationError)
    assert isinstance(_aws("AccessDeniedException"), AccessDenied)


def test_backoff_is_full_jitter_exponential_from_base() -> None:
    policy = RetryPolicy(base=0.05, random=lambda: 1.0)
    assert [policy.backoff(n) for n in (1, 2, 3, 4)] == [0.05, 0.1, 0.2, 0.4]
    half = RetryPolicy(base=0.05, random=lambda: 0.5)
    assert [half.backoff(n) for n in (1, 2, 3)] == [0.025, 0.05, 0.1]
    assert RetryPolicy(random=lambda: 0.0).backoff(3) == 0.0


def test_backoff_never_exceeds_cap() -> None:
    policy = RetryPolicy(base=1.0, cap=3.0, random=lambda: 1.0)
    assert [policy.backoff(n) for n in (1, 2, 3, 10, 60)] == [1.0, 2.0, 3.0, 3.0, 3.0]


@pytest.mark.parametrize("kwargs", [{"max_attempts": 0}, {"base": -1.0}, {"cap": -1.0}])
def test_policy_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]  # each row sets one valid field name


def test_policies_compare_by_settings_not_by_quota_or_hooks() -> None:
    assert RetryPolicy(max_attempts=5, random=lambda: 0.1) == RetryPolicy(max_attempts=5)
    assert RetryPolicy(max_attempts=5) != RetryPolicy(max_attempts=4)


def test_quota_charges_five_per_retry_and_ten_after_a_wire_failure() -> None:
    quota = RetryQuota(capacity=20)
    assert quota.acquire(_aws("ThrottlingException"))
    assert quota.available == 15
    assert quota.acquire(TransportError("reset"))
    assert quota.available == 5
    assert not quota.acquire(TransportError("reset"))
    assert quota.available == 5
    assert quota.acquire(_aws("ThrottlingException"))
    assert quota.available == 0
    assert not quota.acquire(_aws("ThrottlingException"))


def test_quota_refills_on_success_up_to_its_capacity() -> None:
    quota = RetryQuota(capacity=10)
    quota.acquire(_aws("ThrottlingException"))
    quota.release(retried=True)
    assert quota.available == 10
    quota.acquire(_aws("ThrottlingException"))
    quota.release(retried=False)
    assert quota.available == 6
    for _ in range(10):
        quota.release(retried=False)
    assert quota.available == 10


def test_policy_from_env_defaults_when_unset() -> None:
    assert policy_from_env({}) == RetryPolicy()


def test_policy_from_env_reads_max_attempts_and_mode() -> None:
    policy = policy_from_env({"AWS_MAX_ATTEMPTS": "7", "AWS_RETRY_MODE": "adaptive"})
    assert (policy.max_attempts, policy.mode) == (7, "adaptive")
    assert policy_from_env({"AWS_RETRY_MODE": "legacy"}).mode == "standard"


def test_policy_from_env_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    assert policy_from_env().max_attempts == 2


@pytest.mark.parametrize(
    "environ",
    [{"AWS_MAX_ATTEMPTS": "three"}, {"AWS_MAX_ATTEMPTS": "0"}, {"AWS_RETRY_MODE": "turbo"}],
    ids=["not-int", "zero", "bad-mode"],
)
def test_policy_from_env_refuses_bad_values(environ: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        policy_from_env(environ)


# ------------------------------------------------------------------------------- adaptive mode


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_is_free_until_the_first_throttle() -> None:
    from aiotheory.retries import RateLimiter

    clock = _Clock()
    limiter = RateLimiter(clock=clock)
    for _ in range(100):
        assert limiter.delay() == 0.0
        limiter.update(False)
        clock.now += 0.01
    assert not limiter.enabled


def test_rate_limiter_cuts_rate_on_throttle_and_recovers_along_cubic() -> None:
    from aiotheory.retries import RateLimiter

    clock = _Clock()
    limiter = RateLimiter(clock=clock)
    # 100 requests/s for two seconds, so the measured send rate settles near 100/s
    for _ in range(200):
        limiter.update(False)
        clock.now += 0.01
    limiter.update(True)
    assert limiter.enabled
    throttled_rate = limiter.fill_rate
    assert 0.5 < throttled_rate < 100 * 0.75  # cut to about 70% of what was being sent
    # once the bucket is drained (the clock stands still), callers wait at most 1/rate s for a token
    for _ in range(int(throttled_rate) + 2):
        wait = limiter.delay()
        if wait > 0:
            break
    assert 0 < wait <= 1 / throttled_rate + 1e-9
    # successes after the throttle raise the rate again (cubic growth past the inflection point)
    for _ in range(500):  # five more seconds of steady successful sends
        clock.now += 0.01
        limiter.update(False)
    assert limiter.fill_rate > throttled_rate


async def test_adaptive_call_waits_for_tokens_after_throttling() -> None:
    from aiotheory._call import call
    from aiotheory.retries import RateLimiter
    from aiotheory.testing import FakeTransport, FaultTransport, Throttle

    clock = _Clock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    policy = RetryPolicy(
        mode="adaptive", max_attempts=3, limiter=RateLimiter(clock=clock), sleep=sleep, random=lambda: 0.0
    )
    replies = [{} for _ in range(40)]
    transport = FaultTransport(FakeTransport(*replies), Throttle(op="GetItem", times=2))
    for _ in range(20):
        await call(transport, "GetItem", {"TableName": "t"}, policy)
        clock.now += 0.001
    assert policy.limiter is not None and policy.limiter.enabled
    # after the throttles, later sends had to wait for tokens: the rate limiter slept, not just backoff
    assert any(s > 0 for s in slept)


def test_policy_from_env_adaptive_mode_gets_a_limiter() -> None:
    policy = policy_from_env({"AWS_RETRY_MODE": "adaptive", "AWS_MAX_ATTEMPTS": "3"})
    assert policy.mode == "adaptive" and policy.max_attempts == 3 and policy.limiter is not None
    assert policy_from_env({}).limiter is None
