"""The Transport seam: one attempt of one DynamoDB operation, nothing more.

A transport knows nothing of models, retries or deadlines. It imports only `_types` and `errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from aiotheory._types import Payload

__all__ = ["Transport"]


@runtime_checkable
class Transport(Protocol):
    """Sends one DynamoDB JSON request and returns the parsed reply.

    `send` makes exactly one attempt. It returns the reply document on success and raises an
    `aiotheory.errors.AwsError` (built by `errors.from_response`) when AWS answers with an error, or a
    `TransportError` when no reply could be read. Retries, deadlines and metrics belong to the one call
    function above it, so a transport must not retry by itself.
    """

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        """Send `operation` (e.g. "GetItem") with its JSON `payload`; one attempt."""
        ...

    async def close(self) -> None:
        """Release connections and clients; the transport may not be used afterwards."""
        ...
