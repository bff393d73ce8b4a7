"""The seam under the operations: what every request of one DB needs, and `send` into the one call function.

Query, Scan, batch, transactions and table management take a `Requester` instead of reaching into the
DB facade: it holds where the transport comes from, the retry policy, the table prefix and the clock.
`send` is `_call.call` with this DB's transport and policy; it adds no work of its own. `seal`/`open`
apply the DB's envelope encryption (`encryption`) to models with Encrypted fields. Imports `_call` and
`errors` only (and the Transport protocol for typing): it knows nothing of HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ._call import call
from .errors import EncryptionNotConfigured

if TYPE_CHECKING:
    import datetime as _dt
    from collections.abc import Callable, Iterable
    from typing import Any

    from ._types import Item, Payload
    from .encryption import Encryption
    from .retries import RetryPolicy
    from .schema import TableSchema
    from .transport.base import Transport

__all__ = ["Requester", "TransportSource"]


class TransportSource(Protocol):
    """Whatever owns the transport (the DB): read on every send, so a rebind or a close is seen at once."""

    @property
    def transport(self) -> Transport: ...

    @property
    def encryption(self) -> Encryption: ...


class Requester:
    """One DB's request settings; `send(operation, payload)` goes through the one call function.

    The transport is read from `source.transport` on every send (the DB creates and binds it on first
    use), never captured: a closure or a cached transport would outlive a rebind to a new loop.
    """

    __slots__ = ("clock", "kms_key_id", "retry", "source", "table_prefix")

    def __init__(
        self,
        source: TransportSource,
        retry: RetryPolicy,
        table_prefix: str,
        clock: Callable[[], _dt.datetime],
        kms_key_id: str | None = None,
    ) -> None:
        self.source = source
        self.retry = retry
        self.table_prefix = table_prefix
        self.clock = clock
        self.kms_key_id = kms_key_id

    def key_id(self, schema: TableSchema[Any]) -> str:
        """The KMS key for `schema`'s Encrypted fields: the model's own, else the DB's.

        Called before a model with Encrypted fields sends anything, so a missing key fails closed.

        Raises:
            EncryptionNotConfigured: neither is set.
        """
        key_id = schema.kms_key_id or self.kms_key_id
        if key_id is None:
            raise EncryptionNotConfigured(
                f"{schema.model.__name__} has Encrypted fields but no KMS key is configured: "
                f"DB(kms_key_id=...) or class {schema.model.__name__}(Model, ..., kms_key_id=...)"
            )
        self.source.encryption  # noqa: B018  # raises MissingExtra now, before any request, without cryptography
        return key_id

    async def seal(self, schema: TableSchema[Any], item: Item) -> Item:
        """`item` with its Encrypted attributes as envelopes (a copy); `item` itself when there are none."""
        if not schema.encrypted:
            return item
        return await self.source.encryption.seal(self.key_id(schema), schema.encrypted, item)

    async def open(self, schema: TableSchema[Any], items: Iterable[Item | None], table: str) -> None:
        """Open, in place, the Encrypted attributes of `items` read from `table` (one Decrypt per edk)."""
        keys = (schema.pk.stored,) if schema.sk is None else (schema.pk.stored, schema.sk.stored)
        await self.source.encryption.open(
            self.key_id(schema), schema.encrypted, items, table=table, key_names=keys
        )

    async def send(
        self, operation: str, payload: Payload, *, resend: bool | None = None, key: Item | None = None
    ) -> Payload:
        """`_call.call(transport, operation, payload, retry, resend=, key=)`: deadline, retries, hooks."""
        return await call(self.source.transport, operation, payload, self.retry, resend=resend, key=key)
