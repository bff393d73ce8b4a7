"""The seam under the operations: what every request of one DB needs, and `send` into the one call function.

Query, Scan, batch, transactions and table management take a `Requester` instead of reaching into the
DB facade: it holds where the transport comes from, the retry policy, the table prefix and the clock.
`send` is `_call.call` with this DB's transport and policy; it adds no work of its own. Imports `_call`
only (and the Transport protocol for typing): it knows nothing of models or HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ._call import call

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Callable

    from ._types import Item, Payload
    from .retries import RetryPolicy
    from .transport.base import Transport

__all__ = ["Requester", "TransportSource"]


class TransportSource(Protocol):
    """Whatever owns the transport (the DB): read on every send, so a rebind or a close is seen at once."""

    @property
    def transport(self) -> Transport: ...


class Requester:
    """One DB's request settings; `send(operation, payload)` goes through the one call function.

    The transport is read from `source.transport` on every send (the DB creates and binds it on first
    use), never captured: a closure or a cached transport would outlive a rebind to a new loop.
    """

    __slots__ = ("clock", "retry", "source", "table_prefix")

    def __init__(
        self,
        source: TransportSource,
        retry: RetryPolicy,
        table_prefix: str,
        clock: Callable[[], _dt.datetime],
    ) -> None:
        self.source = source
        self.retry = retry
        self.table_prefix = table_prefix
        self.clock = clock

    async def send(
        self, operation: str, payload: Payload, *, resend: bool | None = None, key: Item | None = None
    ) -> Payload:
        """`_call.call(transport, operation, payload, retry, resend=, key=)`: deadline, retries, hooks."""
        return await call(self.source.transport, operation, payload, self.retry, resend=resend, key=key)
