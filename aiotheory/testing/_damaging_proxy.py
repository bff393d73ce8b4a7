"""A loopback HTTP/1.1 proxy in front of a real engine that damages replies after the write landed.

Every request is forwarded upstream and its whole reply read, so the engine has applied it; only then
does the client get the reply, intact or damaged on cue. Standard library only; it never imports the
transport it tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import urllib.parse
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal, Self, TypeAlias, get_args

from ._faultserver import parse_head

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["Damage", "DamagingProxy"]

Damage: TypeAlias = Literal["bad_crc", "garbage", "truncate", "drop", "stray"]

_DAMAGES: Final = frozenset(get_args(Damage))
_GARBAGE: Final = b"<html>garbage</html>"
#: A GetItem reply holding an item of nobody's, keyed under the usual key names so any model decodes it.
_STRAY_BODY: Final = json.dumps(
    {"Item": {name: {"S": "someone-elses-item"} for name in ("id", "pk", "sk")}}, separators=(",", ":")
).encode()
# Hop-by-hop and framing headers (RFC 9110 §7.6.1): the proxy frames its own client connection. moto
# answers every request with `Connection: close`; passed on, no client connection would ever go idle.
_HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
     "content-length"}
)  # fmt: skip
_CLIENT_FAILED: Final = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)
_UPSTREAM_FAILED: Final = (
    OSError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    ValueError,
    IndexError,
)


@dataclass(frozen=True, slots=True)
class _Request:
    raw: bytes = field(repr=False)
    operation: str
    close: bool


@dataclass(frozen=True, slots=True)
class _Reply:
    """An upstream reply, de-chunked, without its hop-by-hop and framing headers."""

    status_line: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = field(repr=False)


@dataclass(slots=True)
class _Pending:
    operation: str | None
    kind: Damage
    left: int


class DamagingProxy:
    """`async with DamagingProxy(backend.endpoint_url) as proxy:` serves `proxy.url` on loopback.

    Each request is forwarded byte for byte to `upstream` (a fresh upstream connection per request) and
    the whole reply is read before the client sees anything, so a damaged reply always belongs to a
    request the engine has applied. Client connections are kept alive. The proxy stops by itself after
    `lifetime` seconds, so a forgotten one cannot run forever.

    Args:
        upstream: the engine's `http://` URL; like `host`, it must be a loopback address.
        stray_delay: seconds between the intact reply and the stray one of a "stray" damage.
        stray_body: the stray reply's body; by default a GetItem reply holding an item that is nobody's.
    """

    def __init__(
        self,
        upstream: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        stray_delay: float = 0.05,
        stray_body: bytes | None = None,
        lifetime: float = 300.0,
    ) -> None:
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not _is_loopback(parts.hostname):
            raise ValueError(f"upstream must be an http:// URL on a loopback address, got {upstream!r}")
        if not _is_loopback(host):
            raise ValueError(f"the proxy listens on loopback addresses only, got {host!r}")
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port or 80
        self._host = host
        self._port = port
        self._stray_delay = stray_delay
        self._stray_body = _STRAY_BODY if stray_body is None else stray_body
        self._lifetime = lifetime
        self._pending: list[_Pending] = []
        self._forwarded: list[str] = []
        self._damaged: list[tuple[str, Damage]] = []
        self._strays_sent = 0
        self._stray_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[object]] = set()
        self._strays: set[asyncio.Task[None]] = set()
        self._stopped = False
        self._timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return (
            f"DamagingProxy(upstream='http://{self._upstream_host}:{self._upstream_port}', url={self.url!r})"
        )

    @property
    def url(self) -> str:
        """The proxy's endpoint, for `DB(endpoint_url=...)`; its port is known once the proxy started."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    def damage(self, operation: str | None, kind: Damage, *, times: int = 1) -> None:
        """Damage the replies of the next `times` requests whose X-Amz-Target operation is `operation`.

        `operation` is e.g. "UpdateItem"; None matches any. Each request is forwarded upstream and its
        whole upstream reply read first, so the write has been applied. A request matching several
        pending damages takes the one registered first.
        """
        if kind not in _DAMAGES:
            raise ValueError(f"unknown damage {kind!r}; one of {sorted(_DAMAGES)}")
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        self._pending.append(_Pending(operation, kind, times))

    def clear(self) -> None:
        """Forget every pending damage."""
        self._pending.clear()

    def pending(self) -> int:
        """How many damages are still to apply."""
        return sum(entry.left for entry in self._pending)

    @property
    def forwarded(self) -> list[str]:
        """The operation of every request forwarded upstream, in order ("" without an X-Amz-Target)."""
        return list(self._forwarded)

    @property
    def damaged(self) -> list[tuple[str, Damage]]:
        """(operation, kind) of every reply damaged, in order."""
        return list(self._damaged)

    @property
    def strays_sent(self) -> int:
        """How many stray replies have been written to client connections."""
        return self._strays_sent

    async def wait_for_strays(self, count: int = 1) -> None:
        """Return once `count` stray replies have been written in total (a test's way not to sleep).

        A stray is not written if its client connection closed first, so wait only where it stays open.

        Raises:
            RuntimeError: the proxy stopped first.
        """
        if self._strays_sent >= count:
            return
        if self._stopped:
            raise RuntimeError(f"the proxy stopped before {count} stray replies were sent")
        waiter = asyncio.get_running_loop().create_future()
        self._stray_waiters.append((count, waiter))
        await waiter

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]
        self._timer = asyncio.get_running_loop().call_later(self._lifetime, self.stop)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if self._server is not None:
            await self._server.wait_closed()
        # Every connection is closed and every stray cancelled, so the tasks end promptly; awaiting
        # them leaves none behind for the loop to cancel.
        while self._handlers or self._strays:
            await asyncio.gather(*self._handlers, *self._strays, return_exceptions=True)

    def stop(self) -> None:
        """Stop listening, close every connection and cancel strays not yet written."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._stopped = True
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._strays):
            task.cancel()
        for count, waiter in self._stray_waiters:
            if not waiter.done():
                waiter.set_exception(
                    RuntimeError(f"the proxy stopped before {count} stray replies were sent")
                )
        self._stray_waiters.clear()

    # ------------------------------------------------------------------------------------- serving

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        try:
            while not self._stopped:
                request = await _read_request(reader)
                if request is None:
                    return
                reply = await self._forward(request)
                if reply is None:
                    if not self._stopped:
                        writer.write(_render_bad_gateway())
                    return
                if not await self._answer(request, reply, writer):
                    return
        except _CLIENT_FAILED:
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _forward(self, request: _Request) -> _Reply | None:
        """Send `request` upstream and read its whole reply; None if the upstream failed."""
        try:
            reader, writer = await asyncio.open_connection(self._upstream_host, self._upstream_port)
        except OSError:
            return None
        if self._stopped:  # stop() ran while connecting: it could not close this one
            writer.close()
            return None
        self._writers.add(writer)
        try:
            writer.write(request.raw)
            await writer.drain()
            self._forwarded.append(request.operation)
            return await _read_reply(reader)
        except _UPSTREAM_FAILED:
            return None
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, request: _Request, reply: _Reply, writer: asyncio.StreamWriter) -> bool:
        """Send `reply`, damaged if a pending damage matches; False when the connection is finished."""
        kind = self._take(request.operation)
        if kind is not None:
            self._damaged.append((request.operation, kind))
        if kind == "drop":
            return False
        if kind == "truncate":
            whole = _render(reply.status_line, reply.headers, reply.body, close=False)
            cut = len(whole) - len(reply.body) + len(reply.body) // 2
            # An empty body has no half to keep: cut the head's last CRLF so the reply stays incomplete.
            writer.write(whole[: cut if reply.body else cut - 2])
            await writer.drain()
            return False
        if kind == "bad_crc":
            wrong = str((zlib.crc32(reply.body) + 1) & 0xFFFFFFFF)
            data = _render(reply.status_line, reply.headers, reply.body, close=request.close, crc=wrong)
        elif kind == "garbage":
            good = str(zlib.crc32(_GARBAGE))
            data = _render("HTTP/1.1 200 OK", reply.headers, _GARBAGE, close=request.close, crc=good)
        else:
            data = _render(reply.status_line, reply.headers, reply.body, close=request.close)
        # One write per reply: a stray written later can never land inside it.
        writer.write(data)
        await writer.drain()
        if kind == "stray" and not request.close:
            stray = asyncio.create_task(self._stray(writer))
            self._strays.add(stray)
            stray.add_done_callback(self._strays.discard)
        return not request.close

    def _take(self, operation: str) -> Damage | None:
        for entry in self._pending:
            if entry.operation is None or entry.operation == operation:
                entry.left -= 1
                if entry.left == 0:
                    self._pending.remove(entry)
                return entry.kind
        return None

    async def _stray(self, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(self._stray_delay)
        if writer.is_closing():
            return
        self._strays_sent += 1
        writer.write(_render_stray(self._stray_body, self._strays_sent))
        for count, waiter in list(self._stray_waiters):
            if self._strays_sent >= count:
                self._stray_waiters.remove((count, waiter))
                if not waiter.done():
                    waiter.set_result(None)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """One whole request (DynamoDB's always carry a content-length); None once the client closed."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    _, fields = parse_head(head)
    headers = {name.lower(): value for name, value in fields}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    operation = headers.get("x-amz-target", "").rpartition(".")[2]
    return _Request(head + body, operation, headers.get("connection", "").lower() == "close")


async def _read_reply(reader: asyncio.StreamReader) -> _Reply:
    """One whole reply, framed by content-length, chunks or the end of the connection."""
    while True:
        start, fields = parse_head(await reader.readuntil(b"\r\n\r\n"))
        status = int(start.split(" ", 2)[1])
        if not 100 <= status < 200:  # an interim reply (100 Continue) precedes the real one
            break
    headers = {name.lower(): value for name, value in fields}
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    elif "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif status in (204, 304):
        body = b""
    else:
        body = await reader.read()
    kept = tuple((name, value) for name, value in fields if name.lower() not in _HOP_BY_HOP)
    return _Reply(start, kept, body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16):
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailer fields, dropped
        pass
    return b"".join(parts)


def _render(
    status_line: str,
    headers: tuple[tuple[str, str], ...],
    body: bytes,
    *,
    close: bool,
    crc: str | None = None,
) -> bytes:
    """A reply with content-length framing; `crc` replaces the upstream `x-amz-crc32` (or adds one)."""
    lines = [status_line]
    for name, value in headers:
        if crc is None or name.lower() != "x-amz-crc32":
            lines.append(f"{name}: {value}")
    if crc is not None:
        lines.append(f"x-amz-crc32: {crc}")
    if close:
        lines.append("connection: close")
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _render_stray(body: bytes, number: int) -> bytes:
    headers = (("content-type", "application/x-amz-json-1.0"), ("x-amzn-requestid", f"stray-{number}"))
    return _render("HTTP/1.1 200 OK", headers, body, close=False, crc=str(zlib.crc32(body)))


def _render_bad_gateway() -> bytes:
    body = b"upstream failed"
    headers = (("content-type", "text/plain"),)
    return _render("HTTP/1.1 502 Bad Gateway", headers, body, close=True)
