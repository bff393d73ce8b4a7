"""The one call function (aiotheory/_call.py): retries, backoff schedule, quota and deadline, via fakes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from aiotheory._call import WRITE_OPERATIONS, call, resendable
from aiotheory.deadlines import deadline
from aiotheory.errors import (
    AwsValidationError,
    ConditionFailed,
    DeadlineExceeded,
    OutcomeUnknown,
    ReplyMismatch,
    ServiceError,
    Throttled,
    TransportError,
    from_response,
)
from aiotheory.retries import RetryPolicy, RetryQuota
from aiotheory.testing import FakeTransport, FaultTransport, ServerFault, Throttle

if TYPE_CHECKING:
    from aiotheory._types import Payload

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
    faults = FaultTransport(FakeTransport({"ok": 1}), ServerFault(500), ServerFault(503))
    assert await call(faults, "GetItem", {}, _policy(sleeps)) == {"ok": 1}
    assert len(sleeps.delays) == 2


async def test_call_raises_service_error_after_persistent_5xx() -> None:
    faults = FaultTransport(FakeTransport(), ServerFault(503, times=5))
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


# --- writes whose reply was lost (never applied twice) ---------------------------------------------


def _lost(operation: str) -> TransportError:
    return TransportError(f"{operation}: reply lost", operation=operation, outcome_unknown=True)


@pytest.mark.parametrize(
    ("operation", "payload", "resend"),
    [
        ("GetItem", {"Key": {}}, True),
        ("Query", {}, True),
        ("PutItem", {"Item": {}}, True),
        ("PutItem", {"Item": {}, "ConditionExpression": "attribute_not_exists(#n0)"}, True),
        ("PutItem", {"Item": {}, "ReturnValues": "ALL_OLD"}, False),
        ("DeleteItem", {"Key": {}}, True),
        ("DeleteItem", {"Key": {}, "ReturnValues": "ALL_OLD"}, False),
        ("UpdateItem", {"Key": {}}, False),
        ("TransactWriteItems", {"TransactItems": [], "ClientRequestToken": "t"}, True),
        ("TransactWriteItems", {"TransactItems": []}, False),
        ("BatchWriteItem", {"RequestItems": {}}, True),
        ("CreateTable", {}, True),
    ],
)
def test_resendable_follows_the_operation_class(operation: str, payload: Payload, resend: bool) -> None:
    assert resendable(operation, payload) is resend


async def test_call_raises_outcome_unknown_without_resending_when_an_update_loses_its_reply() -> None:
    fake = FakeTransport(_lost("UpdateItem"))
    payload = {"TableName": "t", "Key": {"id": {"S": "a"}}}
    with pytest.raises(OutcomeUnknown) as caught:
        await call(fake, "UpdateItem", payload, _policy(_Sleeps()))
    assert fake.operations == ["UpdateItem"]
    error = caught.value
    assert (error.operation, error.table, error.key) == ("UpdateItem", "t", {"id": {"S": "a"}})
    assert error.outcome_unknown and not error.retryable
    assert isinstance(error.__cause__, TransportError)


async def test_call_resends_an_update_the_caller_declares_safe() -> None:
    fake = FakeTransport(_lost("UpdateItem"), {"Attributes": {"id": {"S": "a"}}})
    payload = {"TableName": "t", "Key": {"id": {"S": "a"}}}
    reply = await call(fake, "UpdateItem", payload, _policy(_Sleeps()), resend=True)
    assert reply == {"Attributes": {"id": {"S": "a"}}}
    assert fake.operations == ["UpdateItem", "UpdateItem"]


async def test_call_flags_a_refusal_that_may_answer_its_own_lost_attempt() -> None:
    fake = FakeTransport(_lost("PutItem"), _condition_failed())
    with pytest.raises(ConditionFailed) as caught:
        await call(fake, "PutItem", {"TableName": "t", "Item": {}}, _policy(_Sleeps()))
    assert caught.value.outcome_unknown
    assert fake.operations == ["PutItem", "PutItem"]


async def test_call_does_not_flag_a_refusal_when_no_attempt_was_lost() -> None:
    fake = FakeTransport(_condition_failed())
    with pytest.raises(ConditionFailed) as caught:
        await call(fake, "PutItem", {"TableName": "t", "Item": {}}, _policy(_Sleeps()))
    assert not caught.value.outcome_unknown


async def test_call_raises_outcome_unknown_when_a_resent_write_then_fails_otherwise() -> None:
    throttled = FaultTransport(FakeTransport(), Throttle(times=2))
    fake = FakeTransport(_lost("PutItem"), throttled.send, throttled.send)
    with pytest.raises(OutcomeUnknown) as caught:
        await call(fake, "PutItem", {"TableName": "t", "Item": {}}, _policy(_Sleeps()))
    assert isinstance(caught.value.__cause__, Throttled)
    assert fake.operations == ["PutItem"] * 3


async def test_call_raises_outcome_unknown_when_every_attempt_of_a_put_loses_its_reply() -> None:
    fake = FakeTransport(*(_lost("PutItem") for _ in range(3)))
    with pytest.raises(OutcomeUnknown):
        await call(fake, "PutItem", {"TableName": "t", "Item": {}}, _policy(_Sleeps()))
    assert fake.operations == ["PutItem"] * 3


async def test_call_keeps_a_plain_transport_error_for_reads() -> None:
    fake = FakeTransport(*(_lost("GetItem") for _ in range(3)))
    with pytest.raises(TransportError) as caught:
        await call(fake, "GetItem", {"TableName": "t", "Key": {}}, _policy(_Sleeps()))
    assert type(caught.value) is TransportError


async def test_call_resends_a_read_whose_reply_names_another_key() -> None:
    asked = {"id": {"S": "mine"}}
    fake = FakeTransport({"Item": {"id": {"S": "someone-elses-item"}}}, {"Item": {**asked, "n": {"N": "1"}}})
    reply = await call(fake, "GetItem", {"TableName": "t", "Key": asked}, _policy(_Sleeps()))
    assert reply == {"Item": {**asked, "n": {"N": "1"}}}
    assert fake.operations == ["GetItem", "GetItem"]


async def test_call_raises_reply_mismatch_when_every_reply_names_another_key() -> None:
    wrong = {"Item": {"id": {"S": "someone-elses-item"}}}
    fake = FakeTransport(wrong, wrong, wrong)
    with pytest.raises(ReplyMismatch):
        await call(fake, "GetItem", {"TableName": "t", "Key": {"id": {"S": "mine"}}}, _policy(_Sleeps()))


async def test_call_treats_an_update_reply_for_another_key_as_a_lost_reply() -> None:
    fake = FakeTransport({"Attributes": {"id": {"S": "other"}}})
    with pytest.raises(OutcomeUnknown) as caught:
        await call(fake, "UpdateItem", {"TableName": "t", "Key": {"id": {"S": "a"}}}, _policy(_Sleeps()))
    assert isinstance(caught.value.__cause__, ReplyMismatch)


@pytest.mark.parametrize(
    ("asked", "got"),
    [
        ({"n": {"N": "1.50"}}, {"n": {"N": "1.5"}}),  # DynamoDB's number normal form
        ({"id": {"S": "a"}, "sk": {"S": "b"}}, {"id": {"S": "a"}}),  # UPDATED_NEW leaves keys out
    ],
)
async def test_call_accepts_a_reply_whose_key_is_the_same_item(asked: Payload, got: Payload) -> None:
    fake = FakeTransport({"Attributes": got})
    await call(fake, "UpdateItem", {"TableName": "t", "Key": asked}, _policy(_Sleeps()))
