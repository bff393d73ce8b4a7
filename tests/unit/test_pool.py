"""The keep-alive pool against a local fault server: reuse, bounds, eviction, stale links, TLS, proxies."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from aiotheory._call import call
from aiotheory.deadlines import deadline
from aiotheory.errors import DeadlineExceeded, TransportError, ValidationError
from aiotheory.retries import RetryPolicy
from aiotheory.testing._faultserver import DropReply, FaultServer, HoldReply, Reply, ResetReply, StallReply
from aiotheory.transport._http11 import Origin, StaleConnection
from aiotheory.transport._pool import HttpClient, Proxy, default_ssl_context, proxy_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from aiotheory._types import Payload


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    http = HttpClient(proxies_from_env=False)
    try:
        yield http
    finally:
        await http.close()


async def _get(http: HttpClient, url: str, body: bytes = b"{}") -> bytes:
    response = await http.request("POST", url + "/", {"x-test": "1"}, body)
    assert response.status == 200
    return response.body


async def test_request_reuses_one_connection_when_sent_in_sequence(client: HttpClient) -> None:
    async with FaultServer(default=Reply(body=b'{"ok":1}')) as srv:
        for _ in range(3):
            assert await _get(client, srv.url) == b'{"ok":1}'
    assert srv.connections == 1
    first = srv.requests[0]
    assert first.headers["host"] == f"127.0.0.1:{srv.port}"
    assert first.headers["content-length"] == "2"
    assert first.headers["x-test"] == "1"


async def test_request_reads_chunked_reply_when_server_chunks(client: HttpClient) -> None:
    async with FaultServer(Reply(body=b'{"a":"bcdef"}', chunked=True)) as srv:
        assert await _get(client, srv.url) == b'{"a":"bcdef"}'
        assert await _get(client, srv.url) == b"{}"
    assert srv.connections == 1


async def test_request_reuses_latest_returned_connection_when_several_are_idle(client: HttpClient) -> None:
    first, second = asyncio.Event(), asyncio.Event()
    async with FaultServer(HoldReply(first), HoldReply(second)) as srv:
        a = asyncio.ensure_future(_get(client, srv.url))
        await srv.wait_for_requests(1)
        b = asyncio.ensure_future(_get(client, srv.url))
        await srv.wait_for_requests(2)
        second.set()
        await b  # b's connection goes idle first ...
        first.set()
        await a  # ... a's last: LIFO hands out a's
        await _get(client, srv.url)
    conn_a, conn_b, conn_c = (r.connection for r in srv.requests)
    assert conn_a != conn_b
    assert conn_c == conn_a


async def test_request_waits_for_free_connection_when_pool_is_exhausted() -> None:
    release = asyncio.Event()
    http = HttpClient(max_connections=1, proxies_from_env=False)
    try:
        async with FaultServer(HoldReply(release, Reply(body=b"1")), Reply(body=b"2")) as srv:
            a = asyncio.ensure_future(_get(http, srv.url))
            await srv.wait_for_requests(1)
            b = asyncio.ensure_future(_get(http, srv.url))
            await asyncio.sleep(0)  # let b reach the pool: it must not open a second connection
            assert len(srv.requests) == 1
            release.set()
            assert (await a, await b) == (b"1", b"2")
        assert srv.connections == 1
    finally:
        await http.close()


async def test_request_frees_the_slot_when_a_waiting_request_is_cancelled() -> None:
    release = asyncio.Event()
    http = HttpClient(max_connections=1, proxies_from_env=False)
    try:
        async with FaultServer(HoldReply(release, Reply(body=b"1")), Reply(body=b"2")) as srv:
            a = asyncio.ensure_future(_get(http, srv.url))
            await srv.wait_for_requests(1)
            b = asyncio.ensure_future(_get(http, srv.url))
            await asyncio.sleep(0)  # b now waits for the only slot
            b.cancel()
            with pytest.raises(asyncio.CancelledError):
                await b
            release.set()
            assert await a == b"1"
            assert await _get(http, srv.url) == b"2"  # the slot came back once, not lost to b
        assert srv.connections == 1
    finally:
        await http.close()


async def test_request_raises_retryable_error_when_pool_stays_exhausted() -> None:
    release = asyncio.Event()
    http = HttpClient(max_connections=1, pool_timeout=0.02, proxies_from_env=False)
    try:
        async with FaultServer(HoldReply(release)) as srv:
            a = asyncio.ensure_future(_get(http, srv.url))
            await srv.wait_for_requests(1)
            with pytest.raises(TransportError, match="no free connection") as info:
                await _get(http, srv.url)
            assert info.value.retryable
            assert not info.value.outcome_unknown  # nothing was sent
            release.set()
            await a
            assert len(srv.requests) == 1
    finally:
        await http.close()


async def test_call_raises_deadline_exceeded_when_pool_wait_outlives_deadline() -> None:
    release = asyncio.Event()
    http = HttpClient(max_connections=1, proxies_from_env=False)
    try:
        async with FaultServer(HoldReply(release)) as srv:
            a = asyncio.ensure_future(_get(http, srv.url))
            await srv.wait_for_requests(1)
            transport = _HttpTransport(http, srv.url)
            with pytest.raises(DeadlineExceeded):
                async with deadline(seconds=0.02):
                    await call(transport, "GetItem", {}, RetryPolicy(max_attempts=1))
            release.set()
            await a
            assert len(srv.requests) == 1
    finally:
        await http.close()


async def test_request_opens_new_connection_when_idle_one_outlived_idle_timeout() -> None:
    clock = FakeClock()
    http = HttpClient(idle_timeout=90.0, clock=clock, proxies_from_env=False)
    try:
        async with FaultServer() as srv:
            await _get(http, srv.url)
            clock.now += 89.0
            await _get(http, srv.url)
            assert srv.connections == 1
            clock.now += 90.5
            await _get(http, srv.url)
            assert srv.connections == 2
    finally:
        await http.close()


async def test_request_raises_stale_connection_and_never_resends_when_reused_connection_drops_request(
    client: HttpClient,
) -> None:
    # The server read the request, then closed without a byte: it may have acted on it. Only the call
    # function may decide to send it again, so the pool raises instead of resending.
    async with FaultServer(Reply(body=b"1"), DropReply(), Reply(body=b"2")) as srv:
        assert await _get(client, srv.url) == b"1"
        with pytest.raises(StaleConnection) as info:
            await _get(client, srv.url)
        assert info.value.retryable
        assert info.value.outcome_unknown
        assert len(srv.requests) == 2  # received exactly once: no resend
        assert srv.connections == 1
        assert await _get(client, srv.url) == b"2"  # the pool recovers on a new connection
    assert srv.connections == 2


async def test_request_succeeds_when_server_closed_idle_connection_after_reply(client: HttpClient) -> None:
    async with FaultServer(Reply(body=b"1", close=True), Reply(body=b"2")) as srv:
        assert await _get(client, srv.url) == b"1"
        assert await _get(client, srv.url) == b"2"
    assert srv.connections == 2


async def test_request_is_not_resent_when_reused_connection_resets_mid_reply(client: HttpClient) -> None:
    async with FaultServer(
        Reply(), ResetReply(after=20, reply=Reply(body=b'{"x":"' + b"y" * 100 + b'"}'))
    ) as srv:
        await _get(client, srv.url)
        with pytest.raises(TransportError) as info:
            await _get(client, srv.url)
        assert info.value.outcome_unknown
        assert info.value.retryable
        assert len(srv.requests) == 2


async def test_request_opens_new_connection_when_reply_said_connection_close(client: HttpClient) -> None:
    async with FaultServer(Reply(connection_close=True)) as srv:
        await _get(client, srv.url)
        await _get(client, srv.url)
    assert srv.connections == 2


async def test_request_raises_read_timeout_and_discards_connection_when_headers_are_slow() -> None:
    http = HttpClient(read_timeout=0.05, proxies_from_env=False)
    try:
        async with FaultServer(Reply(), StallReply(send=b"HTTP/1.1 200 O"), Reply(body=b"after")) as srv:
            await _get(http, srv.url)
            with pytest.raises(TransportError, match="no complete reply") as info:
                await _get(http, srv.url)
            assert info.value.retryable
            assert info.value.outcome_unknown
            assert await _get(http, srv.url) == b"after"
            assert srv.connections == 2
    finally:
        await http.close()


async def test_call_raises_deadline_exceeded_and_frees_slot_when_reply_stalls() -> None:
    http = HttpClient(max_connections=1, proxies_from_env=False)
    try:
        async with FaultServer(StallReply(), Reply(body=b"next")) as srv:
            transport = _HttpTransport(http, srv.url)
            with pytest.raises(DeadlineExceeded) as info:
                async with deadline(seconds=0.05):
                    await call(transport, "PutItem", {}, RetryPolicy(max_attempts=1))
            assert info.value.outcome_unknown
            assert await _get(http, srv.url) == b"next"  # the only slot was released
            assert srv.connections == 2  # the half-read connection was not reused
    finally:
        await http.close()


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_request_raises_retryable_known_outcome_error_when_connection_refused(
    client: HttpClient,
) -> None:
    with pytest.raises(TransportError, match="could not connect") as info:
        await _get(client, f"http://127.0.0.1:{_refused_port()}")
    assert info.value.retryable
    assert not info.value.outcome_unknown
    assert isinstance(info.value.__cause__, OSError)


async def test_request_raises_connect_timeout_when_tls_handshake_stalls() -> None:
    http = HttpClient(connect_timeout=0.05, proxies_from_env=False)
    try:
        async with FaultServer(default=StallReply()) as srv:  # plain TCP: never answers the ClientHello
            with pytest.raises(TransportError, match=r"could not connect .* within") as info:
                await _get(http, f"https://127.0.0.1:{srv.port}")
            assert info.value.retryable
            assert not info.value.outcome_unknown
    finally:
        await http.close()


async def test_request_raises_not_retryable_error_when_client_is_closed(client: HttpClient) -> None:
    await client.close()
    with pytest.raises(TransportError, match="closed") as info:
        await _get(client, "http://127.0.0.1:1")
    assert not info.value.retryable


async def _two_at_once_on_one_connection(http: HttpClient, port: int) -> int:
    async with FaultServer(default=Reply(connection_close=True), port=port) as srv:
        await asyncio.gather(_get(http, srv.url), _get(http, srv.url))
    return srv.connections


def test_client_works_on_a_new_loop_when_the_first_loop_is_gone() -> None:
    http = HttpClient(max_connections=1, proxies_from_env=False)
    port = _refused_port()
    for _ in range(2):  # the second loop would find a semaphore bound to the first without rebinding
        loop = asyncio.new_event_loop()
        try:
            assert loop.run_until_complete(_two_at_once_on_one_connection(http, port)) == 2
        finally:
            loop.close()


def test_client_raises_validation_error_when_max_connections_below_one() -> None:
    with pytest.raises(ValidationError):
        HttpClient(max_connections=0)


# --- TLS ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    valid_from, valid_to = now - dt.timedelta(days=1), now + dt.timedelta(days=2)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aiotheory test CA")])
    usage = x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=True,
        crl_sign=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    issuer_key_id = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(issuer_key_id, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    root = tmp_path_factory.mktemp("pki")
    paths = Pki(root / "ca.pem", root / "cert.pem", root / "key.pem")
    paths.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


def _server_context(pki: Pki) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.cert, pki.key)
    return ctx


async def test_request_raises_not_retryable_error_when_tls_certificate_is_untrusted(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    http = HttpClient(proxies_from_env=False)
    try:
        async with FaultServer(ssl_context=_server_context(pki)) as srv:
            with pytest.raises(TransportError, match="not trusted") as info:
                await _get(http, srv.url)
            assert not info.value.retryable
            assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
            assert srv.requests == []
    finally:
        await http.close()


async def test_request_succeeds_over_tls_when_given_context_trusts_the_ca(pki: Pki) -> None:
    http = HttpClient(ssl_context=ssl.create_default_context(cafile=str(pki.ca)), proxies_from_env=False)
    try:
        async with FaultServer(default=Reply(body=b"secure"), ssl_context=_server_context(pki)) as srv:
            assert await _get(http, srv.url) == b"secure"
            assert await _get(http, srv.url) == b"secure"
        assert srv.connections == 1
    finally:
        await http.close()


async def test_request_succeeds_over_tls_when_aws_ca_bundle_names_the_ca(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", str(pki.ca))
    http = HttpClient(proxies_from_env=False)
    try:
        async with FaultServer(default=Reply(body=b"bundle"), ssl_context=_server_context(pki)) as srv:
            assert await _get(http, srv.url) == b"bundle"
    finally:
        await http.close()


_NOT_A_CERT = "-----BEGIN CERTIFICATE-----\nsecret-looking-garbage\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    "content", [None, "", "plain text, no PEM\n", _NOT_A_CERT], ids=["missing", "empty", "text", "bad-pem"]
)
def test_default_ssl_context_raises_not_retryable_transport_error_when_aws_ca_bundle_is_unusable(
    tmp_path: Path, content: str | None
) -> None:
    bundle = tmp_path / "ca.pem"
    if content is not None:
        bundle.write_text(content)
    with pytest.raises(TransportError) as info:
        default_ssl_context({"AWS_CA_BUNDLE": str(bundle)})
    assert not info.value.retryable
    assert not info.value.outcome_unknown
    message = str(info.value)
    assert "AWS_CA_BUNDLE" in message
    assert str(bundle) in message
    assert "secret-looking-garbage" not in message
    assert isinstance(info.value.__cause__, OSError)


async def test_request_raises_not_retryable_error_before_connecting_when_aws_ca_bundle_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    http = HttpClient(proxies_from_env=False)
    try:
        with pytest.raises(TransportError, match="AWS_CA_BUNDLE") as info:
            await _get(http, f"https://127.0.0.1:{_refused_port()}")
        assert not info.value.retryable
        assert not info.value.outcome_unknown
    finally:
        await http.close()


def test_default_ssl_context_is_shared_and_verifying_when_built_twice() -> None:
    first = default_ssl_context({})
    assert first is default_ssl_context({})
    assert first.verify_mode is ssl.CERT_REQUIRED
    assert first.check_hostname


# --- proxies --------------------------------------------------------------------------------------------

_HTTP = Origin("http", "example.com", 80)
_HTTPS = Origin("https", "dynamodb.us-east-1.amazonaws.com", 443)
_P3128 = Proxy(Origin("http", "p", 3128))


@pytest.mark.parametrize(
    ("origin", "environ", "expected"),
    [
        (_HTTP, {}, None),
        (_HTTP, {"HTTP_PROXY": "http://p:3128"}, Proxy(Origin("http", "p", 3128))),
        (_HTTP, {"http_proxy": "p:8080", "HTTP_PROXY": "http://other:1"}, Proxy(Origin("http", "p", 8080))),
        (_HTTPS, {"HTTP_PROXY": "http://p:3128"}, None),
        (_HTTPS, {"HTTPS_PROXY": "http://p:3128"}, Proxy(Origin("http", "p", 3128))),
        (_HTTPS, {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "*"}, None),
        (_HTTPS, {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "amazonaws.com"}, None),
        (_HTTPS, {"HTTPS_PROXY": "http://p:3128", "no_proxy": "other.com, .amazonaws.com"}, None),
        (_HTTPS, {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "mazonaws.com"}, _P3128),
        (_HTTPS, {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "amazonaws.com:8443"},
         Proxy(Origin("http", "p", 3128))),
        (_HTTPS, {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "amazonaws.com:443"}, None),
        (Origin("http", "10.1.2.3", 80), {"HTTP_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, None),
        (Origin("http", "11.1.2.3", 80), {"HTTP_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"},
         Proxy(Origin("http", "p", 1))),
        (_HTTPS, {"HTTPS_PROXY": "http://u:p%40ss@p:3128"}, Proxy(_P3128.origin, "Basic dTpwQHNz")),
    ],
)  # fmt: skip
def test_proxy_for_follows_env_when_proxies_and_no_proxy_are_set(
    origin: Origin, environ: dict[str, str], expected: Proxy | None
) -> None:
    assert proxy_for(origin, environ) == expected


def test_proxy_for_raises_validation_error_when_proxy_is_https() -> None:
    with pytest.raises(ValidationError, match="http:// proxies"):
        proxy_for(_HTTPS, {"HTTPS_PROXY": "https://p:3128"})


async def test_request_goes_through_http_proxy_in_absolute_form_when_http_proxy_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with FaultServer(default=Reply(body=b"proxied")) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://user:pw@127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        http = HttpClient()
        try:
            assert await _get(http, "http://dynamodb.example.invalid:8000") == b"proxied"
        finally:
            await http.close()
    (seen,) = proxy.requests
    assert seen.target == "http://dynamodb.example.invalid:8000/"
    assert seen.headers["host"] == "dynamodb.example.invalid:8000"
    assert seen.headers["proxy-authorization"] == "Basic dXNlcjpwdw=="


async def test_request_bypasses_proxy_when_no_proxy_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_refused_port()}")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    http = HttpClient()
    try:
        async with FaultServer(default=Reply(body=b"direct")) as srv:
            assert await _get(http, srv.url) == b"direct"
    finally:
        await http.close()


async def test_request_tunnels_tls_through_connect_when_https_proxy_is_set(
    pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        FaultServer(default=Reply(body=b"tunnelled"), ssl_context=_server_context(pki)) as target,
        FaultServer() as proxy,
    ):
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        http = HttpClient(ssl_context=ssl.create_default_context(cafile=str(pki.ca)))
        try:
            assert await _get(http, target.url) == b"tunnelled"
            assert await _get(http, target.url) == b"tunnelled"
        finally:
            await http.close()
    assert [r.method for r in proxy.requests] == ["CONNECT"]
    assert proxy.requests[0].target == f"127.0.0.1:{target.port}"
    assert [r.target for r in target.requests] == ["/", "/"]


async def test_request_raises_when_proxy_refuses_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    async with FaultServer(default=Reply(status=403, body=b"denied"), tunnel=False) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        http = HttpClient()
        try:
            with pytest.raises(TransportError, match="refused CONNECT") as info:
                await _get(http, "https://dynamodb.example.invalid")
            assert not info.value.retryable
        finally:
            await http.close()


# --- a Transport over the raw client, so `call` can drive pool faults ------------------------------------


class _HttpTransport:
    def __init__(self, http: HttpClient, url: str) -> None:
        self._http = http
        self._url = url + "/"

    async def send(self, operation: str, payload: Payload, /) -> Payload:
        await self._http.request("POST", self._url, {}, b"{}")
        return {}

    async def close(self) -> None:
        await self._http.close()


def test_pooled_connections_close_when_asyncio_run_shuts_its_loop_down() -> None:
    """asyncio.run per call (the misuse the Lambda decorator prevents) must not leak keep-alive sockets."""
    import gc
    import warnings

    from aiotheory.testing import KeepAliveStub
    from aiotheory.transport._pool import HttpClient

    client = HttpClient()

    async def one(url: str) -> int:
        return (await client.request("POST", url, {}, b"{}")).status

    with KeepAliveStub() as stub, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        url = stub.endpoint_url + "/"
        assert asyncio.run(one(url)) == 200  # leaves an idle keep-alive connection in loop 1
        assert asyncio.run(one(url)) == 200  # loop 1 is closed now; the client rebinds to loop 2
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []
