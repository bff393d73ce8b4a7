"""The lean DynamoDB transport against a local fault server, and endpoint resolution as pure functions.

Faults that end in retries run through the one call function, to prove the end result: the right reply
after retries, or a typed error; never a silent wrong result.
"""

from __future__ import annotations

import asyncio
import json
import socket
import zlib
from typing import TYPE_CHECKING

import pytest

from aiotheory._call import call
from aiotheory.credentials import Credentials, StaticProvider
from aiotheory.deadlines import deadline
from aiotheory.errors import (
    AwsError,
    ConditionFailed,
    CredentialsError,
    DeadlineExceeded,
    ExpiredToken,
    ResourceNotFound,
    ServiceError,
    Throttled,
    TransportError,
    ValidationError,
)
from aiotheory.retries import RetryPolicy
from aiotheory.testing._faultserver import (
    DropReply,
    FaultServer,
    Reply,
    ResetReply,
    StallReply,
    dynamodb_error,
)
from aiotheory.transport._endpoints import dynamodb_url, resolve_endpoint_url, resolve_region
from aiotheory.transport._http11 import StaleConnection
from aiotheory.transport._pool import HttpClient
from aiotheory.transport.base import Transport
from aiotheory.transport.lean import LeanTransport

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

CREDS = Credentials(
    access_key_id="AKIDEXAMPLE", secret_access_key="wJalrXUtnFEMI/K7MDENG", session_token="tok"
)
NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
ITEM_REPLY = b'{"Item":{"pk":{"S":"p1"},"n":{"N":"1.5"}}}'
GET = {"TableName": "t", "Key": {"pk": {"S": "p1"}}}
_UNAVAILABLE = "com.amazon.coral.availability#ServiceUnavailableException"
_IGNORE = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"


class _Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def _zero() -> float:
    return 0.0


def _now() -> float:
    return NOW


def _policy(attempts: int = 3) -> RetryPolicy:
    return RetryPolicy(max_attempts=attempts, sleep=_Sleeps(), random=_zero)


class _CountingProvider:
    def __init__(self, creds: Credentials = CREDS, error: CredentialsError | None = None) -> None:
        self.creds = creds
        self.error = error
        self.invalidated = 0

    async def get(self) -> Credentials:
        if self.error is not None:
            raise self.error
        return self.creds

    def invalidate(self) -> None:
        self.invalidated += 1


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    client = HttpClient(read_timeout=2.0, proxies_from_env=False)
    try:
        yield client
    finally:
        await client.close()


def _lean(srv: FaultServer, http: HttpClient, provider: object = None) -> LeanTransport:
    return LeanTransport(
        "us-east-1",
        endpoint_url=srv.url,
        credentials=StaticProvider(CREDS) if provider is None else provider,  # type: ignore[arg-type]  # fakes
        http=http,
        clock=_now,
    )


async def test_send_posts_signed_compact_json_when_operation_is_get_item(http: HttpClient) -> None:
    async with FaultServer(Reply(body=ITEM_REPLY)) as srv:
        transport = _lean(srv, http)
        assert isinstance(transport, Transport)
        reply = await transport.send("GetItem", GET)
    assert reply == {"Item": {"pk": {"S": "p1"}, "n": {"N": "1.5"}}}
    (req,) = srv.requests
    assert (req.method, req.target) == ("POST", "/")
    assert req.body == b'{"TableName":"t","Key":{"pk":{"S":"p1"}}}'
    h = req.headers
    assert h["host"] == f"127.0.0.1:{srv.port}"
    assert h["content-type"] == "application/x-amz-json-1.0"
    assert h["x-amz-target"] == "DynamoDB_20120810.GetItem"
    assert h["user-agent"].startswith("aiotheory/")
    assert h["x-amz-date"] == "20231114T221320Z"
    assert h["x-amz-security-token"] == "tok"
    assert h["content-length"] == str(len(req.body))
    assert h["authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="
    )
    assert h["authorization"].rpartition("Signature=")[2] == _botocore_signature(srv.url, h, req.body)


def _botocore_signature(url: str, headers: dict[str, str], body: bytes) -> str:
    """The signature botocore computes for the same request: an independent check of our signer."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    signed = ("content-type", "host", "x-amz-date", "x-amz-security-token", "x-amz-target")
    request = AWSRequest(method="POST", url=url + "/", data=body, headers={k: headers[k] for k in signed})
    request.context["timestamp"] = headers["x-amz-date"]
    auth = SigV4Auth(
        BotoCredentials(CREDS.access_key_id, CREDS.secret_access_key, "tok"), "dynamodb", "us-east-1"
    )
    signature: str = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    return signature


async def test_send_omits_token_header_when_credentials_have_no_session_token(http: HttpClient) -> None:
    plain = Credentials(access_key_id="AKID", secret_access_key="s")
    async with FaultServer() as srv:
        await _lean(srv, http, StaticProvider(plain)).send("PutItem", {"TableName": "t", "Item": {}})
    (req,) = srv.requests
    assert "x-amz-security-token" not in req.headers
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-target," in req.headers["authorization"]
    assert req.headers["x-amz-target"] == "DynamoDB_20120810.PutItem"


async def test_send_reuses_connection_and_reads_chunked_reply_when_called_repeatedly(
    http: HttpClient,
) -> None:
    async with FaultServer(Reply(body=ITEM_REPLY, chunked=True), default=Reply(body=ITEM_REPLY)) as srv:
        transport = _lean(srv, http)
        for _ in range(3):
            assert (await transport.send("GetItem", GET))["Item"]["pk"] == {"S": "p1"}
    assert srv.connections == 1


@pytest.mark.parametrize("reply", [Reply(body=b""), Reply(body=b"{}", crc32="none")])
async def test_send_returns_document_when_reply_is_empty_or_has_no_crc(
    http: HttpClient, reply: Reply
) -> None:
    async with FaultServer(reply) as srv:
        assert await _lean(srv, http).send("DeleteItem", GET) == {}


async def test_send_raises_retryable_transport_error_when_crc32_mismatches(http: HttpClient) -> None:
    async with FaultServer(Reply(body=ITEM_REPLY, crc32="bad")) as srv:
        with pytest.raises(TransportError, match="CRC32") as info:
            await _lean(srv, http).send("GetItem", GET)
    assert info.value.retryable
    assert info.value.operation == "GetItem"


async def test_call_returns_correct_item_when_first_reply_fails_crc32(http: HttpClient) -> None:
    corrupted = Reply(body=b'{"Item":{"pk":{"S":"WRONG"}}}', crc32="bad", headers=())
    async with FaultServer(corrupted, Reply(body=ITEM_REPLY)) as srv:
        reply = await call(_lean(srv, http), "GetItem", GET, _policy())
    assert reply["Item"]["pk"] == {"S": "p1"}
    assert len(srv.requests) == 2


@pytest.mark.parametrize(
    "reply",
    [
        dynamodb_error("InternalServerError", "boom", status=500),
        Reply(status=503, body=json.dumps({"__type": _UNAVAILABLE, "message": "busy"}).encode()),
        Reply(status=502, body=b"<html><body>Bad Gateway SECRET-PAGE</body></html>"),
        Reply(status=500, body=b""),
    ],
    ids=["500-json", "503-json", "502-html", "500-empty"],
)  # fmt: skip
async def test_send_raises_retryable_service_error_when_server_fails(http: HttpClient, reply: Reply) -> None:
    async with FaultServer(reply) as srv:
        with pytest.raises(ServiceError) as info:
            await _lean(srv, http).send("GetItem", GET)
    err = info.value
    assert err.retryable
    assert err.status == reply.status
    assert err.operation == "GetItem"
    assert "SECRET-PAGE" not in str(err)


async def test_call_returns_item_when_server_errors_clear_within_attempts(http: HttpClient) -> None:
    async with FaultServer(
        dynamodb_error("InternalServerError", status=500),
        Reply(status=503, body=b"<html>unavailable</html>"),
        Reply(body=ITEM_REPLY),
    ) as srv:
        reply = await call(_lean(srv, http), "GetItem", GET, _policy(3))
    assert reply["Item"]["n"] == {"N": "1.5"}
    assert len(srv.requests) == 3


async def test_call_raises_service_error_when_attempts_run_out(http: HttpClient) -> None:
    async with FaultServer(default=dynamodb_error("InternalServerError", status=500)) as srv:
        with pytest.raises(ServiceError):
            await call(_lean(srv, http), "GetItem", GET, _policy(2))
    assert len(srv.requests) == 2


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException"])
async def test_send_raises_retryable_throttled_when_dynamodb_throttles(http: HttpClient, code: str) -> None:
    async with FaultServer(dynamodb_error(code, "slow down")) as srv:
        with pytest.raises(Throttled) as info:
            await _lean(srv, http).send("Query", {"TableName": "t"})
    assert info.value.code == code
    assert info.value.retryable
    assert info.value.request_id == "req-1"


@pytest.mark.parametrize("code", ["ThrottlingException", "ProvisionedThroughputExceededException"])
async def test_call_returns_item_when_throttling_clears(http: HttpClient, code: str) -> None:
    async with FaultServer(dynamodb_error(code), dynamodb_error(code), Reply(body=ITEM_REPLY)) as srv:
        reply = await call(_lean(srv, http), "GetItem", GET, _policy(3))
    assert reply["Item"]["pk"] == {"S": "p1"}
    assert len(srv.requests) == 3


async def test_send_raises_plain_aws_error_when_4xx_body_is_not_json(http: HttpClient) -> None:
    async with FaultServer(Reply(status=403, body=b"<html>Forbidden by proxy</html>", crc32="none")) as srv:
        with pytest.raises(AwsError) as info:
            await _lean(srv, http).send("GetItem", GET)
    assert not isinstance(info.value, ServiceError)
    assert not info.value.retryable
    assert info.value.status == 403
    assert "Forbidden by proxy" not in str(info.value)


async def test_send_raises_condition_failed_with_old_item_when_condition_fails(http: HttpClient) -> None:
    body = {
        "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "message": "The conditional request failed",
        "Item": {"pk": {"S": "p1"}},
    }
    async with FaultServer(Reply(status=400, body=json.dumps(body).encode())) as srv:
        with pytest.raises(ConditionFailed) as info:
            await _lean(srv, http).send("PutItem", {"TableName": "t", "Item": {}})
    assert info.value.old_item == {"pk": {"S": "p1"}}
    assert info.value.request_id == "req-1"
    assert not info.value.retryable


async def test_send_raises_resource_not_found_when_table_is_missing(http: HttpClient) -> None:
    async with FaultServer(
        dynamodb_error("ResourceNotFoundException", "Requested resource not found")
    ) as srv:
        with pytest.raises(ResourceNotFound):
            await _lean(srv, http).send("GetItem", GET)


async def test_send_invalidates_credentials_when_token_expired(http: HttpClient) -> None:
    provider = _CountingProvider()
    async with FaultServer(dynamodb_error("ExpiredTokenException", "expired"), Reply()) as srv:
        transport = _lean(srv, http, provider)
        with pytest.raises(ExpiredToken):
            await transport.send("GetItem", GET)
        assert provider.invalidated == 1
        await transport.send("GetItem", GET)
        assert provider.invalidated == 1


async def test_send_raises_credentials_error_before_any_request_when_no_credentials(http: HttpClient) -> None:
    provider = _CountingProvider(error=CredentialsError("no credentials"))
    async with FaultServer() as srv:
        with pytest.raises(CredentialsError):
            await _lean(srv, http, provider).send("GetItem", GET)
    assert srv.requests == []


@pytest.mark.parametrize("rst", [True, False], ids=["rst", "fin"])
async def test_send_raises_unknown_outcome_error_when_connection_resets_mid_reply(
    http: HttpClient, rst: bool
) -> None:
    async with FaultServer(ResetReply(after=40, reply=Reply(body=ITEM_REPLY), rst=rst)) as srv:
        with pytest.raises(TransportError) as info:
            await _lean(srv, http).send("PutItem", {"TableName": "t", "Item": {}})
    assert info.value.operation == "PutItem"
    assert info.value.outcome_unknown
    assert info.value.retryable


async def test_call_returns_item_when_connection_resets_mid_reply_once(http: HttpClient) -> None:
    async with FaultServer(ResetReply(after=60, reply=Reply(body=ITEM_REPLY)), Reply(body=ITEM_REPLY)) as srv:
        reply = await call(_lean(srv, http), "GetItem", GET, _policy())
    assert reply == {"Item": {"pk": {"S": "p1"}, "n": {"N": "1.5"}}}
    assert srv.connections == 2


async def test_call_raises_deadline_exceeded_when_headers_are_slow(http: HttpClient) -> None:
    async with FaultServer(default=StallReply(send=b"HTTP/1.1 200 OK\r\ncontent-")) as srv:
        with pytest.raises(DeadlineExceeded) as info:
            async with deadline(seconds=0.05):
                await call(_lean(srv, http), "GetItem", GET, _policy())
    assert info.value.operation == "GetItem"


async def test_send_raises_read_timeout_error_when_headers_are_slow_outside_any_deadline() -> None:
    client = HttpClient(read_timeout=0.05, proxies_from_env=False)
    try:
        async with FaultServer(StallReply(send=b"HTTP/1.1 2")) as srv:
            with pytest.raises(TransportError, match="GetItem: no complete reply") as info:
                await _lean(srv, client).send("GetItem", GET)
        assert info.value.retryable
        assert info.value.outcome_unknown
    finally:
        await client.close()


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b"\xff\xfe"])
async def test_send_raises_transport_error_when_success_body_is_not_a_json_object(
    http: HttpClient, body: bytes
) -> None:
    async with FaultServer(Reply(body=body)) as srv:
        with pytest.raises(TransportError, match="JSON"):
            await _lean(srv, http).send("GetItem", GET)


async def test_send_raises_validation_error_before_any_request_when_operation_name_is_unsafe(
    http: HttpClient,
) -> None:
    async with FaultServer() as srv:
        with pytest.raises(ValidationError):
            await _lean(srv, http).send("GetItem\r\nX-Evil: 1", GET)
        await _lean(srv, http).send("SomeFutureOperation", {})
    (req,) = srv.requests
    assert req.headers["x-amz-target"] == "DynamoDB_20120810.SomeFutureOperation"


async def test_close_closes_only_an_owned_http_client(http: HttpClient) -> None:
    async with FaultServer() as srv:
        shared = _lean(srv, http)
        await shared.close()
        await shared.send("GetItem", GET)  # the caller's client still works
        owned = LeanTransport("us-east-1", endpoint_url=srv.url, credentials=StaticProvider(CREDS))
        await owned.send("GetItem", GET)
        await owned.close()
        with pytest.raises(TransportError, match="closed"):
            await owned.send("GetItem", GET)


# --- keep-alive hygiene: bytes on an idle connection are never taken for the next reply -------------------


def _item(key: str) -> bytes:
    return json.dumps({"Item": {"pk": {"S": key}}}).encode()


def _get_item(key: str) -> dict[str, object]:
    return {"TableName": "t", "Key": {"pk": {"S": key}}}


class _KeyServer:
    """Answers each GetItem with the item whose key it asked for; the test acts on its idle connections.

    `keys` records (connection number, key) per request, so "received exactly once, on which connection"
    is asserted rather than assumed.
    """

    def __init__(self) -> None:
        self.keys: list[tuple[int, str]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.url = ""

    async def __aenter__(self) -> _KeyServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self.writers:
            writer.close()
        await self._server.wait_closed()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    def stray(self, connection: int, key: str) -> None:
        """Write a complete 200 reply that no request asked for (a late duplicate, someone else's)."""
        self.writers[connection - 1].write(Reply(body=_item(key)).render(0))

    def hang_up(self, connection: int) -> None:
        """Send FIN now, synchronously, as a server closing an idle keep-alive connection does."""
        self.writers[connection - 1].get_extra_info("socket").shutdown(socket.SHUT_WR)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.writers.append(writer)
        connection = len(self.writers)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                body = json.loads(await reader.readexactly(length))
                key = body["Key"]["pk"]["S"]
                self.keys.append((connection, key))
                writer.write(Reply(body=_item(key)).render(len(self.keys)))
                await writer.drain()
        except (asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()


async def _until_read_by_the_loop() -> None:
    """Bytes already in the socket are in the StreamReader after two loop turns, never later.

    Turn one: the selector reports the socket readable and queues its read behind this task's wake-up;
    turn two runs that read before this task resumes again. No clock involved.
    """
    await asyncio.sleep(0)
    await asyncio.sleep(0)


@pytest.mark.parametrize("where", ["stream-reader", "socket"])
async def test_send_returns_own_item_when_idle_connection_holds_a_stray_reply(
    http: HttpClient, where: str
) -> None:
    async with _KeyServer() as srv:
        lean = LeanTransport("us-east-1", endpoint_url=srv.url, credentials=StaticProvider(CREDS), http=http)
        assert await lean.send("GetItem", _get_item("first")) == {"Item": {"pk": {"S": "first"}}}
        srv.stray(1, "someone-elses-item")
        if where == "stream-reader":
            await _until_read_by_the_loop()
        # else: sent synchronously, so still in the kernel buffer, unseen by the loop (the peek's case)
        reply = await lean.send("GetItem", _get_item("second"))
    assert reply == {"Item": {"pk": {"S": "second"}}}
    assert srv.keys == [(1, "first"), (2, "second")]  # on a new connection; the old one was dropped


@pytest.mark.parametrize("where", ["stream-reader", "socket"])
async def test_send_succeeds_once_on_new_connection_when_server_closed_the_idle_one(
    http: HttpClient, where: str
) -> None:
    async with _KeyServer() as srv:
        lean = LeanTransport("us-east-1", endpoint_url=srv.url, credentials=StaticProvider(CREDS), http=http)
        await lean.send("PutItem", _get_item("first"))
        srv.hang_up(1)
        if where == "stream-reader":
            await _until_read_by_the_loop()
        reply = await lean.send("PutItem", _get_item("second"))
    assert reply == {"Item": {"pk": {"S": "second"}}}
    assert srv.keys == [(1, "first"), (2, "second")]  # received exactly once, never on the closed one


async def test_send_raises_unknown_outcome_error_caused_by_stale_connection_when_request_is_dropped(
    http: HttpClient,
) -> None:
    async with FaultServer(Reply(), DropReply(), Reply(body=ITEM_REPLY)) as srv:
        lean = _lean(srv, http)
        await lean.send("PutItem", {"TableName": "t", "Item": {}})
        with pytest.raises(TransportError) as info:
            await lean.send("PutItem", {"TableName": "t", "Item": {}})
        assert len(srv.requests) == 2  # the transport resent nothing
    assert info.value.operation == "PutItem"
    assert info.value.retryable
    assert info.value.outcome_unknown
    assert isinstance(info.value.__cause__, StaleConnection)


async def test_call_returns_item_resent_by_the_call_function_when_reused_connection_drops_a_get(
    http: HttpClient,
) -> None:
    async with FaultServer(Reply(), DropReply(), Reply(body=ITEM_REPLY)) as srv:
        lean = _lean(srv, http)
        await lean.send("GetItem", GET)
        reply = await call(lean, "GetItem", GET, _policy())
    assert reply == {"Item": {"pk": {"S": "p1"}, "n": {"N": "1.5"}}}
    assert len(srv.requests) == 3  # the dropped GetItem and the call function's one resend
    assert srv.connections == 2


async def test_send_raises_not_retryable_error_when_aws_ca_bundle_is_not_pem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    client = HttpClient(proxies_from_env=False)
    lean = LeanTransport(
        "us-east-1", endpoint_url="https://127.0.0.1:9", credentials=StaticProvider(CREDS), http=client
    )
    try:
        with pytest.raises(TransportError, match="AWS_CA_BUNDLE") as info:
            await lean.send("GetItem", GET)
    finally:
        await client.close()
    assert info.value.operation == "GetItem"
    assert not info.value.retryable
    assert not info.value.outcome_unknown


def test_transport_uses_env_endpoint_and_region_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://localhost:8000")
    transport = LeanTransport(credentials=StaticProvider(CREDS))
    assert transport.region == "eu-west-1"
    assert transport.endpoint_url == "http://localhost:8000"
    assert transport.origin.netloc == "localhost:8000"


def test_transport_raises_validation_error_naming_aws_region_when_no_region(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(ValidationError, match="AWS_REGION"):
        LeanTransport(credentials=StaticProvider(CREDS))


def test_transport_raises_validation_error_when_endpoint_has_query() -> None:
    with pytest.raises(ValidationError, match="query"):
        LeanTransport("us-east-1", endpoint_url="http://h:1/?x=1", credentials=StaticProvider(CREDS))


# --- endpoint resolution -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "environ", "expected"),
    [
        ("us-east-1", {}, "us-east-1"),
        ("us-east-1", {"AWS_REGION": "eu-west-1"}, "us-east-1"),
        (None, {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "ap-south-1"}, "eu-west-1"),
        (None, {"AWS_DEFAULT_REGION": "ap-south-1"}, "ap-south-1"),
        (None, {"AWS_REGION": "", "AWS_DEFAULT_REGION": "ap-south-1"}, "ap-south-1"),
    ],
)
def test_resolve_region_prefers_argument_then_env(
    region: str | None, environ: dict[str, str], expected: str
) -> None:
    assert resolve_region(region, environ) == expected


@pytest.mark.parametrize("region", [None, "", "us east", "us-east-1/x"])
def test_resolve_region_raises_validation_error_when_missing_or_malformed(region: str | None) -> None:
    with pytest.raises(ValidationError):
        resolve_region(region, {})


@pytest.mark.parametrize(
    ("region", "explicit", "environ", "expected"),
    [
        ("us-east-1", None, {}, "https://dynamodb.us-east-1.amazonaws.com"),
        ("us-east-1", "http://local:8000", {"AWS_ENDPOINT_URL_DYNAMODB": "http://env:1"}, "http://local:8000"),
        ("us-east-1", None, {"AWS_ENDPOINT_URL_DYNAMODB": "http://ddb:1", "AWS_ENDPOINT_URL": "http://all:2"},
         "http://ddb:1"),
        ("us-east-1", None, {"AWS_ENDPOINT_URL": "http://all:2"}, "http://all:2"),
        ("us-east-1", None, {"AWS_ENDPOINT_URL": "http://all:2", _IGNORE: "true"},
         "https://dynamodb.us-east-1.amazonaws.com"),
        ("us-east-1", None, {"AWS_USE_FIPS_ENDPOINT": "true"}, "https://dynamodb-fips.us-east-1.amazonaws.com"),
        ("us-east-1", None, {"AWS_USE_FIPS_ENDPOINT": "FALSE"}, "https://dynamodb.us-east-1.amazonaws.com"),
        ("cn-north-1", None, {}, "https://dynamodb.cn-north-1.amazonaws.com.cn"),
        ("cn-northwest-1", None, {"AWS_USE_FIPS_ENDPOINT": "true"},
         "https://dynamodb-fips.cn-northwest-1.amazonaws.com.cn"),
        ("us-gov-west-1", None, {}, "https://dynamodb.us-gov-west-1.amazonaws.com"),
        ("us-gov-west-1", None, {"AWS_USE_FIPS_ENDPOINT": "true"}, "https://dynamodb-fips.us-gov-west-1.amazonaws.com"),
        ("us-iso-east-1", None, {}, "https://dynamodb.us-iso-east-1.c2s.ic.gov"),
    ],
)  # fmt: skip
def test_resolve_endpoint_url_follows_botocore_order(
    region: str, explicit: str | None, environ: dict[str, str], expected: str
) -> None:
    assert resolve_endpoint_url(region, explicit, environ) == expected


@pytest.mark.parametrize("flag", ["AWS_USE_FIPS_ENDPOINT", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"])
def test_resolve_endpoint_url_raises_validation_error_when_flag_is_not_boolean(flag: str) -> None:
    with pytest.raises(ValidationError, match=flag):
        resolve_endpoint_url("us-east-1", None, {flag: "yes"})


@pytest.mark.parametrize("region", ["evil.com/", "US-EAST-1", "-x", "a.b"])
def test_dynamodb_url_raises_validation_error_when_region_cannot_be_a_hostname(region: str) -> None:
    with pytest.raises(ValidationError):
        dynamodb_url(region)


def test_crc32_of_reply_is_what_the_fault_server_sends() -> None:
    rendered = Reply(body=ITEM_REPLY).render(1)
    assert f"x-amz-crc32: {zlib.crc32(ITEM_REPLY)}".encode() in rendered
