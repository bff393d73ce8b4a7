"""Transports for tests, all satisfying the `Transport` seam: scripted, recording and fault-injecting.

Faults are data (frozen dataclasses). Error faults build the status and JSON body AWS would send and
raise through `errors.from_response`, so the one error mapper runs exactly as it does on the wire.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import itertools
import math
import random
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

from aiotheory.errors import TransportError, ValidationError, from_response

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aiotheory._types import Payload
    from aiotheory.transport.base import Transport

__all__ = [
    "ExpiredTokenFault",
    "FakeTransport",
    "Fault",
    "FaultTransport",
    "LostReply",
    "RecordingTransport",
    "Response",
    "ServerFault",
    "Stall",
    "Throttle",
    "Unprocessed",
]

_DDB: Final = "com.amazonaws.dynamodb.v20120810#"
_CORAL: Final = "com.amazon.coral.service#"
_request_ids: Final = itertools.count(1)

#: A scripted reply: a payload to return, an exception to raise, or a function of (operation, payload).
Response: TypeAlias = "Payload | BaseException | Callable[[str, Payload], Payload | Awaitable[Payload]]"


def _closed(operation: str) -> TransportError:
    return TransportError("transport is closed", operation=operation, retryable=False)


class FakeTransport:
    """Answers each send with the next scripted response, in order; records every call.

    Raises AssertionError when a send finds the script exhausted, so a test notices an extra request.
    """

    def __init__(self, *responses: Response) -> None:
        self._responses = list(responses)
        self._next = 0
        self.calls: list[tuple[str, Payload]] = []
        self.closed = False

    @property
    def operations(self) -> list[str]:
        return [operation for operation, _ in self.calls]

    @property
    def remaining(self) -> int:
        """Scripted responses not yet used."""
        return len(self._responses) - self._next

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        if self.closed:
            raise _closed(operation)
        self.calls.append((operation, copy.deepcopy(payload)))
        if self._next >= len(self._responses):
            raise AssertionError(f"FakeTransport has no scripted response left for {operation}")
        response = self._responses[self._next]
        self._next += 1
        if isinstance(response, BaseException):
            raise response
        if callable(response):
            result = response(operation, payload)
            if inspect.isawaitable(result):
                result = await result
            return result
        return copy.deepcopy(response)

    async def close(self) -> None:
        self.closed = True


class RecordingTransport:
    """Passes every send to `inner` and records what was sent (a copy, as it was at send time)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.calls: list[tuple[str, Payload]] = []

    @property
    def operations(self) -> list[str]:
        return [operation for operation, _ in self.calls]

    def assert_nothing_sent(self) -> None:
        """Fail the test if any request reached this transport."""
        if self.calls:
            raise AssertionError(f"expected no request, but sent: {', '.join(self.operations)}")

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        self.calls.append((operation, copy.deepcopy(payload)))
        return await self.inner.send(operation, payload)

    async def close(self) -> None:
        await self.inner.close()


@dataclass(frozen=True, slots=True)
class Throttle:
    """Answer `op` (any operation when None) with a throttling error, `times` times.

    `code` may be any throttling code, e.g. "ProvisionedThroughputExceededException".
    """

    op: str | None = None
    _: KW_ONLY
    times: int = 1
    code: str = "ThrottlingException"


@dataclass(frozen=True, slots=True)
class ServerFault:
    """Answer with an HTTP 5xx from AWS (500 InternalServerError, 503 ServiceUnavailable)."""

    status: int = 503
    _: KW_ONLY
    times: int = 1
    op: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpiredTokenFault:
    """Answer with ExpiredTokenException, as AWS does once temporary credentials lapse."""

    times: int = 1
    op: str | None = None


@dataclass(frozen=True, slots=True)
class Unprocessed:
    """Send only a deterministic fraction `keep` of a batch and return the rest as unprocessed.

    The kept items really reach the inner transport and the others never do, so the engine's state
    matches the reply. With `keep > 0` at least one item is sent per call, so a retry loop progresses;
    with `keep == 0` nothing is sent and everything comes back (DynamoDB itself would raise
    ProvisionedThroughputExceededException then: use Throttle for that). `times=None` means every call.
    """

    op: Literal["BatchWriteItem", "BatchGetItem"] = "BatchWriteItem"
    _: KW_ONLY
    keep: float = 0.5
    seed: int = 0
    times: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.keep <= 1.0:
            raise ValidationError("Unprocessed.keep must be between 0 and 1")


@dataclass(frozen=True, slots=True)
class Stall:
    """Never answer `op`, so only the deadline (or cancellation) ends the call.

    With `after_send`, the request first reaches the inner transport and only the reply is lost: the
    write happened, and the caller cannot know it.
    """

    op: str | None = None
    _: KW_ONLY
    times: int | None = None
    after_send: bool = False


@dataclass(frozen=True, slots=True)
class LostReply:
    """Send `op` to the inner transport, then lose its reply: the write happened, and the caller gets
    the outcome-unknown TransportError a damaged or dropped reply gives (bad CRC32, a reset mid-reply).
    """

    op: str | None = None
    _: KW_ONLY
    times: int | None = 1


Fault: TypeAlias = Throttle | ServerFault | ExpiredTokenFault | Unprocessed | Stall | LostReply

_SERVER_CODES: Final = {500: "InternalServerError", 503: "ServiceUnavailable"}
_SERVER_MESSAGES: Final = {
    500: "The server encountered an internal error trying to fulfill the request.",
    503: "DynamoDB is currently unavailable. (This should be a temporary state.)",
}
_EXPIRED_MESSAGE: Final = "The security token included in the request is expired"


def _error(operation: str, status: int, type_: str, message: str) -> Exception:
    request_id = f"AIOTHEORYFAULT{next(_request_ids):010d}"
    return from_response(operation, status, {"__type": type_, "message": message}, request_id=request_id)


def _fault_error(operation: str, fault: Throttle | ServerFault | ExpiredTokenFault) -> Exception:
    if isinstance(fault, Throttle):
        if fault.code == "ProvisionedThroughputExceededException":
            message = (
                "The level of configured provisioned throughput for the table was exceeded. "
                "Consider increasing your provisioning level with the UpdateTable API."
            )
        else:
            message = "Rate of requests exceeds the allowed throughput."
        return _error(operation, 400, _DDB + fault.code, message)
    if isinstance(fault, ServerFault):
        code = _SERVER_CODES.get(fault.status, "InternalFailure")
        message = _SERVER_MESSAGES.get(fault.status, "The request processing has failed.")
        return _error(operation, fault.status, _DDB + code, message)
    return _error(operation, 400, _CORAL + "ExpiredTokenException", _EXPIRED_MESSAGE)


class FaultTransport:
    """Wraps `inner`, injecting `faults` into matching sends; everything else passes through.

    Each send consumes at most one fault: the first, in the given order, whose `op` matches and whose
    `times` is not used up. `injected` lists (operation, fault) for every fault that fired.
    """

    def __init__(self, inner: Transport, *faults: Fault) -> None:
        self.inner = inner
        self.faults = faults
        self._left: list[int | None] = [fault.times for fault in faults]
        # One seeded RNG per fault, so which items a batch keeps depends only on the seed and call order.
        self._random = [random.Random(getattr(fault, "seed", 0)) for fault in faults]
        self.injected: list[tuple[str, Fault]] = []

    def left(self, fault: Fault) -> int | None:
        """How many more times `fault` will fire (None: unlimited)."""
        return self._left[self.faults.index(fault)]

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        for index, fault in enumerate(self.faults):
            left = self._left[index]
            if (fault.op is not None and fault.op != operation) or left == 0:
                continue
            if left is not None:
                self._left[index] = left - 1
            self.injected.append((operation, fault))
            if isinstance(fault, Unprocessed):
                if operation == "BatchWriteItem":
                    return await self._unprocessed_write(operation, payload, fault, self._random[index])
                if operation == "BatchGetItem":
                    return await self._unprocessed_get(operation, payload, fault, self._random[index])
                raise AssertionError(f"Unprocessed applies to BatchWriteItem / BatchGetItem, not {operation}")
            if isinstance(fault, LostReply):
                await self.inner.send(operation, payload)
                raise TransportError(
                    f"{operation}: reply lost after the request was applied (LostReply fault)",
                    operation=operation,
                    retryable=True,
                    outcome_unknown=True,
                )
            if isinstance(fault, Stall):
                if fault.after_send:
                    await self.inner.send(operation, payload)
                await asyncio.get_running_loop().create_future()  # nobody resolves it
                raise AssertionError("unreachable: a stall ends only by cancellation")
            raise _fault_error(operation, fault)
        return await self.inner.send(operation, payload)

    async def _unprocessed_write(
        self, operation: str, payload: Payload, fault: Unprocessed, rng: random.Random
    ) -> Payload:
        requests = [(table, request) for table, batch in payload["RequestItems"].items() for request in batch]
        sent = _choose(len(requests), fault.keep, rng)
        kept: dict[str, list[Payload]] = {}
        left: dict[str, list[Payload]] = {}
        for i, (table, request) in enumerate(requests):
            (kept if i in sent else left).setdefault(table, []).append(request)
        reply: Payload = {}
        if kept:
            reply = await self.inner.send(operation, {**payload, "RequestItems": kept})
        unprocessed = dict(reply.get("UnprocessedItems") or {})
        for table, batch in left.items():
            unprocessed[table] = [*unprocessed.get(table, []), *batch]
        return {**reply, "UnprocessedItems": unprocessed}

    async def _unprocessed_get(
        self, operation: str, payload: Payload, fault: Unprocessed, rng: random.Random
    ) -> Payload:
        specs: dict[str, Payload] = payload["RequestItems"]
        keys = [(table, key) for table, spec in specs.items() for key in spec["Keys"]]
        sent = _choose(len(keys), fault.keep, rng)
        kept: dict[str, list[Payload]] = {}
        left: dict[str, list[Payload]] = {}
        for i, (table, key) in enumerate(keys):
            (kept if i in sent else left).setdefault(table, []).append(key)
        reply: Payload = {"Responses": {}}
        if kept:
            request = {table: {**specs[table], "Keys": table_keys} for table, table_keys in kept.items()}
            reply = await self.inner.send(operation, {**payload, "RequestItems": request})
        unprocessed = dict(reply.get("UnprocessedKeys") or {})
        for table, table_keys in left.items():
            earlier = unprocessed.get(table, {}).get("Keys", [])
            unprocessed[table] = {**specs[table], "Keys": [*earlier, *table_keys]}
        return {**reply, "UnprocessedKeys": unprocessed}

    async def close(self) -> None:
        await self.inner.close()


def _choose(count: int, keep: float, rng: random.Random) -> set[int]:
    """Indexes of the items to send: ceil(count * keep) of them, picked by the fault's own seeded RNG."""
    return set(rng.sample(range(count), math.ceil(count * keep - 1e-9)))
