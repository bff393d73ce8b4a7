"""The one function every AWS call goes through: deadline, retries with backoff, logging.

There is no second path to a transport. Imports `deadlines`, `retries`, `errors` and the Transport
protocol only; it knows nothing of models or HTTP.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from . import _logging
from .deadlines import applied, current_deadline
from .errors import AwsError, DeadlineExceeded, ExpiredToken, TransportError, is_throttling

if TYPE_CHECKING:
    from ._types import Payload
    from .retries import RetryPolicy
    from .transport.base import Transport

__all__ = ["WRITE_OPERATIONS", "call"]

#: Operations whose effect may have happened when a reply is lost (the deadline marks them outcome_unknown).
WRITE_OPERATIONS: Final = frozenset(
    {
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
        "CreateTable",
        "DeleteTable",
        "UpdateTable",
        "UpdateTimeToLive",
    }
)


async def call(transport: Transport, operation: str, payload: Payload, policy: RetryPolicy) -> Payload:
    """Send `operation` through `transport`, retrying transient failures under the deadline scope.

    Every attempt and every backoff sleep runs under `deadlines.applied`, so the deadline bounds the
    whole call. Raises the last AwsError / TransportError when attempts or the retry quota run out, and
    DeadlineExceeded (naming `operation`) when the deadline does.
    """
    write = operation in WRITE_OPERATIONS
    # Once a write attempt may have reached DynamoDB without a reply, a deadline during a later backoff
    # must still say the write may have been applied.
    maybe_applied = False
    quota = policy.quota
    limiter = policy.limiter
    attempt = 1
    # Observation (aws_lambda issue): None unless a tracer is set or aiotheory.calls logs at DEBUG,
    # so an unobserved call pays one module attribute read (and no clock read).
    hook = _logging.hook
    started = 0.0 if hook is None else time.perf_counter()
    span = None if hook is None else hook.started(transport, operation)
    # ExpiredToken: the transport has invalidated its credential provider; resend once, at once.
    renewed = False
    while True:
        if limiter is not None:
            # adaptive mode: wait for a send token (bounded by the deadline like any other sleep)
            wait = limiter.delay()
            while wait > 0:
                async with applied(operation, outcome_unknown=maybe_applied):
                    await policy.sleep(wait)
                wait = limiter.delay()
        try:
            if current_deadline() is None:
                # Outside any scope `applied` would do nothing; skipping it saves its object and two
                # coroutines per attempt. A scope cannot begin between this check and the send.
                reply = await transport.send(operation, payload)
            else:
                async with applied(operation, outcome_unknown=write):
                    reply = await transport.send(operation, payload)
        except DeadlineExceeded as exc:
            if hook is not None:
                hook.finished(span, transport, operation, attempt, started, exc)
            raise
        except (AwsError, TransportError) as exc:
            if type(exc) is ExpiredToken and not renewed:
                renewed = True
                continue
            if limiter is not None:
                limiter.update(isinstance(exc, AwsError) and is_throttling(exc.code))
            if write and isinstance(exc, TransportError) and exc.outcome_unknown:
                maybe_applied = True
            if (
                attempt >= policy.max_attempts
                or not policy.retryable(exc)
                or (quota is not None and not quota.acquire(exc))
            ):
                if hook is not None:
                    hook.finished(span, transport, operation, attempt, started, exc)
                raise
            delay = policy.backoff(attempt)
            try:
                async with applied(operation, outcome_unknown=maybe_applied):
                    await policy.sleep(delay)
            except DeadlineExceeded as late:
                if hook is not None:
                    hook.finished(span, transport, operation, attempt, started, late)
                raise
            attempt += 1
            continue
        if limiter is not None:
            limiter.update(False)
        if quota is not None:
            quota.release(attempt > 1)
        if hook is not None:
            hook.finished(span, transport, operation, attempt, started, None)
        return reply
