"""The one function every AWS call goes through: deadline, retries with backoff, logging.

There is no second path to a transport. Imports `deadlines`, `retries`, `errors` and the Transport
protocol only; it knows nothing of models or HTTP.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from . import _observe
from .deadlines import bounded, current_deadline
from .errors import (
    AwsError,
    ConditionFailed,
    DeadlineExceeded,
    ExpiredToken,
    OutcomeUnknown,
    ReplyMismatch,
    ResourceInUse,
    ResourceNotFound,
    TransactionCanceled,
    TransportError,
    is_throttling,
)

if TYPE_CHECKING:
    from ._types import Item, Payload
    from .retries import RetryPolicy
    from .transport.base import Transport

__all__ = ["WRITE_OPERATIONS", "call", "resendable"]

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

#: Refusals a resent write may earn from its own first attempt; raised with `outcome_unknown` set so
#: the caller, who knows the model, can tell its own write from someone else's (DB.create compares
#: the stored item with what it wrote). Any other failure after a lost reply is OutcomeUnknown.
_CHECKABLE: Final = (ConditionFailed, TransactionCanceled, ResourceInUse, ResourceNotFound)


def resendable(operation: str, payload: Payload) -> bool:
    """Whether `operation` may be sent again after an attempt that left without a usable reply.

    Reads may. So may writes whose second application changes nothing the first did not: PutItem and
    DeleteItem that ask for no old values (a resent one would report our own first write as the old
    item), TransactWriteItems with a ClientRequestToken (DynamoDB deduplicates it for 10 minutes),
    BatchWriteItem (puts and deletes only) and the control plane (a repeat is refused as
    ResourceInUse / ResourceNotFound, which the caller checks). UpdateItem may not by default: ADD,
    list_append and arithmetic apply twice; DB.update says when its actions are safe.
    """
    if operation not in WRITE_OPERATIONS:
        return True
    if operation == "UpdateItem":
        return False
    if operation in ("PutItem", "DeleteItem"):
        return bool(payload.get("ReturnValues", "NONE") == "NONE")
    if operation == "TransactWriteItems":
        return "ClientRequestToken" in payload
    return True


async def call(
    transport: Transport,
    operation: str,
    payload: Payload,
    policy: RetryPolicy,
    *,
    resend: bool | None = None,
    key: Item | None = None,
) -> Payload:
    """Send `operation` through `transport`, retrying transient failures under the deadline scope.

    Every attempt and every backoff sleep runs under `deadlines.bounded`, so the deadline bounds the
    whole call. Raises the last AwsError / TransportError when attempts or the retry quota run out, and
    DeadlineExceeded (naming `operation`) when the deadline does.

    A write whose attempt leaves without a usable reply is sent again only when `resend` (default:
    `resendable(operation, payload)`) allows it; otherwise, and whenever its attempts end without a
    usable reply, OutcomeUnknown is raised, naming `key` (default: the payload's `Key`). A refusal
    after such an attempt (ConditionFailed, TransactionCanceled, ...) carries `outcome_unknown=True`.
    """
    write = operation in WRITE_OPERATIONS
    # Once a write attempt may have reached DynamoDB without a reply, a deadline during a later backoff
    # must still say the write may have been applied.
    maybe_applied = False
    quota = policy.quota
    limiter = policy.limiter
    attempt = 1
    # Observation: `hook` is set while a tracer or an EMF summary observes calls; otherwise DEBUG
    # logging is asked (logging caches the answer and clears it on setLevel, 46 ns), so an unobserved
    # call pays one attribute read and one cached level check (and no clock read).
    hook = _observe.hook
    if hook is None and _observe.calls_log.isEnabledFor(_observe.DEBUG):
        hook = _observe.LOGGING
    started = 0.0 if hook is None else time.perf_counter()
    span = None if hook is None else hook.started(transport, operation, payload)
    # ExpiredToken: the transport that mapped it invalidated its credential provider (the one place
    # that rule lives); resend once, at once, so the resend signs with fresh credentials.
    renewed = False
    while True:
        if limiter is not None:
            # adaptive mode: wait for a send token (bounded by the deadline like any other sleep)
            wait = limiter.delay()
            while wait > 0:
                async with bounded(operation, outcome_unknown=maybe_applied):
                    await policy.sleep(wait)
                wait = limiter.delay()
        try:
            if current_deadline() is None:
                # Outside any scope `bounded` would do nothing; skipping it saves its object and two
                # coroutines per attempt. A scope cannot begin between this check and the send.
                reply = await transport.send(operation, payload)
            else:
                async with bounded(operation, outcome_unknown=write):
                    reply = await transport.send(operation, payload)
            asked = payload.get("Key")
            if asked is not None:
                got = reply.get("Item") or reply.get("Attributes")
                if got is not None and not _same_key(asked, got):
                    raise ReplyMismatch(
                        f"{operation}: the reply holds another item than the key asked for",
                        operation=operation,
                    )
        except DeadlineExceeded as exc:
            if hook is not None:
                hook.finished(span, transport, operation, payload, None, attempt, started, exc)
            raise
        except (AwsError, TransportError) as exc:
            if type(exc) is ExpiredToken and not renewed:
                renewed = True
                continue
            if limiter is not None:
                limiter.update(isinstance(exc, AwsError) and is_throttling(exc.code))
            if write and isinstance(exc, TransportError) and exc.outcome_unknown:
                maybe_applied = True
                if resend is None:
                    resend = resendable(operation, payload)
            if (
                (maybe_applied and not resend)
                or attempt >= policy.max_attempts
                or not policy.retryable(exc)
                or (quota is not None and not quota.acquire(exc))
            ):
                if type(exc) is ResourceNotFound and exc.table is None:
                    # Named here, the one place every request passes, so every caller's error says
                    # which (prefixed) table was missing.
                    exc.table = payload.get("TableName")
                if hook is not None:
                    hook.finished(span, transport, operation, payload, None, attempt, started, exc)
                if maybe_applied:
                    if isinstance(exc, _CHECKABLE):
                        # Set before raising: only the call function knows an earlier attempt was lost.
                        exc.outcome_unknown = True
                        raise
                    raise _unknown(operation, payload, key, exc) from exc
                raise
            delay = policy.backoff(attempt)
            try:
                async with bounded(operation, outcome_unknown=maybe_applied):
                    await policy.sleep(delay)
            except DeadlineExceeded as late:
                if hook is not None:
                    hook.finished(span, transport, operation, payload, None, attempt, started, late)
                raise
            attempt += 1
            continue
        if limiter is not None:
            limiter.update(False)
        if quota is not None:
            quota.release(attempt > 1)
        if hook is not None:
            hook.finished(span, transport, operation, payload, reply, attempt, started, None)
        return reply


def _unknown(operation: str, payload: Payload, key: Item | None, cause: BaseException) -> OutcomeUnknown:
    table = payload.get("TableName")
    return OutcomeUnknown(
        f"{operation}{f' on {table}' if table else ''}: the request was sent and no usable reply came "
        f"back ({type(cause).__name__}); it may or may not have been applied, and resending it is not safe",
        operation=operation,
        table=table,
        key=payload.get("Key") if key is None else key,
    )


def _same_key(asked: Item, got: Item) -> bool:
    """Whether the key attributes `got` carries are the ones asked for (absent ones are not compared:
    UPDATED_NEW leaves keys out). Numbers compare by value: DynamoDB answers "1.50" as "1.5"."""
    for name, value in asked.items():
        found = got.get(name)
        if found is not None and found != value:
            number = value.get("N")
            if number is None or "N" not in found:
                return False
            from decimal import Decimal, InvalidOperation

            try:
                if Decimal(number) != Decimal(found["N"]):
                    return False
            except InvalidOperation:
                return False
    return True
