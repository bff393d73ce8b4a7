"""HTTP/1.1 on byte chunks: the parser split at every position, the encoder, and one connection on fakes."""

from __future__ import annotations

import asyncio
from collections import deque

import pytest

from aiotheory.errors import TransportError, ValidationError
from aiotheory.transport._http11 import (
    Connection,
    ConnState,
    Origin,
    ProtocolError,
    ReadWatchdog,
    ResponseParser,
    StaleConnection,
    encode_request,
    split_url,
)

BODY = b'{"Item":{"pk":{"S":"abc"}}}'
LENGTH_REPLY = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: application/x-amz-json-1.0\r\n"
    b"X-Amz-Crc32: 123\r\n"
    b"x-multi: a\r\n"
    b"X-Multi:   b  \r\n"
    b"Content-Length: 27\r\n"
    b"\r\n" + BODY
)
CHUNKED_REPLY = (
    b"HTTP/1.1 200 OK\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
    b"5;ext=1\r\nhello\r\n"
    b"1\r\n \r\n"
    b"5\r\nworld\r\n"
    b"0\r\n"
    b"x-trailer: t\r\n"
    b"\r\n"
)


def _feed_split(reply: bytes, cut: int) -> ResponseParser:
    parser = ResponseParser()
    first = parser.feed(reply[:cut])
    assert not first or cut == len(reply)
    assert parser.feed(reply[cut:])
    return parser


@pytest.mark.parametrize("cut", range(len(LENGTH_REPLY) + 1))
def test_parser_reads_length_body_when_split_at(cut: int) -> None:
    parser = _feed_split(LENGTH_REPLY, cut)
    assert parser.status == 200
    assert parser.body == BODY
    assert parser.headers["content-type"] == "application/x-amz-json-1.0"
    assert parser.headers["x-amz-crc32"] == "123"
    assert parser.headers["x-multi"] == "a, b"
    assert parser.keep_alive
    assert not parser.trailing


@pytest.mark.parametrize("cut", range(len(CHUNKED_REPLY) + 1))
def test_parser_reads_chunked_body_when_split_at(cut: int) -> None:
    parser = _feed_split(CHUNKED_REPLY, cut)
    assert parser.body == b"hello world"
    assert parser.keep_alive


@pytest.mark.parametrize("reply", [LENGTH_REPLY, CHUNKED_REPLY], ids=["length", "chunked"])
def test_parser_reads_reply_when_fed_byte_by_byte(reply: bytes) -> None:
    parser = ResponseParser()
    results = [parser.feed(reply[i : i + 1]) for i in range(len(reply))]
    assert results[-1]
    assert not any(results[:-1])
    assert parser.received == len(reply)


def test_parser_reads_until_close_when_no_length() -> None:
    parser = ResponseParser()
    assert not parser.feed(b"HTTP/1.1 200 OK\r\n\r\nabc")
    assert not parser.feed(b"def")
    assert parser.feed_eof()
    assert parser.body == b"abcdef"
    assert not parser.keep_alive


def test_parser_is_incomplete_when_eof_inside_length_body() -> None:
    parser = ResponseParser()
    assert not parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    assert not parser.feed_eof()


def test_parser_skips_interim_reply_when_100_continue_comes_first() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert (parser.status, parser.body) == (200, b"ok")


@pytest.mark.parametrize(
    ("head", "no_body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", True),  # reply to HEAD
        (b"HTTP/1.1 204 No Content\r\n\r\n", False),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False),
    ],
)
def test_parser_completes_without_body_when_reply_has_none(head: bytes, no_body: bool) -> None:
    parser = ResponseParser(no_body=no_body)
    assert parser.feed(head)
    assert parser.body == b""
    assert parser.keep_alive


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", True),
        # Both framings: chunked wins and the connection must not be reused (RFC 9112 6.3).
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", False),
    ],
)
def test_parser_decides_keep_alive_when_headers_say(head: bytes, keep_alive: bool) -> None:
    parser = ResponseParser()
    assert parser.feed(head)
    assert parser.keep_alive is keep_alive


def test_parser_flags_trailing_bytes_when_peer_sends_more_than_the_reply() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
    assert parser.body == b"ok"
    assert parser.trailing


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno-colon-here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nname : space before colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nx: a\r\n folded\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n",
        b"HTTP/1.1 2\xb200 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"x" * (70 * 1024),
    ],
)
def test_parser_raises_protocol_error_when_reply_is_malformed(reply: bytes) -> None:
    with pytest.raises(ProtocolError):
        ResponseParser().feed(reply)


def test_parser_accepts_repeated_equal_content_length() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok")
    assert parser.body == b"ok"


def test_encode_request_adds_content_length_when_absent() -> None:
    raw = encode_request("POST", "/", {"host": "h", "x-a": "1"}, b"{}")
    assert raw == b"POST / HTTP/1.1\r\nhost: h\r\nx-a: 1\r\ncontent-length: 2\r\n\r\n{}"


def test_encode_request_keeps_given_content_length_and_get_without_body() -> None:
    assert encode_request("POST", "/", {"Content-Length": "0"}, b"") == (
        b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
    )
    assert encode_request("GET", "/x?y=1", {"host": "h"}, b"") == b"GET /x?y=1 HTTP/1.1\r\nhost: h\r\n\r\n"


@pytest.mark.parametrize(
    "headers",
    [{"x": "a\r\nInjected: 1"}, {"x\r\ny": "a"}, {"x": "a\nb"}, {"a:b": "c"}, {"x": "\u20ac"}],
)
def test_encode_request_raises_validation_error_when_header_is_unsafe(headers: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        encode_request("POST", "/", headers, b"")


@pytest.mark.parametrize(
    ("url", "origin", "target", "userinfo", "netloc"),
    [
        ("https://dynamodb.us-east-1.amazonaws.com", Origin("https", "dynamodb.us-east-1.amazonaws.com", 443),
         "/", "", "dynamodb.us-east-1.amazonaws.com"),
        ("http://127.0.0.1:8000/", Origin("http", "127.0.0.1", 8000), "/", "", "127.0.0.1:8000"),
        ("HTTP://LocalHost:80/a/b?x=1#frag", Origin("http", "localhost", 80), "/a/b?x=1", "", "localhost"),
        ("https://h:8443?x=1", Origin("https", "h", 8443), "/?x=1", "", "h:8443"),
        ("http://[::1]:9000/p", Origin("http", "::1", 9000), "/p", "", "[::1]:9000"),
        ("http://user:p%40ss@proxy:3128", Origin("http", "proxy", 3128), "/", "user:p%40ss", "proxy:3128"),
    ],
)  # fmt: skip
def test_split_url_returns_origin_target_and_userinfo(
    url: str, origin: Origin, target: str, userinfo: str, netloc: str
) -> None:
    got = split_url(url)
    assert got == (origin, target, userinfo)
    assert got[0].netloc == netloc


@pytest.mark.parametrize(
    "url", ["ftp://h/", "dynamodb.amazonaws.com", "http://", "http://h:0/", "http://h:99999/", "http://h:x/",
            "http://[::1/", "http://h/a b"],
)  # fmt: skip
def test_split_url_raises_validation_error_when_malformed(url: str) -> None:
    with pytest.raises(ValidationError):
        split_url(url)


# --- one connection over scripted streams -------------------------------------------------------------

_STALL = object()


class ScriptedReader:
    """Returns scripted chunks; an exception item is raised; `_STALL` waits until cancelled."""

    def __init__(self, *items: bytes | BaseException | object) -> None:
        self.items: deque[bytes | BaseException | object] = deque(items)
        self.eof = False
        self.waiting = asyncio.Event()

    async def read(self, n: int = -1, /) -> bytes:
        if not self.items:
            self.eof = True
            return b""
        item = self.items.popleft()
        if isinstance(item, BaseException):
            raise item
        if item is _STALL:
            self.waiting.set()
            await asyncio.get_running_loop().create_future()
        assert isinstance(item, bytes)
        return item

    def at_eof(self) -> bool:
        return self.eof


class RecordingWriter:
    def __init__(self, fail: BaseException | None = None) -> None:
        self.written = bytearray()
        self.closed = False
        self.fail = fail

    def write(self, data: bytes, /) -> None:
        self.written += data

    async def drain(self) -> None:
        if self.fail is not None:
            raise self.fail

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


REQUEST = b"POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n"


def _watchdog(within: float) -> ReadWatchdog:
    return ReadWatchdog(asyncio.get_running_loop(), within)


@pytest.mark.parametrize("cut", [1, 17, 40, len(LENGTH_REPLY) - 1])
async def test_roundtrip_returns_reply_and_idles_when_reply_arrives_in_pieces(cut: int) -> None:
    writer = RecordingWriter()
    conn = Connection(ScriptedReader(LENGTH_REPLY[:cut], LENGTH_REPLY[cut:]), writer)
    assert conn.state.name == "NEW"
    response = await conn.roundtrip(REQUEST, _watchdog(1.0))
    assert response.status == 200
    assert response.headers["x-amz-crc32"] == "123"
    assert bytes(writer.written) == REQUEST
    assert conn.state is ConnState.IDLE
    assert conn.reusable()
    assert conn.served == 1


async def test_roundtrip_closes_connection_when_reply_says_connection_close() -> None:
    writer = RecordingWriter()
    reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    conn = Connection(ScriptedReader(reply), writer)
    response = await conn.roundtrip(REQUEST, _watchdog(1.0))
    assert response.body == b"ok"
    assert conn.state is ConnState.CLOSED
    assert writer.closed


async def test_roundtrip_reads_until_close_body_when_peer_closes() -> None:
    conn = Connection(ScriptedReader(b"HTTP/1.1 200 OK\r\n\r\nab", b"cd"), RecordingWriter())
    response = await conn.roundtrip(REQUEST, _watchdog(1.0))
    assert response.body == b"abcd"
    assert conn.state is ConnState.CLOSED


async def _reused(reader: ScriptedReader, writer: RecordingWriter) -> Connection:
    conn = Connection(reader, writer)
    await conn.roundtrip(REQUEST, _watchdog(1.0))
    assert conn.state is ConnState.IDLE
    return conn


async def test_roundtrip_raises_stale_when_reused_connection_ends_before_any_byte() -> None:
    writer = RecordingWriter()
    conn = await _reused(ScriptedReader(LENGTH_REPLY, b""), writer)
    with pytest.raises(StaleConnection) as info:
        await conn.roundtrip(REQUEST, _watchdog(1.0))
    assert info.value.retryable
    assert conn.state is ConnState.CLOSED
    assert writer.closed


@pytest.mark.parametrize("size", [0, 40_000], ids=["small-reset-seen-on-read", "large-reset-seen-on-drain"])
async def test_roundtrip_raises_stale_when_reused_connection_is_reset_on_write(size: int) -> None:
    writer = RecordingWriter()
    # asyncio reports a reset to both sides: drain() raises it, and so does the next read
    conn = await _reused(ScriptedReader(LENGTH_REPLY, ConnectionResetError("reset")), writer)
    writer.fail = ConnectionResetError("reset")
    with pytest.raises(StaleConnection) as info:
        await conn.roundtrip(REQUEST + b"x" * size, _watchdog(1.0))
    assert isinstance(info.value.__cause__, ConnectionResetError)


class BufferedReader(ScriptedReader):
    """A reader holding bytes nobody asked for yet, where asyncio.StreamReader keeps them."""

    def __init__(self, buffered: bytes, *items: bytes | BaseException | object) -> None:
        super().__init__(*items)
        self._buffer = bytearray(buffered)


async def test_roundtrip_raises_unwritten_retryable_error_when_bytes_wait_before_the_request() -> None:
    writer = RecordingWriter()
    reader = BufferedReader(b"", LENGTH_REPLY)
    conn = await _reused(reader, writer)
    reader._buffer.extend(LENGTH_REPLY)  # a stray reply arrived while idle
    assert not conn.reusable()
    written = bytes(writer.written)
    with pytest.raises(TransportError) as info:
        await conn.roundtrip(REQUEST, _watchdog(1.0))
    assert info.value.retryable
    assert not info.value.outcome_unknown  # nothing was written: certainly not received
    assert bytes(writer.written) == written
    assert conn.state is ConnState.CLOSED


async def test_roundtrip_raises_plain_transport_error_when_fresh_connection_ends_before_any_byte() -> None:
    conn = Connection(ScriptedReader(), RecordingWriter())
    with pytest.raises(TransportError) as info:
        await conn.roundtrip(REQUEST, _watchdog(1.0))
    assert not isinstance(info.value, StaleConnection)
    assert info.value.outcome_unknown


@pytest.mark.parametrize(
    "tail",
    [b"", ConnectionResetError("reset by peer")],
    ids=["eof", "reset"],
)
async def test_roundtrip_raises_unknown_outcome_when_reused_connection_dies_mid_reply(
    tail: bytes | BaseException,
) -> None:
    writer = RecordingWriter()
    conn = await _reused(ScriptedReader(LENGTH_REPLY, LENGTH_REPLY[:30], tail), writer)
    with pytest.raises(TransportError) as info:
        await conn.roundtrip(REQUEST, _watchdog(1.0))
    assert not isinstance(info.value, StaleConnection)  # bytes arrived: the server did process it
    assert info.value.outcome_unknown
    assert info.value.retryable
    assert conn.state is ConnState.CLOSED
    assert isinstance(info.value.__cause__, OSError | EOFError)


async def test_roundtrip_raises_transport_error_when_reply_is_malformed() -> None:
    conn = Connection(ScriptedReader(b"SMTP ready\r\n\r\n"), RecordingWriter())
    with pytest.raises(TransportError, match="malformed"):
        await conn.roundtrip(REQUEST, _watchdog(1.0))
    assert conn.state is ConnState.CLOSED


async def test_roundtrip_raises_transport_error_when_reply_is_too_slow() -> None:
    writer = RecordingWriter()
    conn = Connection(ScriptedReader(b"HTTP/1.1 200 O", _STALL), writer)
    with pytest.raises(TransportError, match="no complete reply") as info:
        await conn.roundtrip(REQUEST, _watchdog(0.01))
    assert info.value.outcome_unknown
    assert writer.closed


async def test_roundtrip_times_out_only_the_stalled_request_when_several_share_one_watchdog() -> None:
    watchdog = _watchdog(0.02)
    slow = Connection(ScriptedReader(b"HTTP/1.1 200 O", _STALL), RecordingWriter())
    slow_task = asyncio.ensure_future(slow.roundtrip(REQUEST, watchdog))
    quick = Connection(ScriptedReader(LENGTH_REPLY), RecordingWriter())
    assert (await quick.roundtrip(REQUEST, watchdog)).status == 200
    assert not slow_task.done()
    with pytest.raises(TransportError, match=r"no complete reply within 0\.02s") as info:
        await slow_task
    assert info.value.retryable
    assert slow.state is ConnState.CLOSED
    assert quick.state is ConnState.IDLE
    # the watchdog re-arms for later requests, and a timed-out request leaves its task uncancelled
    later = Connection(ScriptedReader(b"HTTP/1.1 200 O", _STALL), RecordingWriter())
    with pytest.raises(TransportError, match="no complete reply"):
        await later.roundtrip(REQUEST, watchdog)
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    fresh = Connection(ScriptedReader(LENGTH_REPLY), RecordingWriter())
    assert (await fresh.roundtrip(REQUEST, watchdog)).status == 200


async def test_roundtrip_lets_outer_timeout_win_when_it_strikes_before_the_read_timeout() -> None:
    conn = Connection(ScriptedReader(b"HTTP/1.1 200 O", _STALL), RecordingWriter())
    with pytest.raises(TimeoutError):  # asyncio.timeout's own error, not a TransportError
        async with asyncio.timeout(0.01):
            await conn.roundtrip(REQUEST, _watchdog(5.0))
    assert conn.state is ConnState.CLOSED
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0


async def test_roundtrip_closes_connection_when_cancelled_mid_reply() -> None:
    reader = ScriptedReader(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhalf", _STALL)
    writer = RecordingWriter()
    conn = Connection(reader, writer)
    task = asyncio.ensure_future(conn.roundtrip(REQUEST, _watchdog(5.0)))
    await reader.waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert conn.state is ConnState.CLOSED
    assert writer.closed
    assert not conn.reusable()


async def test_reusable_is_false_when_peer_closed_while_idle() -> None:
    reader = ScriptedReader(LENGTH_REPLY)
    conn = await _reused(reader, RecordingWriter())
    reader.eof = True
    assert not conn.reusable()
