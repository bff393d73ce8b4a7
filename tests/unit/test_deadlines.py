"""The deadline scope and `bounded` (aiotheory/deadlines.py), driven through fakes at the transport seam."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from aiotheory._call import call
from aiotheory.deadlines import bounded, current_deadline, deadline, detached_context, remaining
from aiotheory.errors import DeadlineExceeded, ValidationError
from aiotheory.retries import RetryPolicy
from aiotheory.testing import FakeTransport, FaultTransport, RecordingTransport, Stall

_TINY = 0.01  # seconds: long enough to enter the scope, short enough that the test never waits


async def _forever() -> None:
    await asyncio.get_running_loop().create_future()


def test_no_deadline_outside_any_scope() -> None:
    assert current_deadline() is None
    assert remaining() is None


async def test_deadline_sets_the_scope_seconds_from_now_and_restores_it_when_left() -> None:
    before = time.monotonic()
    async with deadline(seconds=5):
        at = current_deadline()
        left = remaining()
    after = time.monotonic()
    assert at is not None and left is not None
    assert before + 5 <= at <= after + 5
    assert 0 < left <= 5
    assert current_deadline() is None


def test_deadline_is_also_a_sync_context_manager() -> None:
    with deadline(at=123.0):
        assert current_deadline() == 123.0
    assert current_deadline() is None


async def test_nested_deadline_keeps_the_outer_deadline_when_the_inner_is_later() -> None:
    async with deadline(at=100.0):
        async with deadline(at=500.0) as inner:
            assert current_deadline() == 100.0
            assert inner.when == 100.0
        assert current_deadline() == 100.0
    assert current_deadline() is None


async def test_nested_deadline_shortens_the_scope_when_the_inner_is_earlier() -> None:
    async with deadline(at=500.0):
        async with deadline(at=100.0):
            assert current_deadline() == 100.0
        assert current_deadline() == 500.0
    assert current_deadline() is None


def test_deadline_when_reports_the_effective_deadline() -> None:
    with deadline(at=50.0):
        assert deadline(at=100.0).when == 50.0
        assert deadline(at=10.0).when == 10.0


@pytest.mark.parametrize(
    "kwargs", [{}, {"seconds": 1.0, "at": 2.0}, {"seconds": math.nan}], ids=["neither", "both", "nan"]
)
def test_deadline_refuses_bad_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        deadline(**kwargs)


async def test_deadline_is_inherited_by_tasks_started_in_the_scope() -> None:
    async with deadline(seconds=5) as scope:
        seen = await asyncio.create_task(_read_deadline())
    assert seen == scope.when


async def _read_deadline() -> float | None:
    return current_deadline()


async def test_detached_context_has_no_deadline_when_made_inside_a_scope() -> None:
    async with deadline(seconds=5) as scope:
        context = detached_context()
        seen = await asyncio.get_running_loop().create_task(_read_deadline(), context=context)
        assert current_deadline() == scope.when  # the caller's own scope is untouched
    assert seen is None


async def test_applied_raises_deadline_exceeded_naming_the_operation() -> None:
    with pytest.raises(DeadlineExceeded) as info:
        async with deadline(seconds=_TINY), bounded("GetItem"):
            await _forever()
    assert info.value.operation == "GetItem"
    assert not info.value.outcome_unknown
    assert "GetItem" in str(info.value)
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value.__cause__, TimeoutError)


async def test_applied_does_nothing_outside_a_scope() -> None:
    async with bounded("GetItem"):
        result = await _answer()
    assert result == 42


async def _answer() -> int:
    return 42


async def test_applied_leaves_other_timeouts_alone() -> None:
    # A caller's own asyncio timeout that fires first is theirs, not a DeadlineExceeded.
    async with deadline(seconds=60):
        with pytest.raises(TimeoutError) as info:
            async with asyncio.timeout(_TINY), bounded("GetItem"):
                await _forever()
    assert type(info.value) is TimeoutError


async def test_applied_raises_before_entering_when_the_deadline_has_passed() -> None:
    entered = False
    with pytest.raises(DeadlineExceeded) as info:
        async with deadline(at=time.monotonic() - 1), bounded("PutItem", outcome_unknown=True):
            entered = True
    assert not entered
    assert not info.value.outcome_unknown  # nothing was sent, so nothing can have been applied


async def test_call_raises_deadline_exceeded_when_a_read_stalls() -> None:
    faults = FaultTransport(FakeTransport(), Stall(op="GetItem"))
    with pytest.raises(DeadlineExceeded) as info:
        async with deadline(seconds=_TINY):
            await call(faults, "GetItem", {}, RetryPolicy())
    assert info.value.operation == "GetItem"
    assert not info.value.outcome_unknown


@pytest.mark.parametrize(
    "operation", ["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"]
)
async def test_call_marks_a_stalled_write_outcome_unknown(operation: str) -> None:
    faults = FaultTransport(FakeTransport(), Stall())
    with pytest.raises(DeadlineExceeded) as info:
        async with deadline(seconds=_TINY):
            await call(faults, operation, {}, RetryPolicy())
    assert info.value.operation == operation
    assert info.value.outcome_unknown


async def test_call_sends_nothing_when_the_deadline_passed_before_the_call() -> None:
    recording = RecordingTransport(FakeTransport({}))
    with pytest.raises(DeadlineExceeded) as info:
        async with deadline(at=time.monotonic() - 1):
            await call(recording, "PutItem", {"TableName": "t"}, RetryPolicy())
    recording.assert_nothing_sent()
    assert not info.value.outcome_unknown


async def test_call_returns_normally_within_the_deadline() -> None:
    async with deadline(seconds=60):
        assert await call(FakeTransport({"ok": 1}), "GetItem", {}, RetryPolicy()) == {"ok": 1}
