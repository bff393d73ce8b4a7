"""The one call function (aiotheory/_call.py): retries, backoff schedule, quota and deadline, via fakes."""

from __future__ import annotations

import asyncio

import pytest

from aiotheory._call import WRITE_OPERATIONS, call
from aiotheory.deadlines import deadline
from aiotheory.errors import (
    AwsValidationError,
    ConditionFailed,
    DeadlineExceeded,
    ServiceError,
    Throttled,
    TransportError,
    from_response,
)
from aiotheory.retries import RetryPolicy, RetryQuota
from aiotheory.testing import FakeTransport, FaultTransport, ServerError, Throttle

_TINY = 0.01


class _Sleeps:
    """An injected sleep that records the schedule instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def _sleep_forever(seconds: float) -> None:
    await asyncio.get_running_loop().create_future()


def _policy(sleeps: _Sleeps, **kwargs: object) -> RetryPolicy:
    return RetryPolicy(sleep=sleeps, random=lambda: 1.0, **kwargs)  # type: ignore[arg-type]  # test rows


def _condition_failed() -> ConditionFailed:
    body = {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "message": "no"}
    error = from_response("PutItem", 400, body)
    assert isinstance(error, ConditionFailed)
    return error


async def test_call_returns_the_reply_after_one_attempt() -> None:
    fake = FakeTransport({"Item": {}})
    sleeps = _Sleeps()
    assert await call(fake, "GetItem", {"TableName": "t"}, _policy(sleeps)) == {"Item": {}}
    assert fake.calls == [("GetItem", {"TableName": "t"})]
    assert sleeps.delays == []


async def test_call_retries_throttling_with_exponential_backoff_then_succeeds() -> None:
    inner = FakeTransport({"ok": 1})
    sleeps = _Sleeps()
    faults = FaultTransport(inner, Throttle(op="Query", times=3))
    assert await call(faults, "Query", {}, _policy(sleeps, max_attempts=4)) == {"ok": 1}
    assert sleeps.delays == [0.05, 0.1, 0.2]
    assert len(faults.injected) == 3
    assert inner.operations == ["Query"]


async def test_call_backoff_uses_the_injected_random_for_jitter() -> None:
    sleeps = _Sleeps()
    policy = RetryPolicy(sleep=sleeps, random=lambda: 0.25, base=1.0, cap=3.0, max_attempts=5)
    faults = FaultTransport(FakeTransport({}), Throttle(times=4))
    await call(faults, "GetItem", {}, policy)
    assert sleeps.delays == [0.25, 0.5, 0.75, 0.75]


async def test_call_raises_the_last_error_when_attempts_run_out() -> None:
    inner = FakeTransport()
    sleeps = _Sleeps()
    faults = FaultTransport(inner, Throttle(times=10))
    with pytest.raises(Throttled) as info:
        await call(faults, "PutItem", {}, _policy(sleeps, max_attempts=3))
    assert info.value.operation == "PutItem"
    assert len(faults.injected) == 3
    assert sleeps.delays == [0.05, 0.1]  # no sleep after the last attempt


async def test_call_retries_server_errors() -> None:
    sleeps = _Sleeps()
    faults = FaultTransport(FakeTransport({"ok": 1}), ServerError(500), ServerError(503))
    assert await call(faults, "GetItem", {}, _policy(sleeps)) == {"ok": 1}
    assert len(sleeps.delays) == 2


async def test_call_raises_service_error_after_persistent_5xx() -> None:
    faults = FaultTransport(FakeTransport(), ServerError(503, times=5))
    with pytest.raises(ServiceError):
        await call(faults, "GetItem", {}, _policy(_Sleeps(), max_attempts=2))
    assert len(faults.injected) == 2


async def test_call_retries_retryable_transport_errors() -> None:
    fake = FakeTransport(TransportError("connection reset"), {"ok": 1})
    sleeps = _Sleeps()
    assert await call(fake, "GetItem", {}, _policy(sleeps)) == {"ok": 1}
    assert fake.operations == ["GetItem", "GetItem"]
    assert sleeps.delays == [0.05]


@pytest.mark.parametrize(
    "error",
    [
        _condition_failed(),
        from_response("PutItem", 400, {"__type": "ValidationException", "message": "bad"}),
        TransportError("certificate verify failed", retryable=False),
    ],
    ids=["ConditionFailed", "ValidationException", "TransportError-not-retryable"],
)
async def test_call_does_not_retry_permanent_errors(error: Exception) -> None:
    fake = FakeTransport(error, {"never": "reached"})
    sleeps = _Sleeps()
    with pytest.raises(type(error)) as info:
        await call(fake, "PutItem", {}, _policy(sleeps))
    assert info.value is error
    assert fake.operations == ["PutItem"]
    assert sleeps.delays == []


async def test_call_does_not_retry_aws_validation_errors() -> None:
    error = from_response("Query", 400, {"__type": "com.amazon.coral.validate#ValidationException"})
    assert isinstance(error, AwsValidationError)
    fake = FakeTransport(error)
    with pytest.raises(AwsValidationError):
        await call(fake, "Query", {}, _policy(_Sleeps()))
    assert len(fake.calls) == 1


async def test_call_stops_retrying_when_the_quota_is_drained() -> None:
    quota = RetryQuota(capacity=10)  # two retries at 5 each
    faults = FaultTransport(FakeTransport(), Throttle(times=100))
    with pytest.raises(Throttled):
        await call(faults, "GetItem", {}, _policy(_Sleeps(), max_attempts=10, quota=quota))
    assert len(faults.injected) == 3
    assert quota.available == 0


async def test_call_with_an_empty_quota_makes_one_attempt() -> None:
    quota = RetryQuota(capacity=10)
    policy = _policy(_Sleeps(), max_attempts=10, quota=quota)
    with pytest.raises(Throttled):
        await call(FaultTransport(FakeTransport(), Throttle(times=100)), "GetItem", {}, policy)
    faults = FaultTransport(FakeTransport(), Throttle(times=100))
    with pytest.raises(Throttled):
        await call(faults, "GetItem", {}, policy)
    assert len(faults.injected) == 1


async def test_call_refills_the_quota_after_a_retried_success() -> None:
    quota = RetryQuota(capacity=500)
    faults = FaultTransport(FakeTransport({}), Throttle(times=1))
    await call(faults, "GetItem", {}, _policy(_Sleeps(), quota=quota))
    assert quota.available == 500


async def test_call_without_a_quota_retries_up_to_max_attempts() -> None:
    faults = FaultTransport(FakeTransport({}), Throttle(times=7))
    await call(faults, "GetItem", {}, _policy(_Sleeps(), max_attempts=8, quota=None))
    assert len(faults.injected) == 7


async def test_call_backoff_sleep_runs_under_the_deadline() -> None:
    faults = FaultTransport(FakeTransport({"ok": 1}), Throttle(op="GetItem"))
    policy = RetryPolicy(sleep=_sleep_forever, base=30.0)
    with pytest.raises(DeadlineExceeded) as info:
        async with deadline(seconds=_TINY):
            await call(faults, "GetItem", {}, policy)
    assert info.value.operation == "GetItem"
    assert len(faults.injected) == 1


async def test_call_long_real_backoff_is_cut_by_the_deadline() -> None:
    # The default sleep is asyncio.sleep: a 60 s backoff must end when the deadline does.
    faults = FaultTransport(FakeTransport({"ok": 1}), Throttle())
    policy = RetryPolicy(base=60.0, cap=60.0, random=lambda: 1.0)
    with pytest.raises(DeadlineExceeded):
        async with deadline(seconds=_TINY):
            await call(faults, "GetItem", {}, policy)


async def test_call_write_backoff_after_a_throttle_is_not_outcome_unknown() -> None:
    # The throttled attempt was refused, so a deadline during the backoff leaves nothing applied.
    faults = FaultTransport(FakeTransport(), Throttle())
    with pytest.raises(DeadlineExceeded) as info:
        async with deadline(seconds=_TINY):
            await call(faults, "PutItem", {}, RetryPolicy(sleep=_sleep_forever))
    assert not info.value.outcome_unknown


async def test_call_write_backoff_after_a_lost_reply_stays_outcome_unknown() -> None:
    lost = TransportError("reset after send", outcome_unknown=True)
    fake = FakeTransport(lost, {"ok": 1})
    with pytest.raises(DeadlineExceeded) as info:
        async with deadline(seconds=_TINY):
            await call(fake, "PutItem", {}, RetryPolicy(sleep=_sleep_forever))
    assert info.value.outcome_unknown


async def test_call_read_after_a_lost_reply_is_never_outcome_unknown() -> None:
    fake = FakeTransport(TransportError("reset after send", outcome_unknown=True))
    with pytest.raises(DeadlineExceeded) as info:
        async with deadline(seconds=_TINY):
            await call(fake, "GetItem", {}, RetryPolicy(sleep=_sleep_forever))
    assert not info.value.outcome_unknown


def test_write_operations_are_the_ones_that_change_state() -> None:
    assert {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"} <= WRITE_OPERATIONS
    assert not {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"} & WRITE_OPERATIONS
