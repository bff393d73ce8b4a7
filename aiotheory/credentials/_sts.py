"""A lean STS client for AssumeRole: the query protocol (form POST, XML reply) over the lean HTTP pool.

It is a `Transport`, so the credential cache sends through the one call function (deadline, retries).
The XML is read with the stdlib's expat (about 0.6 ms to import, against 3-5 ms for xml.etree).
Imports only the standard library, `errors`, the credential value and the lean wire; never botocore.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from xml.parsers import expat

from aiotheory.credentials._providers import Credentials
from aiotheory.errors import ExpiredToken, TransportError, ValidationError, from_response
from aiotheory.transport._http11 import StaleConnection, split_url
from aiotheory.transport._pool import HttpClient
from aiotheory.transport._sigv4 import SigV4Signer, amz_date, uri_encode

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from aiotheory._types import Payload
    from aiotheory.credentials._providers import CredentialProvider
    from aiotheory.errors import AwsError

__all__ = [
    "StsTransport",
    "build_assume_role_payload",
    "credentials_from_assume_role",
    "parse_assume_role",
    "parse_error",
    "sts_url",
]

_OPERATIONS: Final = frozenset({"AssumeRole"})
_VERSION: Final = "2011-06-15"
_CONTENT_TYPE: Final = "application/x-www-form-urlencoded; charset=utf-8"
_RESULT: Final = "AssumeRoleResponse/AssumeRoleResult/"
_REQUIRED: Final = ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")


def sts_url(region: str, endpoint_url: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The STS endpoint: explicit, else `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else regional.

    `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` skips the two variables, as botocore does. The regional
    endpoint (not the global `sts.amazonaws.com`) keeps the call in the caller's region.
    """
    if endpoint_url:
        return endpoint_url
    env = os.environ if environ is None else environ
    if env.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").strip().lower() != "true":
        configured = env.get("AWS_ENDPOINT_URL_STS") or env.get("AWS_ENDPOINT_URL")
        if configured:
            return configured
    if not region or any(c in region for c in " /\r\n\t:@"):
        raise ValidationError(f"invalid AWS region {region!r}: cannot build the STS endpoint")
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://sts.{region}.{suffix}"


def build_assume_role_payload(
    role_arn: str,
    session_name: str,
    *,
    duration_seconds: int | None = None,
    external_id: str | None = None,
) -> Payload:
    """The AssumeRole parameters, in the order they are sent; `ExternalId` only when set.

    Raises:
        ValidationError: an empty role ARN or session name (STS would refuse them).
    """
    if not role_arn or not session_name:
        raise ValidationError("AssumeRole needs a role ARN and a session name")
    payload: Payload = {"RoleArn": role_arn, "RoleSessionName": session_name}
    if duration_seconds is not None:
        payload["DurationSeconds"] = duration_seconds
    if external_id is not None:
        payload["ExternalId"] = external_id
    return payload


def _form_body(operation: str, payload: Payload) -> bytes:
    parts = [f"Action={operation}", f"Version={_VERSION}"]
    for name, value in payload.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError(f"{operation}: parameter {name} must be a string or an integer")
        parts.append(f"{uri_encode(name)}={uri_encode(str(value))}")
    return "&".join(parts).encode("ascii")


class _Flattener:
    """Collects each leaf element's text under its slash-joined path (namespace prefixes dropped).

    AWS query-protocol replies are small trees of unique names, so a flat dict is the whole document.
    """

    __slots__ = ("leaves", "path", "text")

    def __init__(self) -> None:
        self.path: list[str] = []
        self.text: list[str] = []
        self.leaves: dict[str, str] = {}

    def start(self, name: str, attrs: object) -> None:
        self.path.append(name.rpartition(":")[2])
        self.text = []

    def data(self, chunk: str) -> None:
        self.text.append(chunk)

    def end(self, name: str) -> None:
        key = "/".join(self.path)
        if key not in self.leaves:
            self.leaves[key] = "".join(self.text).strip()
        self.path.pop()
        self.text = []

    def doctype(self, *args: object) -> None:
        # AWS never sends a DTD; refusing one rules out entity-expansion tricks from a hostile proxy.
        raise ValueError("DOCTYPE not allowed")


def _flatten(body: bytes) -> dict[str, str]:
    """Raises ValueError when `body` is not well-formed XML (or carries a DTD)."""
    flat = _Flattener()
    parser = expat.ParserCreate()
    parser.StartElementHandler = flat.start
    parser.EndElementHandler = flat.end
    parser.CharacterDataHandler = flat.data
    parser.StartDoctypeDeclHandler = flat.doctype
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise ValueError(f"not well-formed XML: {expat.ErrorString(exc.code)}") from exc
    return flat.leaves


def parse_assume_role(body: bytes) -> Payload:
    """The AssumeRole reply as botocore shapes it; `Expiration` stays the ISO 8601 text STS sent.

    Raises:
        TransportError: the body is not a complete AssumeRole reply (retryable: AssumeRole has no
            side effect worth guarding).
    """
    try:
        leaves = _flatten(body)
    except ValueError as exc:
        raise TransportError(
            "AssumeRole: reply is not well-formed XML", operation="AssumeRole", retryable=True
        ) from exc
    creds = {name: leaves.get(f"{_RESULT}Credentials/{name}", "") for name in _REQUIRED}
    missing = [name for name, value in creds.items() if not value]
    if missing:
        raise TransportError(
            f"AssumeRole: reply lacks {', '.join(missing)}", operation="AssumeRole", retryable=True
        )
    reply: Payload = {
        "Credentials": creds,
        "AssumedRoleUser": {
            "AssumedRoleId": leaves.get(f"{_RESULT}AssumedRoleUser/AssumedRoleId", ""),
            "Arn": leaves.get(f"{_RESULT}AssumedRoleUser/Arn", ""),
        },
    }
    packed = leaves.get(f"{_RESULT}PackedPolicySize")
    if packed:
        reply["PackedPolicySize"] = int(packed)
    source = leaves.get(f"{_RESULT}SourceIdentity")
    if source:
        reply["SourceIdentity"] = source
    return reply


def parse_error(operation: str, status: int, body: bytes, headers: Mapping[str, str]) -> AwsError:
    """The AwsError for an STS error reply (`<ErrorResponse><Error><Code>`), via `errors.from_response`.

    A body that is not STS XML (a proxy's page) keeps only its status; its text is never echoed.
    """
    request_id = headers.get("x-amzn-requestid")
    try:
        leaves = _flatten(body) if body else {}
    except ValueError:
        leaves = {}
    code = leaves.get("ErrorResponse/Error/Code", "")
    message = leaves.get("ErrorResponse/Error/Message", "")
    if not code:
        message = f"HTTP {status} reply without an STS error document"
    return from_response(
        operation,
        status,
        {"__type": code, "message": message},
        request_id=request_id or leaves.get("ErrorResponse/RequestId") or None,
    )


def credentials_from_assume_role(reply: Payload) -> Credentials:
    """The Credentials of an AssumeRole reply, from this transport or aiobotocore's STS client.

    `Expiration` may be ISO 8601 text (ours), a datetime (botocore) or epoch seconds.
    """
    raw = reply["Credentials"]
    return Credentials(
        access_key_id=raw["AccessKeyId"],
        secret_access_key=raw["SecretAccessKey"],
        session_token=raw["SessionToken"],
        expiration=_epoch(raw["Expiration"]),
    )


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    else:
        # fromisoformat reads "Z" and fractions from Python 3.11 on.
        moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # STS times are UTC
    return moment.timestamp()


class StsTransport:
    """STS over the lean wire, as a `Transport`: one signed form POST per `send`.

    The one resend: a request lost to a stale pooled connection is sent once more (AssumeRole is safe
    to repeat); every other failure is left to the call function's retry policy.

    Construction does no I/O and binds no loop.

    Args:
        region: the signing region and, unless overridden, the regional endpoint's.
        credentials: who calls AssumeRole (the base credentials, not the assumed ones).
        endpoint_url: else `AWS_ENDPOINT_URL_STS` / `AWS_ENDPOINT_URL` / `https://sts.{region}.amazonaws.com`.
        http: a shared client; the transport closes only a client it created itself.
        clock: wall-clock epoch seconds for the signature date.
    """

    __slots__ = ("_clock", "_credentials", "_http", "_netloc", "_owns_http", "_path", "_signer", "_url")

    def __init__(
        self,
        region: str,
        credentials: CredentialProvider,
        *,
        endpoint_url: str | None = None,
        http: HttpClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        url = sts_url(region, endpoint_url)
        origin, target, userinfo = split_url(url)
        path, _, query = target.partition("?")
        if query or userinfo:
            raise ValidationError(f"an STS endpoint URL has no query or credentials: {url!r}")
        self._url = url
        self._netloc = origin.netloc
        self._path = path
        self._credentials = credentials
        self._owns_http = http is None
        self._http = HttpClient() if http is None else http
        self._clock = clock
        self._signer = SigV4Signer(region, "sts")

    def __repr__(self) -> str:
        return f"StsTransport(region={self._signer.region!r}, endpoint_url={self._url!r})"

    @property
    def endpoint_url(self) -> str:
        return self._url

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        """Send `operation` ("AssumeRole") with its parameters; returns the parsed reply.

        Raises:
            ValidationError: an operation this client does not speak, or a non-scalar parameter.
            AwsError: STS answered with an error (`ExpiredToken` also invalidates the base credentials).
            TransportError: no complete reply was read.
            CredentialsError: no base credentials to sign with.
        """
        if operation not in _OPERATIONS:
            raise ValidationError(f"the lean STS client speaks AssumeRole only, not {operation!r}")
        body = _form_body(operation, payload)
        headers = {"content-type": _CONTENT_TYPE, "host": self._netloc}
        creds = await self._credentials.get()
        headers.update(
            self._signer.sign(
                creds, "POST", self._netloc, self._path, "", headers, body, amz_date(self._clock())
            )
        )
        try:
            try:
                response = await self._http.request("POST", self._url, headers, body)
            except StaleConnection:
                # The pool resends nothing once written. AssumeRole changes no state, so a request lost
                # on a pooled connection the server had closed is resent once here, at once, instead of
                # failing a credential refresh (or waiting out a backoff) over a keep-alive race.
                response = await self._http.request("POST", self._url, headers, body)
        except TransportError as exc:
            raise exc.for_operation(operation) from exc
        if 200 <= response.status < 300:
            return parse_assume_role(response.body)
        error = parse_error(operation, response.status, response.body, response.headers)
        if isinstance(error, ExpiredToken):
            self._credentials.invalidate()
        raise error

    async def close(self) -> None:
        """Close the HTTP client if this transport created it."""
        if self._owns_http:
            await self._http.close()
