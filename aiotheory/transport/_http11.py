"""HTTP/1.1 for the lean wire: request encoder, incremental response parser, one keep-alive connection.

The parser is fed byte chunks, so it is tested without sockets; the connection reads through two tiny
stream Protocols that asyncio's StreamReader/StreamWriter satisfy. Imports only the standard library and
`errors`; every native failure is translated here or in `_pool` into `TransportError`.
"""

from __future__ import annotations

import asyncio
import select
import ssl
import time
from typing import TYPE_CHECKING, Final, Protocol

from aiotheory.errors import TransportError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sized

__all__ = [
    "ConnState",
    "Connection",
    "HttpResponse",
    "Origin",
    "ProtocolError",
    "ReadWatchdog",
    "ResponseParser",
    "StaleConnection",
    "StreamReader",
    "StreamWriter",
    "encode_request",
    "split_url",
]

# A reply head larger than this is not an AWS reply; refusing it bounds memory on a broken peer.
_MAX_HEAD: Final = 64 * 1024
_MAX_LINE: Final = 8 * 1024
_READ_SIZE: Final = 64 * 1024
# A request this small never makes the transport pause writing (its high-water mark is 64 KiB), so
# drain() (two coroutine layers, about 1 µs) could only report a lost connection, which the read then
# reports the same way. Larger ones are drained for flow control.
_DRAIN_ABOVE: Final = 32 * 1024
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# Anything a poll reports on an idle socket (data, EOF, an error) makes it unusable. POLLIN also
# reports EOF; POLLHUP and POLLERR are always reported.
_POLL_IN: Final = getattr(select, "POLLIN", 0)


class HttpResponse:
    """One complete reply; header names are lower-case, repeated headers joined with ", ".

    A plain slotted class, not a dataclass: one is built per request, and a dataclass costs about
    0.4 ms of import time.
    """

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"HttpResponse(status={self.status!r}, headers={self.headers!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not HttpResponse:
            return NotImplemented
        return (self.status, self.headers, self.body) == (other.status, other.headers, other.body)

    __hash__ = None  # type: ignore[assignment]  # mutable headers dict: unhashable, as the dataclass was


class Origin:
    """Where a connection goes: the pool key. `netloc` is the Host header value (port only if not default).

    Immutable, compared and hashed by (scheme, host, port). Hand-written rather than a frozen dataclass
    (about 0.4 ms of import time).
    """

    __slots__ = ("_key", "host", "netloc", "port", "scheme")

    scheme: str
    host: str
    port: int
    netloc: str
    _key: tuple[str, str, int]

    def __init__(self, scheme: str, host: str, port: int) -> None:
        bracketed = f"[{host}]" if ":" in host else host
        netloc = bracketed if _DEFAULT_PORTS.get(scheme) == port else f"{bracketed}:{port}"
        setter = object.__setattr__
        setter(self, "scheme", scheme)
        setter(self, "host", host)
        setter(self, "port", port)
        setter(self, "netloc", netloc)
        setter(self, "_key", (scheme, host, port))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Origin is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Origin is immutable: cannot delete {name!r}")

    def __repr__(self) -> str:
        return f"Origin(scheme={self.scheme!r}, host={self.host!r}, port={self.port!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not Origin:
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


def split_url(url: str) -> tuple[Origin, str, str]:
    """Split an absolute http(s) URL into (origin, request target, userinfo); ValidationError if malformed."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORTS:
        raise ValidationError(f"expected an http:// or https:// URL, got {url!r}")
    cut = len(rest)
    for ch in "/?#":
        i = rest.find(ch)
        if 0 <= i < cut:
            cut = i
    authority, target = rest[:cut], rest[cut:]
    target = target.partition("#")[0]
    if not target.startswith("/"):
        target = "/" + target
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        userinfo = ""
    if hostport.startswith("["):
        host, bracket, after = hostport[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ValidationError(f"malformed IPv6 host in URL {url!r}")
        port_text = after[1:]
    else:
        host, _, port_text = hostport.partition(":")
    if not host or any(c in host for c in " \r\n\t"):
        raise ValidationError(f"URL {url!r} has no valid host")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValidationError(f"URL {url!r} has an invalid port")
        port = int(port_text)
    else:
        port = _DEFAULT_PORTS[scheme]
    if any(c in target for c in " \r\n"):
        raise ValidationError(f"URL {url!r} has whitespace in its path")
    return Origin(scheme, host.lower(), port), target, userinfo


def encode_request(method: str, target: str, headers: Mapping[str, str], body: bytes) -> bytes:
    """Render a request; adds content-length when absent. Refuses CR/LF in any header (no injection)."""
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    has_length = False
    for name, value in headers.items():
        if "\r" in name or "\n" in name or ":" in name or "\r" in value or "\n" in value:
            raise ValidationError(f"header {name!r} contains a line break or colon")
        if name.lower() == "content-length":
            has_length = True
        lines.append(f"{name}: {value}\r\n")
    if not has_length and (body or method in ("POST", "PUT", "PATCH")):
        lines.append(f"content-length: {len(body)}\r\n")
    lines.append("\r\n")
    try:
        head = "".join(lines).encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ValidationError("request headers must be latin-1 text") from exc
    return head + body if body else head


class ProtocolError(Exception):
    """The peer sent something that is not a valid HTTP/1.1 reply (translated to TransportError)."""


# Parser states: plain ints (an enum class costs about 80 µs of import time).
_HEAD: Final = 0
_LENGTH: Final = 1
_CHUNK_SIZE: Final = 2
_CHUNK_DATA: Final = 3
_CHUNK_END: Final = 4
_TRAILERS: Final = 5
_UNTIL_CLOSE: Final = 6
_DONE: Final = 7
_HEX: Final = frozenset("0123456789abcdefABCDEF")


class ResponseParser:
    """Incremental parser of one reply: `feed(chunk)` until it returns True, `feed_eof()` at end of stream.

    Handles Content-Length, chunked and read-until-close bodies, skips 1xx interim replies, and decides
    whether the connection may be kept alive. `received` counts bytes seen, so the pool can tell a stale
    connection (nothing received) from a broken reply.
    """

    __slots__ = (
        "_no_body",
        "_parts",
        "_pending",
        "_remaining",
        "_state",
        "body",
        "headers",
        "keep_alive",
        "received",
        "status",
        "trailing",
    )

    def __init__(self, *, no_body: bool = False) -> None:
        self._no_body = no_body  # a reply to HEAD (or a 2xx to CONNECT) has no body whatever it says
        self._state = _HEAD
        self._pending = b""
        self._parts: list[bytes] = []
        self._remaining = 0
        self.received = 0
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body = b""
        self.keep_alive = True
        self.trailing = False  # bytes after the reply: the connection cannot be reused safely

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def feed(self, data: bytes) -> bool:
        """Consume `data`; True once the reply is complete. Raises ProtocolError on a malformed reply."""
        self.received += len(data)
        state = self._state
        if state == _DONE:
            if data:
                self.trailing = True
            return True
        if self._pending:
            data = self._pending + data
            self._pending = b""
        pos = 0
        end = len(data)
        while True:
            if state == _HEAD:
                cut = data.find(b"\r\n\r\n", pos)
                if cut < 0:
                    if end - pos > _MAX_HEAD:
                        raise ProtocolError("reply head too large")
                    self._pending = data[pos:]
                    self._state = state
                    return False
                state = self._parse_head(data[pos:cut])
                pos = cut + 4
            elif state in (_LENGTH, _CHUNK_DATA):
                avail = end - pos
                need = self._remaining
                if avail < need:
                    if avail:
                        self._parts.append(data[pos:] if pos else data)
                    self._remaining = need - avail
                    self._state = state
                    return False
                self._parts.append(data[pos : pos + need])
                pos += need
                if state == _LENGTH:
                    self._finish(data, pos)
                    return True
                state = _CHUNK_END
            elif state in (_CHUNK_SIZE, _TRAILERS):
                cut = data.find(b"\r\n", pos)
                if cut < 0:
                    if end - pos > _MAX_LINE:
                        raise ProtocolError("chunk line too long")
                    self._pending = data[pos:]
                    self._state = state
                    return False
                line = data[pos:cut]
                pos = cut + 2
                if state == _TRAILERS:
                    if not line:
                        self._finish(data, pos)
                        return True
                    continue
                size_text = line.split(b";", 1)[0].strip().decode("latin-1")
                if not size_text or not _HEX.issuperset(size_text):
                    raise ProtocolError("bad chunk size")
                size = int(size_text, 16)
                if size:
                    self._remaining = size
                    state = _CHUNK_DATA
                else:
                    state = _TRAILERS
            elif state == _CHUNK_END:
                if end - pos < 2:
                    self._pending = data[pos:]
                    self._state = state
                    return False
                if data[pos : pos + 2] != b"\r\n":
                    raise ProtocolError("chunk not followed by CRLF")
                pos += 2
                state = _CHUNK_SIZE
            elif state == _UNTIL_CLOSE:
                if pos < end:
                    self._parts.append(data[pos:])
                self._state = state
                return False
            else:  # _DONE reached with zero-length body
                self._finish(data, pos)
                return True

    def feed_eof(self) -> bool:
        """The peer closed: True if that completes the reply (a read-until-close body), else False."""
        if self._state == _UNTIL_CLOSE:
            self._finish(b"", 0)
            self.keep_alive = False
            return True
        return self._state == _DONE

    def _finish(self, data: bytes, pos: int) -> None:
        parts = self._parts
        self.body = parts[0] if len(parts) == 1 else b"".join(parts)
        self._parts = []
        self._state = _DONE
        if pos < len(data):
            self.trailing = True

    def _parse_head(self, head: bytes) -> int:
        text = head.decode("latin-1")
        if "\r\n " in text or "\r\n\t" in text:
            raise ProtocolError("obsolete header line folding")
        lines = text.split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if (
            version not in ("HTTP/1.1", "HTTP/1.0")
            or not (code.isascii() and code.isdigit())
            or rest[3:4] not in ("", " ")
        ):
            raise ProtocolError("bad status line")
        status = int(code)
        headers: dict[str, str] = {}
        # The one per-reply loop: kept to partition/lower/strip (about 2 µs for AWS's 8 headers).
        for i in range(1, len(lines)):
            name, colon, value = lines[i].partition(":")
            if not colon or not name or name[-1] in " \t":
                raise ProtocolError("bad header line")
            name = name.lower()
            if name in headers:
                headers[name] += ", " + value.strip(" \t")
            else:
                headers[name] = value.strip(" \t")
        if 100 <= status < 200:
            if status == 101:
                raise ProtocolError("unexpected protocol switch")
            return _HEAD  # an interim reply; the real one follows
        self.status = status
        self.headers = headers
        conn = headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            self.keep_alive = "keep-alive" in conn
        elif "close" in conn:
            self.keep_alive = False
        if self._no_body or status in (204, 304):
            return _DONE
        te = headers.get("transfer-encoding")
        if te is not None:
            if "content-length" in headers:
                self.keep_alive = False  # RFC 9112 6.3: both present -> close after this reply
            if te.lower().rpartition(",")[2].strip() == "chunked":
                return _CHUNK_SIZE
            self.keep_alive = False
            return _UNTIL_CLOSE
        length = headers.get("content-length")
        if length is None:
            self.keep_alive = False
            return _UNTIL_CLOSE
        if "," in length:  # repeated header: every value must agree (RFC 9110 8.6)
            values = {v.strip() for v in length.split(",")}
            only = values.pop()
            if values:
                raise ProtocolError("bad content-length")
        else:
            only = length.strip()
        if not (only.isascii() and only.isdigit()):
            raise ProtocolError("bad content-length")
        self._remaining = int(only)
        return _LENGTH if self._remaining else _DONE


class StreamReader(Protocol):
    """What a connection reads from; asyncio.StreamReader satisfies it, tests pass a scripted fake."""

    async def read(self, n: int = -1, /) -> bytes: ...

    def at_eof(self) -> bool: ...


class StreamWriter(Protocol):
    """What a connection writes to; asyncio.StreamWriter satisfies it."""

    def write(self, data: bytes, /) -> None: ...

    async def drain(self) -> None: ...

    def close(self) -> None: ...

    def is_closing(self) -> bool: ...


class _State:
    """One connection state; compared by identity, like an enum member."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<ConnState.{self.name}>"


class ConnState:
    """A connection's life: NEW -> ACTIVE -> IDLE -> ACTIVE ... -> CLOSED (CLOSED is final).

    Four identity-compared constants with a `.name`, not an enum.Enum (about 80 µs of import time).
    """

    __slots__ = ()

    NEW: Final = _State("NEW")
    ACTIVE: Final = _State("ACTIVE")
    IDLE: Final = _State("IDLE")
    CLOSED: Final = _State("CLOSED")


_NEW: Final = ConnState.NEW
_ACTIVE: Final = ConnState.ACTIVE
_IDLE: Final = ConnState.IDLE
_CLOSED: Final = ConnState.CLOSED


class StaleConnection(TransportError):
    """A reused connection ended before any reply byte, after the request was written.

    Most often the server had closed it, but it may have read the request first: whether it acted on
    it is unknown, so nothing below the call function resends it (`outcome_unknown` is True).
    """


class ReadWatchdog:
    """Enforces the read timeout of every request on one loop with a single timer.

    `asyncio.timeout()` per request cost 8-12 µs (a Timeout, a TimerHandle and timer-heap comparisons
    run in Python); here a request costs a dict insert and delete. The timer is armed for the earliest
    give-up time in flight and re-armed only while requests are in flight, so a timeout fires on time.
    On expiry it cancels the request's task with `asyncio.Timeout`'s uncancel bookkeeping, so an outer
    cancellation (a deadline scope, a task group) is never mistaken for a read timeout, nor swallowed.
    """

    __slots__ = ("_armed_at", "_handle", "_inflight", "_loop", "_now", "_within")

    def __init__(self, loop: asyncio.AbstractEventLoop, within: float) -> None:
        self._loop = loop
        # asyncio's own loops read `time.monotonic()` in a Python method: calling the builtin itself
        # saves a Python call per request. A loop with its own clock (uvloop, a test loop) keeps it.
        self._now: Callable[[], float] = (
            time.monotonic if type(loop).time is asyncio.BaseEventLoop.time else loop.time
        )
        self._within = within
        self._inflight: dict[Connection, float] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = _NEVER

    def watch(self, conn: Connection) -> None:
        """Start `conn`'s timeout; the caller must `release(conn)` whatever happens."""
        task = asyncio.current_task(self._loop)
        if task is None:
            raise RuntimeError("a request must run inside a task")
        conn._task = task
        conn._cancelling = task.cancelling()
        conn._expired = False
        give_up = self._now() + self._within
        self._inflight[conn] = give_up
        if give_up < self._armed_at:  # only when unarmed: one `within` per watchdog, a monotonic clock
            self._arm(give_up)

    @property
    def within(self) -> float:
        return self._within

    def release(self, conn: Connection) -> bool:
        """End `conn`'s timeout; True if it expired and the task's pending cancellation was ours alone."""
        if self._inflight.pop(conn, None) is not None or not conn._expired:
            conn._task = None
            return False
        task = conn._task
        conn._task = None
        return task is not None and task.uncancel() <= conn._cancelling

    def _arm(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = at
        self._handle = self._loop.call_at(at, self._expire)

    def _expire(self) -> None:
        self._handle = None
        self._armed_at = _NEVER
        now = self._loop.time()
        inflight = self._inflight
        late = [conn for conn, give_up in inflight.items() if give_up <= now]
        for conn in late:
            del inflight[conn]
            conn._expired = True
            if conn._task is not None:
                conn._task.cancel()
        if inflight:
            self._arm(min(inflight.values()))


_NEVER: Final = float("inf")


def _socket_probe(writer: StreamWriter) -> Callable[[int], list[tuple[int, int]]] | None:
    """`poll(0)` on the connection's socket: non-empty when it has something to read (or failed).

    Polling consumes nothing, so it is safe on a socket asyncio's transport (and its SSL layer) owns,
    and needs only the public `fileno()`. 0.5 µs where a MSG_PEEK `recv` cost 1.5 µs (it signals "no
    data" by raising BlockingIOError). The poll object names the descriptor by number, so it is only
    asked while the transport is open (the descriptor closes after `is_closing()` turns True).
    None for a fake stream or where `select.poll` is missing (Windows): the checks on the reader stay.
    """
    get_extra_info = getattr(writer, "get_extra_info", None)
    sock = get_extra_info("socket") if get_extra_info is not None else None
    fd = sock.fileno() if sock is not None else -1
    if fd < 0 or not hasattr(select, "poll"):
        return None
    poller = select.poll()
    poller.register(fd, _POLL_IN)
    return poller.poll


class Connection:
    """One keep-alive HTTP/1.1 connection. Any failure or cancellation closes it: never reused half-read."""

    __slots__ = (
        "_buffered",
        "_cancelling",
        "_expired",
        "_probe",
        "_reader",
        "_task",
        "_writer",
        "idle_since",
        "served",
        "state",
    )

    def __init__(self, reader: StreamReader, writer: StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        # asyncio.StreamReader's buffer, one bytearray for the reader's life (private, no public length):
        # bytes the loop read for us that no request asked for yet. Fakes have none.
        buffered = getattr(reader, "_buffer", None)
        self._buffered: Sized = buffered if isinstance(buffered, bytearray) else b""
        self._probe = _socket_probe(writer)
        self.state = _NEW
        self.served = 0
        self.idle_since = 0.0
        # Set by ReadWatchdog while a request is in flight.
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self._expired = False

    def __repr__(self) -> str:
        return f"<Connection {self.state.name} served={self.served}>"

    def reusable(self) -> bool:
        """Idle, open, and with nothing to read: not a byte buffered, none waiting in the socket.

        On an idle connection a byte is never a reply to a request of ours: it is a stray or repeated
        reply (read next, it would answer the next request, maybe another partner's) or the peer's
        close that the loop has not processed yet (EOF). Either way the connection is not reused.
        Measured: 0.7 µs per request more than the reader and writer checks alone.
        """
        if self.state is not _IDLE or self._buffered or self._reader.at_eof() or self._writer.is_closing():
            return False
        probe = self._probe
        return probe is None or not probe(0)

    def close(self) -> None:
        """Close without awaiting: safe in `finally` and under cancellation."""
        if self.state is not _CLOSED:
            self.state = _CLOSED
            self._writer.close()

    async def roundtrip(self, request: bytes, watchdog: ReadWatchdog, *, head: bool = False) -> HttpResponse:
        """Write `request` and read one whole reply, all within `watchdog.within` seconds.

        Raises:
            StaleConnection: a reused connection ended before any reply byte; the request was written,
                so its outcome is unknown and it is not resent here.
            TransportError: the wire failed; `outcome_unknown` is set once the request was written.
                Bytes already waiting before the write (a reply to nobody) fail it unwritten.
        """
        if self._buffered:
            # Read now, these bytes would pass for the reply to `request`. Nothing was written.
            self.close()
            raise TransportError(
                "connection had unrequested bytes before the request was written",
                retryable=True,
                outcome_unknown=False,
            )
        reused = self.state is _IDLE
        self.state = _ACTIVE
        parser = ResponseParser(no_body=head)
        watchdog.watch(self)
        try:
            try:
                self._writer.write(request)
                if len(request) > _DRAIN_ABOVE:
                    await self._writer.drain()
                read = self._reader.read
                while True:
                    data = await read(_READ_SIZE)
                    if data:
                        if parser.feed(data):
                            break
                    elif parser.feed_eof():
                        break
                    else:
                        raise EOFError("connection closed before the reply was complete")
            finally:
                expired = watchdog.release(self)
        except asyncio.CancelledError:
            self.close()  # cancelled by the watchdog or the deadline: the reply is half-read, drop it
            if expired:
                raise TransportError(
                    f"no complete reply within {watchdog.within:g}s", retryable=True, outcome_unknown=True
                ) from TimeoutError()
            raise
        except ssl.SSLCertVerificationError as exc:  # cannot happen mid-stream, but never retry it
            self.close()
            raise TransportError(f"TLS verification failed: {exc}", retryable=False) from exc
        except (OSError, EOFError) as exc:
            self.close()
            if reused and parser.received == 0:
                raise StaleConnection(
                    f"pooled connection closed by the server: {exc!r}", retryable=True, outcome_unknown=True
                ) from exc
            raise TransportError(
                f"connection lost mid-reply: {exc!r}", retryable=True, outcome_unknown=True
            ) from exc
        except ProtocolError as exc:
            self.close()
            raise TransportError(
                f"malformed HTTP reply: {exc}", retryable=True, outcome_unknown=True
            ) from exc
        except BaseException:
            self.close()
            raise
        self.served += 1
        if parser.keep_alive and not parser.trailing:
            self.state = _IDLE
        else:
            self.close()
        return HttpResponse(parser.status, parser.headers, parser.body)
