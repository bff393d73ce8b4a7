"""`python -m aiotheory.testing serve`: a real subprocess, its printed environment, a real call, Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pytest

from aiotheory import DB, PK, Model

if TYPE_CHECKING:
    from collections.abc import Iterator

_ROOT = Path(__file__).resolve().parents[2]


class Note(Model, table="serve_notes"):
    id: Annotated[str, PK]
    text: str


class _Served:
    """A running `serve` subprocess and the environment lines it printed."""

    def __init__(self, process: subprocess.Popen[str], env: dict[str, str], banner: str) -> None:
        self.process = process
        self.env = env
        self.banner = banner

    @property
    def port(self) -> int:
        return int(self.env["AWS_ENDPOINT_URL_DYNAMODB"].rsplit(":", 1)[1])

    def interrupt(self) -> int:
        """Ctrl-C, then the exit status (reading the rest of the output closes the pipes)."""
        self.process.send_signal(signal.SIGINT)
        self.process.communicate(timeout=30)
        return self.process.returncode


def _serve(*args: str) -> _Served:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, "-m", "aiotheory.testing", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=_ROOT,
    )
    assert process.stdout is not None
    banner = process.stdout.readline()
    printed: dict[str, str] = {}
    # The four export lines come right after the banner; readline returns "" if the process died.
    while len(printed) < 4:
        line = process.stdout.readline()
        if not line:
            _, err = process.communicate(timeout=30)
            pytest.fail(f"serve exited early: {banner}{err}")
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").strip().partition("=")
            printed[name] = value
    return _Served(process, printed, banner)


@pytest.fixture
def stop_on_failure() -> Iterator[list[_Served]]:
    started: list[_Served] = []
    yield started
    for served in started:
        if served.process.poll() is None:
            served.process.kill()
        served.process.communicate(timeout=30)


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # Lets the bind succeed over TIME_WAIT leftovers of our own client, but not over a listener.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _round_trip(monkeypatch: pytest.MonkeyPatch, served: _Served) -> str | None:
    """Create a table, write and read an item through a DB configured only by the printed lines."""
    for name, value in served.env.items():
        monkeypatch.setenv(name, value)
    db = DB(table_prefix=f"s{uuid.uuid4().hex[:8]}_")
    try:
        await db.create_table(Note)
        await db.put(Note(id="1", text="hello"))
        found = await db.find(Note, "1")
        await db.delete_table(Note)
    finally:
        await db.close()
    return None if found is None else found.text


@pytest.mark.moto_only
async def test_serve_moto_prints_a_working_environment_and_stops_on_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, stop_on_failure: list[_Served]
) -> None:
    served = _serve("moto")
    stop_on_failure.append(served)
    assert served.env["AWS_REGION"] == "us-east-1"
    assert served.env["AWS_ACCESS_KEY_ID"] == "testing"
    assert served.env["AWS_ENDPOINT_URL_DYNAMODB"] in served.banner
    assert await _round_trip(monkeypatch, served) == "hello"
    assert not _port_is_free(served.port)
    assert served.interrupt() == 0
    assert _port_is_free(served.port)


@pytest.mark.moto_only
def test_quickstart_runs_against_a_served_engine_when_its_environment_is_exported(
    stop_on_failure: list[_Served],
) -> None:
    served = _serve("moto")
    stop_on_failure.append(served)
    env = {
        **os.environ,
        **served.env,
        "PYTHONPATH": os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, str(_ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        env=env,
        cwd=_ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"engine at {served.env['AWS_ENDPOINT_URL_DYNAMODB']}")
    assert "get after delete" in done.stdout
    assert served.interrupt() == 0


@pytest.mark.moto_only
def test_serve_moto_refuses_persist_with_a_message() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "aiotheory.testing", "serve", "moto", "--persist", "x"],
        capture_output=True,
        text=True,
        env=env,
        cwd=_ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--persist is for dynamodb-local" in done.stderr


@pytest.mark.ddblocal_only
async def test_serve_dynamodb_local_on_a_chosen_port_keeps_persisted_tables_across_restarts(
    monkeypatch: pytest.MonkeyPatch, stop_on_failure: list[_Served], tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    served = _serve("dynamodb-local", "--port", str(port), "--persist", str(tmp_path))
    stop_on_failure.append(served)
    assert served.port == port
    for name, value in served.env.items():
        monkeypatch.setenv(name, value)
    db = DB(table_prefix="kept_")
    try:
        await db.create_table(Note)
        await db.put(Note(id="1", text="kept"))
    finally:
        await db.close()
    assert served.interrupt() == 0
    assert _port_is_free(port)

    again = _serve("dynamodb-local", "--port", str(port), "--persist", str(tmp_path))
    stop_on_failure.append(again)
    db = DB(table_prefix="kept_")
    try:
        found = await db.get(Note, "1")
    finally:
        await db.close()
    assert found.text == "kept"
    assert again.interrupt() == 0
    assert _port_is_free(port)
