"""An instant DynamoDB stand-in for bench/ops.py: fixed small replies, so client cost is what we time.

Run as its own process (`python bench/_stub.py`); it prints `PORT <n>` once listening. Keep-alive
HTTP/1.1 on a bare asyncio Protocol; every reply carries Content-Length, x-amzn-requestid and a correct
x-amz-crc32. GetItem answers with `ITEM` (a Payment row), BatchWriteItem with no unprocessed items, and
everything else with `{}`. No signature check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import zlib
from typing import Final

__all__ = ["ITEM", "main"]

#: What every GetItem returns: a Payment as the bench handlers and ops clients define it.
ITEM: Final = {
    "partner_id": {"S": "p1"},
    "id": {"S": "pay_1"},
    "amount": {"N": "10050"},
    "currency": {"S": "USD"},
    "status": {"S": "pending"},
    "note": {"S": "a small bench item"},
}


def _reply(body: bytes) -> bytes:
    head = (
        "HTTP/1.1 200 OK\r\n"
        "content-type: application/x-amz-json-1.0\r\n"
        "x-amzn-requestid: STUB0000000000000000000000000000000000000000000000000\r\n"
        f"x-amz-crc32: {zlib.crc32(body)}\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


_GET: Final = _reply(json.dumps({"Item": ITEM}, separators=(",", ":")).encode())
_EMPTY: Final = _reply(b"{}")
_BATCH_WRITE: Final = _reply(b'{"UnprocessedItems":{}}')  # DynamoDB always sends the key; aiodynamo reads it


class _Dynamo(asyncio.Protocol):
    __slots__ = ("buffer", "transport")

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        out = []
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end].lower() + b"\r\n"
            at = head.find(b"content-length:")
            length = int(head[at + 15 : head.index(b"\r\n", at)]) if at >= 0 else 0
            total = end + 4 + length
            if len(buffer) < total:
                break
            if b".getitem\r\n" in head:
                out.append(_GET)
            else:
                out.append(_BATCH_WRITE if b".batchwriteitem\r\n" in head else _EMPTY)
            buffer = buffer[total:]
        self.buffer = buffer
        if out and self.transport is not None:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Dynamo, "127.0.0.1", port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(port))


if __name__ == "__main__":
    main()
