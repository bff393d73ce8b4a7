"""The aiobotocore transport: botocore's full credential chain and endpoint logic as an alternative wire.

The only module besides the fallback credential chain that imports aiobotocore, and only when a
`BotocoreTransport` first sends. botocore's own retries are switched off: the one call function retries.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as _dt
import json
import zlib
from typing import TYPE_CHECKING, Any, Final

from .. import _observe
from ..errors import TransportError, ValidationError, from_response

if TYPE_CHECKING:
    from .._types import Payload

__all__ = ["BotocoreTransport"]

_B64: Final = base64.b64encode


def _snake(operation: str) -> str:
    out = []
    for i, ch in enumerate(operation):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


_METHODS: dict[str, str] = {}


class _DamagedReply(Exception):
    """Raised by the before-parse check: the reply's bytes are not a reply we can trust."""


def _check_reply(response_dict: dict[str, Any], **_: object) -> None:
    """botocore's CRC32 check for DynamoDB lives in its legacy retry handler, which this transport
    switches off, and its JSON parser reads a garbage 2xx body as `{}`: a damaged reply to a write
    would pass as a success. Check both before botocore parses (the cost of a second JSON parse)."""
    body = response_dict.get("body")
    if not isinstance(body, bytes | bytearray):
        return
    crc = response_dict.get("headers", {}).get("x-amz-crc32")
    if crc is not None and crc != str(zlib.crc32(body)):
        raise _DamagedReply("reply failed its CRC32 check (damaged in transit)")
    if response_dict.get("status_code", 500) < 300 and body:
        try:
            doc = json.loads(body)
        except ValueError as exc:  # also UnicodeDecodeError
            raise _DamagedReply("reply is not valid JSON") from exc
        if type(doc) is not dict:
            raise _DamagedReply("reply is not a JSON object")


def _to_botocore(value: Any) -> Any:
    """Our wire JSON carries binary as base64 text; botocore wants bytes (it base64-encodes itself)."""
    if isinstance(value, dict):
        if len(value) == 1:
            if "B" in value and isinstance(value["B"], str):
                return {"B": base64.b64decode(value["B"])}
            if (
                "BS" in value
                and isinstance(value["BS"], list)
                and all(isinstance(v, str) for v in value["BS"])
            ):
                return {"BS": [base64.b64decode(v) for v in value["BS"]]}
        return {k: _to_botocore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_botocore(v) for v in value]
    return value


def _from_botocore(value: Any) -> Any:
    """Back to wire JSON: bytes -> base64 text, timestamps -> epoch seconds (as the JSON protocol sends)."""
    if isinstance(value, dict):
        return {k: _from_botocore(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_from_botocore(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return _B64(value).decode("ascii")
    if isinstance(value, _dt.datetime):
        return value.timestamp()
    return value


class BotocoreTransport:
    """A Transport over an aiobotocore DynamoDB client, created on first use and reused.

    The client (its aiohttp session) belongs to the loop it was opened in. Used from a new loop after
    that one closed (`asyncio.run` per invocation), the transport drops it untouched and opens another;
    used from a second loop while the first is still open, it raises ValidationError.

    Args:
        credentials: (key id, secret[, token]) for static keys; None uses the session's provider chain.
        session: an `aioboto3.Session` or `aiobotocore` session whose credential chain to use.
    """

    def __init__(
        self,
        region: str | None = None,
        *,
        endpoint_url: str | None = None,
        credentials: tuple[str, str] | tuple[str, str, str | None] | None = None,
        session: object | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        max_pool_connections: int = 64,
    ) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        self._credentials = credentials
        self._session = session
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_pool = max_pool_connections
        self._client: Any = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def _open(self) -> Any:
        if self._closed:
            raise TransportError("the transport is closed", retryable=False)
        loop = asyncio.get_running_loop()
        bound = self._loop
        if self._client is not None and bound is not None and not bound.is_closed():
            raise ValidationError(
                "this DB (its botocore client) is bound to another event loop that is still open; use "
                "one loop per process (aiotheory.aws_lambda.lambda_handler keeps one) or one DB per loop"
            )
        # A client of a closed loop is dropped untouched: closing it would call into the dead loop.
        self._client = self._stack = None
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        config = AioConfig(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
            max_pool_connections=self._max_pool,
        )
        kwargs: dict[str, Any] = {"region_name": self._region, "config": config}
        if self._endpoint_url:
            kwargs["endpoint_url"] = self._endpoint_url
        if self._credentials is not None:
            kwargs["aws_access_key_id"] = self._credentials[0]
            kwargs["aws_secret_access_key"] = self._credentials[1]
            if len(self._credentials) > 2:
                kwargs["aws_session_token"] = self._credentials[2]
        session: Any = self._session if self._session is not None else get_session()
        # aioboto3.Session exposes .client(); an aiobotocore session exposes .create_client().
        factory = session.client if hasattr(session, "client") else session.create_client
        stack = contextlib.AsyncExitStack()
        client = await stack.enter_async_context(factory("dynamodb", **kwargs))
        client.meta.events.register("before-parse.dynamodb", _check_reply)
        self._stack = stack
        self._client = client
        self._loop = loop
        return client

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        """One attempt through aiobotocore; its errors are translated once, here."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        client = self._client
        if client is None or self._loop is not asyncio.get_running_loop():
            client = await self._open()
        method_name = _METHODS.get(operation)
        if method_name is None:
            method_name = _METHODS[operation] = _snake(operation)
        try:
            reply = await getattr(client, method_name)(**_to_botocore(payload))
        except ClientError as exc:
            err = exc.response.get("Error", {})
            meta = exc.response.get("ResponseMetadata", {})
            body: dict[str, Any] = {"__type": err.get("Code", ""), "message": err.get("Message", "")}
            for extra in ("Item", "CancellationReasons"):
                if extra in exc.response:
                    body[extra] = _from_botocore(exc.response[extra])
            raise from_response(
                operation, int(meta.get("HTTPStatusCode", 400)), body, request_id=meta.get("RequestId")
            ) from exc
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            raise TransportError(f"{operation}: cannot connect: {exc}", operation=operation) from exc
        except _DamagedReply as exc:
            raise TransportError(f"{operation}: {exc}", operation=operation, outcome_unknown=True) from exc
        except (ConnectionClosedError, ReadTimeoutError) as exc:
            raise TransportError(
                f"{operation}: connection failed: {exc}", operation=operation, outcome_unknown=True
            ) from exc
        except BotoCoreError as exc:
            raise TransportError(
                f"{operation}: {type(exc).__name__}: {exc}", operation=operation, retryable=False
            ) from exc
        result: Payload = _from_botocore(reply)
        if _observe.hook is not None or _observe.calls_log.isEnabledFor(_observe.DEBUG):
            # Only while calls are observed: the per-call record and span name AWS's request id.
            meta = reply.get("ResponseMetadata") or {}
            result["ResponseMetadata"] = {"RequestId": meta.get("RequestId")}
        return result

    async def close(self) -> None:
        """Close the aiobotocore client and its connection pool."""
        self._closed = True
        stack, self._stack, self._client = self._stack, None, None
        bound = self._loop
        if stack is not None and (bound is None or not bound.is_closed()):
            await stack.aclose()
