"""The floor: the least a hand-written stdlib asyncio DynamoDB client must do, for ratios in bench/.

Written from the AWS docs (JSON 1.0 protocol, Signature Version 4), independent of aiotheory: a
keep-alive connection pool over asyncio streams, Content-Length or chunked replies, x-amz-crc32
checked, the signing key cached per day. No retries, no error mapping, no types: a reply is a dict.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import zlib
from typing import Any, Final

__all__ = ["FloorClient", "FloorError"]

_CONTENT_TYPE: Final = "application/x-amz-json-1.0"
_SIGNED_HEADERS: Final = "content-type;host;x-amz-date;x-amz-target"
_SIGNED_HEADERS_TOKEN: Final = "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
_ENCODE: Final = json.JSONEncoder(separators=(",", ":")).encode
_DECODE: Final = json.JSONDecoder().decode


class FloorError(Exception):
    """DynamoDB answered with an error status (the body holds `__type` and `message`)."""


class FloorClient:
    """DynamoDB over HTTP/1.1 (plain http only: the benchmarks run against local engines)."""

    def __init__(
        self,
        endpoint_url: str,
        region: str,
        access_key: str,
        secret_key: str,
        session_token: str | None = None,
    ) -> None:
        rest = endpoint_url.split("://", 1)[1].rstrip("/")
        host, _, port = rest.partition(":")
        self._host = host
        self._port = int(port or 80)
        self._netloc = rest
        self._region = region
        self._access_key = access_key
        self._secret_key = secret_key
        self._token = session_token
        self._scope_tail = f"/{region}/dynamodb/aws4_request"
        self._key_day = ""
        self._key = b""
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get_item(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        reply = await self.call("GetItem", {"TableName": table, "Key": key})
        item: dict[str, Any] | None = reply.get("Item")
        return item

    async def put_item(self, table: str, item: dict[str, Any]) -> None:
        await self.call("PutItem", {"TableName": table, "Item": item})

    async def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = _ENCODE(payload).encode()
        request = self._signed_request(operation, body)
        conn = self._idle.pop() if self._idle else await self._open()
        try:
            status, headers, data = await self._roundtrip(conn, request)
        except (ConnectionError, asyncio.IncompleteReadError):
            conn[1].close()
            conn = await self._open()  # the server closed the idle connection: one fresh try
            status, headers, data = await self._roundtrip(conn, request)
        if headers.get("connection") == "close":
            conn[1].close()
        else:
            self._idle.append(conn)
        crc = headers.get("x-amz-crc32")
        if crc is not None and int(crc) != zlib.crc32(data):
            raise FloorError(f"{operation}: CRC32 mismatch")
        doc: dict[str, Any] = _DECODE(data.decode()) if data else {}
        if status != 200:
            raise FloorError(f"{operation}: HTTP {status} {doc.get('__type')}: {doc.get('message')}")
        return doc

    async def close(self) -> None:
        while self._idle:
            self._idle.pop()[1].close()

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self._host, self._port)

    def _signed_request(self, operation: str, body: bytes) -> bytes:
        # SigV4 (AWS General Reference, "Create a signed AWS API request"): canonical request ->
        # string to sign -> HMAC with the key derived from the secret, date, region and service.
        now = time.gmtime()
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", now)
        day = amz_date[:8]
        if day != self._key_day:
            k = hmac.digest(("AWS4" + self._secret_key).encode(), day.encode(), "sha256")
            for part in (self._region, "dynamodb", "aws4_request"):
                k = hmac.digest(k, part.encode(), "sha256")
            self._key, self._key_day = k, day
        target = "DynamoDB_20120810." + operation
        token = self._token
        if token is None:
            canonical_headers = (
                f"content-type:{_CONTENT_TYPE}\nhost:{self._netloc}\nx-amz-date:{amz_date}\n"
                f"x-amz-target:{target}\n"
            )
            signed = _SIGNED_HEADERS
        else:
            canonical_headers = (
                f"content-type:{_CONTENT_TYPE}\nhost:{self._netloc}\nx-amz-date:{amz_date}\n"
                f"x-amz-security-token:{token}\nx-amz-target:{target}\n"
            )
            signed = _SIGNED_HEADERS_TOKEN
        canonical = f"POST\n/\n\n{canonical_headers}\n{signed}\n{hashlib.sha256(body).hexdigest()}"
        scope = day + self._scope_tail
        to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._key, to_sign.encode(), "sha256").hexdigest()
        head = (
            f"POST / HTTP/1.1\r\nhost: {self._netloc}\r\ncontent-type: {_CONTENT_TYPE}\r\n"
            f"x-amz-date: {amz_date}\r\nx-amz-target: {target}\r\n"
            + (f"x-amz-security-token: {token}\r\n" if token is not None else "")
            + f"authorization: AWS4-HMAC-SHA256 Credential={self._access_key}/{scope}, "
            f"SignedHeaders={signed}, Signature={signature}\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    @staticmethod
    async def _roundtrip(
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        reader, writer = conn
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = headers.get("content-length")
        if length is not None:
            return status, headers, await reader.readexactly(int(length))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")  # no trailers from DynamoDB
                    return status, headers, b"".join(parts)
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
        headers["connection"] = "close"
        return status, headers, await reader.read()
