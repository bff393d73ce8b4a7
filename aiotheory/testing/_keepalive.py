"""A keep-alive HTTP/1.1 stub endpoint in a thread: it keeps connections open between requests.

moto closes every connection after its reply, which hides a client that forgets to close its pool;
this stub answers every POST with `{}` (a DynamoDB JSON reply) and keeps the connection, so a leaked
keep-alive socket shows up as a ResourceWarning. Imports only the standard library.
"""

from __future__ import annotations

import http.server
import threading
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["KeepAliveStub"]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("content-type", "application/x-amz-json-1.0")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


class KeepAliveStub:
    """`with KeepAliveStub() as stub:` serves on `stub.endpoint_url` until the block ends."""

    def __init__(self) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self.endpoint_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
