"""A small local HTTP/1.1 server that misbehaves on cue, for testing the lean wire against real sockets.

It answers each request with the next scripted action (a reply, a reset, a stall, a drop), records
what it received, can tunnel CONNECT like a proxy, and stops by itself after `lifetime` seconds.
Standard library only; it never imports the transport it tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

if TYPE_CHECKING:
    import ssl
    from types import TracebackType

__all__ = [
    "Action",
    "DropReply",
    "FaultServer",
    "HoldReply",
    "Recorded",
    "Reply",
    "ResetReply",
    "StallReply",
    "dynamodb_error",
    "parse_head",
]

_DDB_TYPE: Final = "com.amazonaws.dynamodb.v20120810#"
_REASONS: Final = {200: "OK", 400: "Bad Request", 500: "Internal Server Error", 502: "Bad Gateway",
                   503: "Service Unavailable"}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """A complete reply. `crc32` "good" adds a correct `x-amz-crc32`, "bad" a wrong one, "none" none.

    `close` closes the connection after the reply without announcing it (a server dropping an idle
    keep-alive connection); `connection_close` announces it with `Connection: close`.
    """

    status: int = 200
    body: bytes = b"{}"
    headers: tuple[tuple[str, str], ...] = ()
    crc32: Literal["good", "bad", "none"] = "good"
    chunked: bool = False
    close: bool = False
    connection_close: bool = False

    def render(self, request_id: int) -> bytes:
        body = self.body
        lines = [
            f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Status')}",
            "content-type: application/x-amz-json-1.0",
            f"x-amzn-requestid: req-{request_id}",
        ]
        if self.crc32 == "good":
            lines.append(f"x-amz-crc32: {zlib.crc32(body)}")
        elif self.crc32 == "bad":
            lines.append(f"x-amz-crc32: {(zlib.crc32(body) + 1) & 0xFFFFFFFF}")
        if self.connection_close:
            lines.append("connection: close")
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        if self.chunked:
            lines.append("transfer-encoding: chunked")
            half = len(body) // 2
            payload = b"".join(
                f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (body[:half], body[half:]) if p
            )
            body = payload + b"0\r\n\r\n"
        else:
            lines.append(f"content-length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True, slots=True, kw_only=True)
class ResetReply:
    """Send the first `after` bytes of `reply`, then end the connection (TCP RST if `rst`, else FIN)."""

    after: int = 0
    reply: Reply = field(default_factory=Reply)
    rst: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class StallReply:
    """Send `send` (e.g. half a status line), then never answer until the server stops."""

    send: bytes = b""


@dataclass(frozen=True, slots=True)
class DropReply:
    """Read the request, then close the connection without a byte: a keep-alive race lost."""


@dataclass(frozen=True, slots=True)
class HoldReply:
    """Answer with `reply` only once the test sets `release`: orders replies without sleeping."""

    release: asyncio.Event
    reply: Reply = field(default_factory=Reply)


Action: TypeAlias = Reply | ResetReply | StallReply | DropReply | HoldReply


def dynamodb_error(code: str, message: str = "", status: int = 400) -> Reply:
    """The reply DynamoDB sends for error `code` (e.g. "ThrottlingException")."""
    doc = {"__type": _DDB_TYPE + code, "message": message or code}
    return Reply(status=status, body=json.dumps(doc).encode())


def parse_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    """The start line and the header fields, in order and as spelled, of a head ending in a blank line."""
    lines = head.decode("latin-1").split("\r\n")
    fields: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            fields.append((name.strip(), value.strip()))
    return lines[0], fields


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as the server read it; header names lower-case; `connection` numbers connections from 1."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes = field(repr=False)
    connection: int = 0


class FaultServer:
    """`async with FaultServer(*script) as srv:` serves `srv.url` on 127.0.0.1 until the block ends.

    Each request takes the next action of the script; when the script is used up, `default` answers.
    The server closes itself (and every connection) after `lifetime` seconds in any case. With
    `tunnel`, a CONNECT request is tunnelled like a proxy would; otherwise it is scripted like any other.
    `port` 0 picks a free port.
    """

    def __init__(
        self,
        *script: Action,
        default: Action | None = None,
        ssl_context: ssl.SSLContext | None = None,
        lifetime: float = 30.0,
        tunnel: bool = True,
        port: int = 0,
    ) -> None:
        self.script: deque[Action] = deque(script)
        self.default: Action = Reply() if default is None else default
        self.requests: list[Recorded] = []
        self.connections = 0
        self._ssl = ssl_context
        self._lifetime = lifetime
        self._tunnel_connect = tunnel
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[object]] = set()
        self._stopped = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._arrivals: list[tuple[int, asyncio.Future[None]]] = []
        self.port = port

    @property
    def url(self) -> str:
        return f"{'https' if self._ssl else 'http'}://127.0.0.1:{self.port}"

    async def wait_for_requests(self, count: int) -> None:
        """Return once `count` requests have arrived in total."""
        if len(self.requests) >= count:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._arrivals.append((count, waiter))
        await waiter

    def _arrived(self, request: Recorded) -> None:
        self.requests.append(request)
        for count, waiter in list(self._arrivals):
            if len(self.requests) >= count:
                self._arrivals.remove((count, waiter))
                if not waiter.done():
                    waiter.set_result(None)

    async def __aenter__(self) -> FaultServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self._ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        self._timer = asyncio.get_running_loop().call_later(self._lifetime, self.stop)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if self._server is not None:
            await self._server.wait_closed()
        # Every connection is closed and every stall released, so the handlers end promptly; awaiting
        # them leaves no task behind for the loop to cancel.
        while self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)

    def stop(self) -> None:
        """Stop listening and close every connection; stalled replies end here."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._stopped.set()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        if self._stopped.is_set():
            writer.close()
            return
        try:
            while not self._stopped.is_set():
                request = await self._read_request(reader, connection)
                if request is None:
                    return
                self._arrived(request)
                if request.method == "CONNECT" and self._tunnel_connect:
                    await self._tunnel(request.target, reader, writer)
                    return
                action = self.script.popleft() if self.script else self.default
                if not await self._act(action, len(self.requests), writer):
                    return
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader, connection: int) -> Recorded | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        start, fields = parse_head(head)
        method, target, _ = start.split(" ", 2)
        headers = {name.lower(): value for name, value in fields}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Recorded(method, target, headers, body, connection)

    async def _act(self, action: Action, request_id: int, writer: asyncio.StreamWriter) -> bool:
        """Perform `action`; False when the connection is finished."""
        if isinstance(action, Reply):
            writer.write(action.render(request_id))
            await writer.drain()
            return not (action.close or action.connection_close)
        if isinstance(action, ResetReply):
            writer.write(action.reply.render(request_id)[: action.after])
            await writer.drain()
            if action.rst:
                sock = writer.get_extra_info("socket")
                if sock is not None:  # SO_LINGER 0: close sends RST instead of FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
            return False
        if isinstance(action, HoldReply):
            await action.release.wait()
            return await self._act(action.reply, request_id, writer)
        if isinstance(action, StallReply):
            if action.send:
                writer.write(action.send)
                await writer.drain()
            await self._stopped.wait()
            return False
        return False  # DropReply

    async def _tunnel(self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, _, port = target.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
        self._writers.add(up_writer)
        try:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        finally:
            self._writers.discard(up_writer)
            up_writer.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    if writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()
