"""Parallel scan: segment tasks under one task group, their items through one bounded stream.

`Scan.parallel()` builds a `ParallelScan` from the scan's rendered request; `async with` starts one task
per segment (at most `concurrency` requests in flight) and yields a `ScanStream` of the items as they
arrive. Every page goes through the requester's one call function. anyio is imported when a scan
starts, not with this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._hooks import after_read
from .errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import Self

    from anyio.abc import TaskGroup
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from ._requester import Requester
    from ._rules import Hooks
    from ._types import Item, Payload
    from .schema import TableSchema

__all__ = ["ParallelScan", "ScanStream"]

M = TypeVar("M")


class ScanStream(Generic[M]):
    """A running parallel scan's items as they arrive; ends when all segments are done or at the limit."""

    __slots__ = ("_buffer", "_end", "_pos", "_receive", "_remaining")

    def __init__(
        self, receive: MemoryObjectReceiveStream[list[M]], limit: int | None, end: type[Exception]
    ) -> None:
        self._receive = receive
        self._buffer: list[M] = []
        self._pos = 0
        self._remaining = limit
        self._end = end

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> M:
        if self._remaining == 0:
            raise StopAsyncIteration
        while self._pos >= len(self._buffer):
            try:
                self._buffer = await self._receive.receive()
            except self._end:
                raise StopAsyncIteration from None
            self._pos = 0
        item = self._buffer[self._pos]
        self._pos += 1
        if self._remaining is not None:
            self._remaining -= 1
        return item


class ParallelScan(Generic[M]):
    """A parallel scan's scope: `async with` starts the segments, leaving the block cancels what is left.

    `payload` is the scan's request without Segment, TotalSegments, Limit or a start key; `decode` turns
    one item into the model (or partial model) the scan returns.
    """

    __slots__ = (
        "_concurrency",
        "_decode",
        "_group",
        "_hooks",
        "_limit",
        "_page_size",
        "_payload",
        "_receive",
        "_requester",
        "_sealed",
        "_segments",
        "_sends",
    )

    def __init__(
        self,
        requester: Requester,
        payload: Payload,
        decode: Callable[[Item], M],
        *,
        hooks: Hooks | None = None,
        page_size: int | None,
        limit: int | None,
        segments: int,
        concurrency: int,
        sealed: TableSchema[Any] | None = None,
    ) -> None:
        self._sealed = sealed  # the schema when its Encrypted attributes must be opened, else None
        self._requester = requester
        self._payload = payload
        self._decode = decode
        self._hooks = hooks
        self._page_size = page_size
        self._limit = limit
        self._segments = segments
        self._concurrency = concurrency
        self._group: TaskGroup | None = None
        self._receive: MemoryObjectReceiveStream[list[M]] | None = None
        self._sends: list[MemoryObjectSendStream[list[M]]] = []

    async def __aenter__(self) -> ScanStream[M]:
        import anyio

        if self._group is not None:
            raise ValidationError("this parallel scan is already running; call parallel() again for another")
        # A bounded buffer: segments wait for a slow consumer instead of holding the whole table in memory.
        send, receive = anyio.create_memory_object_stream[list[M]](max_buffer_size=self._concurrency)
        limiter = anyio.CapacityLimiter(self._concurrency)
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        self._receive = receive
        with send:
            for segment in range(self._segments):
                clone = send.clone()
                self._sends.append(clone)
                group.start_soon(self._run_segment, segment, clone, limiter)
        return ScanStream(receive, self._limit, anyio.EndOfStream)

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> bool:
        group, receive = self._group, self._receive
        self._group = self._receive = None
        if group is None or receive is None:
            return False
        group.cancel_scope.cancel()  # whatever is still running is no longer wanted
        receive.close()
        try:
            return await group.__aexit__(et, e, tb)
        except BaseExceptionGroup as exc:
            raise _first_error(exc) from None
        finally:
            sends, self._sends = self._sends, []
            for send in sends:
                send.close()

    async def _run_segment(self, segment: int, send: MemoryObjectSendStream[list[M]], limiter: Any) -> None:
        base: Payload = {**self._payload, "Segment": segment, "TotalSegments": self._segments}
        if self._page_size is not None:
            base["Limit"] = self._page_size
        decode = self._decode
        requester = self._requester
        request = base
        while True:
            async with limiter:
                reply = await requester.send("Scan", request)
            raws = reply.get("Items")
            if raws:
                if self._sealed is not None:
                    await requester.open(self._sealed, raws, base["TableName"])
                items = [decode(raw) for raw in raws]
                if self._hooks is not None:
                    for item in items:
                        await after_read(self._hooks, item)
                await send.send(items)
            start = reply.get("LastEvaluatedKey")
            if start is None:
                break
            request = {**base, "ExclusiveStartKey": start}
        # Closed only on success: the stream ends when every segment finished, so a failed segment can
        # never look like the end of the table (ParallelScan closes the others on exit).
        send.close()


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error a segment raised, out of anyio's group (cancellations of the others are not errors)."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_error(exc)
        return exc
    return group
