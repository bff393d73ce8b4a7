"""A Lambda Runtime API emulator: run a handler under the real runtime client (`python -m awslambdaric`).

It serves the runtime's side of the 2018-06-01 Runtime API on 127.0.0.1: queued events go out on
`/invocation/next` with the request id, deadline and function ARN headers, and every reply or error
comes back with its timing. Standard library only; it runs in its own threads, outside any loop.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, TYPE_CHECKING, Any, Final, Literal, Self

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import TracebackType

__all__ = ["RuntimeInvocation", "LambdaProcess", "RuntimeApi"]

_PREFIX: Final = "/2018-06-01/runtime"
_DEFAULT_ARN: Final = "arn:aws:lambda:us-east-1:123456789012:function:aiotheory-test"
#: How long a blocked `/invocation/next` waits between checks for shutdown.
_POLL: Final = 0.1


@dataclass(slots=True, kw_only=True)
class RuntimeInvocation:
    """One event as sent and, once answered, its reply.

    `deadline_ms` is the `Lambda-Runtime-Deadline-Ms` header (epoch ms); `answered_ms` is the epoch ms
    at which the reply or error arrived, so `deadline_ms - answered_ms` is the time the handler left.
    """

    request_id: str
    event: object
    timeout_ms: int
    deadline_ms: int = 0
    sent_ms: int = 0
    answered_ms: int = 0
    outcome: Literal["pending", "response", "error"] = "pending"
    body: Any = None
    error_type: str | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def left_ms(self) -> int:
        """Milliseconds between the reply and the deadline (negative: answered too late)."""
        return self.deadline_ms - self.answered_ms


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the runtime client keeps its connection alive
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def setup(self) -> None:
        super().setup()
        # Head and body go out in one write with Nagle off: otherwise delayed ACKs add ~40 ms a reply.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _reply(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None) -> None:
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('OK',))[0]}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}", "", ""]
        self.wfile.write("\r\n".join(lines).encode("latin-1") + body)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        api = self.server.api
        if self.path == f"{_PREFIX}/invocation/next":
            invocation = api._next_event()
            if invocation is None:  # shutting down: the runtime client treats this as fatal
                self._reply(500, b'{"errorMessage":"emulator stopped"}')
                return
            self._reply(
                200,
                json.dumps(invocation.event).encode(),
                {
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{invocation.request_id[:8]}-{'0' * 24};Sampled=0",
                },
            )
        elif self.path == f"{_PREFIX}/restore/next":
            api.restored.set()  # SnapStart: the runtime ran its before-snapshot hooks
            self._reply(200, b"")
        else:
            self._reply(404, b'{"errorMessage":"unknown path"}')

    def do_POST(self) -> None:
        api = self.server.api
        body = self._body()
        path = self.path
        if path in (f"{_PREFIX}/init/error", f"{_PREFIX}/restore/error"):
            api._init_failed(body, self.headers.get("Lambda-Runtime-Function-Error-Type"))
            self._reply(202, b'{"status":"OK"}')
            return
        head, _, kind = path.rpartition("/")
        request_id = head.rpartition("/")[2]
        if head.startswith(f"{_PREFIX}/invocation/") and kind in ("response", "error"):
            if api._answered(request_id, kind, body, self.headers.get("Lambda-Runtime-Function-Error-Type")):
                self._reply(202, b'{"status":"OK"}')
            else:
                self._reply(400, b'{"errorMessage":"unknown or already answered request id"}')
            return
        self._reply(404, b'{"errorMessage":"unknown path"}')


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    api: RuntimeApi

    def handle_error(self, request: object, client_address: object) -> None:
        # A runtime stopped by the test mid-request is expected; anything else is reported.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]  # socketserver's own types


class RuntimeApi:
    """The Runtime API on 127.0.0.1 (port 0 picks a free one); `address` goes in AWS_LAMBDA_RUNTIME_API.

    `invoke(event)` queues an event and returns its RuntimeInvocation; `wait(inv)` blocks until the handler
    answered. The deadline header is set when the runtime picks the event up: now + `timeout_ms`.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, function_arn: str = _DEFAULT_ARN) -> None:
        self.function_arn = function_arn
        self.invocations: list[RuntimeInvocation] = []
        self.init_error: Any = None
        self.init_error_type: str | None = None
        self.restored = threading.Event()
        self._queue: queue.Queue[RuntimeInvocation] = queue.Queue()
        self._by_id: dict[str, RuntimeInvocation] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        """host:port, the value of AWS_LAMBDA_RUNTIME_API."""
        if self._server is None:
            raise RuntimeError("the Runtime API emulator is not started")
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> Self:
        server = _Server((self._host, self._port), _Handler)
        server.api = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="runtime-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; a runtime blocked on `/invocation/next` gets an error and exits."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def invoke(
        self, event: object, *, timeout_ms: int = 3000, request_id: str | None = None
    ) -> RuntimeInvocation:
        """Queue `event`; the handler gets `timeout_ms` from the moment the runtime receives it."""
        invocation = RuntimeInvocation(
            request_id=request_id or str(uuid.uuid4()), event=event, timeout_ms=timeout_ms
        )
        with self._lock:
            self._by_id[invocation.request_id] = invocation
            self.invocations.append(invocation)
        self._queue.put(invocation)
        return invocation

    def wait(self, invocation: RuntimeInvocation, timeout: float = 30.0) -> RuntimeInvocation:
        """Block until `invocation` is answered.

        Raises:
            TimeoutError: no reply within `timeout` seconds (the handler hung or the runtime died).
        """
        if not invocation._done.wait(timeout):
            raise TimeoutError(f"no reply to invocation {invocation.request_id} within {timeout:g}s")
        return invocation

    def call(self, event: object, *, timeout_ms: int = 3000, wait: float = 30.0) -> RuntimeInvocation:
        """`invoke` then `wait`."""
        return self.wait(self.invoke(event, timeout_ms=timeout_ms), wait)

    # ------------------------------------------------------------------ called by the server threads

    def _next_event(self) -> RuntimeInvocation | None:
        while not self._stopping.is_set():
            try:
                invocation = self._queue.get(timeout=_POLL)
            except queue.Empty:
                continue
            now_ms = int(time.time() * 1000)
            invocation.sent_ms = now_ms
            invocation.deadline_ms = now_ms + invocation.timeout_ms
            return invocation
        return None

    def _answered(self, request_id: str, kind: str, body: bytes, error_type: str | None) -> bool:
        with self._lock:
            invocation = self._by_id.get(request_id)
            if invocation is None or invocation.outcome != "pending":
                return False
            invocation.answered_ms = int(time.time() * 1000)
            invocation.outcome = "response" if kind == "response" else "error"
            invocation.body = _parse(body)
            invocation.error_type = error_type
        invocation._done.set()
        return True

    def _init_failed(self, body: bytes, error_type: str | None) -> None:
        self.init_error = _parse(body)
        self.init_error_type = error_type


def _parse(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


class LambdaProcess:
    """`python -m awslambdaric <handler>` as a subprocess against a RuntimeApi, stopped on exit.

    Args:
        handler: "module.function", importable from `cwd` (or `pythonpath`).
        env: extra environment for the handler (on top of the runtime's own variables).
        memory_mb: AWS_LAMBDA_FUNCTION_MEMORY_SIZE.
    """

    def __init__(
        self,
        api: RuntimeApi,
        handler: str,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        pythonpath: Sequence[str] = (),
        python: str = sys.executable,
        memory_mb: int = 128,
        function_name: str = "aiotheory-test",
    ) -> None:
        environ = dict(os.environ)
        environ.update(
            {
                "AWS_LAMBDA_RUNTIME_API": api.address,
                "AWS_LAMBDA_FUNCTION_NAME": function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": "emulated",
                "_HANDLER": handler,
                "PYTHONUNBUFFERED": "1",
            }
        )
        if pythonpath:
            environ["PYTHONPATH"] = os.pathsep.join([*pythonpath, environ.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            )
        environ.update(env or {})
        self.command = [python, "-m", "awslambdaric", handler]
        self._environ = environ
        self._cwd = cwd
        self._stderr: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        # A file, not a pipe: a chatty runtime can never block on a full pipe nobody reads.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(
            self.command,
            env=self._environ,
            cwd=self._cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        return self

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("not started")
        return self.process.pid

    def stop(self, timeout: float = 5.0) -> str:
        """Terminate the runtime (kill after `timeout`); returns what it wrote to stderr."""
        process, self.process = self.process, None
        if process is None:
            return ""
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return self._read_stderr()

    def _read_stderr(self) -> str:
        stream, self._stderr = self._stderr, None
        if stream is None:
            return ""
        with stream:
            stream.seek(0)
            return stream.read().decode("utf-8", "replace")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
