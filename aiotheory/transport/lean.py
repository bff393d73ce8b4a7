"""The default data plane: DynamoDB's JSON 1.0 protocol over our own HTTP/1.1 pool and SigV4 signer.

One attempt per `send` (the one call function retries). Imports only the standard library, `errors`
and the lean wire's own modules; never `credentials` (a provider is passed in), botocore or aiohttp.
The ExpiredToken rule lives here: mapping that reply invalidates the provider the request was signed with.
"""

from __future__ import annotations

import json
import os
import sys
import time
import zlib
from typing import TYPE_CHECKING, Final

from aiotheory import _observe
from aiotheory._version import __version__
from aiotheory.errors import ExpiredToken, TransportError, ValidationError, from_response
from aiotheory.transport._endpoints import resolve_endpoint_url, resolve_region
from aiotheory.transport._http11 import split_url
from aiotheory.transport._pool import HttpClient
from aiotheory.transport._sigv4 import SigV4Signer, amz_date

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from aiotheory._types import Payload
    from aiotheory.credentials import CredentialProvider, Credentials
    from aiotheory.errors import AwsError
    from aiotheory.transport._http11 import HttpResponse, Origin

__all__ = ["OPERATIONS", "LeanTransport"]

_API_VERSION: Final = "DynamoDB_20120810"
_CONTENT_TYPE: Final = "application/x-amz-json-1.0"
#: Every DynamoDB (2012-08-10) operation; the target header of each is built once, at import.
OPERATIONS: Final = (
    "BatchExecuteStatement", "BatchGetItem", "BatchWriteItem", "CreateBackup", "CreateGlobalTable",
    "CreateTable", "DeleteBackup", "DeleteItem", "DeleteResourcePolicy", "DeleteTable", "DescribeBackup",
    "DescribeContinuousBackups", "DescribeContributorInsights", "DescribeEndpoints", "DescribeExport",
    "DescribeGlobalTable", "DescribeGlobalTableSettings", "DescribeImport",
    "DescribeKinesisStreamingDestination", "DescribeLimits", "DescribeTable",
    "DescribeTableReplicaAutoScaling", "DescribeTimeToLive", "DisableKinesisStreamingDestination",
    "EnableKinesisStreamingDestination", "ExecuteStatement", "ExecuteTransaction",
    "ExportTableToPointInTime", "GetItem", "GetResourcePolicy", "ImportTable", "ListBackups",
    "ListContributorInsights", "ListExports", "ListGlobalTables", "ListImports", "ListTables",
    "ListTagsOfResource", "PutItem", "PutResourcePolicy", "Query", "RestoreTableFromBackup",
    "RestoreTableToPointInTime", "Scan", "TagResource", "TransactGetItems", "TransactWriteItems",
    "UntagResource", "UpdateContinuousBackups", "UpdateContributorInsights", "UpdateGlobalTable",
    "UpdateGlobalTableSettings", "UpdateItem", "UpdateKinesisStreamingDestination", "UpdateTable",
    "UpdateTableReplicaAutoScaling", "UpdateTimeToLive",
)  # fmt: skip
_TARGETS: Final[dict[str, str]] = {op: f"{_API_VERSION}.{op}" for op in OPERATIONS}
# botocore's JSON serializer output shape: compact separators, ASCII escapes.
_ENCODE: Final = json.JSONEncoder(separators=(",", ":")).encode
_DECODE: Final = json.JSONDecoder().decode
# sys.version_info, not platform.python_version(): importing platform costs about 2 ms.
_USER_AGENT: Final = f"aiotheory/{__version__} md/lean python/{sys.version_info[0]}.{sys.version_info[1]}"


class _OpWire:
    """What one operation's requests share on one endpoint: the header block and the signed headers."""

    __slots__ = ("head", "signed")

    def __init__(self, head: str, signed: dict[str, str]) -> None:
        self.head = head
        self.signed = signed


class LeanTransport:
    """DynamoDB over the lean wire; construction does no I/O and binds no event loop.

    Args:
        region: the signing region; else `AWS_REGION` / `AWS_DEFAULT_REGION`.
        endpoint_url: e.g. DynamoDB Local; else `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL` /
            the region's public endpoint.
        credentials: what to sign with (`aiotheory.credentials.resolve` turns DB-style input into one).
        http: a shared client; the transport closes only a client it created itself. The client
            alone binds to the running loop (see `HttpClient`); the transport holds nothing loop-bound.
        max_connections: the pool size of the client the transport creates (when `http` is None).
        clock: wall-clock epoch seconds for the signature date.
        partner: the multi-account partner id this transport signs for; labels its calls in logs.
    """

    __slots__ = (
        "_clock",
        "_constant",
        "_credentials",
        "_http",
        "_origin",
        "_owns_http",
        "_path",
        "_region",
        "_signer",
        "_url",
        "_user_agent",
        "_wires",
        "partner",
    )

    # What differs between AWS JSON services on this wire (KMS subclasses it: `transport/_kms.py`).
    _service: str = "dynamodb"
    _api: str = _API_VERSION
    _content_type: str = _CONTENT_TYPE
    _targets: dict[str, str] = _TARGETS

    def __init__(
        self,
        region: str | None = None,
        *,
        endpoint_url: str | None = None,
        credentials: CredentialProvider,
        http: HttpClient | None = None,
        clock: Callable[[], float] = time.time,
        user_agent_extra: str | None = None,
        max_connections: int = 64,
        partner: str | None = None,
    ) -> None:
        environ = os.environ
        self._region = resolve_region(region, environ)
        self._url = self._resolve_url(self._region, endpoint_url, environ)
        origin, target, userinfo = split_url(self._url)
        path, _, query = target.partition("?")
        if query or userinfo:
            raise ValidationError(f"an endpoint URL has no query or credentials: {self._url!r}")
        self._origin = origin
        self._path = path
        self._credentials = credentials
        # Credentials that never change (`StaticProvider.constant`, duck-typed: this module does not
        # import `credentials`): signed with directly, without a `get()` coroutine per request.
        self._constant: Credentials | None = getattr(credentials, "constant", None)
        self.partner = partner
        self._owns_http = http is None
        self._http = HttpClient(max_connections=max_connections) if http is None else http
        self._clock = clock
        self._signer = SigV4Signer(self._region, self._service)
        agent = f"{_USER_AGENT} {user_agent_extra}" if user_agent_extra else _USER_AGENT
        if any(c in agent for c in "\r\n"):
            raise ValidationError("user_agent_extra must not contain line breaks")
        self._user_agent = agent
        self._wires: dict[str, _OpWire] = {}

    @staticmethod
    def _resolve_url(region: str, endpoint_url: str | None, environ: Mapping[str, str]) -> str:
        return resolve_endpoint_url(region, endpoint_url, environ)

    def __repr__(self) -> str:
        partner = "" if self.partner is None else f", partner={self.partner!r}"
        return f"{type(self).__name__}(region={self._region!r}, endpoint_url={self._url!r}{partner})"

    @property
    def region(self) -> str:
        return self._region

    @property
    def endpoint_url(self) -> str:
        return self._url

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        """One signed POST of `payload` as `operation`; returns the reply document.

        Raises:
            AwsError: DynamoDB answered with an error (the subclass `errors.from_response` picks).
            TransportError: no valid reply was read, including a reply failing its CRC32 check.
            CredentialsError: no credentials to sign with.
        """
        wire = self._wires.get(operation) or self._wire(operation)
        body = _ENCODE(payload).encode("ascii")
        creds = self._constant
        if creds is None:
            creds = await self._credentials.get()
        added = self._signer.sign(
            creds, "POST", self._origin.netloc, self._path, "", wire.signed, body, amz_date(self._clock())
        )
        lines = [wire.head]
        for name, value in added.items():
            lines.append(f"{name}: {value}\r\n")
        lines.append(f"content-length: {len(body)}\r\n\r\n")
        request = "".join(lines).encode("latin-1") + body
        try:
            response = await self._http.send(self._origin, request)
        except TransportError as exc:
            raise exc.for_operation(operation) from exc
        raw = response.body
        crc = response.headers.get("x-amz-crc32")
        if crc is not None and crc != str(zlib.crc32(raw)):
            raise TransportError(
                f"{operation}: reply failed its CRC32 check (damaged in transit)",
                operation=operation,
                retryable=True,
                outcome_unknown=True,
            )
        if 200 <= response.status < 300:
            if not raw:
                return {}
            try:
                doc = _DECODE(raw.decode("utf-8"))
            except ValueError as exc:  # also UnicodeDecodeError
                raise TransportError(
                    f"{operation}: reply is not valid JSON", operation=operation, outcome_unknown=True
                ) from exc
            if type(doc) is not dict:
                raise TransportError(
                    f"{operation}: reply is not a JSON object", operation=operation, outcome_unknown=True
                )
            if _observe.hook is not None or _observe.calls_log.isEnabledFor(_observe.DEBUG):
                # Only while calls are observed: the per-call record and span name AWS's request id.
                doc["ResponseMetadata"] = {"RequestId": response.headers.get("x-amzn-requestid")}
            return doc
        raise self._error(operation, response)

    async def close(self) -> None:
        """Close the HTTP client if this transport created it."""
        if self._owns_http:
            await self._http.close()

    def _wire(self, operation: str) -> _OpWire:
        target = self._targets.get(operation)
        if target is None:
            if not operation.isascii() or not operation.isalnum():
                raise ValidationError(f"not a {self._service} operation name: {operation!r}")
            target = f"{self._api}.{operation}"  # newer than this table; the name is safe to send
        netloc = self._origin.netloc
        content_type = self._content_type
        head = (
            f"POST {self._path} HTTP/1.1\r\nhost: {netloc}\r\ncontent-type: {content_type}\r\n"
            f"x-amz-target: {target}\r\nuser-agent: {self._user_agent}\r\n"
        )
        wire = _OpWire(head, {"content-type": content_type, "host": netloc, "x-amz-target": target})
        self._wires[operation] = wire
        return wire

    def _error(self, operation: str, response: HttpResponse) -> AwsError:
        status = response.status
        doc: object = None
        if response.body:
            try:
                doc = _DECODE(response.body.decode("utf-8"))
            except ValueError:
                doc = None
        if not isinstance(doc, dict):
            # A proxy's or load balancer's HTML page: keep the status, never the page itself.
            doc = {"message": f"HTTP {status} reply without a JSON error document"}
        error = from_response(operation, status, doc, request_id=response.headers.get("x-amzn-requestid"))
        if isinstance(error, ExpiredToken):
            # The one place this rule lives: the call function resends once, and that resend signs
            # with fresh credentials (a refreshing provider fetches them; static ones cannot change).
            self._credentials.invalidate()
        return error

    @property
    def origin(self) -> Origin:
        """Where requests go (scheme, host, port)."""
        return self._origin
