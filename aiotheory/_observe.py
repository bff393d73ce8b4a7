"""Observation of AWS calls: one structured DEBUG record per call, a tracer hook, per-invocation summaries.

The call function reads `hook` (set while a tracer or an EMF summary observes calls) and, only when
it is None, asks `calls_log.isEnabledFor(DEBUG)`: 46 ns, as logging caches the answer per level and
clears that cache on every setLevel/basicConfig, so no refresh call is needed. Standard library only.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import TextIO

    from ._types import Clock, Payload

__all__ = [
    "DEBUG",
    "LOGGING",
    "TRUE",
    "CallRecord",
    "Hook",
    "Invocation",
    "PartnerLogFilter",
    "Tracer",
    "calls_log",
    "collect_metrics",
    "configure_from_env",
    "current_invocation",
    "current_partner",
    "get_tracer",
    "hook",
    "invocation_scope",
    "logger",
    "partner_scope",
    "set_tracer",
]

#: The logger with one record per AWS call; `aiotheory.calls` follows the standard levels.
calls_log: Final = logging.getLogger("aiotheory.calls")  # given the partner filter below `logger`
DEBUG: Final = logging.DEBUG
TRUE: Final = frozenset({"1", "true", "yes", "on"})
# Operations that accept ReturnConsumedCapacity: asked for only while an EMF summary is collected.
_CAPACITY_OPS: Final = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    """One finished AWS call (all its attempts) as the call function saw it: never a value or a secret.

    `tables` are the table names as sent (with the DB's prefix); `error` is the AWS code (e.g.
    "ThrottlingException") or the exception class name, None on success; `request_id` is AWS's
    (x-amzn-RequestId) of the reply that ended the call (the transports pass it while calls are observed);
    `consumed_capacity` is the reply's ConsumedCapacity entries, when DynamoDB returned any;
    `partner` is the partner id when the call went through a partner's DB (`aiotheory.accounts`).
    """

    operation: str
    tables: tuple[str, ...] = ()
    duration_ms: float
    attempts: int
    error: str | None = None
    request_id: str | None = None
    partner: str | None = None
    consumed_capacity: tuple[Mapping[str, object], ...] = ()

    @property
    def outcome(self) -> str:
        """ "ok", or the error code that ended the call."""
        return "ok" if self.error is None else self.error

    @property
    def capacity_units(self) -> float:
        """The total CapacityUnits DynamoDB reported for this call (0.0 when it reported none)."""
        total = 0.0
        for entry in self.consumed_capacity:
            units = entry.get("CapacityUnits")
            if isinstance(units, (int, float)):
                total += units
        return total


class Tracer(Protocol):
    """A span around each AWS call, including all its retries (OpenTelemetry, X-Ray, ...).

    `start` returns an opaque span that `end` receives with the call's record. Both run on the event
    loop, once per call, and must not block; an exception they raise reaches the caller.
    """

    def start(self, operation: str, tables: tuple[str, ...], partner: str | None) -> object: ...

    def end(self, span: object, record: CallRecord) -> None: ...


class Invocation:
    """The calls of one Lambda invocation, collected for its summary (DEBUG line, EMF metrics)."""

    __slots__ = ("calls", "deadline_at", "function_name", "metrics", "request_id", "started")

    def __init__(
        self,
        request_id: str | None,
        *,
        deadline_at: float | None = None,
        metrics: bool = False,
        function_name: str | None = None,
    ) -> None:
        self.request_id = request_id
        self.deadline_at = deadline_at
        self.metrics = metrics
        self.function_name = function_name
        self.started = time.perf_counter()
        self.calls: list[CallRecord] = []


_INVOCATION: Final[ContextVar[Invocation | None]] = ContextVar("aiotheory_invocation", default=None)
_tracer: Tracer | None = None
_metrics = False


def current_invocation() -> Invocation | None:
    """The invocation being served in this context, if `lambda_handler` opened one."""
    return _INVOCATION.get()


# The partner being served: a context variable, so each request task (and each Lambda invocation,
# which `lambda_handler` runs as its own task) sees only the partner it set.
_PARTNER: Final[ContextVar[str | None]] = ContextVar("aiotheory_partner", default=None)


def current_partner() -> str | None:
    """The partner id being served in this context (`partner_scope`, `Accounts.use`), else None."""
    return _PARTNER.get()


class partner_scope:  # lower case: used as `with partner_scope("p1"):`
    """Serve `partner_id` in this context: `current_partner()`, log records and spans name it.

    Scopes nest; leaving one restores the outer partner. `None` or "" clears the partner (the base DB).
    Only the context changes: which account a call goes to is decided by the DB it is made on.
    """

    __slots__ = ("_partner", "_token")

    def __init__(self, partner_id: str | None) -> None:
        self._partner = partner_id or None
        self._token: Token[str | None] | None = None

    def __enter__(self) -> str | None:
        self._token = _PARTNER.set(self._partner)
        return self._partner

    def __exit__(self, et: object, e: object, tb: object) -> None:
        token, self._token = self._token, None
        if token is not None:
            _PARTNER.reset(token)


class PartnerLogFilter(logging.Filter):
    """Sets `record.partner` to the partner served in the record's context (None outside any scope).

    aiotheory's own loggers carry one; add another to a handler to tag your application's records too
    (`%(partner)s` in a format). A `partner` passed in `extra=` is kept. It never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.setdefault("partner", _PARTNER.get())
        return True


_PARTNER_FILTER: Final = PartnerLogFilter()


def logger(name: str) -> logging.Logger:
    """The aiotheory logger `name`, carrying the partner filter: each record it emits has `record.partner`.

    Filters run on the logger that made the record, not on its parents, so every aiotheory logger is
    made here (tests/unit/test_observe.py checks the source for any other).
    """
    made = logging.getLogger(name)
    if _PARTNER_FILTER not in made.filters:
        made.addFilter(_PARTNER_FILTER)
    return made


logger(calls_log.name)


class Hook:
    """What the call function calls around each call when something observes calls.

    `started` returns the tracer's span (or None); `finished` builds the record, adds it to the
    current invocation, logs it at DEBUG and ends the span.
    """

    __slots__ = ("_tracer",)

    def __init__(self, tracer: Tracer | None) -> None:
        self._tracer = tracer

    def started(self, transport: object, operation: str, payload: Payload) -> object:
        invocation = _INVOCATION.get()
        if (
            invocation is not None
            and invocation.metrics
            and operation in _CAPACITY_OPS
            and "ReturnConsumedCapacity" not in payload
        ):
            # The EMF summary reports capacity, which DynamoDB returns only when asked; set before
            # the first attempt, so a resent TransactWriteItems keeps identical parameters.
            payload["ReturnConsumedCapacity"] = "TOTAL"
        tracer = self._tracer
        if tracer is None:
            return None
        return tracer.start(operation, _tables_of(payload), _partner_of(transport))

    def finished(
        self,
        span: object,
        transport: object,
        operation: str,
        payload: Payload,
        reply: Payload | None,
        attempts: int,
        started: float,
        error: BaseException | None,
    ) -> None:
        code: str | None = None
        request_id: str | None = None
        if error is not None:
            code = getattr(error, "code", None) or type(error).__name__
            found = getattr(error, "request_id", None)
            request_id = found if isinstance(found, str) else None
        capacity: tuple[Mapping[str, object], ...] = ()
        if reply is not None:
            meta = reply.get("ResponseMetadata")
            if isinstance(meta, dict) and isinstance(meta.get("RequestId"), str):
                request_id = meta["RequestId"]
            consumed = reply.get("ConsumedCapacity")
            if isinstance(consumed, dict):
                capacity = (consumed,)
            elif isinstance(consumed, list):
                capacity = tuple(c for c in consumed if isinstance(c, dict))
        record = CallRecord(
            operation=operation,
            tables=_tables_of(payload),
            duration_ms=(time.perf_counter() - started) * 1000,
            attempts=attempts,
            error=code,
            request_id=request_id,
            partner=_partner_of(transport),
            consumed_capacity=capacity,
        )
        invocation = _INVOCATION.get()
        if invocation is not None:
            invocation.calls.append(record)
        if calls_log.isEnabledFor(DEBUG):
            table = ",".join(record.tables) or None
            calls_log.debug(
                "aws call operation=%s table=%s attempts=%d duration_ms=%.1f outcome=%s request_id=%s "
                "partner=%s",
                operation,
                table,
                attempts,
                record.duration_ms,
                record.outcome,
                request_id,
                record.partner,
                extra={
                    "aws_operation": operation,
                    "aws_table": table,
                    "aws_attempts": attempts,
                    "aws_duration_ms": round(record.duration_ms, 3),
                    "aws_outcome": record.outcome,
                    "aws_request_id": request_id,
                    "aws_partner": record.partner,
                    "aws_capacity_units": record.capacity_units if capacity else None,
                    "lambda_request_id": None if invocation is None else invocation.request_id,
                },
            )
        if self._tracer is not None:
            self._tracer.end(span, record)


def _tables_of(payload: Payload) -> tuple[str, ...]:
    name = payload.get("TableName")
    if isinstance(name, str):
        return (name,)
    items = payload.get("RequestItems")
    if isinstance(items, dict):
        return tuple(items)
    transact = payload.get("TransactItems")
    if isinstance(transact, list):
        seen: dict[str, None] = {}
        for entry in transact:
            for action in entry.values():
                table = action.get("TableName") if isinstance(action, dict) else None
                if isinstance(table, str):
                    seen[table] = None
        return tuple(seen)
    return ()


def _partner_of(transport: object) -> str | None:
    # Partner DBs' lean transports carry their partner id (LeanTransport.partner): the account the
    # call went to. A call on any other DB is labelled with the partner served in its context.
    partner = getattr(transport, "partner", None)
    return partner if isinstance(partner, str) else _PARTNER.get()


#: Read by the call function on every call: set while a tracer or an EMF summary observes calls.
#: When None, the call function still asks `calls_log.isEnabledFor(DEBUG)` and then uses LOGGING.
hook: Hook | None = None
#: The hook used when only DEBUG logging observes calls.
LOGGING: Final = Hook(None)


def _refresh() -> None:
    global hook
    tracer = _tracer
    if tracer is None and not _metrics:
        hook = None
    elif hook is None or hook._tracer is not tracer:
        hook = Hook(tracer)


def set_tracer(tracer: Tracer | None) -> None:
    """Install (or with None remove) the process-wide tracer: one span per AWS call."""
    global _tracer
    _tracer = tracer
    _refresh()


def get_tracer() -> Tracer | None:
    """The tracer `set_tracer` installed, if any."""
    return _tracer


def collect_metrics(on: bool) -> None:
    """Keep the hook on for invocation scopes to collect their calls (`@lambda_handler(metrics=True)`)."""
    global _metrics
    _metrics = on
    _refresh()


def configure_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """`AIOTHEORY_DEBUG=true` (or the older name DYNAMORM_DEBUG) switches the `aiotheory` loggers to DEBUG.

    A stderr handler is added only when nothing would print the records (no handler on the root
    logger, as outside Lambda). Returns whether debug logging is on.
    """
    env = os.environ if environ is None else environ
    raw = env.get("AIOTHEORY_DEBUG") or env.get("DYNAMORM_DEBUG") or ""
    on = raw.strip().lower() in TRUE
    if on:
        package = logging.getLogger("aiotheory")
        package.setLevel(logging.DEBUG)
        if not logging.getLogger().handlers and not package.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
            package.addHandler(handler)
    return on


class invocation_scope:  # lower case: used as `with invocation_scope(request_id):`
    """Collect the calls made in this context into an `Invocation`; at exit, log its summary at DEBUG
    and, when `metrics`, write one CloudWatch EMF line to stdout."""

    __slots__ = ("_invocation", "_monotonic", "_namespace", "_out", "_token", "_wall")

    def __init__(
        self,
        request_id: str | None,
        *,
        deadline_at: float | None = None,
        metrics: bool = False,
        function_name: str | None = None,
        namespace: str = "aiotheory",
        wall: Clock = time.time,
        monotonic: Clock = time.monotonic,
        out: TextIO | None = None,
    ) -> None:
        self._invocation = Invocation(
            request_id, deadline_at=deadline_at, metrics=metrics, function_name=function_name
        )
        self._token: Token[Invocation | None] | None = None
        self._namespace = namespace
        self._wall = wall
        self._monotonic = monotonic
        self._out = out

    def __enter__(self) -> Invocation:
        self._token = _INVOCATION.set(self._invocation)
        return self._invocation

    def __exit__(self, et: object, e: object, tb: object) -> None:
        if self._token is not None:
            _INVOCATION.reset(self._token)
            self._token = None
        inv = self._invocation
        if inv.calls and calls_log.isEnabledFor(DEBUG):
            calls_log.debug(
                "invocation request_id=%s calls=%d duration_ms=%.1f failed=%d",
                inv.request_id,
                len(inv.calls),
                (time.perf_counter() - inv.started) * 1000,
                sum(1 for c in inv.calls if c.error is not None),
            )
        if inv.metrics:
            out = sys.stdout if self._out is None else self._out
            # Lambda ships stdout lines to CloudWatch Logs, which extracts EMF metrics from them.
            out.write(_emf_line(inv, self._namespace, self._wall(), self._monotonic()) + "\n")


def _emf_line(inv: Invocation, namespace: str, wall: float, now: float) -> str:
    """One CloudWatch Embedded Metric Format document summarising `inv` (metrics at top level)."""
    metrics: dict[str, float] = {
        "Calls": len(inv.calls),
        "FailedCalls": sum(1 for c in inv.calls if c.error is not None),
        "Retries": sum(c.attempts - 1 for c in inv.calls),
        "AwsTimeMs": round(sum(c.duration_ms for c in inv.calls), 3),
        "ConsumedCapacity": sum(c.capacity_units for c in inv.calls),
    }
    units = {"AwsTimeMs": "Milliseconds", "DeadlineHeadroomMs": "Milliseconds"}
    if inv.deadline_at is not None:
        metrics["DeadlineHeadroomMs"] = round((inv.deadline_at - now) * 1000, 1)
    doc: dict[str, object] = {
        "_aws": {
            "Timestamp": int(wall * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [{"Name": name, "Unit": units.get(name, "Count")} for name in metrics],
                }
            ],
        },
        "FunctionName": inv.function_name or "unknown",
        "RequestId": inv.request_id,
        **metrics,
    }
    return json.dumps(doc, separators=(",", ":"))
