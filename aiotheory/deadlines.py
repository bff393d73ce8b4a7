"""The deadline scope: one absolute monotonic deadline in a contextvar, and the one place that applies it.

Every AWS attempt and every backoff sleep runs under `bounded(operation)`, which is the only user of
`asyncio.timeout_at` in the package. Imports only the standard library and `errors`.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Final

from .errors import DeadlineExceeded, ValidationError

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["bounded", "current_deadline", "deadline", "detached_context", "remaining"]

_DEADLINE: Final[ContextVar[float | None]] = ContextVar("aiotheory_deadline", default=None)


def current_deadline() -> float | None:
    """The absolute deadline in `time.monotonic()` seconds (the asyncio loop clock), or None."""
    return _DEADLINE.get()


def remaining() -> float | None:
    """Seconds left in the current deadline scope (may be negative), or None outside any scope."""
    at = _DEADLINE.get()
    return None if at is None else at - time.monotonic()


def detached_context() -> contextvars.Context:
    """A copy of the current context outside any deadline scope, for a task that outlives its starter.

    Work shared by callers with different deadlines (the single-flight AssumeRole refresh) must not
    inherit the first caller's: a copy keeps everything else (the Lambda invocation, tracing context).
    """
    context = contextvars.copy_context()
    context.run(_DEADLINE.set, None)
    return context


class deadline:  # lowercase: used as `async with deadline(seconds=2)`, like asyncio.timeout
    """Scope in which every AWS call, retry sleep and page fetch must finish.

    Nested scopes keep the earlier deadline, so an inner `deadline(seconds=30)` cannot extend the
    Lambda's. Entering is cheap and does no I/O; the scope is also a plain (sync) context manager.
    """

    __slots__ = ("_at", "_token")

    def __init__(self, seconds: float | None = None, *, at: float | None = None) -> None:
        if (seconds is None) == (at is None):
            raise ValidationError("deadline() takes exactly one of seconds= or at=")
        if seconds is not None and seconds != seconds:  # NaN
            raise ValidationError("deadline seconds must be a number")
        if at is None:
            assert seconds is not None
            at = time.monotonic() + float(seconds)
        self._at = at
        self._token: Token[float | None] | None = None

    @property
    def when(self) -> float:
        """The effective absolute deadline (monotonic seconds) once entered, else this scope's own."""
        current = _DEADLINE.get()
        return self._at if current is None else min(current, self._at)

    def __enter__(self) -> deadline:
        self._token = _DEADLINE.set(self.when)
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _DEADLINE.reset(self._token)
            self._token = None

    async def __aenter__(self) -> deadline:
        return self.__enter__()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(et, e, tb)


class bounded:  # lowercase: a context manager named for what it does, like asyncio.timeout
    """Bound the enclosed await by the current deadline scope, and name `operation` when it ends it.

    On entry past the deadline it raises DeadlineExceeded(operation) before anything runs (the outcome
    is known: nothing was sent). On expiry inside the block it cancels the await and raises
    DeadlineExceeded(operation, outcome_unknown=outcome_unknown): a write whose request may already
    have left says so. Outside any deadline scope it costs one contextvar read and bounds nothing.
    """

    __slots__ = ("_cm", "_operation", "_unknown")

    def __init__(self, operation: str, *, outcome_unknown: bool = False) -> None:
        self._operation = operation
        self._unknown = outcome_unknown
        self._cm: asyncio.Timeout | None = None

    async def __aenter__(self) -> None:
        at = _DEADLINE.get()
        if at is None:
            return
        if at <= time.monotonic():
            # Nothing was sent: the outcome is known (not applied).
            raise DeadlineExceeded(self._operation)
        self._cm = asyncio.timeout_at(at)
        await self._cm.__aenter__()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        cm = self._cm
        if cm is None:
            return None
        self._cm = None
        try:
            await cm.__aexit__(et, e, tb)  # asyncio.Timeout never suppresses an exception
        except TimeoutError as exc:
            raise DeadlineExceeded(self._operation, outcome_unknown=self._unknown) from exc
        return None
