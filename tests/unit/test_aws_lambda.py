"""`@lambda_handler`, the process loop, deadlines from the context, helpers and call observation."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import pytest

from aiotheory import _observe
from aiotheory._call import call
from aiotheory.aws_lambda import (
    LambdaHandler,
    Sizing,
    is_lambda,
    lambda_handler,
    lambda_memory_mb,
    on_restore,
    runner,
    sizing,
)
from aiotheory.deadlines import current_deadline, remaining
from aiotheory.errors import DeadlineExceeded, ValidationError
from aiotheory.retries import RetryPolicy
from aiotheory.testing import FakeTransport, FaultTransport, Stall


class Context:
    """The two members of awslambdaric's LambdaContext the wrapper reads."""

    def __init__(self, remaining_ms: int, request_id: str = "req-1") -> None:
        self._deadline = time.monotonic() * 1000 + remaining_ms
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return int(self._deadline - time.monotonic() * 1000)


@lambda_handler
async def loop_identity(event: dict[str, int], context: object) -> tuple[int, int]:
    return id(asyncio.get_running_loop()), os.getpid()


@lambda_handler(buffer_ms=250)
async def time_left(event: object, context: object) -> float | None:
    return remaining()


def test_bare_decorator_runs_every_invocation_on_one_loop() -> None:
    assert isinstance(loop_identity, LambdaHandler)
    first = loop_identity({}, Context(5000))
    second = loop_identity({}, Context(5000))
    third = loop_identity({}, object())
    assert first == second == third
    assert first[1] == os.getpid()
    assert not runner().get_loop().is_closed()


def test_deadline_is_remaining_time_minus_buffer() -> None:
    left = time_left(None, Context(3000))
    assert left is not None and 2.65 < left <= 2.75
    assert time_left.buffer_ms == 250


def test_default_buffer_is_one_second() -> None:
    assert loop_identity.buffer_ms == 1000


def test_no_deadline_without_lambda_context() -> None:
    assert time_left(None, object()) is None


def test_deadline_scope_ends_with_the_invocation() -> None:
    time_left(None, Context(3000))
    assert current_deadline() is None
    assert runner().run(_deadline_now()) is None


async def _deadline_now() -> float | None:
    return current_deadline()


@lambda_handler(buffer_ms=1000)
async def stalls(event: object, context: object) -> str:
    transport = FaultTransport(FakeTransport({}), Stall(op="GetItem", times=1))
    try:
        await call(transport, "GetItem", {}, RetryPolicy(max_attempts=1, quota=None))
    except DeadlineExceeded as exc:
        left = remaining()
        assert left is not None
        return f"{exc.operation} {left:.3f}"
    return "no deadline"


def test_call_gets_deadline_exceeded_before_lambda_time_runs_out() -> None:
    start = time.monotonic()
    got = stalls(None, Context(1150))  # 150 ms of deadline, 1 s of buffer kept back
    operation, left = got.split()
    assert operation == "GetItem"
    assert -0.05 < float(left) <= 0  # the deadline, not Lambda's end, stopped the call
    assert time.monotonic() - start < 1.0


def test_sync_function_is_refused() -> None:
    def handler(event: object, context: object) -> None:
        return None

    with pytest.raises(ValidationError, match="async def"):
        lambda_handler(handler)  # type: ignore[arg-type]  # the mistake under test


def test_negative_buffer_is_refused() -> None:
    with pytest.raises(ValidationError, match="buffer_ms"):
        lambda_handler(buffer_ms=-1)(loop_identity.__wrapped__)


def test_wrapper_keeps_name_and_repr() -> None:
    assert loop_identity.__name__ == "loop_identity"  # type: ignore[attr-defined]  # copied at wrap time
    assert "loop_identity" in repr(loop_identity) and "buffer_ms=1000" in repr(loop_identity)


def test_forked_child_gets_its_own_loop() -> None:
    parent_loop, _ = loop_identity({}, Context(5000))
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's teardown
        try:
            loop_id, child_pid = loop_identity({}, Context(5000))
            ok = loop_id != parent_loop and child_pid == os.getpid()
            os.write(write_fd, b"ok" if ok else b"same-loop")
        finally:
            os._exit(0)
    os.close(write_fd)
    try:
        answer = os.read(read_fd, 64)
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
    assert answer == b"ok"
    assert loop_identity({}, Context(5000))[0] == parent_loop


def test_snapstart_restore_replaces_loop_and_runs_callbacks() -> None:
    from awslambdaric import lambda_runtime_hooks_runner  # type: ignore[import-untyped]  # no stubs

    called: list[str] = []

    @on_restore
    def restored() -> None:
        called.append("restored")

    before, _ = loop_identity({}, Context(5000))
    old_loop = runner().get_loop()
    lambda_runtime_hooks_runner.run_after_restore()  # what awslambdaric runs after a SnapStart restore
    assert old_loop.is_closed()
    after, _ = loop_identity({}, Context(5000))
    assert after != before or runner().get_loop() is not old_loop
    assert called == ["restored"]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"AWS_LAMBDA_FUNCTION_NAME": "f"}, False),
        ({"AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}, True),
        ({"AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12"}, True),
    ],
)
def test_is_lambda_when_environment_says_so(environ: dict[str, str], expected: bool) -> None:
    assert is_lambda(environ) is expected


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, None), ("1024", 1024), ("", None), ("x", None), ("0", None)]
)
def test_lambda_memory_mb_reads_environment(raw: str | None, expected: int | None) -> None:
    environ = {} if raw is None else {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": raw}
    assert lambda_memory_mb(environ) == expected


@pytest.mark.parametrize(
    ("memory", "expected"),
    [
        (128, Sizing(pool_size=8, batch_concurrency=2, scan_concurrency=1)),
        (1024, Sizing(pool_size=32, batch_concurrency=8, scan_concurrency=4)),
        (1769, Sizing(pool_size=55, batch_concurrency=13, scan_concurrency=6)),
        (10240, Sizing(pool_size=128, batch_concurrency=16, scan_concurrency=16)),
    ],
)
def test_sizing_follows_memory(memory: int, expected: Sizing) -> None:
    assert sizing(memory) == expected


def test_sizing_reads_lambda_memory_and_user_overrides_win() -> None:
    environ = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"}
    assert sizing(environ=environ).pool_size == 8
    assert sizing(environ=environ, pool_size=3, scan_concurrency=9) == Sizing(
        pool_size=3, batch_concurrency=2, scan_concurrency=9
    )
    assert sizing(environ={}) == Sizing(pool_size=64, batch_concurrency=8, scan_concurrency=4)
    with pytest.raises(ValidationError):
        sizing(128, batch_concurrency=0)


# ---------------------------------------------------------------------------------- observation


class RecordingTracer:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def start(self, operation: str, tables: tuple[str, ...], partner: str | None) -> object:
        self.events.append(("start", (operation, tables, partner)))
        return len(self.events)

    def end(self, span: object, record: _observe.CallRecord) -> None:
        self.events.append(("end", (span, record)))


class PartnerLabelled:
    partner = "partner7"


def test_hook_is_none_when_nothing_observes() -> None:
    _observe.set_tracer(None)
    assert _observe.hook is None
    assert not _observe.calls_log.isEnabledFor(logging.DEBUG)


def test_tracer_receives_span_and_record_with_partner_and_tables() -> None:
    tracer = RecordingTracer()
    _observe.set_tracer(tracer)
    try:
        hook = _observe.hook
        assert hook is not None
        payload = {"TransactItems": [{"Put": {"TableName": "a"}}, {"Delete": {"TableName": "b"}}]}
        span = hook.started(PartnerLabelled(), "TransactWriteItems", payload)
        hook.finished(span, PartnerLabelled(), "TransactWriteItems", payload, {}, 2, 0.0, None)
    finally:
        _observe.set_tracer(None)
    assert tracer.events[0] == ("start", ("TransactWriteItems", ("a", "b"), "partner7"))
    kind, (got_span, record) = tracer.events[1]
    assert kind == "end" and got_span == 1
    assert (record.operation, record.tables, record.attempts, record.outcome, record.partner) == (
        "TransactWriteItems",
        ("a", "b"),
        2,
        "ok",
        "partner7",
    )
    assert _observe.hook is None


def test_invocation_collects_calls_and_logs_summary(caplog: pytest.LogCaptureFixture) -> None:
    error = DeadlineExceeded("GetItem")
    with caplog.at_level(logging.DEBUG, logger="aiotheory.calls"):
        with _observe.invocation_scope("req-9") as invocation:
            _observe.LOGGING.finished(None, object(), "GetItem", {"TableName": "t"}, None, 1, 0.0, error)
        assert _observe.current_invocation() is None
    assert [c.error for c in invocation.calls] == ["DeadlineExceeded"]
    assert "operation=GetItem table=t" in caplog.text and "outcome=DeadlineExceeded" in caplog.text
    assert caplog.records[0].lambda_request_id == "req-9"
    assert "invocation request_id=req-9 calls=1" in caplog.text


def test_aiotheory_debug_switches_debug_logging_on() -> None:
    logger = logging.getLogger("aiotheory")
    level, handlers = logger.level, list(logger.handlers)
    try:
        assert _observe.configure_from_env({"AIOTHEORY_DEBUG": "true"}) is True
        assert logger.isEnabledFor(logging.DEBUG)
        assert _observe.calls_log.isEnabledFor(logging.DEBUG)
        assert _observe.configure_from_env({"AIOTHEORY_DEBUG": "0"}) is False
    finally:
        logger.setLevel(level)
        logger.handlers[:] = handlers
    assert not _observe.calls_log.isEnabledFor(logging.DEBUG)
