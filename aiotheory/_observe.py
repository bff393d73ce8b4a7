"""Observation of AWS calls: structured per-call log records, per-invocation summaries, a tracing hook.

The one call function reads `hook` once per call; it is None unless a tracer is set or call logging
is on, so an unobserved call pays one attribute read. Imports only the standard library.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CallRecord",
    "Hook",
    "Invocation",
    "Tracer",
    "configure_from_env",
    "current_invocation",
    "hook",
    "invocation_scope",
    "refresh",
    "set_tracer",
]

_log: Final = logging.getLogger("aiotheory.calls")
_TRUE: Final = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    """One finished AWS call as the call function saw it: never a payload, a value or a secret.

    `error` is the AWS code (e.g. "ThrottlingException") or the exception class name; `partner` is the
    partner id when the call went through a partner's DB (see `aiotheory.accounts`).
    """

    operation: str
    duration_ms: float
    attempts: int
    error: str | None = None
    partner: str | None = None


class Tracer(Protocol):
    """An OpenTelemetry / X-Ray style span hook around each call (including all its retries).

    `start` returns an opaque span handle that `end` receives with the record; both run on the loop
    and must not block.
    """

    def start(self, operation: str, partner: str | None) -> object: ...

    def end(self, span: object, record: CallRecord) -> None: ...


class Invocation:
    """The calls of one Lambda invocation, collected for its summary line."""

    __slots__ = ("calls", "request_id", "started")

    def __init__(self, request_id: str | None) -> None:
        self.request_id = request_id
        self.started = time.perf_counter()
        self.calls: list[CallRecord] = []


_INVOCATION: Final[ContextVar[Invocation | None]] = ContextVar("aiotheory_invocation", default=None)
_tracer: Tracer | None = None


def current_invocation() -> Invocation | None:
    """The invocation being served in this context, if `lambda_handler` opened one."""
    return _INVOCATION.get()


class Hook:
    """What the call function calls around each call when observation is on.

    `started` returns the tracer's span (or None); `finished` records, logs and ends the span.
    """

    __slots__ = ("_tracer",)

    def __init__(self, tracer: Tracer | None) -> None:
        self._tracer = tracer

    def started(self, transport: object, operation: str) -> object:
        tracer = self._tracer
        if tracer is None:
            return None
        return tracer.start(operation, _partner_of(transport))

    def finished(
        self,
        span: object,
        transport: object,
        operation: str,
        attempts: int,
        started: float,
        error: BaseException | None,
    ) -> None:
        code: str | None = None
        if error is not None:
            code = getattr(error, "code", None) or type(error).__name__
        record = CallRecord(
            operation=operation,
            duration_ms=(time.perf_counter() - started) * 1000,
            attempts=attempts,
            error=code,
            partner=_partner_of(transport),
        )
        invocation = _INVOCATION.get()
        if invocation is not None:
            invocation.calls.append(record)
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "aws call operation=%s attempts=%d duration_ms=%.1f error=%s partner=%s request_id=%s",
                operation,
                attempts,
                record.duration_ms,
                code,
                record.partner,
                None if invocation is None else invocation.request_id,
                extra={"aiotheory_call": record},
            )
        if self._tracer is not None:
            self._tracer.end(span, record)


def _partner_of(transport: object) -> str | None:
    # Partner DBs' lean transports carry their partner id (LeanTransport.partner); others have none.
    partner = getattr(transport, "partner", None)
    return partner if isinstance(partner, str) else None


#: Read by the one call function on every call: None when nothing observes calls.
hook: Hook | None = None


def refresh() -> Hook | None:
    """Recompute `hook`: on when a tracer is set or `aiotheory.calls` logs at DEBUG.

    Called by `set_tracer`, `configure_from_env` and at the start of each Lambda invocation, so a
    logging level changed at run time takes effect by the next invocation.
    """
    global hook
    tracer = _tracer
    if tracer is None and not _log.isEnabledFor(logging.DEBUG):
        hook = None
    elif hook is None or hook._tracer is not tracer:
        hook = Hook(tracer)
    return hook


def set_tracer(tracer: Tracer | None) -> None:
    """Install (or with None remove) the process-wide tracing hook."""
    global _tracer
    _tracer = tracer
    refresh()


def configure_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """`AIOTHEORY_DEBUG=true` (or the older name DYNAMORM_DEBUG) switches the `aiotheory` loggers to DEBUG.

    A stderr handler is added only when nothing would print the records (no handler on the root
    logger, as outside Lambda). Returns whether debug logging is on.
    """
    env = os.environ if environ is None else environ
    raw = env.get("AIOTHEORY_DEBUG") or env.get("DYNAMORM_DEBUG") or ""
    on = raw.strip().lower() in _TRUE
    if on:
        logger = logging.getLogger("aiotheory")
        logger.setLevel(logging.DEBUG)
        if not logging.getLogger().handlers and not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
            logger.addHandler(handler)
    refresh()
    return on


class invocation_scope:  # lower case: used as `with invocation_scope(request_id):`
    """Collect the calls made in this context into an `Invocation`, and log its summary at exit."""

    __slots__ = ("_invocation", "_token")

    def __init__(self, request_id: str | None) -> None:
        self._invocation = Invocation(request_id)
        self._token: Token[Invocation | None] | None = None

    def __enter__(self) -> Invocation:
        self._token = _INVOCATION.set(self._invocation)
        return self._invocation

    def __exit__(self, et: object, e: object, tb: object) -> None:
        if self._token is not None:
            _INVOCATION.reset(self._token)
            self._token = None
        inv = self._invocation
        if inv.calls and _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "invocation request_id=%s calls=%d duration_ms=%.1f failed=%d",
                inv.request_id,
                len(inv.calls),
                (time.perf_counter() - inv.started) * 1000,
                sum(1 for c in inv.calls if c.error is not None),
            )
