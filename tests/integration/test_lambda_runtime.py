"""The real Lambda runtime client (`python -m awslambdaric`) against the Runtime API emulator and moto.

A delaying TCP proxy sits between the handler and moto: it counts connections (reuse) and slows
replies on cue (deadlines). Every subprocess is bounded in time and stopped by its fixture.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import threading
import uuid
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pytest

from aiotheory import DB, PK, Model
from aiotheory.errors import ResourceNotFound, ValidationError
from aiotheory.testing._runtime_api import LambdaProcess, RuntimeApi, RuntimeInvocation

if TYPE_CHECKING:
    from collections.abc import Iterator

    from aiotheory.testing import Backend

HERE = Path(__file__).parent
BUFFER_MS = 1000
WAIT = 20.0  # seconds any single invocation may take before the test fails


class Note(Model, table="notes"):
    id: Annotated[str, PK]
    text: str = ""


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive towards the handler, whatever moto does upstream
    server: _ProxyServer

    def log_message(self, format: str, *args: object) -> None:
        return

    def setup(self) -> None:
        super().setup()
        self.server.proxy.connections += 1

    def do_POST(self) -> None:
        proxy = self.server.proxy
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        upstream = http.client.HTTPConnection(*proxy.upstream, timeout=10)
        try:
            upstream.request("POST", self.path, body, dict(self.headers.items()))
            reply = upstream.getresponse()
            data = reply.read()
        finally:
            upstream.close()
        if proxy.delay:
            proxy.stopped.wait(min(proxy.delay, 5.0))
        self.send_response_only(reply.status)
        for name, value in reply.getheaders():
            if name.lower() not in ("connection", "content-length", "transfer-encoding", "server", "date"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    proxy: DelayProxy

    def handle_error(self, request: object, client_address: object) -> None:
        return  # a client that went away mid-reply (the deadline closed it) is the expected case


class DelayProxy:
    """An HTTP/1.1 keep-alive proxy to `upstream` that can hold each reply for `delay` s (at most 5).

    `connections` counts connections from the handler: moto closes its own after every reply, so
    only the handler's side shows whether a connection was reused.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.delay = 0.0
        self.connections = 0
        self.stopped = threading.Event()
        self._server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler)
        self._server.proxy = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.stopped.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _host_port(url: str) -> tuple[str, int]:
    host, _, port = url.rpartition("://")[2].partition(":")
    return host, int(port.rstrip("/"))


def _create_table(backend: Backend, prefix: str) -> None:
    async def create() -> None:
        async with DB(
            region=backend.region,
            endpoint_url=backend.endpoint_url,
            credentials=backend.credentials,
            table_prefix=prefix,
            transport="lean",
        ) as admin:
            await admin.create_table(Note)

    asyncio.run(create())


class Runtime:
    def __init__(self, api: RuntimeApi, process: LambdaProcess, proxy: DelayProxy) -> None:
        self.api = api
        self.process = process
        self.proxy = proxy

    def call(self, event: dict[str, Any], timeout_ms: int = 5000) -> RuntimeInvocation:
        invocation = self.api.call(event, timeout_ms=timeout_ms, wait=WAIT)
        if invocation.outcome != "response":
            raise AssertionError(f"invocation failed: {invocation.body!r}; stderr: {self.process.stop()}")
        return invocation


@contextlib.contextmanager
def _runtime(backend: Backend, **env: str) -> Iterator[Runtime]:
    prefix = f"l{uuid.uuid4().hex[:8]}_"
    _create_table(backend, prefix)
    proxy = DelayProxy(_host_port(backend.endpoint_url))
    try:
        with RuntimeApi() as api:
            environ = {
                "APP_ENDPOINT": proxy.url,
                "APP_PREFIX": prefix,
                "APP_BUFFER_MS": str(BUFFER_MS),
                **env,
            }
            with LambdaProcess(api, "app.handler", cwd=str(HERE / "lambda_app"), env=environ) as process:
                yield Runtime(api, process, proxy)
    finally:
        proxy.close()


@pytest.fixture
def runtime(backend: Backend) -> Iterator[Runtime]:
    with _runtime(backend) as rt:
        yield rt


def test_one_process_and_one_loop_serve_warm_invocations_over_one_connection(runtime: Runtime) -> None:
    first = runtime.call({"action": "put", "id": "n1", "text": "hello"}).body
    second = runtime.call({"action": "get", "id": "n1"}).body
    third = runtime.call({"action": "get", "id": "missing"}).body
    assert first["pid"] == second["pid"] == third["pid"] == runtime.process.pid
    assert first["loop"] == second["loop"] == third["loop"]
    assert second["text"] == "hello" and third["text"] is None
    assert runtime.proxy.connections == 1  # the pooled connection survived between invocations


def test_deadline_follows_the_deadline_header(runtime: Runtime) -> None:
    for timeout_ms in (5000, 2500):
        facts = runtime.call({"action": "info"}, timeout_ms=timeout_ms).body
        expected = (timeout_ms - BUFFER_MS) / 1000
        assert expected - 0.1 < facts["deadline_left"] <= expected
        assert timeout_ms - 100 < facts["context_left_ms"] <= timeout_ms


def test_slow_backend_raises_deadline_exceeded_with_buffer_left_and_next_invocation_succeeds(
    runtime: Runtime,
) -> None:
    runtime.call({"action": "put", "id": "n1", "text": "x"})
    runtime.proxy.delay = 3.0
    slow = runtime.call({"action": "slow_get", "id": "n1"}, timeout_ms=2000).body
    assert slow["deadline"] == "GetItem"
    assert slow["left_ms"] >= BUFFER_MS - 50
    runtime.proxy.delay = 0.0
    after = runtime.call({"action": "get", "id": "n1"}, timeout_ms=3000).body
    assert after["text"] == "x" and after["loop"] == slow["loop"]
    # The connection caught by the deadline was discarded, not pooled half-read.
    assert runtime.proxy.connections == 2


def test_unhandled_deadline_is_reported_as_the_invocation_error(runtime: Runtime) -> None:
    runtime.proxy.delay = 3.0
    failed = runtime.api.call({"action": "raise_get", "id": "n1"}, timeout_ms=1500, wait=WAIT)
    runtime.proxy.delay = 0.0
    assert failed.outcome == "error"
    assert failed.body["errorType"] == "DeadlineExceeded"
    assert "GetItem" in failed.body["errorMessage"]
    assert failed.left_ms >= BUFFER_MS - 100
    assert runtime.call({"action": "info"}).body["pid"] == runtime.process.pid


def test_snapstart_restore_reconnects_on_a_new_loop(backend: Backend) -> None:
    with _runtime(backend, APP_WARM="1", AWS_LAMBDA_INITIALIZATION_TYPE="snap-start") as rt:
        facts = rt.call({"action": "put", "id": "n1", "text": "after restore"}).body
        assert rt.api.restored.is_set()
        assert facts["init_loop"] is not None and facts["loop"] != facts["init_loop"]
        # init's warm connection was dropped with the snapshot's loop; the first call opened a new one
        assert rt.proxy.connections == 2
        assert rt.call({"action": "get", "id": "n1"}).body["text"] == "after restore"


def test_multi_concurrency_workers_each_get_their_own_loop(backend: Backend) -> None:
    with _runtime(backend, AWS_LAMBDA_MAX_CONCURRENCY="2") as rt:
        pending = [
            rt.api.invoke({"action": "put", "id": f"n{i}", "text": "w"}, timeout_ms=5000) for i in range(8)
        ]
        answers = [rt.api.wait(inv, WAIT) for inv in pending]
        assert all(inv.outcome == "response" for inv in answers), [inv.body for inv in answers]
        by_pid: dict[int, set[int]] = {}
        for inv in answers:
            by_pid.setdefault(inv.body["pid"], set()).add(inv.body["loop"])
        assert rt.process.pid not in by_pid  # the parent only forks; workers serve
        assert all(len(loops) == 1 for loops in by_pid.values())


# --------------------------------------------------------------- a DB across asyncio.run calls


def test_db_rebinds_cleanly_when_used_from_a_new_loop_after_the_old_closed(backend: Backend) -> None:
    prefix = f"r{uuid.uuid4().hex[:8]}_"
    _create_table(backend, prefix)
    db = DB(
        region=backend.region,
        endpoint_url=backend.endpoint_url,
        credentials=backend.credentials,
        table_prefix=prefix,
        transport="lean",
    )

    async def put(text: str) -> None:
        await db.put(Note(id="n1", text=text))

    async def get() -> str:
        return (await db.get(Note, "n1")).text

    asyncio.run(put("one"))  # the mistake: a loop per invocation
    asyncio.run(put("two"))  # would be "Event loop is closed" with the first loop's connection
    assert asyncio.run(get()) == "two"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # the dead loop's sockets, collected here
        import gc

        gc.collect()


def test_db_refuses_a_second_open_loop(backend: Backend) -> None:
    db = DB(
        region=backend.region,
        endpoint_url=backend.endpoint_url,
        credentials=backend.credentials,
        transport="lean",
    )
    first = asyncio.new_event_loop()
    try:
        first.run_until_complete(_touch(db))
        with pytest.raises(ValidationError, match="another event loop"):
            asyncio.run(_touch(db))
    finally:
        first.run_until_complete(db.close())
        first.close()


async def _touch(db: DB) -> None:
    # A real request: the transport's HTTP client binds to the loop that sends, not to attribute access.
    with contextlib.suppress(ResourceNotFound):
        await db.find(Note, "absent")
