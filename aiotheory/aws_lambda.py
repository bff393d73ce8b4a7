"""Lambda-native running: one event loop per process across warm invocations, deadline-bound handlers.

`@lambda_handler` turns `async def handler(event, context)` into the sync callable the runtime calls.
Imports only the standard library and aiotheory's own light modules (no transport, no pydantic).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from typing import TYPE_CHECKING, Final, Generic, TypeVar, overload

from . import _observe
from ._call import call
from ._observe import logger as _logger
from ._sizing import Sizing, is_lambda, lambda_memory_mb, sizing
from .deadlines import deadline
from .errors import AccessDenied, ValidationError
from .retries import RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .db import DB
    from .model import Model

__all__ = [
    "DEFAULT_BUFFER_MS",
    "LambdaHandler",
    "Sizing",
    "is_lambda",
    "lambda_handler",
    "lambda_memory_mb",
    "on_restore",
    "runner",
    "sizing",
    "warm_up",
]

E = TypeVar("E")
C = TypeVar("C")
R = TypeVar("R")

#: Milliseconds kept back from Lambda's remaining time so the handler can still answer (log, reply).
DEFAULT_BUFFER_MS: Final = 1000

_log: Final = _logger("aiotheory.lambda")
# Warm-up is an optimisation: one attempt, no retry quota shared with real calls.
_WARM_POLICY: Final = RetryPolicy(max_attempts=1, quota=None)


# ------------------------------------------------------------------------------------ the process loop


class _ProcessLoop:
    """The one `asyncio.Runner` of this process, remembered with the pid that created it.

    A forked child (AWS_LAMBDA_MAX_CONCURRENCY workers, multiprocessing) must not drive its parent's
    loop: its selector and sockets are shared with the parent. The child gets a fresh runner; the
    parent's copy is dropped untouched.
    """

    __slots__ = ("pid", "runner")

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.runner = asyncio.Runner()


_PROCESS: _ProcessLoop | None = None
_RESTORE_CALLBACKS: Final[list[Callable[[], None]]] = []
_hooks_registered = False


def runner() -> asyncio.Runner:
    """The process-wide runner (created on first use, and again after a fork or a SnapStart restore)."""
    global _PROCESS
    state = _PROCESS
    if state is None or state.pid != os.getpid():
        state = _PROCESS = _ProcessLoop()
    return state.runner


def _close_runner() -> None:
    """Close this process's loop (used after a SnapStart restore); the next invocation makes a new one.

    Clients bound to the closed loop notice it on their next use and reconnect (see `DB.transport`).
    """
    global _PROCESS
    state, _PROCESS = _PROCESS, None
    if state is not None and state.pid == os.getpid():
        state.runner.close()


def on_restore(callback: Callable[[], None]) -> Callable[[], None]:
    """Run `callback` after a SnapStart restore, after the loop is replaced; usable as a decorator.

    Use it for what the snapshot froze and must not outlive it: cached tokens, connections to
    services aiotheory does not manage.
    """
    _RESTORE_CALLBACKS.append(callback)
    return callback


def _after_restore() -> None:
    # The snapshot may be restored hours later on another host: pooled sockets are dead and cached
    # credentials may belong to a rotated role session. Close the loop (so every DB reconnects) and
    # drop assumed-role credentials (so they are fetched again).
    _close_runner()
    from .credentials._assume_role import invalidate_all

    invalidate_all()
    for callback in _RESTORE_CALLBACKS:
        callback()


def _register_runtime_hooks() -> None:
    """Register the SnapStart restore hook when the runtime offers one (awslambdaric ships
    `snapshot_restore_py`); done once, at decoration time (Lambda's init phase)."""
    global _hooks_registered
    if _hooks_registered:
        return
    _hooks_registered = True
    _observe.configure_from_env()
    try:
        from snapshot_restore_py import register_after_restore
    except ImportError:
        return
    register_after_restore(_after_restore)


# ---------------------------------------------------------------------------------- the handler


class LambdaHandler(Generic[E, C, R]):
    """The sync callable Lambda invokes; runs the async handler on the process loop under a deadline.

    The deadline is `context.get_remaining_time_in_millis()` minus `buffer_ms`, as an absolute
    `time.monotonic()` instant, so every AWS call, retry sleep and page fetch inside the handler raises
    `DeadlineExceeded` before Lambda kills the process. A context without that method (local calls,
    tests) runs without a deadline.
    """

    __slots__ = ("__dict__", "__wrapped__", "buffer_ms", "metrics")

    def __init__(
        self, fn: Callable[[E, C], Awaitable[R]], buffer_ms: int, metrics: bool | None = None
    ) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise ValidationError(
                "@lambda_handler wraps an `async def handler(event, context)`; "
                "a sync handler needs no wrapper"
            )
        if buffer_ms < 0:
            raise ValidationError("lambda_handler buffer_ms must not be negative")
        self.__wrapped__ = fn
        self.buffer_ms = buffer_ms
        if metrics is None:
            metrics = os.environ.get("AIOTHEORY_EMF", "").strip().lower() in _observe.TRUE
        self.metrics = metrics
        if metrics:
            _observe.collect_metrics(True)
        self.__dict__.update(
            __name__=getattr(fn, "__name__", "handler"),
            __qualname__=getattr(fn, "__qualname__", "handler"),
            __doc__=fn.__doc__,
            __module__=fn.__module__,
        )
        _register_runtime_hooks()

    def __repr__(self) -> str:
        name = self.__wrapped__.__qualname__
        return f"lambda_handler({name}, buffer_ms={self.buffer_ms}, metrics={self.metrics})"

    def __call__(self, event: E, context: C) -> R:
        at: float | None = None
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        if remaining is not None:
            ms = remaining()
            # monotonic now + the time left: Lambda's deadline header is wall-clock epoch ms, the
            # loop's clock is monotonic, so convert once here.
            at = time.monotonic() + (ms - self.buffer_ms) / 1000
        request_id = getattr(context, "aws_request_id", None)
        scope = _observe.invocation_scope(
            request_id if isinstance(request_id, str) else None,
            deadline_at=at,
            metrics=self.metrics,
            function_name=_function_name(context) if self.metrics else None,
            namespace=os.environ.get("AIOTHEORY_EMF_NAMESPACE") or "aiotheory",
        )
        return runner().run(_invoke(self.__wrapped__, event, context, at, scope))


def _function_name(context: object) -> str | None:
    name = getattr(context, "function_name", None)
    return name if isinstance(name, str) else os.environ.get("AWS_LAMBDA_FUNCTION_NAME")


async def _invoke(
    fn: Callable[[E, C], Awaitable[R]],
    event: E,
    context: C,
    at: float | None,
    scope: _observe.invocation_scope,
) -> R:
    with scope:
        if at is None:
            return await fn(event, context)
        with deadline(at=at):
            return await fn(event, context)


@overload
def lambda_handler(fn: Callable[[E, C], Awaitable[R]], /) -> LambdaHandler[E, C, R]: ...
@overload
def lambda_handler(
    *, buffer_ms: int = DEFAULT_BUFFER_MS, metrics: bool | None = None
) -> Callable[[Callable[[E, C], Awaitable[R]]], LambdaHandler[E, C, R]]: ...
def lambda_handler(
    fn: Callable[[E, C], Awaitable[R]] | None = None,
    /,
    *,
    buffer_ms: int = DEFAULT_BUFFER_MS,
    metrics: bool | None = None,
) -> LambdaHandler[E, C, R] | Callable[[Callable[[E, C], Awaitable[R]]], LambdaHandler[E, C, R]]:
    """Make `async def handler(event, context)` callable by the Lambda runtime, on one loop per process.

    Bare (`@lambda_handler`) or with options (`@lambda_handler(buffer_ms=500)`). Clients, pools and
    credential caches made in one invocation are reused by the next, because every invocation runs on
    the same `asyncio.Runner`.

    With `metrics=True` (default: the `AIOTHEORY_EMF` environment variable), each invocation ends by
    writing one CloudWatch EMF line to stdout: calls, failed calls, retries, time in AWS, consumed
    capacity (aiotheory then asks DynamoDB for it) and the deadline headroom left, in the namespace
    `AIOTHEORY_EMF_NAMESPACE` (default "aiotheory") with the dimension FunctionName.

    Raises:
        ValidationError: `fn` is not an `async def` function, or `buffer_ms` is negative.
    """
    if fn is not None:
        return LambdaHandler(fn, buffer_ms, metrics)
    return _Decorator(buffer_ms, metrics)


class _Decorator:
    __slots__ = ("_buffer_ms", "_metrics")

    def __init__(self, buffer_ms: int, metrics: bool | None) -> None:
        self._buffer_ms = buffer_ms
        self._metrics = metrics

    def __call__(self, fn: Callable[[E, C], Awaitable[R]]) -> LambdaHandler[E, C, R]:
        return LambdaHandler(fn, self._buffer_ms, self._metrics)


def warm_up(db: DB, *models: type[Model], timeout: float = 2.0) -> None:
    """Open `db`'s connection during the init phase (module scope), on the process loop.

    With models, describes their tables (which also proves they exist); without, sends
    `ListTables(Limit=1)`, where an AccessDenied answer still leaves a warm connection. Init time is
    not billed on on-demand functions, so a cold start moves the TCP/TLS handshake out of the first
    invocation. With SnapStart the connection is dropped at restore and reopened on first use.
    """
    runner().run(_warm(db, models, timeout))


async def _warm(db: DB, models: tuple[type[Model], ...], seconds: float) -> None:
    async with deadline(seconds=seconds):
        if models:
            for model in models:
                await db.describe_table(model)
            return
        try:
            await call(db.transport, "ListTables", {"Limit": 1}, _WARM_POLICY)
        except AccessDenied:
            _log.debug("warm_up: ListTables denied; the connection is open anyway")


# --------------------------------------------------------------------------------- environment
