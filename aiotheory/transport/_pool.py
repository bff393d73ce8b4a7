"""The lean wire's HTTP client: a bounded keep-alive pool per origin, TLS, proxies and default timeouts.

Every native failure (OSError, ssl.SSLError, timeouts) becomes a `TransportError` here or in `_http11`,
never leaking out of `transport/`. Imports only the standard library, `errors` and `_http11`.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import os
import ssl
import time
from typing import TYPE_CHECKING, Final

from aiotheory.errors import TransportError, ValidationError
from aiotheory.transport._http11 import (
    Connection,
    ConnState,
    HttpResponse,
    Origin,
    ProtocolError,
    ReadWatchdog,
    ResponseParser,
    encode_request,
    split_url,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Mapping

__all__ = ["HttpClient", "HttpResponse", "Proxy", "default_ssl_context", "proxy_for"]

# One process-wide context per CA bundle: building one loads the trust store (a few ms), so it happens
# on the first https connection, never at import.
_SSL_CONTEXTS: Final[dict[str | None, ssl.SSLContext]] = {}
_STREAM_LIMIT: Final = 256 * 1024
_MAX_URLS: Final = 64  # request() URL cache bound; AWS clients use a handful
_PROXY_VARS: Final = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


def default_ssl_context(environ: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """The verifying client context, honouring `AWS_CA_BUNDLE`; created once per bundle path.

    Raises:
        TransportError: `AWS_CA_BUNDLE` names a missing file or one without PEM certificates (not
            retryable: every attempt would fail the same way).
    """
    env = os.environ if environ is None else environ
    cafile = env.get("AWS_CA_BUNDLE") or None
    ctx = _SSL_CONTEXTS.get(cafile)
    if ctx is None:
        try:
            ctx = ssl.create_default_context(cafile=cafile)
        except OSError as exc:  # missing or unreadable file; ssl.SSLError (not PEM certificates) is one too
            # The path and the reason only: the file's contents never go into a message.
            raise TransportError(
                f"AWS_CA_BUNDLE={cafile!r} cannot be used as a CA bundle "
                f"({type(exc).__name__}: {exc.strerror or exc})",
                retryable=False,
            ) from exc
        _SSL_CONTEXTS[cafile] = ctx
    return ctx


class Proxy:
    """An HTTP proxy; `authorization` is the ready `Proxy-Authorization` value, if the URL had credentials.

    Immutable and compared by value; hand-written rather than a frozen dataclass (about 0.4 ms of import).
    """

    __slots__ = ("authorization", "origin")

    origin: Origin
    authorization: str | None

    def __init__(self, origin: Origin, authorization: str | None = None) -> None:
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "authorization", authorization)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Proxy is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Proxy is immutable: cannot delete {name!r}")

    def __repr__(self) -> str:  # the authorization holds a password: never shown
        return f"Proxy(origin={self.origin!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not Proxy:
            return NotImplemented
        return self.origin == other.origin and self.authorization == other.authorization

    def __hash__(self) -> int:
        return hash((self.origin, self.authorization))


def _parse_proxy(url: str) -> Proxy:
    if "://" not in url:
        url = "http://" + url  # curl and requests accept a bare host:port
    origin, _, userinfo = split_url(url)
    if origin.scheme != "http":
        raise ValidationError(f"only http:// proxies are supported, got {origin.scheme}:// in a proxy URL")
    auth = None
    if userinfo:
        auth = "Basic " + base64.b64encode(_unquote(userinfo).encode("utf-8")).decode("ascii")
    return Proxy(origin, auth)


def _unquote(text: str) -> str:
    if "%" not in text:
        return text
    out = bytearray()
    i = 0
    raw = text.encode("utf-8")
    while i < len(raw):
        if raw[i] == 0x25 and _is_hex(raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "replace")


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)


def _env(environ: Mapping[str, str], name: str) -> str:
    # Lower case first, as curl and requests read them.
    return environ.get(name.lower()) or environ.get(name) or ""


def _bypassed(host: str, port: int, no_proxy: str) -> bool:
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry:
            if _in_cidr(host, entry):
                return True
            continue
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and entry_port != str(port):
            continue
        name = name.lstrip(".").strip("[]")
        if host == name or host.endswith("." + name):
            return True
    return False


def _in_cidr(host: str, entry: str) -> bool:
    import ipaddress  # only when NO_PROXY holds a CIDR block

    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False


def proxy_for(origin: Origin, environ: Mapping[str, str]) -> Proxy | None:
    """The proxy for `origin` from `HTTPS_PROXY` / `HTTP_PROXY`, or None when unset or `NO_PROXY` matches."""
    url = _env(environ, "HTTPS_PROXY" if origin.tls else "HTTP_PROXY")
    if not url or _bypassed(origin.host, origin.port, _env(environ, "NO_PROXY")):
        return None
    return _parse_proxy(url)


class _HostPool:
    """Connections to one origin: idle ones in LIFO order, and a count bounding those in use.

    A plain counter and a queue of waiter futures rather than asyncio.Semaphore: its `locked()` and
    `acquire()` cost about 6 Python calls per request; here the free-slot path costs none. A released
    slot passes straight to the first live waiter, so `in_use` drops only when nobody waits.
    """

    __slots__ = ("idle", "in_use", "limit", "origin", "proxy", "waiters")

    def __init__(self, origin: Origin, proxy: Proxy | None, max_connections: int) -> None:
        self.origin = origin
        self.proxy = proxy
        self.idle: collections.deque[Connection] = collections.deque()
        self.in_use = 0
        self.limit = max_connections
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def release(self) -> None:
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot changes hands; in_use stays
                return
        self.in_use -= 1


async def _until_loop_shutdown(pools: dict[Origin, _HostPool]) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        for pool in pools.values():
            while pool.idle:
                pool.idle.pop().close()


class HttpClient:
    """A keep-alive HTTP/1.1 client for AWS endpoints: at most `max_connections` per origin.

    Construction does no I/O and binds no loop. Callers beyond the bound wait for a free connection,
    for at most `pool_timeout` (and their deadline). A pooled connection with anything to read while
    idle (the server's close, a stray reply) is dropped at checkout, before a byte is written, and
    another one is used. A request once written is never resent here.

    Args:
        connect_timeout: TCP connect plus TLS handshake (and proxy CONNECT).
        read_timeout: writing the request and reading the whole reply.
        idle_timeout: pooled connections idle longer than this are closed instead of reused.
        ssl_context: replaces the default verifying context (built lazily, honours `AWS_CA_BUNDLE`).
        clock: monotonic seconds, for idle eviction.
    """

    __slots__ = (
        "_clock",
        "_closed",
        "_connect_timeout",
        "_environ",
        "_guard",
        "_idle_timeout",
        "_last_pool",
        "_loop",
        "_max",
        "_pool_timeout",
        "_pools",
        "_read_timeout",
        "_ssl",
        "_urls",
        "_watchdog",
    )

    def __init__(
        self,
        *,
        max_connections: int = 64,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        idle_timeout: float = 90.0,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
        proxies_from_env: bool = True,
        pool_timeout: float = 5.0,
    ) -> None:
        if max_connections < 1:
            raise ValidationError("max_connections must be at least 1")
        self._max = max_connections
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool_timeout = pool_timeout
        self._idle_timeout = idle_timeout
        self._ssl = ssl_context
        self._clock = clock
        env = os.environ
        self._environ: Mapping[str, str] = (
            {name: env[name] for name in _PROXY_VARS if name in env} if proxies_from_env else {}
        )
        self._pools: dict[Origin, _HostPool] = {}
        self._urls: dict[str, tuple[Origin, str]] = {}
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchdog: ReadWatchdog | None = None
        self._guard: AsyncGenerator[None, None] | None = None
        # The lean transport sends to one origin: an identity check skips hashing it (a Python call).
        self._last_pool: _HostPool | None = None

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes) -> HttpResponse:
        """Send one request (adding `host` and `content-length` when absent) and read the whole reply.

        Raises:
            TransportError: the wire failed; `retryable` and `outcome_unknown` say what is safe next.
        """
        split = self._urls.get(url)
        if split is None:
            origin, target, _ = split_url(url)
            if len(self._urls) >= _MAX_URLS:
                self._urls.clear()
            split = self._urls[url] = (origin, target)
        origin, target = split
        if "host" not in headers and "Host" not in headers:
            headers = {"host": origin.netloc, **headers}
        pool = self._pools.get(origin) or self._add_pool(origin)
        if pool.proxy is not None and not origin.tls:
            target = f"http://{origin.netloc}{target}"  # absolute form through a plain HTTP proxy
            if pool.proxy.authorization:
                headers = {**headers, "proxy-authorization": pool.proxy.authorization}
        return await self.send(origin, encode_request(method, target, headers, body), head=method == "HEAD")

    async def send(self, origin: Origin, request: bytes, *, head: bool = False) -> HttpResponse:
        """Send pre-encoded `request` bytes to `origin` (the lean DynamoDB path) and read the reply.

        For a plain HTTP proxy, the caller must have used the absolute-form target (`request` does).

        Raises:
            StaleConnection: a reused connection ended before any reply byte (`outcome_unknown`).
            TransportError: the wire failed; `outcome_unknown` is False only when nothing was written
                (connect, TLS, proxy, pool wait), so the request certainly did not reach the server.
        """
        if self._closed:
            raise TransportError("the HTTP client is closed", retryable=False)
        watchdog = self._watchdog
        if watchdog is None or asyncio.get_running_loop() is not self._loop:
            watchdog = self._rebind(asyncio.get_running_loop())
            await self._guard_loop()
        pool = self._last_pool
        if pool is None or pool.origin is not origin:
            pool = self._pools.get(origin) or self._add_pool(origin)
            self._last_pool = pool
        if pool.in_use < pool.limit:
            pool.in_use += 1
        else:
            await self._wait_for_slot(pool)
        try:
            conn = self._checkout(pool) if pool.idle else None
            if conn is None:
                conn = await self._connect(pool)
            # No resend here, not even of a StaleConnection: once written, a request may have been
            # acted on, and only the call function knows whether the operation may be sent again.
            response = await conn.roundtrip(request, watchdog, head=head)
            # Whatever arrives on it while idle (a close, a stray reply) is caught at checkout.
            if conn.state is ConnState.IDLE and not self._closed:
                conn.idle_since = self._clock()
                pool.idle.append(conn)
            else:
                conn.close()
            return response
        finally:
            if pool.waiters:
                pool.release()
            else:
                pool.in_use -= 1  # `release()` without its call when nobody waits (the common case)

    async def close(self) -> None:
        """Close idle connections; connections in use close when their request ends. Idempotent."""
        self._closed = True
        guard, self._guard = self._guard, None
        loop = self._loop
        if guard is not None and loop is asyncio.get_running_loop():
            await guard.aclose()
        if loop is not None and loop.is_closed():
            return  # its connections went with it: closing them would call into the dead loop
        for pool in self._pools.values():
            while pool.idle:
                pool.idle.pop().close()

    async def _guard_loop(self) -> None:
        """Close this loop's pooled connections when the loop shuts down, while it still runs.

        `asyncio.run` and `asyncio.Runner.close` call `loop.shutdown_asyncgens()` before closing the
        loop; an async generator first iterated in the loop is closed then, and its `finally` closes
        the idle connections. Without it, a loop closed under an open keep-alive connection leaves the
        socket to the garbage collector ("unclosed transport", "loop is closed" ResourceWarnings).
        """
        guard = _until_loop_shutdown(self._pools)
        self._guard = guard
        await guard.asend(None)

    def _rebind(self, loop: asyncio.AbstractEventLoop) -> ReadWatchdog:
        """Bind to `loop`, forgetting pools made on a closed one: their connections belong to it.

        This is the one place the lean wire checks the running loop (DB, Accounts and the transports
        above hold nothing loop-bound). One loop per process is the rule (DESIGN §3); a client whose
        loop closed (`asyncio.run` per invocation) rebinds cleanly instead of failing with "attached
        to a different loop", and one still used by an open loop refuses a second.

        Raises:
            ValidationError: the loop this client is bound to is still open.
        """
        bound = self._loop
        if bound is not None and not bound.is_closed():
            raise ValidationError(
                "this DB (its HTTP client) is bound to another event loop that is still open; use one "
                "loop per process (aiotheory.aws_lambda.lambda_handler keeps one) or one DB per loop"
            )
        old, self._pools, self._loop, self._last_pool = self._pools, {}, loop, None
        self._watchdog = watchdog = ReadWatchdog(loop, self._read_timeout)
        for pool in old.values():
            while pool.idle:
                conn = pool.idle.pop()
                with contextlib.suppress(RuntimeError):  # that loop may be closed already
                    conn.close()
        return watchdog

    def _add_pool(self, origin: Origin) -> _HostPool:
        pool = _HostPool(origin, proxy_for(origin, self._environ), self._max)
        self._pools[origin] = pool
        return pool

    async def _wait_for_slot(self, pool: _HostPool) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pool.waiters.append(waiter)
        try:
            async with asyncio.timeout(self._pool_timeout):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                pool.release()  # handed a slot just as we gave up: pass it on
            else:
                waiter.cancel()  # `release` skips it
            if isinstance(exc, TimeoutError):
                raise TransportError(
                    f"no free connection to {pool.origin.netloc} within {self._pool_timeout:g}s "
                    f"({self._max} in use)",
                    retryable=True,
                ) from exc
            raise

    def _checkout(self, pool: _HostPool) -> Connection | None:
        idle = pool.idle
        if not idle:
            return None
        oldest_allowed = self._clock() - self._idle_timeout
        while idle and idle[0].idle_since < oldest_allowed:
            idle.popleft().close()
        while idle:
            conn = idle.pop()  # LIFO: the warmest connection, least likely closed by the server
            if conn.reusable():
                return conn
            conn.close()
        return None

    async def _connect(self, pool: _HostPool) -> Connection:
        origin = pool.origin
        tls = self._ssl_context() if origin.tls else None
        try:
            async with asyncio.timeout(self._connect_timeout):
                if pool.proxy is None:
                    reader, writer = await asyncio.open_connection(
                        origin.host,
                        origin.port,
                        ssl=tls,
                        server_hostname=origin.host if tls is not None else None,
                        limit=_STREAM_LIMIT,
                    )
                    return Connection(reader, writer)
                return await self._connect_via_proxy(pool.proxy, origin, tls)
        except TransportError:
            raise  # already ours (a proxy refusing CONNECT); TransportError is an OSError too
        except TimeoutError as exc:
            raise TransportError(
                f"could not connect to {origin.netloc} within {self._connect_timeout:g}s", retryable=True
            ) from exc
        except ssl.SSLCertVerificationError as exc:
            raise TransportError(
                f"TLS certificate of {origin.netloc} not trusted: {exc.verify_message}", retryable=False
            ) from exc
        except (OSError, EOFError, ProtocolError) as exc:  # refused, DNS, TLS handshake, bad proxy
            raise TransportError(f"could not connect to {origin.netloc}: {exc!r}", retryable=True) from exc

    async def _connect_via_proxy(
        self, proxy: Proxy, origin: Origin, tls: ssl.SSLContext | None
    ) -> Connection:
        reader, writer = await asyncio.open_connection(
            proxy.origin.host, proxy.origin.port, limit=_STREAM_LIMIT
        )
        if tls is None:
            return Connection(reader, writer)
        try:
            authority = origin.netloc if origin.port != 443 else f"{origin.netloc}:443"
            auth = f"proxy-authorization: {proxy.authorization}\r\n" if proxy.authorization else ""
            writer.write(f"CONNECT {authority} HTTP/1.1\r\nhost: {authority}\r\n{auth}\r\n".encode("latin-1"))
            parser = ResponseParser(no_body=True)
            while not parser.done:
                data = await reader.read(4096)
                if not data:
                    raise EOFError("proxy closed the connection during CONNECT")
                parser.feed(data)
            if not 200 <= parser.status < 300 or parser.trailing:
                raise TransportError(
                    f"proxy {proxy.origin.netloc} refused CONNECT to {authority}: HTTP {parser.status}",
                    retryable=parser.status >= 500,
                )
            await writer.start_tls(tls, server_hostname=origin.host)
        except BaseException:
            writer.close()
            raise
        return Connection(reader, writer)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = default_ssl_context()
        return self._ssl
