"""DamagingProxy in front of the run's engine: every damage hits a reply whose write the engine applied.

Each damaged call goes through a DB on the proxy with a single attempt, so nothing is resent; what
landed is read back through a DB on the engine itself.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
import zlib
from typing import TYPE_CHECKING, Annotated, get_args

import pytest

from aiotheory import DB, PK, Model
from aiotheory.errors import ConditionFailed, ItemNotFound, TransportError
from aiotheory.retries import RetryPolicy
from aiotheory.testing import Backend, Damage, DamagingProxy
from aiotheory.testing._faultserver import FaultServer, Reply, parse_head

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

_FAILING: tuple[Damage, ...] = ("bad_crc", "garbage", "truncate", "drop")
#: Turns a reply that never comes into a failure instead of a hung run; nothing waits this long.
_GUARD = 10.0


class Note(Model, table="notes"):
    id: Annotated[str, PK]
    text: str


@pytest.fixture
async def direct(backend: Backend) -> AsyncIterator[DB]:
    """A DB on the engine itself, with the Note table under a prefix of the test's own."""
    database = DB(
        region=backend.region,
        endpoint_url=backend.endpoint_url,
        credentials=backend.credentials,
        table_prefix=f"p{uuid.uuid4().hex[:8]}_",
    )
    await database.create_table(Note)
    try:
        yield database
    finally:
        await database.delete_table(Note)
        await database.close()


@pytest.fixture
async def proxy(backend: Backend) -> AsyncIterator[DamagingProxy]:
    async with DamagingProxy(backend.endpoint_url) as running:
        yield running


@pytest.fixture
async def proxied(direct: DB, proxy: DamagingProxy, backend: Backend) -> AsyncIterator[DB]:
    """A DB on the proxy that sends each request once: a damaged reply is never retried."""
    database = DB(
        region=backend.region,
        endpoint_url=proxy.url,
        credentials=backend.credentials,
        table_prefix=direct.table_prefix,
        retry=RetryPolicy(max_attempts=1),
    )
    try:
        yield database
    finally:
        await database.close()


def _put_request(proxy: DamagingProxy, table: str, key: str) -> bytes:
    """A PutItem as a DynamoDB client would send it (the engines check no signature)."""
    body = json.dumps({"TableName": table, "Item": {"id": {"S": key}, "text": {"S": "raw"}}}).encode()
    head = (
        f"POST / HTTP/1.1\r\nhost: {proxy.url.removeprefix('http://')}\r\n"
        "content-type: application/x-amz-json-1.0\r\nx-amz-target: DynamoDB_20120810.PutItem\r\n"
        "authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/dynamodb/aws4_request, "
        f"SignedHeaders=host, Signature=0\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


async def _connect(proxy: DamagingProxy) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", int(proxy.url.rpartition(":")[2]))


async def _read_reply(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    async with asyncio.timeout(_GUARD):
        start, fields = parse_head(await reader.readuntil(b"\r\n\r\n"))
        headers = {name.lower(): value for name, value in fields}
        return start, headers, await reader.readexactly(int(headers["content-length"]))


async def _read_to_end(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(_GUARD):
        return await reader.read()


# ------------------------------------------------------------------------------------------ damages


@pytest.mark.parametrize("kind", _FAILING)
async def test_put_raises_transport_error_after_the_item_landed_when_the_reply_is_damaged(
    kind: Damage, proxy: DamagingProxy, proxied: DB, direct: DB
) -> None:
    proxy.damage("PutItem", kind)
    with pytest.raises(TransportError):
        await proxied.put(Note(id="n1", text="landed"))
    assert (await direct.get(Note, "n1")).text == "landed"
    assert proxy.forwarded == ["PutItem"]
    assert proxy.damaged == [("PutItem", kind)]
    assert proxy.pending() == 0


async def test_put_succeeds_and_a_second_reply_follows_when_the_damage_is_stray(
    proxy: DamagingProxy, proxied: DB, direct: DB
) -> None:
    proxy.damage("PutItem", "stray")
    await proxied.put(Note(id="n1", text="landed"))
    assert (await direct.get(Note, "n1")).text == "landed"
    async with asyncio.timeout(_GUARD):
        await proxy.wait_for_strays(1)
    assert proxy.strays_sent == 1
    assert proxy.damaged == [("PutItem", "stray")]


async def test_stray_reply_arrives_complete_on_the_idle_connection_when_the_damage_is_stray(
    proxy: DamagingProxy, direct: DB
) -> None:
    proxy.damage(None, "stray")
    reader, writer = await _connect(proxy)
    try:
        writer.write(_put_request(proxy, direct.table_prefix + "notes", "n1"))
        first = await _read_reply(reader)
        stray = await _read_reply(reader)
        # The connection still serves the next request after the stray.
        writer.write(_put_request(proxy, direct.table_prefix + "notes", "n2"))
        after = await _read_reply(reader)
    finally:
        writer.close()
        await writer.wait_closed()
    assert first[0] == "HTTP/1.1 200 OK" and json.loads(first[2]) == {}
    assert stray[0] == "HTTP/1.1 200 OK"
    assert json.loads(stray[2])["Item"]["id"] == {"S": "someone-elses-item"}
    assert stray[1]["x-amz-crc32"] == str(zlib.crc32(stray[2]))
    assert after[0] == "HTTP/1.1 200 OK" and json.loads(after[2]) == {}
    assert proxy.forwarded == ["PutItem", "PutItem"]
    assert (await direct.get(Note, "n1")).text == (await direct.get(Note, "n2")).text == "raw"


async def test_bad_crc_reply_keeps_the_body_and_carries_a_wrong_checksum_when_damaged(
    proxy: DamagingProxy, direct: DB
) -> None:
    proxy.damage("PutItem", "bad_crc")
    reader, writer = await _connect(proxy)
    try:
        writer.write(_put_request(proxy, direct.table_prefix + "notes", "n1"))
        damaged = await _read_reply(reader)
        writer.write(_put_request(proxy, direct.table_prefix + "notes", "n2"))
        intact = await _read_reply(reader)
    finally:
        writer.close()
        await writer.wait_closed()
    assert damaged[2] == intact[2] == b"{}"
    assert damaged[1]["x-amz-crc32"] != str(zlib.crc32(b"{}"))
    assert intact[1]["x-amz-crc32"] == str(zlib.crc32(b"{}"))
    assert "connection" not in intact[1]  # moto's `Connection: close` is the proxy's to decide


async def test_garbage_reply_has_a_correct_checksum_and_length_when_damaged(
    proxy: DamagingProxy, direct: DB
) -> None:
    proxy.damage("PutItem", "garbage")
    reader, writer = await _connect(proxy)
    try:
        writer.write(_put_request(proxy, direct.table_prefix + "notes", "n1"))
        start, headers, body = await _read_reply(reader)
    finally:
        writer.close()
        await writer.wait_closed()
    assert start == "HTTP/1.1 200 OK"
    assert headers["x-amz-crc32"] == str(zlib.crc32(body))
    with pytest.raises(ValueError):
        json.loads(body)


async def test_proxy_passes_a_chunked_upstream_reply_with_a_content_length_when_upstream_chunks() -> None:
    body = b'{"Item":{"id":{"S":"n1"}}}'
    async with FaultServer(Reply(body=body, chunked=True)) as engine, DamagingProxy(engine.url) as proxy:
        reader, writer = await _connect(proxy)
        try:
            writer.write(_put_request(proxy, "t", "n1"))
            _, headers, received = await _read_reply(reader)
        finally:
            writer.close()
            await writer.wait_closed()
    assert received == body
    assert "transfer-encoding" not in headers
    assert headers["x-amz-crc32"] == str(zlib.crc32(body))


async def test_bad_crc_adds_a_wrong_checksum_when_the_upstream_sent_none() -> None:
    async with FaultServer(Reply(crc32="none")) as engine, DamagingProxy(engine.url) as proxy:
        proxy.damage("PutItem", "bad_crc")
        request = _put_request(proxy, "t", "n1")
        reader, writer = await _connect(proxy)
        try:
            writer.write(request)
            _, headers, received = await _read_reply(reader)
        finally:
            writer.close()
            await writer.wait_closed()
    assert headers["x-amz-crc32"] != str(zlib.crc32(received))
    forwarded = engine.requests[0]  # byte for byte: the engine sees the client's own head and body
    assert forwarded.headers["host"] == proxy.url.removeprefix("http://")
    assert request.endswith(b"\r\n\r\n" + forwarded.body)


# ------------------------------------------------------------------------------------------ scheduling


async def test_damage_hits_only_the_named_operation_when_others_pass_first(
    proxy: DamagingProxy, proxied: DB, direct: DB
) -> None:
    await direct.put(Note(id="n0", text="before"))
    proxy.damage("PutItem", "truncate")
    assert (await proxied.get(Note, "n0")).text == "before"  # GetItem passes untouched
    with pytest.raises(TransportError):
        await proxied.put(Note(id="n1", text="landed"))
    assert proxy.forwarded == ["GetItem", "PutItem"]
    assert proxy.damaged == [("PutItem", "truncate")]


async def test_damage_hits_the_next_times_requests_then_stops_when_times_is_given(
    proxy: DamagingProxy, proxied: DB, direct: DB
) -> None:
    proxy.damage(None, "garbage", times=2)
    assert proxy.pending() == 2
    with pytest.raises(TransportError):
        await proxied.put(Note(id="n1", text="one"))
    assert proxy.pending() == 1
    with pytest.raises(TransportError):
        await proxied.get(Note, "n1")
    assert proxy.pending() == 0
    assert (await proxied.get(Note, "n1")).text == "one"
    assert proxy.forwarded == ["PutItem", "GetItem", "GetItem"]
    assert proxy.damaged == [("PutItem", "garbage"), ("GetItem", "garbage")]


async def test_damage_takes_the_first_registered_when_several_match(
    proxy: DamagingProxy, proxied: DB, direct: DB
) -> None:
    proxy.damage(None, "truncate")
    proxy.damage("PutItem", "drop")
    with pytest.raises(TransportError):
        await proxied.put(Note(id="n1", text="one"))
    with pytest.raises(TransportError):
        await proxied.put(Note(id="n2", text="two"))
    assert proxy.damaged == [("PutItem", "truncate"), ("PutItem", "drop")]


async def test_clear_forgets_pending_damages_when_called(
    proxy: DamagingProxy, proxied: DB, direct: DB
) -> None:
    proxy.damage("PutItem", "drop", times=3)
    proxy.clear()
    assert proxy.pending() == 0
    await proxied.put(Note(id="n1", text="one"))
    assert proxy.damaged == []


async def test_proxy_passes_replies_and_errors_intact_in_order_when_nothing_is_damaged(
    proxy: DamagingProxy, proxied: DB, direct: DB
) -> None:
    for n in range(3):
        await proxied.put(Note(id=f"n{n}", text="x"))
    with pytest.raises(ItemNotFound):
        await proxied.get(Note, "absent")
    with pytest.raises(ConditionFailed):  # a 400 reply reaches the client as DynamoDB sent it
        await proxied.create(Note(id="n0", text="again"))
    assert proxy.forwarded == ["PutItem"] * 3 + ["GetItem", "PutItem"]
    assert proxy.damaged == []


def test_damage_refuses_when_the_kind_or_times_is_invalid() -> None:
    proxy = DamagingProxy("http://127.0.0.1:8000")
    with pytest.raises(ValueError, match="unknown damage"):
        proxy.damage("PutItem", "reset")  # type: ignore[arg-type]  # the mistake under test
    with pytest.raises(ValueError, match="times"):
        proxy.damage("PutItem", "drop", times=0)
    assert proxy.pending() == 0
    assert set(get_args(Damage)) == {"bad_crc", "garbage", "truncate", "drop", "stray"}


@pytest.mark.parametrize(
    ("upstream", "host"),
    [("http://10.0.0.1:8000", "127.0.0.1"), ("https://127.0.0.1:8000", "127.0.0.1"),
     ("http://127.0.0.1:8000", "0.0.0.0")],
)  # fmt: skip
def test_init_refuses_when_an_address_is_not_loopback(upstream: str, host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        DamagingProxy(upstream, host=host)


# ------------------------------------------------------------------------------------------ lifetime


async def test_exit_closes_idle_connections_and_cancels_pending_strays_when_the_block_ends(
    backend: Backend, direct: DB
) -> None:
    async with DamagingProxy(backend.endpoint_url, stray_delay=3600) as proxy:
        proxy.damage("PutItem", "stray")
        reader, writer = await _connect(proxy)
        writer.write(_put_request(proxy, direct.table_prefix + "notes", "n1"))
        await _read_reply(reader)
    try:
        assert await _read_to_end(reader) == b""  # the proxy closed the connection; no stray was written
    finally:
        writer.close()
        await writer.wait_closed()
    assert proxy.strays_sent == 0
    with pytest.raises(RuntimeError, match="stopped"):
        async with asyncio.timeout(_GUARD):
            await proxy.wait_for_strays(1)
    with pytest.raises(OSError):
        await _connect(proxy)


async def test_proxy_stops_by_itself_when_its_lifetime_ends(backend: Backend) -> None:
    async with DamagingProxy(backend.endpoint_url, lifetime=0.5) as proxy:
        reader, writer = await _connect(proxy)
        try:
            assert await _read_to_end(reader) == b""  # closed by the lifetime timer, not by the block's end
        finally:
            writer.close()
            await writer.wait_closed()


async def test_client_gets_502_when_the_upstream_refuses() -> None:
    with socket.socket() as probe:  # a port just freed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    async with DamagingProxy(f"http://127.0.0.1:{free}") as broken:
        reader, writer = await _connect(broken)
        try:
            writer.write(_put_request(broken, "t", "n1"))
            start, _, _ = await _read_reply(reader)
        finally:
            writer.close()
            await writer.wait_closed()
    assert start.startswith("HTTP/1.1 502")
    assert broken.forwarded == []


async def test_wait_for_strays_raises_when_the_proxy_stops_while_waiting(backend: Backend) -> None:
    async with DamagingProxy(backend.endpoint_url, lifetime=0.2) as proxy:
        with pytest.raises(RuntimeError, match="stopped before 1 stray"):
            async with asyncio.timeout(_GUARD):
                await proxy.wait_for_strays(1)
